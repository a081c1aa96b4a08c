//! The Augmentation panel: every operation's switch, probability and ranges beside a live
//! preview grid (rows are samples, the original on the left, then independent draws), the last
//! batch the model was actually given, warnings that teach, a PNG export and "Copy as
//! torchvision code".
//!
//! The grid comes from [`crate::augment::grid::compute`], the function training uses for its
//! batches. For images up to 32×32 it is recomputed in the frame a slider moves; bigger images
//! are augmented on the `augment-preview` thread while the old grid stays on screen.

use std::sync::Arc;

use super::AppCommand;
use super::augment_settings::{crop_ui, settings_ui, warnings_ui};
use super::background::Background;
use crate::augment::crop::CropConfig;
use crate::augment::grid::{self, GridRequest, Layout, PreviewGrid};
use crate::augment::warnings::{self, Warning};
use crate::augment::{AugmentConfig, ImageShape, Op, Preset, torch};
use crate::data::{self, Dataset};
use crate::experiment::ExperimentConfig;
use crate::train::message::TrainingBatch;

/// Largest image (pixels per channel) whose grid is computed within the frame.
const SYNC_PIXELS: usize = 32 * 32;
/// Largest on-screen magnification of the grid.
const MAX_ZOOM: usize = 4;
/// Magnification of the exported PNG.
const EXPORT_ZOOM: usize = 4;

/// Which samples the rows show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleChoice {
    /// Random training images, drawn with this seed.
    Random(u64),
    /// Training images by index, as typed ("0, 15, 42").
    Chosen(String),
}

/// The grid on screen and its texture.
struct Shown {
    grid: PreviewGrid,
    data_id: usize,
    texture: egui::TextureHandle,
    layout: Layout,
}

/// A grid being computed off the UI thread.
struct Pending {
    data_id: usize,
    task: Background<PreviewGrid>,
}

/// The panel's own state: preview settings, the grid on screen and textures.
pub struct AugmentView {
    /// Whether the Augmentation window is open.
    pub open: bool,
    /// Rows (samples) of the grid.
    pub rows: usize,
    /// Draw columns of the grid.
    pub cols: usize,
    /// Which samples the rows show.
    pub samples: SampleChoice,
    /// Epoch of the first draw column.
    pub first_epoch: u64,
    /// Show only this operation, on every draw.
    pub solo: Option<Op>,
    /// Show the last training batch instead of the grid.
    pub show_last_batch: bool,
    /// Grids computed so far (each slider change makes one).
    pub redraws: usize,
    shown: Option<Shown>,
    pending: Option<Pending>,
    batch_texture: Option<(usize, egui::TextureHandle)>,
    copied: bool,
    warnings: Option<(AugmentConfig, ImageShape, Vec<Warning>)>,
}

impl Default for AugmentView {
    fn default() -> Self {
        Self {
            open: false,
            rows: 4,
            cols: 8,
            samples: SampleChoice::Random(1),
            first_epoch: 1,
            solo: None,
            show_last_batch: false,
            redraws: 0,
            shown: None,
            pending: None,
            batch_texture: None,
            copied: false,
            warnings: None,
        }
    }
}

/// Identifies a loaded dataset (the same `Arc` is the same data).
fn data_id(data: &Arc<Dataset>) -> usize {
    Arc::as_ptr(data) as usize
}

impl AugmentView {
    /// The grid on screen, if any.
    pub fn grid(&self) -> Option<&PreviewGrid> {
        self.shown.as_ref().map(|s| &s.grid)
    }

    /// The grid on screen as a PNG (what "Export PNG" saves).
    pub fn png(&self) -> Option<Result<Vec<u8>, String>> {
        let shown = self.shown.as_ref()?;
        let (image, _) = grid::render(&shown.grid, EXPORT_ZOOM);
        Some(grid::encode_png(&image).map_err(|e| e.to_string()))
    }

