//! The Dataset panel: where the images come from (built-in sets, the user's folders and files
//! through native dialogs, a typed path or drag and drop, recent datasets), how they are split
//! and cut down (validation, training-subset size, label noise, classes, input size and
//! channels), the generated images mixed into training (a GAN run of the Generator window), and
//! what they look like (summary with the normalisation, class histogram, sample grid with
//! click-to-enlarge and generated samples framed, skipped files).
//!
//! The split behind the summary is computed on a thread of its own, so dragging a slider over
//! a large dataset never stalls a frame; the old summary stays until the new one is ready.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::AppCommand;
use super::background::Background;
use super::dataset_split::{classes_ui, subset_ui, validation_ui};
use crate::data::disk::DEFAULT_CACHE_MB;
use crate::data::{
    self, CifarLabels, Dataset, DatasetConfig, DatasetSource, InMemory, InputFormat, MicroConfig,
    Part, ShapesConfig, SplitSummary, loader::PendingLoad, noise::NoiseConfig,
};
use crate::experiment::ExperimentConfig;
use crate::experiment::gan::{GanSummary, SyntheticConfig};

/// Samples shown per class in the grid.
const SAMPLES_PER_CLASS: usize = 3;
/// Classes shown in the sample grid.
const GRID_CLASSES: usize = 12;
/// Recent datasets remembered.
pub const RECENT_MAX: usize = 8;
/// Generated samples shown per class beside the real ones.
const SYNTHETIC_PER_CLASS: usize = 2;
/// Colour of the frame around generated samples.
const SYNTHETIC_COLOR: egui::Color32 = egui::Color32::from_rgb(190, 90, 230);

/// One thumbnail of the training subset.
struct Sample {
    texture: egui::TextureHandle,
    /// Index in the dataset's training (or test) images.
    index: u32,
    part: Part,
    /// The label the model is given (after class selection and label noise).
    label: String,
    /// The image's true class, when label noise replaced it.
    true_label: Option<String>,
}

/// A generated sample shown beside the real ones of its class.
struct SyntheticSample {
    texture: egui::TextureHandle,
    /// The generator's class name.
    class: String,
}

/// A generated image's class name and its thumbnail.
type Thumbnail = (String, egui::ColorImage);

/// The generated samples on show: which run (and how far it had trained) they come from.
struct SyntheticPreview {
    key: (PathBuf, usize),
    /// Being generated on the `gan-sample` thread.
    task: Option<Background<Result<Vec<Thumbnail>, String>>>,
    /// What came back.
    shown: Option<Result<Vec<SyntheticSample>, String>>,
}

/// What the split thread reports.
struct Prepared {
    summary: SplitSummary,
    /// Up to [`SAMPLES_PER_CLASS`] training samples of each class: (part, index, given class,
    /// true class).
    samples: Vec<(Part, u32, usize, Option<usize>)>,
    /// The samples' thumbnails, made on the thread (an image on disk is decoded there).
    thumbnails: Vec<egui::ColorImage>,
}

/// The split the summary shows is identified by the dataset (its address), its settings and
/// the seed.
type SplitKey = (usize, DatasetConfig, u64);

/// A split being computed.
struct SplitJob {
    key: SplitKey,
    task: Background<Result<Prepared, String>>,
}

/// Which kind of dataset a folder dialog is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PickKind {
    /// Look at the files to decide.
    Detect,
    Folder,
    Idx,
    Cifar10,
    Cifar100,
}

/// State of the Dataset panel.
#[derive(Default)]
pub struct DatasetView {
    /// The path field's text.
    pub path_text: String,
    /// Datasets the user loaded from disk, most recent first (remembered across restarts).
    pub recent: Vec<DatasetSource>,
    /// Why the last load failed (shown until the next load succeeds).
    pub load_error: Option<String>,
    /// The synthetic-shapes settings being edited.
    shapes: ShapesConfig,
    /// The micrograph generator's settings being edited.
    micro: MicroConfig,
    /// Input size and channels being edited; applied (and the data reloaded) with "Apply".
    input_edit: Option<InputFormat>,
    job: Option<SplitJob>,
    /// The split shown: its key and what the thread made of it.
    shown: Option<(SplitKey, Result<Arc<Prepared>, String>)>,
    samples: Vec<Sample>,
    enlarged: Option<usize>,
    /// A native folder dialog open on its own thread.
    picking: Option<Background<Option<Result<DatasetSource, String>>>>,
    /// Generated samples from the GAN run the next classifier run mixes in.
    synthetic: Option<SyntheticPreview>,
}

/// What the panel is given each frame.
pub struct PanelInput<'a> {
    /// The dataset on show (the last one loaded successfully).
    pub data: Option<&'a Arc<Dataset>>,
    /// A load in progress.
    pub pending: Option<&'a PendingLoad>,
    /// Settings may change (no run is active).
    pub editable: bool,
    /// The GAN runs in the runs folder, newest first (the Generator window's).
    pub gan_runs: &'a [(PathBuf, GanSummary)],
}

impl DatasetView {
    /// Forgets everything derived from the previous dataset.
    pub fn invalidate(&mut self) {
        self.samples.clear();
        self.shown = None;
        self.job = None;
        self.enlarged = None;
        self.input_edit = None;
    }

    /// Puts a source that was loaded from disk at the top of the recent list.
    pub fn remember(&mut self, source: &DatasetSource) {
        if !source.is_user_data() {
            return;
        }
        self.recent.retain(|s| s != source);
        self.recent.insert(0, source.clone());
        self.recent.truncate(RECENT_MAX);
    }

    /// Generated samples on show beside the real ones.
    pub fn synthetic_samples(&self) -> usize {
        match self.synthetic.as_ref().and_then(|p| p.shown.as_ref()) {
            Some(Ok(samples)) => samples.len(),
            _ => 0,
        }
    }