    /// The warnings for a configuration on a dataset (recomputed only when either changes).
    pub fn warnings(&mut self, config: &AugmentConfig, data: &Dataset) -> &[Warning] {
        let shape = ImageShape::of(data);
        let stale = self
            .warnings
            .as_ref()
            .is_none_or(|(c, s, _)| c != config || *s != shape);
        if stale {
            let list = warnings::check(config, shape, &data.class_names);
            self.warnings = Some((config.clone(), shape, list));
        }
        self.warnings
            .as_ref()
            .map_or(&[], |(_, _, list)| list.as_slice())
    }

    /// What the grid should show now.
    fn request(
        &self,
        config: &AugmentConfig,
        crop: CropConfig,
        seed: u64,
        data: &Dataset,
    ) -> Result<GridRequest, String> {
        let samples = match &self.samples {
            SampleChoice::Random(draw) => grid::random_samples(data, self.rows, *draw),
            SampleChoice::Chosen(text) => parse_indices(text, data.train.len())?,
        };
        let config = match self.solo {
            Some(op) => config.solo(op),
            None => config.clone(),
        };
        Ok(GridRequest {
            config,
            crop,
            samples,
            epochs: (self.first_epoch..self.first_epoch + self.cols as u64).collect(),
            seed,
        })
    }

    /// Brings the grid up to date: at once for small images, on a thread for big ones.
    fn refresh(&mut self, ctx: &egui::Context, request: &GridRequest, data: &Arc<Dataset>) {
        let id = data_id(data);
        if let Some(pending) = &self.pending
            && let Some(grid) = pending.task.poll()
        {
            let data_id = pending.data_id;
            self.pending = None;
            self.show(ctx, grid, data_id);
        }
        let up_to_date = self
            .shown
            .as_ref()
            .is_some_and(|s| s.data_id == id && s.grid.request == *request);
        if up_to_date || self.pending.is_some() {
            return;
        }
        if data.width * data.height <= SYNC_PIXELS {
            let grid = grid::compute(request, data);
            self.show(ctx, grid, id);
            return;
        }
        let job = request.clone();
        let job_data = Arc::clone(data);
        let spawned = Background::spawn("augment-preview", ctx, move || {
            grid::compute(&job, &job_data)
        });
        match spawned {
            Ok(task) => {
                self.pending = Some(Pending { data_id: id, task });
            }
            // Without a thread the grid is still right, only slower to come.
            Err(_) => {
                let grid = grid::compute(request, data);
                self.show(ctx, grid, id);
            }
        }
    }

    fn show(&mut self, ctx: &egui::Context, grid: PreviewGrid, data_id: usize) {
        let (image, layout) = grid::render(&grid, 1);
        let color = egui::ColorImage::from_rgb(
            [image.width() as usize, image.height() as usize],
            image.as_raw(),
        );
        match &mut self.shown {
            Some(shown) => {
                shown.texture.set(color, egui::TextureOptions::NEAREST);
                shown.grid = grid;
                shown.layout = layout;
                shown.data_id = data_id;
            }
            None => {
                let texture =
                    ctx.load_texture("augment-grid", color, egui::TextureOptions::NEAREST);
                self.shown = Some(Shown {
                    grid,
                    data_id,
                    texture,
                    layout,
                });
            }
        }
        self.redraws += 1;
    }
}

/// Parses "0, 15, 42" into training indices, naming the first bad entry.
fn parse_indices(text: &str, len: usize) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in text.split([',', ' ']).filter(|p| !p.trim().is_empty()) {
        let index: u32 = part
            .trim()
            .parse()
            .map_err(|_| format!("`{}` is not an image number", part.trim()))?;
        if index as usize >= len {
            return Err(format!(
                "image {index} does not exist: the training set has {len} (0 to {})",
                len.saturating_sub(1)
            ));
        }
        out.push(index);
    }
    if out.is_empty() {
        return Err("type the numbers of the training images to show, e.g. 0, 15, 42".to_owned());
    }
    Ok(out)
}