    /// Class names of the current split (after class selection), if it has been computed.
    pub fn class_names(&self) -> Option<&[String]> {
        match &self.shown {
            Some((_, Ok(view))) => Some(&view.summary.class_names),
            _ => None,
        }
    }

    /// Draws the panel; returns what the user asked for.
    pub fn dataset_ui(
        &mut self,
        ui: &mut egui::Ui,
        config: &mut ExperimentConfig,
        input: &PanelInput<'_>,
    ) -> Vec<AppCommand> {
        let mut commands = Vec::new();
        if let Some(picked) = self.picking.as_ref().and_then(Background::poll) {
            self.picking = None;
            match picked {
                Some(Ok(source)) => commands.push(AppCommand::SelectDataset(source)),
                Some(Err(message)) => self.load_error = Some(message),
                None => {}
            }
        }
        ui.add_enabled_ui(input.editable, |ui| {
            self.source_ui(ui, config, &mut commands);
            self.path_ui(ui, &mut commands);
            match &config.dataset.source {
                DatasetSource::Shapes(current) => self.shapes_ui(ui, current, &mut commands),
                DatasetSource::Micro(current) => self.micro_ui(ui, current, &mut commands),
                _ => {}
            }
        });
        if let Some(pending) = input.pending {
            ui.horizontal(|ui| {
                let phase = pending.phase();
                let bar = match pending.fraction() {
                    Some(f) => egui::ProgressBar::new(f).show_percentage(),
                    None => egui::ProgressBar::new(0.0).animate(true),
                };
                ui.add(
                    bar.desired_width(ui.available_width() - 70.0)
                        .text(format!("Loading {}: {phase}", pending.source.label())),
                );
                if ui.button("Cancel").clicked() {
                    commands.push(AppCommand::CancelLoad);
                }
            });
        }
        if let Some(message) = &self.load_error {
            ui.colored_label(ui.visuals().error_fg_color, message);
        }
        let Some(data) = input.data else {
            return commands;
        };
        ui.add_enabled_ui(input.editable, |ui| {
            self.input_ui(ui, config, data, &mut commands);
            validation_ui(ui, config, data);
            subset_ui(ui, config, data);
            classes_ui(ui, config, data);
            synthetic_ui(ui, &mut config.synthetic, input.gan_runs);
        });
        self.refresh(ui.ctx(), config, data);
        self.synthetic_note_ui(ui, &config.synthetic, data, input.gan_runs);
        self.refresh_synthetic(ui.ctx(), config, input.gan_runs);
        self.summary_ui(ui, data, &mut commands);
        self.histogram_ui(ui);
        self.samples_ui(ui, data);
        commands
    }

    fn source_ui(
        &mut self,
        ui: &mut egui::Ui,
        config: &ExperimentConfig,
        commands: &mut Vec<AppCommand>,
    ) {
        let current = &config.dataset.source;
        let mut builtins = vec![DatasetSource::Embedded];
        if let Some(full) = DatasetSource::system_fashion_mnist() {
            builtins.push(full);
        }
        builtins.push(DatasetSource::Noise(NoiseConfig::default()));
        builtins.push(DatasetSource::Shapes(self.shapes.clone()));
        builtins.push(DatasetSource::Micro(self.micro.clone()));
        let mut pick = None;
        egui::ComboBox::from_label("Source")
            .selected_text(current.label())
            .width(200.0)
            .show_ui(ui, |ui| {
                for choice in builtins {
                    let selected = choice.short_name() == current.short_name()
                        && choice.path() == current.path();
                    if ui.selectable_label(selected, choice.label()).clicked() && !selected {
                        commands.push(AppCommand::SelectDataset(choice));
                    }
                }
                ui.separator();
                for (text, kind) in [
                    ("Image folder…", PickKind::Folder),
                    ("IDX files (MNIST family)…", PickKind::Idx),
                    ("CIFAR-10 binary…", PickKind::Cifar10),
                    ("CIFAR-100 binary…", PickKind::Cifar100),
                ] {
                    if ui.selectable_label(false, text).clicked() {
                        pick = Some(kind);
                    }
                }
                if !self.recent.is_empty() {
                    ui.separator();
                    ui.label(egui::RichText::new("Recent").weak());
                    for recent in &self.recent {
                        let text = recent.path().map_or_else(
                            || recent.label(),
                            |p| format!("{} ({})", recent.label(), p.display()),
                        );
                        if ui.selectable_label(recent == current, text).clicked() {
                            commands.push(AppCommand::SelectDataset(recent.clone()));
                        }
                    }
                }
            })
            .response
            .on_hover_text(
                "Built-in sets, your own folder of images (one subfolder per class), \
                 MNIST-style IDX files or CIFAR binary batches. You can also drop a folder \
                 onto the window.",
            );
        if let Some(kind) = pick {
            self.pick(ui.ctx(), kind);
        }
    }

    /// Opens a native folder dialog on its own thread.
    fn pick(&mut self, ctx: &egui::Context, kind: PickKind) {
        if self.picking.is_some() {
            return;
        }
        let dialog = Background::spawn("dataset-dialog", ctx, move || {
            rfd::FileDialog::new()
                .set_title("Choose the dataset's folder")
                .pick_folder()
                .map(|path| source_of_kind(kind, path))
        });
        match dialog {
            Ok(dialog) => self.picking = Some(dialog),
            Err(e) => {
                self.load_error = Some(format!(
                    "cannot open the folder dialog: {}",
                    crate::error::chain(&e)
                ));
            }
        }
    }

    fn path_ui(&mut self, ui: &mut egui::Ui, commands: &mut Vec<AppCommand>) {
        ui.horizontal(|ui| {
            let label = ui.label("Path");
            let field = ui
                .add(
                    egui::TextEdit::singleline(&mut self.path_text)
                        .hint_text("folder, IDX or CIFAR files")
                        .desired_width(ui.available_width() - 70.0),
                )
                .labelled_by(label.id)
                .on_hover_text(
                    "Type or paste a path and press Enter: a folder with one subfolder per \
                     class (optionally train/ and val/ or test/), MNIST-style IDX files, or \
                     CIFAR-10/100 binary batches. The kind is recognised from the file names.",
                );
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Load").clicked() || enter) && !self.path_text.trim().is_empty() {
                let path = PathBuf::from(self.path_text.trim());
                match source_of_kind(PickKind::Detect, path) {
                    Ok(source) => commands.push(AppCommand::SelectDataset(source)),
                    Err(message) => self.load_error = Some(message),
                }
            }
        });
    }

    fn shapes_ui(
        &mut self,
        ui: &mut egui::Ui,
        current: &ShapesConfig,
        commands: &mut Vec<AppCommand>,
    ) {
        egui::CollapsingHeader::new("Shapes generator")
            .id_salt("shapes_generator")
            .show(ui, |ui| {
                let s = &mut self.shapes;
                let max_classes = data::shapes::SHAPE_NAMES.len();
                ui.add(egui::Slider::new(&mut s.classes, 2..=max_classes).text("classes"));
                ui.add(
                    egui::Slider::new(&mut s.train_samples, 20..=50_000)
                        .logarithmic(true)
                        .text("training images"),
                );
                ui.add(
                    egui::Slider::new(&mut s.test_samples, 10..=10_000)
                        .logarithmic(true)
                        .text("test images"),
                );
                ui.add(egui::Slider::new(&mut s.size, 8..=128).text("size (px)"));
                ui.add(egui::Slider::new(&mut s.difficulty, 0.0..=1.0).text("difficulty"))
                    .on_hover_text(
                        "0: large, centred, upright, high contrast. 1: any position, scale and \
                         angle, low contrast.",
                    );
                ui.add(egui::Slider::new(&mut s.clutter, 0..=8).text("clutter strokes"));
                ui.add(egui::Slider::new(&mut s.noise, 0.0..=0.5).text("pixel noise"));
                ui.add(egui::DragValue::new(&mut s.seed).prefix("drawing seed "));
                let changed = s != current;
                if ui
                    .add_enabled(changed, egui::Button::new("Generate"))
                    .on_hover_text("Draw a new shapes dataset with these settings")
                    .clicked()
                {
                    commands.push(AppCommand::SelectDataset(DatasetSource::Shapes(s.clone())));
                }
            });
    }

    fn micro_ui(
        &mut self,
        ui: &mut egui::Ui,
        current: &MicroConfig,
        commands: &mut Vec<AppCommand>,
    ) {
        egui::CollapsingHeader::new("Micrograph generator")
            .id_salt("micro_generator")
            .show(ui, |ui| {
                let m = &mut self.micro;
                let max_classes = data::micro::CLASS_NAMES.len();
                ui.add(egui::Slider::new(&mut m.classes, 2..=max_classes).text("classes"))
                    .on_hover_text(format!(
                        "Nuclei that are {} (the first N are used)",
                        data::micro::CLASS_NAMES.join(", ")
                    ));
                ui.add(
                    egui::Slider::new(&mut m.train_per_class, 1..=500)
                        .logarithmic(true)
                        .text("training images per class"),
                );
                ui.add(
                    egui::Slider::new(&mut m.test_per_class, 1..=200)
                        .logarithmic(true)
                        .text("test images per class"),
                );
                ui.add(
                    egui::Slider::new(&mut m.size, data::micro::MIN_SIZE..=data::micro::MAX_SIZE)
                        .step_by(64.0)
                        .text("size (px)"),
                )
                .on_hover_text(
                    "Cells keep their size in pixels: a smaller image is a smaller field of \
                     view. The classes differ in details a few pixels wide, which squashing a \
                     1024 px image to 64 px (Resize to, below) wipes out.",
                );
                ui.add(egui::DragValue::new(&mut m.seed).prefix("drawing seed "));
                let (train, test) = m.image_counts();
                ui.label(
                    egui::RichText::new(format!(
                        "{train} training + {test} test images of {size}×{size} RGB · {:.0} MB \
                         in memory",
                        m.pixel_bytes() as f64 / 1e6,
                        size = m.size
                    ))
                    .weak(),
                );
                let changed = m != current;
                if ui
                    .add_enabled(changed, egui::Button::new("Generate"))
                    .on_hover_text("Draw a new micrograph dataset with these settings")
                    .clicked()
                {
                    commands.push(AppCommand::SelectDataset(DatasetSource::Micro(m.clone())));
                }
            });
    }

    fn input_ui(
        &mut self,
        ui: &mut egui::Ui,
        config: &ExperimentConfig,
        data: &Dataset,
        commands: &mut Vec<AppCommand>,
    ) {
        let loaded = config.dataset.input;
        let edit = self.input_edit.get_or_insert(loaded);
        ui.horizontal(|ui| {
            let mut resize = edit.size.is_some();
            ui.checkbox(&mut resize, "Resize to")
                .on_hover_text("Bring every image to this square size (default: the data's own)");
            let mut size = edit.size.unwrap_or(data.width as u32);
            ui.add_enabled(
                resize,
                egui::DragValue::new(&mut size)
                    .range(InputFormat::MIN_SIZE..=InputFormat::MAX_SIZE)
                    .suffix(" px"),
            );
            edit.size = resize.then_some(size);
            let channel_text = |c: Option<u8>| match c {
                None => "channels: auto",
                Some(1) => "grayscale",
                Some(_) => "RGB",
            };
            egui::ComboBox::from_id_salt("input_channels")
                .selected_text(channel_text(edit.channels))
                .show_ui(ui, |ui| {
                    for choice in [None, Some(1), Some(3)] {
                        ui.selectable_value(&mut edit.channels, choice, channel_text(choice));
                    }
                })
                .response
                .on_hover_text("Auto: grayscale only if every image is");
        });
        if matches!(data.source, DatasetSource::Folder { .. }) {
            ui.horizontal(|ui| {
                let text = |c: InMemory| match c {
                    InMemory::Auto => "automatic",
                    InMemory::Yes => "in memory",
                    InMemory::No => "on disk",
                };
                egui::ComboBox::from_label("Images")
                    .selected_text(text(edit.in_memory))
                    .show_ui(ui, |ui| {
                        for choice in [InMemory::Auto, InMemory::Yes, InMemory::No] {
                            ui.selectable_value(&mut edit.in_memory, choice, text(choice));
                        }
                    })
                    .response
                    .on_hover_text(
                        "In memory: every image decoded once at loading (fastest epochs). On \
                         disk: files indexed in seconds and decoded when a batch needs them, \
                         through a cache of decoded images. Automatic: in memory when the \
                         decoded images fit 2 GiB.",
                    );
                if edit.in_memory != InMemory::Yes {
                    let mut mb = edit.cache_mb.unwrap_or(DEFAULT_CACHE_MB);
                    ui.label("cache");
                    ui.add(
                        egui::DragValue::new(&mut mb)
                            .range(1..=1_000_000)
                            .suffix(" MB"),
                    )
                    .on_hover_text("Decoded images kept for reuse when the folder stays on disk");
                    edit.cache_mb =
                        (mb != DEFAULT_CACHE_MB || edit.cache_mb.is_some()).then_some(mb);
                }
            });
        }
        let edit = *edit;
        if edit != loaded {
            ui.horizontal(|ui| {
                if ui
                    .button("Apply (reload)")
                    .on_hover_text("Reload the images at this size and channel count")
                    .clicked()
                {
                    commands.push(AppCommand::SetInput(edit));
                }
                if ui.button("Undo").clicked() {
                    self.input_edit = Some(loaded);
                }
            });
        }
    }

    /// Starts computing the split for the current settings if they changed, and takes a
    /// finished one.
    fn refresh(&mut self, ctx: &egui::Context, config: &ExperimentConfig, data: &Arc<Dataset>) {
        let key: SplitKey = (
            Arc::as_ptr(data) as usize,
            config.dataset.clone(),
            config.seed,
        );
        if let Some(job) = &self.job
            && let Some(result) = job.task.poll()
        {
            let key = job.key.clone();
            self.job = None;
            self.samples.clear();
            self.enlarged = None;
            self.shown = Some((key, result.map(Arc::new)));
        }
        let current = self.shown.as_ref().is_some_and(|(k, _)| *k == key);
        let running = self.job.as_ref().is_some_and(|j| j.key == key);
        if current || running || self.job.is_some() {
            // A job for older settings finishes first; the next frame starts the new one.
            if self.job.is_some() {
                ctx.request_repaint_after(std::time::Duration::from_millis(30));
            }
            return;
        }
        let (data, dataset, seed) = (Arc::clone(data), config.dataset.clone(), config.seed);
        let split = Background::spawn("dataset-split", ctx, move || {
            data::split(&data, &dataset, seed)
                .map(|split| {
                    let samples = pick_samples(&data, &split);
                    let thumbnails = samples
                        .iter()
                        .map(|&(part, index, _, _)| {
                            to_color_image(&data, &data.image(part, index as usize))
                        })
                        .collect();
                    Prepared {
                        summary: data::summarize(&data, &split),
                        samples,
                        thumbnails,
                    }
                })
                .map_err(|e| e.to_string())
        });
        match split {
            Ok(task) => self.job = Some(SplitJob { key, task }),
            Err(e) => self.shown = Some((key, Err(crate::error::chain(&e)))),
        }
    }

    fn summary_ui(&self, ui: &mut egui::Ui, data: &Dataset, commands: &mut Vec<AppCommand>) {
        let colour = if data.channels == 1 {
            "grayscale"
        } else {
            "RGB"
        };
        ui.label(format!(
            "{} images · {}×{} {colour} · {} classes",
            data.total_images(),
            data.width,
            data.height,
            data.num_classes()
        ));
        if matches!(data.source, DatasetSource::Folder { .. }) {
            storage_ui(ui, data);
        }
        let format = &data.source_format;
        if format.converted > 0 || format.distinct_sizes > 1 {
            ui.label(
                egui::RichText::new(format!(
                    "{} distinct source sizes; {} images converted to {}×{}",
                    format.distinct_sizes, format.converted, data.width, data.height
                ))
                .weak(),
            );
        }
        match self.shown.as_ref().map(|(_, r)| r) {
            Some(Ok(view)) => {
                let s = &view.summary;
                let train: usize = s.train_counts.iter().sum();
                let val: usize = s.val_counts.iter().sum();
                let noisy = if s.noisy_labels > 0 {
                    format!(" · {} noisy labels", s.noisy_labels)
                } else {
                    String::new()
                };
                ui.label(format!("Training on {train} · validating on {val}{noisy}"));
                let channels: Vec<String> = s
                    .norm
                    .mean
                    .iter()
                    .zip(&s.norm.std)
                    .map(|(m, sd)| format!("{:.3}/{:.3}", m / 255.0, sd / 255.0))
                    .collect();
                ui.label(format!(
                    "Normalisation mean/std per channel: {}",
                    channels.join(", ")
                ))
                .on_hover_text(
                    "Measured on the training images (0–1 scale); every image is shifted and \
                     scaled by these before it reaches the model.",
                );
            }
            Some(Err(message)) => {
                ui.colored_label(ui.visuals().error_fg_color, message);
            }
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Splitting…");
                });
            }
        }
        if !data.skipped.is_empty() {
            let title = format!(
                "{} file{} skipped",
                data.skipped.len(),
                if data.skipped.len() == 1 { "" } else { "s" }
            );
            egui::CollapsingHeader::new(
                egui::RichText::new(title).color(ui.visuals().warn_fg_color),
            )
            .id_salt("skipped_files")
            .show(ui, |ui| {
                if ui
                    .button("Save list…")
                    .on_hover_text("Save the skipped files and the reasons as a text file")
                    .clicked()
                {
                    commands.push(AppCommand::ExportSkipped);
                }
                egui::ScrollArea::vertical()
                    .id_salt("skipped_list")
                    .max_height(120.0)
                    .show(ui, |ui| {
                        for file in data.skipped.iter().take(500) {
                            ui.label(egui::RichText::new(file.to_string()).small());
                        }
                    });
            });
        }
    }

    fn histogram_ui(&self, ui: &mut egui::Ui) {
        let Some((_, Ok(view))) = &self.shown else {
            return;
        };
        let s = &view.summary;
        let tallest = s
            .train_counts
            .iter()
            .chain(&s.val_counts)
            .copied()
            .max()
            .unwrap_or(1);
        let bars = |counts: &[usize], offset: f64| {
            counts
                .iter()
                .enumerate()
                .map(|(c, &n)| {
                    egui_plot::Bar::new(c as f64 + offset, n as f64)
                        .width(0.38)
                        .name(s.class_names.get(c).cloned().unwrap_or_default())
                })
                .collect::<Vec<_>>()
        };
        let train = egui_plot::BarChart::new("train", bars(&s.train_counts, -0.2))
            .color(egui::Color32::from_rgb(70, 130, 220));
        let val = egui_plot::BarChart::new("validation", bars(&s.val_counts, 0.2))
            .color(egui::Color32::from_rgb(230, 140, 40));
        egui_plot::Plot::new("class_histogram")
            .height(110.0)
            .width((ui.available_width() - 8.0).max(120.0))
            .allow_drag(false)
            .allow_zoom(false)
            .allow_scroll(false)
            .allow_boxed_zoom(false)
            .allow_double_click_reset(false)
            .include_y(0.0)
            .include_y(tallest as f64 * 1.45)
            .show_grid([false, true])
            .legend(egui_plot::Legend::default().text_style(egui::TextStyle::Small))
            .x_axis_formatter(|mark, _| {
                let v = mark.value;
                if (v - v.round()).abs() < 1e-6 && v >= 0.0 {
                    format!("{}", v.round() as usize)
                } else {
                    String::new()
                }
            })
            .show(ui, |plot| {
                plot.bar_chart(train);
                plot.bar_chart(val);
            });
    }

    fn samples_ui(&mut self, ui: &mut egui::Ui, data: &Dataset) {
        let Some((_, Ok(view))) = &self.shown else {
            return;
        };
        if self.samples.is_empty() && !view.samples.is_empty() {
            let names = &view.summary.class_names;
            let name = |c: usize| names.get(c).cloned().unwrap_or_else(|| c.to_string());
            self.samples = view
                .samples
                .iter()
                .zip(&view.thumbnails)
                .map(|(&(part, index, given, truth), thumbnail)| Sample {
                    texture: ui.ctx().load_texture(
                        format!("dataset-sample-{part:?}-{index}"),
                        thumbnail.clone(),
                        egui::TextureOptions::NEAREST,
                    ),
                    index,
                    part,
                    label: name(given),
                    true_label: truth.map(name),
                })
                .collect();
        }
        ui.add_space(4.0);
        let size = egui::vec2(32.0, 32.0);
        // One block per class (the samples come sorted by class): its images over its name.
        let mut groups: Vec<(usize, usize)> = Vec::new();
        for (k, sample) in self.samples.iter().enumerate() {
            match groups.last_mut() {
                Some((first, end)) if self.samples[*first].label == sample.label => *end = k + 1,
                _ => groups.push((k, k + 1)),
            }
        }
        let generated: &[SyntheticSample] =
            match self.synthetic.as_ref().and_then(|p| p.shown.as_ref()) {
                Some(Ok(samples)) => samples,
                _ => &[],
            };
        let mut clicked = None;
        // As many class blocks per row as fit the column.
        let widest = groups
            .iter()
            .map(|&(a, b)| b - a + generated_of(generated, &self.samples[a].label).count())
            .max()
            .unwrap_or(1) as f32;
        let block = widest * (size.x + 2.0) + 8.0;
        let per_row = ((ui.available_width() / block).floor() as usize).max(1);
        for row in groups.chunks(per_row) {
            ui.horizontal(|ui| {
                ui.spacing_mut().item_spacing = egui::vec2(8.0, 2.0);
                for &(first, end) in row {
                    ui.vertical(|ui| {
                        ui.spacing_mut().item_spacing = egui::vec2(2.0, 1.0);
                        ui.horizontal(|ui| {
                            for k in first..end {
                                if sample_ui(ui, &self.samples[k], size) {
                                    clicked = Some(k);
                                }
                            }
                            for sample in generated_of(generated, &self.samples[first].label) {
                                synthetic_sample_ui(ui, sample, size);
                            }
                        });
                        let name: String = self.samples[first].label.chars().take(14).collect();
                        ui.label(egui::RichText::new(name).small());
                    });
                }
            });
        }
        self.synthetic_legend_ui(ui);
        if clicked.is_some() {
            self.enlarged = clicked;
        }
        self.enlarged_ui(ui.ctx(), data);
    }

    /// Says which samples are generated, or why none are shown.
    fn synthetic_legend_ui(&self, ui: &mut egui::Ui) {
        let Some(preview) = &self.synthetic else {
            return;
        };
        match &preview.shown {
            Some(Ok(samples)) if !samples.is_empty() => {
                ui.horizontal(|ui| {
                    let (rect, _) =
                        ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                    ui.painter().rect_stroke(
                        rect,
                        0.0,
                        egui::Stroke::new(2.0, SYNTHETIC_COLOR),
                        egui::StrokeKind::Inside,
                    );
                    let name = run_name(&preview.key.0);
                    ui.add(
                        egui::Label::new(
                            egui::RichText::new(format!(
                                "framed, S: generated by {name} (epoch {})",
                                preview.key.1
                            ))
                            .small(),
                        )
                        .wrap(),
                    );
                });
            }
            Some(Ok(_)) => {}
            Some(Err(message)) => {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!("Cannot show generated samples: {message}"),
                );
            }
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(egui::RichText::new("Generating samples…").small());
                });
            }
        }
    }

    /// What the chosen GAN run adds, or why its images do not fit this dataset.
    fn synthetic_note_ui(
        &self,
        ui: &mut egui::Ui,
        synthetic: &SyntheticConfig,
        data: &Dataset,
        runs: &[(PathBuf, GanSummary)],
    ) {
        let Some(dir) = synthetic.run.as_deref().filter(|_| synthetic.is_active()) else {
            return;
        };
        let Some((_, summary)) = runs.iter().find(|(d, _)| d == dir) else {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!(
                    "{} is not a GAN run the window can read (yet): Start will refuse it",
                    dir.display()
                ),
            );
            return;
        };
        let classes = self
            .class_names()
            .map_or_else(|| data.class_names.clone(), <[String]>::to_vec);
        let shape = [data.channels, data.height, data.width];
        match synthetic_mismatch(summary, shape, &classes) {
            Some(problem) => {
                ui.colored_label(ui.visuals().error_fg_color, problem);
            }
            None => {
                ui.label(
                    egui::RichText::new(format!(
                        "+ {} generated training images ({} per class), never in validation",
                        synthetic.per_class * classes.len(),
                        synthetic.per_class
                    ))
                    .weak(),
                );
            }
        }
    }

    /// Starts generating samples of the chosen GAN run when it (or how far it has trained)
    /// changed, and takes finished ones.
    fn refresh_synthetic(
        &mut self,
        ctx: &egui::Context,
        config: &ExperimentConfig,
        runs: &[(PathBuf, GanSummary)],
    ) {
        let wanted = config
            .synthetic
            .run
            .as_ref()
            .filter(|_| config.synthetic.is_active())
            .and_then(|dir| runs.iter().find(|(d, _)| d == dir))
            .filter(|(_, s)| s.epochs_done > 0)
            .map(|(d, s)| (d.clone(), s.epochs_done));
        let Some(key) = wanted else {
            self.synthetic = None;
            return;
        };
        if let Some(preview) = self.synthetic.as_mut().filter(|p| p.key == key) {
            if let Some(result) = preview.task.as_ref().and_then(Background::poll) {
                preview.task = None;
                preview.shown = Some(result.map(|images| {
                    images
                        .into_iter()
                        .enumerate()
                        .map(|(k, (class, image))| SyntheticSample {
                            texture: ctx.load_texture(
                                format!("synthetic-sample-{k}"),
                                image,
                                egui::TextureOptions::NEAREST,
                            ),
                            class,
                        })
                        .collect()
                }));
            }
            return;
        }
        let (dir, seed) = (key.0.clone(), config.seed);
        let task = Background::spawn("gan-sample", ctx, move || {
            let images = crate::train::gan::sample(&dir, SYNTHETIC_PER_CLASS, seed)?;
            let shape = crate::augment::ImageShape {
                channels: images.channels,
                height: images.height,
                width: images.width,
            };
            Ok(images
                .pixels
                .chunks_exact(images.image_len().max(1))
                .zip(&images.labels)
                .map(|(pixels, &label)| {
                    let class = images
                        .class_names
                        .get(usize::from(label))
                        .cloned()
                        .unwrap_or_default();
                    (class, chw_to_color(pixels, shape))
                })
                .collect())
        });
        self.synthetic = Some(match task {
            Ok(task) => SyntheticPreview {
                key,
                task: Some(task),
                shown: None,
            },
            Err(e) => SyntheticPreview {
                key,
                task: None,
                shown: Some(Err(crate::error::chain(&e))),
            },
        });
    }

    fn enlarged_ui(&mut self, ctx: &egui::Context, data: &Dataset) {
        let Some(sample) = self.enlarged.and_then(|k| self.samples.get(k)) else {
            return;
        };
        let mut open = true;
        egui::Window::new("Sample")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                let side = 224.0;
                ui.add(
                    egui::Image::new((sample.texture.id(), egui::vec2(side, side)))
                        .texture_options(egui::TextureOptions::NEAREST),
                );
                ui.label(format!("Label: {}", sample.label));
                if let Some(truth) = &sample.true_label {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!("Label noise: the image is really {truth}"),
                    );
                }
                let part = match sample.part {
                    Part::Train => "training",
                    Part::Test => "test",
                };
                ui.label(
                    egui::RichText::new(format!(
                        "{part} image #{} · {}×{} · {} channel{}",
                        sample.index,
                        data.width,
                        data.height,
                        data.channels,
                        if data.channels == 1 { "" } else { "s" }
                    ))
                    .weak(),
                );
            });
        if !open {
            self.enlarged = None;
        }
    }
}