/// The short section in the settings column: preset, summary, warnings and the button that
/// opens the full panel.
pub fn summary_ui(
    ui: &mut egui::Ui,
    view: &mut AugmentView,
    config: &mut ExperimentConfig,
    data: Option<&Dataset>,
    editable: bool,
    ab_note: Option<&str>,
) {
    ui.add_enabled_ui(editable, |ui| preset_ui(ui, &mut config.augment));
    ui.label(egui::RichText::new(config.augment.summary()).weak());
    if let Some(data) = data {
        let count = view.warnings(&config.augment, data).len();
        if count > 0 {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("{count} warning{}", if count == 1 { "" } else { "s" }),
            );
        }
    }
    let label = if view.open {
        "Close preview"
    } else {
        "Preview and edit…"
    };
    if ui
        .button(label)
        .on_hover_text("Every operation's settings beside a live grid of what the model will see")
        .clicked()
    {
        view.open = !view.open;
    }
    if let Some(note) = ab_note {
        ui.label(egui::RichText::new(note).italics());
    }
}

fn preset_ui(ui: &mut egui::Ui, augment: &mut AugmentConfig) {
    let current = augment.matching_preset();
    let label = ui.label("Preset");
    egui::ComboBox::from_id_salt("augment_preset")
        .selected_text(current.map_or("Custom", Preset::label))
        .show_ui(ui, |ui| {
            for preset in Preset::ALL {
                if ui
                    .selectable_label(current == Some(preset), preset.label())
                    .clicked()
                {
                    *augment = preset.config();
                }
            }
        })
        .response
        .labelled_by(label.id)
        .on_hover_text(
            "Starting points. Seed snippet 2 is the seed's RandomHorizontalFlip + \
             RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)). Augmentation \
             shows the model new variants of each image every epoch, so it cannot memorise \
             them: the cure for overfitting on small datasets.",
        );
}

/// Inputs of the window that the app owns.
pub struct PanelInput<'a> {
    /// The dataset, once loaded.
    pub data: Option<&'a Arc<Dataset>>,
    /// The last batch the model was given.
    pub last_batch: Option<&'a TrainingBatch>,
    /// Whether settings can change (no run in progress).
    pub editable: bool,
}