/// One thumbnail (noisy labels outlined); whether it was clicked.
fn sample_ui(ui: &mut egui::Ui, sample: &Sample, size: egui::Vec2) -> bool {
    let hover = match &sample.true_label {
        Some(truth) => format!("{} (noisy: really {truth})", sample.label),
        None => sample.label.clone(),
    };
    let response = ui
        .add(
            egui::Image::new((sample.texture.id(), size))
                .texture_options(egui::TextureOptions::NEAREST)
                .sense(egui::Sense::click()),
        )
        .on_hover_text(format!("{hover} · click to enlarge"));
    if sample.true_label.is_some() {
        ui.painter().rect_stroke(
            response.rect,
            0.0,
            egui::Stroke::new(1.5, ui.visuals().warn_fg_color),
            egui::StrokeKind::Inside,
        );
    }
    response.clicked()
}

/// The generated samples of one class.
fn generated_of<'a>(
    generated: &'a [SyntheticSample],
    class: &'a str,
) -> impl Iterator<Item = &'a SyntheticSample> {
    generated.iter().filter(move |s| s.class == class)
}

/// One generated thumbnail: framed, with an "S" in its corner.
fn synthetic_sample_ui(ui: &mut egui::Ui, sample: &SyntheticSample, size: egui::Vec2) {
    let response = ui
        .add(
            egui::Image::new((sample.texture.id(), size))
                .texture_options(egui::TextureOptions::NEAREST)
                .sense(egui::Sense::hover()),
        )
        .on_hover_text(format!(
            "{}, generated (mixed into the training samples only)",
            sample.class
        ));
    let painter = ui.painter();
    painter.rect_stroke(
        response.rect,
        0.0,
        egui::Stroke::new(2.0, SYNTHETIC_COLOR),
        egui::StrokeKind::Inside,
    );
    let badge = egui::Rect::from_min_size(response.rect.min, egui::vec2(10.0, 11.0));
    painter.rect_filled(badge, 0.0, SYNTHETIC_COLOR);
    painter.text(
        badge.center(),
        egui::Align2::CENTER_CENTER,
        "S",
        egui::FontId::proportional(9.0),
        egui::Color32::WHITE,
    );
}

/// The Synthetic images row: which GAN run's images join the training samples, how many per
/// class (shown once there is a GAN run to choose).
fn synthetic_ui(
    ui: &mut egui::Ui,
    synthetic: &mut SyntheticConfig,
    runs: &[(PathBuf, GanSummary)],
) {
    if runs.is_empty() && synthetic.run.is_none() {
        // Nothing to choose from yet: the Generator section says how to make some.
        return;
    }
    ui.horizontal(|ui| {
        let label = ui.label("Synthetic images");
        let selected = match synthetic.run.as_deref().filter(|_| synthetic.is_active()) {
            Some(dir) => run_name(dir),
            None => "None".to_owned(),
        };
        egui::ComboBox::from_id_salt("synthetic_run")
            .selected_text(selected)
            .width((ui.available_width() - 8.0).clamp(80.0, 200.0))
            .truncate()
            .show_ui(ui, |ui| {
                if ui
                    .selectable_label(!synthetic.is_active(), "None")
                    .clicked()
                {
                    synthetic.run = None;
                }
                for (dir, summary) in runs {
                    let chosen = synthetic.run.as_deref() == Some(dir.as_path());
                    let score = summary
                        .best_tstr
                        .map_or_else(String::new, |(_, a)| format!(", TSTR {:.0} %", a * 100.0));
                    let text = format!(
                        "{} ({}, {} epochs{score})",
                        run_name(dir),
                        summary.dataset,
                        summary.epochs_done
                    );
                    if ui
                        .add_enabled(
                            summary.epochs_done > 0,
                            egui::Button::selectable(chosen, text),
                        )
                        .clicked()
                    {
                        synthetic.run = Some(dir.clone());
                        if synthetic.per_class == 0 {
                            synthetic.per_class = super::generator_panel::DEFAULT_PER_CLASS;
                        }
                    }
                }
            })
            .response
            .labelled_by(label.id)
            .on_hover_text(
                "Images made by a GAN trained in the Generator window, added to the training \
                 samples (never to validation). They help when real images are scarce and the \
                 GAN's classes are right: check its train-on-synthetic score.",
            );
    });
    if synthetic.run.is_some() {
        ui.horizontal(|ui| {
            ui.add(egui::DragValue::new(&mut synthetic.per_class).range(0..=100_000))
                .on_hover_text("Generated images of each class (0: none)");
            ui.label("generated images per class");
        });
    }
}