impl AugmentView {
    /// The window's contents: settings on the left, the preview on the right.
    pub fn augment_ui(
        &mut self,
        ui: &mut egui::Ui,
        config: &mut ExperimentConfig,
        input: &PanelInput<'_>,
    ) -> Option<AppCommand> {
        let mut command = None;
        ui.horizontal(|ui| {
            ui.add_enabled_ui(input.editable, |ui| preset_ui(ui, &mut config.augment));
            ui.separator();
            if ui
                .button("Copy as torchvision code")
                .on_hover_text("Puts the equivalent transforms.Compose([...]) on the clipboard")
                .clicked()
                && let Some(data) = input.data
            {
                let split = data::split(data, &config.dataset, config.seed).ok();
                let code = torch::torchvision_code(
                    &config.augment,
                    ImageShape::of(data),
                    split.as_ref().map(|s| &s.norm),
                    split
                        .as_ref()
                        .map_or_else(|| data.num_classes(), data::Split::num_classes),
                );
                ui.ctx().copy_text(code);
                self.copied = true;
            }
            if self.copied {
                ui.label(egui::RichText::new("copied").weak());
            }
            if ui
                .add_enabled(self.shown.is_some(), egui::Button::new("Export PNG…"))
                .on_hover_text("Save the grid as a PNG (each pixel 4×)")
                .clicked()
            {
                command = Some(AppCommand::ExportAugmentGrid);
            }
            if ui
                .add_enabled(
                    input.editable && !config.augment.is_identity(),
                    egui::Button::new("A/B run vs none"),
                )
                .on_hover_text(
                    "Train twice with these settings: first without augmentation, then with \
                     it. The first run stays on the plot as an overlay, so the two \
                     generalisation gaps can be compared.",
                )
                .on_disabled_hover_text("Choose an augmentation first (and wait for the run)")
                .clicked()
            {
                command = Some(AppCommand::StartAb);
            }
        });
        ui.separator();
        let settings_width = 330.0;
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.set_width(settings_width);
                egui::ScrollArea::vertical()
                    .id_salt("augment_settings")
                    .auto_shrink([false, false])
                    .show(ui, |ui| {
                        ui.add_enabled_ui(input.editable, |ui| {
                            egui::CollapsingHeader::new("Crops and tiles")
                                .default_open(config.crop.is_active())
                                .show(ui, |ui| match input.data {
                                    Some(data) => {
                                        let stored = ImageShape::of(data);
                                        if let Some(crop) = crop_ui(ui, &config.crop, stored) {
                                            command = Some(AppCommand::SetCrop(crop));
                                        }
                                    }
                                    None => {
                                        ui.label("Load a dataset first.");
                                    }
                                });
                            settings_ui(ui, &mut config.augment, &mut self.solo);
                        });
                    });
            });
            ui.separator();
            ui.vertical(|ui| self.preview_ui(ui, config, input));
        });
        command
    }

    fn preview_ui(&mut self, ui: &mut egui::Ui, config: &ExperimentConfig, input: &PanelInput<'_>) {
        ui.horizontal_wrapped(|ui| {
            ui.add(
                egui::DragValue::new(&mut self.rows)
                    .range(1..=16)
                    .prefix("rows "),
            )
            .on_hover_text("Samples shown");
            ui.add(
                egui::DragValue::new(&mut self.cols)
                    .range(1..=16)
                    .prefix("draws "),
            )
            .on_hover_text("Random draws per sample, beside the original");
            let mut random = matches!(self.samples, SampleChoice::Random(_));
            if ui
                .radio_value(&mut random, true, "random samples")
                .clicked()
                && !matches!(self.samples, SampleChoice::Random(_))
            {
                self.samples = SampleChoice::Random(1);
            }
            if ui.radio_value(&mut random, false, "chosen").clicked()
                && !matches!(self.samples, SampleChoice::Chosen(_))
            {
                self.samples = SampleChoice::Chosen("0, 1, 2, 3".to_owned());
            }
            match &mut self.samples {
                SampleChoice::Random(draw) => {
                    if ui
                        .button("New samples")
                        .on_hover_text("Show other training images")
                        .clicked()
                    {
                        *draw += 1;
                    }
                }
                SampleChoice::Chosen(text) => {
                    ui.add(egui::TextEdit::singleline(text).desired_width(110.0))
                        .on_hover_text("Training image numbers, comma separated");
                }
            }
            if ui
                .button("New draws")
                .on_hover_text("Show the next epochs' draws of the same samples")
                .clicked()
            {
                self.first_epoch += self.cols as u64;
            }
            ui.toggle_value(&mut self.show_last_batch, "Show the last training batch")
                .on_hover_text(
                    "The augmented images of the last batch of the latest epoch, exactly as \
                     the model was given them",
                );
        });
        let Some(data) = input.data else {
            ui.label("The dataset is loading…");
            return;
        };
        if self.show_last_batch {
            self.last_batch_ui(ui, input.last_batch);
        } else {
            match self.request(&config.augment, config.crop, config.seed, data) {
                Ok(request) => {
                    self.refresh(ui.ctx(), &request, data);
                    self.grid_ui(ui, data);
                }
                Err(message) => {
                    ui.colored_label(ui.visuals().error_fg_color, message);
                }
            }
        }
        let list = self.warnings(&config.augment, data).to_vec();
        warnings_ui(ui, &list);
    }

    fn grid_ui(&mut self, ui: &mut egui::Ui, data: &Dataset) {
        let Some(shown) = &self.shown else {
            ui.spinner();
            return;
        };
        let [w, h] = shown.layout.size();
        let room = ui.available_width().max(1.0);
        let zoom = display_zoom(room, w);
        let size = egui::vec2(w as f32 * zoom, h as f32 * zoom);
        let request = &shown.grid.request;
        let epochs = match (request.epochs.first(), request.epochs.last()) {
            (Some(a), Some(b)) if a != b => format!("epochs {a}–{b}"),
            (Some(a), _) => format!("epoch {a}"),
            _ => String::new(),
        };
        let mut caption = format!(
            "Original, then what a run with seed {} gives each sample in {epochs}",
            request.seed
        );
        if let Some(op) = self.solo {
            caption.push_str(&format!(" · solo: {} (every draw)", op.label()));
        }
        if self.pending.is_some() {
            caption.push_str(" · updating…");
        }
        ui.label(egui::RichText::new(caption).small());
        let response = ui
            .add(
                egui::Image::new((shown.texture.id(), size))
                    .texture_options(egui::TextureOptions::NEAREST)
                    .sense(egui::Sense::hover()),
            )
            .on_hover_cursor(egui::CursorIcon::Crosshair);
        if let Some(pos) = response.hover_pos() {
            let local = (pos - response.rect.min) / zoom;
            if let Some((row, column)) = shown.layout.hit(local.x, local.y) {
                let text = cell_text(&shown.grid, data, row, column);
                response.on_hover_text_at_pointer(text);
            }
        }
    }

    fn last_batch_ui(&mut self, ui: &mut egui::Ui, batch: Option<&TrainingBatch>) {
        let Some(batch) = batch else {
            ui.label("No training batch yet: start a run, and the last batch of each epoch appears here.");
            return;
        };
        let per_row = 8;
        if self
            .batch_texture
            .as_ref()
            .is_none_or(|(epoch, _)| *epoch != batch.epoch)
        {
            let image = grid::render_images(batch.shape, &batch.images, per_row, 1);
            let color = egui::ColorImage::from_rgb(
                [image.width() as usize, image.height() as usize],
                image.as_raw(),
            );
            let texture =
                ui.ctx()
                    .load_texture("augment-last-batch", color, egui::TextureOptions::NEAREST);
            self.batch_texture = Some((batch.epoch, texture));
        }
        let Some((_, texture)) = &self.batch_texture else {
            return;
        };
        let share = if batch.train_secs > 0.0 {
            100.0 * batch.data_wait_secs / batch.train_secs
        } else {
            0.0
        };
        let mut caption = format!(
            "Epoch {}: {} images of its last batch, as the model was given them",
            batch.epoch,
            batch.labels.len()
        );
        if let Some(mixing) = &batch.mixing {
            caption.push_str(&format!(" ({mixing})"));
        }
        ui.label(egui::RichText::new(caption).small());
        let [w, h] = [texture.size()[0], texture.size()[1]];
        let zoom = display_zoom(ui.available_width(), w);
        ui.add(
            egui::Image::new((texture.id(), egui::vec2(w as f32 * zoom, h as f32 * zoom)))
                .texture_options(egui::TextureOptions::NEAREST),
        );
        ui.label(
            egui::RichText::new(format!(
                "Training waited {:.2} s of {:.2} s ({share:.1} %) for augmented batches this epoch",
                batch.data_wait_secs, batch.train_secs
            ))
            .small(),
        )
        .on_hover_text(
            "Augmentation runs on its own threads ahead of the training step; near 0 % means it \
             never held the model up.",
        );
    }
}