/// A run folder's name.
fn run_name(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Why a GAN run's images cannot join this dataset's training samples: another image size or
/// channel count (`shape` is channels, height, width), or classes of the split it does not
/// make. `None` when they fit.
pub fn synthetic_mismatch(
    summary: &GanSummary,
    shape: [usize; 3],
    classes: &[String],
) -> Option<String> {
    let describe =
        |[c, h, w]: [usize; 3]| format!("{w}×{h} {}", if c == 1 { "grayscale" } else { "RGB" });
    if summary.shape != shape {
        return Some(format!(
            "The GAN makes {} images but the dataset's are {}: train a GAN on this dataset at \
             this input size",
            describe(summary.shape),
            describe(shape)
        ));
    }
    let missing: Vec<&str> = classes
        .iter()
        .filter(|c| !summary.class_names.contains(c))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "The GAN's classes do not match: it makes no {} (it knows {}). Start will refuse; \
         train a GAN on these classes or pick another run.",
        missing.join(", "),
        summary.class_names.join(", ")
    ))
}

/// The source for a picked or typed path.
fn source_of_kind(kind: PickKind, path: PathBuf) -> Result<DatasetSource, String> {
    Ok(match kind {
        PickKind::Detect => DatasetSource::detect(&path)?,
        PickKind::Folder => DatasetSource::Folder { path },
        PickKind::Idx => DatasetSource::Idx { path },
        PickKind::Cifar10 => DatasetSource::Cifar10 { path },
        PickKind::Cifar100 => DatasetSource::Cifar100 {
            path,
            labels: CifarLabels::Fine,
        },
    })
}