/// How much to magnify an image `width_px` wide to fill `room`: whole steps from 2× up (crisp
/// pixels), any factor between 1× and 2×, never below 1× or above the maximum.
fn display_zoom(room: f32, width_px: usize) -> f32 {
    let fit = room / width_px.max(1) as f32;
    if fit >= 2.0 {
        fit.floor().min(MAX_ZOOM as f32)
    } else {
        fit.max(1.0)
    }
}

/// The tooltip of a grid cell: which sample, which epoch, what was done.
fn cell_text(grid: &PreviewGrid, data: &Dataset, row: usize, column: usize) -> String {
    let Some(&sample) = grid.request.samples.get(row) else {
        return String::new();
    };
    let label = data.train.labels.get(sample as usize).copied().unwrap_or(0);
    let class = data
        .class_names
        .get(usize::from(label))
        .map_or("?", String::as_str);
    let mut text = format!("Training image {sample} ({class})");
    if column == 0 {
        text.push_str("\nOriginal");
        return text;
    }
    let epoch = grid.request.epochs.get(column - 1).copied().unwrap_or(0);
    text.push_str(&format!("\nEpoch {epoch}"));
    if let Some(cell) = grid.cell(row, column - 1) {
        if cell.applied.is_empty() && cell.mixed.is_none() {
            text.push_str(": unchanged");
        }
        for applied in &cell.applied {
            text.push_str(&format!("\n• {applied}"));
        }
        if let Some(mixed) = &cell.mixed {
            text.push_str(&format!("\n• {mixed}"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DatasetSource, ImageSet};
    use std::time::{Duration, Instant};

    /// Refreshes until the grid on screen shows `request` (at most a minute).
    fn refresh_until_shown(
        view: &mut AugmentView,
        ctx: &egui::Context,
        request: &GridRequest,
        data: &Arc<Dataset>,
    ) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while view.grid().is_none_or(|g| g.request != *request) {
            assert!(
                Instant::now() < deadline,
                "the preview thread never answered"
            );
            std::thread::sleep(Duration::from_millis(5));
            view.refresh(ctx, request, data);
        }
    }

    #[test]
    fn big_images_are_augmented_off_the_ui_thread_and_the_old_grid_stays() {
        let (w, h, n) = (64usize, 64usize, 4usize);
        let data = Arc::new(Dataset {
            source: DatasetSource::Embedded,
            width: w,
            height: h,
            channels: 3,
            class_names: vec!["a".to_owned(), "b".to_owned()],
            train: ImageSet {
                pixels: (0..n * 3 * w * h).map(|i| (i % 251) as u8).collect(),
                labels: vec![0, 1, 0, 1],
            },
            test: None,
            fixed_norm: None,
            skipped: Vec::new(),
            source_format: crate::data::SourceFormat::default(),
            disk: None,
        });
        let ctx = egui::Context::default();
        let mut view = AugmentView {
            rows: 2,
            cols: 3,
            ..AugmentView::default()
        };
        let seed2 = Preset::Seed2.config();
        let first = view
            .request(&seed2, CropConfig::default(), 1, &data)
            .unwrap();
        view.refresh(&ctx, &first, &data);
        assert!(
            view.pending.is_some(),
            "64×64 images are augmented on a thread"
        );
        refresh_until_shown(&mut view, &ctx, &first, &data);

        let mut turned = seed2;
        turned.affine.degrees = 45.0;
        let second = view
            .request(&turned, CropConfig::default(), 1, &data)
            .unwrap();
        view.refresh(&ctx, &second, &data);
        assert_eq!(
            view.grid().map(|g| &g.request),
            Some(&first),
            "the old grid stays until the new one is ready"
        );
        refresh_until_shown(&mut view, &ctx, &second, &data);
        assert!(view.pending.is_none());
    }

    #[test]
    fn small_images_are_redrawn_at_once() {
        let data = crate::data::load(
            &DatasetSource::Embedded,
            crate::data::InputFormat::default(),
        )
        .unwrap();
        let ctx = egui::Context::default();
        let mut view = AugmentView::default();
        let request = view
            .request(&Preset::Seed2.config(), CropConfig::default(), 3, &data)
            .unwrap();
        view.refresh(&ctx, &request, &data);
        assert!(view.pending.is_none());
        assert_eq!(view.grid().map(|g| &g.request), Some(&request));
        assert_eq!(view.redraws, 1);
        view.refresh(&ctx, &request, &data);
        assert_eq!(view.redraws, 1, "nothing changed, nothing recomputed");
    }

    #[test]
    fn indices_parse_or_name_the_problem() {
        assert_eq!(parse_indices("0, 15,42", 100).unwrap(), vec![0, 15, 42]);
        assert!(parse_indices("3, x", 100).unwrap_err().contains("`x`"));
        assert!(
            parse_indices("100", 100)
                .unwrap_err()
                .contains("does not exist")
        );
        assert!(parse_indices(" ", 100).is_err());
    }
}