/// A few training samples of each (model) class, marking those whose label noise replaced.
fn pick_samples(data: &Dataset, split: &data::Split) -> Vec<(Part, u32, usize, Option<usize>)> {
    let k = split.num_classes();
    let remap = split.model_classes(data);
    let truths = &data.part(split.train.part).labels;
    let mut taken = vec![0usize; k];
    let mut out = Vec::new();
    for (&index, &given) in split.train.indices.iter().zip(&split.train.labels) {
        let given = usize::from(given);
        if given >= k.min(GRID_CLASSES) || taken[given] >= SAMPLES_PER_CLASS {
            continue;
        }
        taken[given] += 1;
        let truth = truths
            .get(index as usize)
            .and_then(|&t| remap.get(usize::from(t)).copied().flatten());
        let noisy = truth.filter(|&t| t != given);
        out.push((split.train.part, index, given, noisy));
        if out.len() >= SAMPLES_PER_CLASS * k.min(GRID_CLASSES) {
            break;
        }
    }
    out.sort_by_key(|&(_, _, given, _)| given);
    out
}

/// Longest side of a thumbnail texture: larger images are shrunk for display (a 1024×1024
/// slide would otherwise take 4 MB of texture per thumbnail).
const THUMBNAIL_MAX_SIDE: usize = 256;

/// Where an image folder's images are held: in memory, or on disk with the cache's size and use.
fn storage_ui(ui: &mut egui::Ui, data: &Dataset) {
    let decoded = data.decoded_bytes() as f64;
    let size = |bytes: f64| {
        if bytes >= 1e9 {
            format!("{:.1} GB", bytes / 1e9)
        } else {
            format!("{:.1} MB", bytes / 1e6)
        }
    };
    match &data.disk {
        None => {
            ui.label(
                egui::RichText::new(format!("Held in memory: {} decoded", size(decoded))).weak(),
            );
        }
        Some(disk) => {
            let (bytes, hits, misses) = disk.cache_use();
            let reads = hits + misses;
            let rate = if reads > 0 {
                format!(
                    " · {:.0}% of reads from the cache",
                    100.0 * hits as f64 / reads as f64
                )
            } else {
                String::new()
            };
            ui.label(format!(
                "On disk, indexed in {:.1} s, decoded per sample ({} if all were decoded) · \
                 cache {} of {} (about {} images){rate}",
                disk.indexed_secs(),
                size(decoded),
                size(bytes as f64),
                size(disk.cache_budget() as f64),
                disk.cache_capacity()
            ))
            .on_hover_text(
                "The files were indexed (sizes and classes read from their headers); the \
                 training threads decode, crop and resize each image when a batch needs it. A \
                 file that fails to decode mid-run is left out and listed in run.json.",
            );
        }
    }
}

/// Longest side of an image shown whole (the Evaluation panel's clicked sample).
const FULL_MAX_SIDE: usize = 1024;

/// Converts one CHW `u8` image to an egui image (shrunk to [`THUMBNAIL_MAX_SIDE`] if larger).
pub fn to_color_image(data: &Dataset, pixels: &[u8]) -> egui::ColorImage {
    shrunk_color_image(data, pixels, THUMBNAIL_MAX_SIDE)
}

/// Converts one CHW `u8` image to an egui image for viewing whole (at most 1024 px a side).
pub fn full_color_image(data: &Dataset, pixels: &[u8]) -> egui::ColorImage {
    shrunk_color_image(data, pixels, FULL_MAX_SIDE)
}

fn shrunk_color_image(data: &Dataset, pixels: &[u8], max_side: usize) -> egui::ColorImage {
    let shape = crate::augment::ImageShape::of(data);
    let longer = shape.width.max(shape.height);
    if longer > max_side {
        let to = crate::augment::ImageShape {
            channels: shape.channels,
            width: (shape.width * max_side / longer).max(1),
            height: (shape.height * max_side / longer).max(1),
        };
        let small =
            crate::augment::crop::cut(pixels, shape, crate::augment::ops::Rect::full(shape), to);
        return chw_to_color(&small, to);
    }
    chw_to_color(pixels, shape)
}

fn chw_to_color(pixels: &[u8], shape: crate::augment::ImageShape) -> egui::ColorImage {
    let plane = shape.plane();
    let rgba: Vec<egui::Color32> = (0..plane)
        .map(|p| {
            if shape.channels == 1 {
                egui::Color32::from_gray(pixels[p])
            } else {
                egui::Color32::from_rgb(pixels[p], pixels[plane + p], pixels[2 * plane + p])
            }
        })
        .collect();
    egui::ColorImage::new([shape.width, shape.height], rgba)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::message::RunStatus;

    fn summary(classes: &[&str], shape: [usize; 3]) -> GanSummary {
        GanSummary {
            kind: "gan".into(),
            status: RunStatus::Completed,
            epochs_done: 1,
            epochs_planned: 1,
            train_samples: 10,
            val_samples: 10,
            dataset: "test".into(),
            class_names: classes.iter().map(|&c| c.to_owned()).collect(),
            shape,
            parameters: [1, 1],
            diff_augment: false,
            device: "CPU".into(),
            started_at: String::new(),
            finished_at: None,
            message: None,
            best_tstr: None,
            nearest: None,
            dataset_fingerprint: None,
        }
    }

    #[test]
    fn a_gan_fits_when_it_makes_every_class_of_the_split_at_its_size() {
        let names = |list: &[&str]| list.iter().map(|&c| c.to_owned()).collect::<Vec<_>>();
        let gan = summary(&["cat", "dog", "fox"], [1, 28, 28]);
        assert_eq!(
            synthetic_mismatch(&gan, [1, 28, 28], &names(&["dog", "cat"])),
            None
        );
        let missing = synthetic_mismatch(&gan, [1, 28, 28], &names(&["cat", "owl", "eel"]));
        assert!(
            missing
                .as_deref()
                .is_some_and(|m| m.contains("it makes no owl, eel")),
            "{missing:?}"
        );
        let size = synthetic_mismatch(&gan, [3, 32, 32], &names(&["cat"]));
        assert!(
            size.as_deref()
                .is_some_and(|m| m.contains("28×28 grayscale") && m.contains("32×32 RGB")),
            "{size:?}"
        );
    }
}
