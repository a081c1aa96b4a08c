//! The Generator window: a class-conditional GAN trained on the dataset's training images, for
//! synthetic images where real ones are scarce. Its settings and run controls; the fixed-noise
//! grid after each epoch (one row per class, memorised-looking images framed red, optionally
//! beside their nearest training images); live plots of the two losses and of the
//! train-on-synthetic score; and the GAN runs in the runs folder, each one click away from a
//! classifier's training samples.
//!
//! The window reads and edits [`GanView`] and returns a [`GanCommand`]; the app talks to the
//! training worker.

use std::path::{Path, PathBuf};

use egui::Color32;
use egui_plot::{Corner, HLine, HoverPosition, Legend, Line, LineStyle, Plot, PlotPoints, Points};

use super::plot::decimate_min_max;
use super::state::Phase;
use crate::experiment::gan::{GanConfig, GanSummary, SyntheticConfig};
use crate::model::gan::DiffAugment;
use crate::train::gan::grid_picture;
use crate::train::message::{GanEpoch, GanEvent, GanGrid, GanInfo, RunStatus};

/// Colour of the discriminator's loss.
const D_COLOR: Color32 = Color32::from_rgb(220, 90, 70);
/// Colour of the generator's loss.
const G_COLOR: Color32 = Color32::from_rgb(66, 133, 244);
/// Colour of the train-on-synthetic score.
const TSTR_COLOR: Color32 = Color32::from_rgb(60, 170, 90);
/// The most per-step points drawn per loss.
const MAX_STEP_POINTS: usize = 3000;
/// Width of the class-name column left of the grid.
const NAME_COLUMN_PX: f32 = 86.0;
/// Largest magnification of the grid's pixels.
const MAX_ZOOM: f32 = 6.0;
/// Space between the grid's panes.
const PANE_GAP_PX: f32 = 8.0;
/// Narrowest the plots beside the grid get.
const MIN_PLOTS_PX: f32 = 380.0;
/// Space between the grid's column and the plots'.
const COLUMN_GAP_PX: f32 = 12.0;
/// Height of the two plots (with their headings) before a grid is shown.
const PLOTS_HEIGHT_PX: f32 = 340.0;
/// Tallest the grid's height limit gets in a small window (it may scroll then).
const MIN_GRID_HEIGHT_PX: f32 = 240.0;
/// Generated images per class a classifier run mixes in, unless the user picks another number.
pub const DEFAULT_PER_CLASS: usize = 100;

/// What the train-on-synthetic score is, for hover texts.
pub const TSTR_HELP: &str = "Train on synthetic, test on real: a SimpleCNN trained only on \
     generated images, scored on real validation images. Near the accuracy of a classifier \
     trained on real images: the generator's classes are right and varied. Near chance: they are \
     not (yet).";

/// What the Generator window asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum GanCommand {
    /// Train a new GAN with the window's settings on the experiment's dataset, seed and device.
    Start,
    /// Pause between two steps.
    Pause,
    /// Go on after a pause.
    Resume,
    /// End the run after the step in progress; it is recorded as stopped.
    Stop,
    /// Train the run that ended this many more epochs, in the same folder.
    Extend(usize),
    /// Continue a recorded run from its last saved epoch: to its plan when it stopped short,
    /// else this many more epochs.
    ResumeRun(PathBuf, usize),
    /// Mix this run's generated images into the classifier's training samples.
    UseInTraining(SyntheticConfig),
}

/// The grid on screen as textures.
struct GridTextures {
    /// Which grid they show (see [`GanView::grids`]).
    serial: usize,
    generated: egui::TextureHandle,
    nearest: egui::TextureHandle,
    /// Picture size in pixels.
    size: egui::Vec2,
}

/// The Generator window's state: its settings, and what the GAN run reported, ready to draw.
pub struct GanView {
    /// Whether the window is open.
    pub open: bool,
    /// Settings of the next GAN run; its data, seed and device come from the experiment.
    pub settings: GanConfig,
    /// Where the run stands.
    pub phase: Phase,
    /// Sizes of the run, from its `Started` event.
    pub info: Option<GanInfo>,
    /// One entry per finished epoch (earlier ones included when continued).
    pub epochs: Vec<GanEpoch>,
    /// Per-step discriminator loss as `[fractional epoch, loss]`.
    pub d_steps: Vec<[f64; 2]>,
    /// Per-step generator loss as `[fractional epoch, loss]`.
    pub g_steps: Vec<[f64; 2]>,
    /// Latest step: (epoch, step).
    pub position: (usize, usize),
    /// Real images per second over the epoch so far.
    pub samples_per_sec: f64,
    /// How it ended, or why it could not start.
    pub message: Option<String>,
    /// The latest fixed-noise grid.
    pub grid: Option<Box<GanGrid>>,
    /// Grids received so far.
    pub grids: usize,
    /// Show each generated image's nearest training image beside the grid.
    pub show_nearest: bool,
    /// Epochs "+N epochs" and "Resume" add.
    pub extend_by: usize,
    /// Generated images per class "Use in training" mixes in.
    pub per_class: usize,
    /// The training worker still holds this run in memory, so "+N epochs" continues it there;
    /// any other run started since has replaced it (and the worker has dropped the classifier
    /// run it held).
    pub in_worker: bool,
    textures: Option<GridTextures>,
    /// Tallest the grid is drawn: what the window shows below its controls.
    max_grid_height: f32,
}

impl Default for GanView {
    fn default() -> Self {
        Self {
            open: false,
            settings: GanConfig::default(),
            phase: Phase::Idle,
            info: None,
            epochs: Vec::new(),
            d_steps: Vec::new(),
            g_steps: Vec::new(),
            position: (0, 0),
            samples_per_sec: 0.0,
            message: None,
            grid: None,
            grids: 0,
            show_nearest: false,
            extend_by: 5,
            per_class: DEFAULT_PER_CLASS,
            in_worker: false,
            textures: None,
            max_grid_height: MIN_GRID_HEIGHT_PX,
        }
    }
}

/// What the window is given each frame.
pub struct PanelInput<'a> {
    /// The GAN runs in the runs folder, newest first.
    pub runs: &'a [(PathBuf, GanSummary)],
    /// The synthetic images the classifier's next run uses.
    pub synthetic: &'a SyntheticConfig,
    /// A classifier run or the learning-rate finder holds the training worker.
    pub classifier_busy: bool,
    /// The data a new GAN learns from, in words.
    pub dataset: String,
}

impl GanView {
    /// Whether a GAN run is in progress (loading, training or paused).
    pub fn is_active(&self) -> bool {
        matches!(self.phase, Phase::Starting | Phase::Running | Phase::Paused)
    }

    /// A run was just asked for: the old one stays on show until the new one starts.
    pub fn starting(&mut self) {
        self.phase = Phase::Starting;
        self.message = None;
        self.in_worker = true;
    }

    /// The run folder of the run on show, if recorded.
    pub fn run_dir(&self) -> Option<&Path> {
        self.info.as_ref().and_then(|i| i.run_dir.as_deref())
    }

    /// The epoch of the grid whose texture is on screen.
    pub fn shown_epoch(&self) -> Option<usize> {
        let shown = self.textures.as_ref()?;
        self.grid
            .as_ref()
            .filter(|_| shown.serial == self.grids)
            .map(|g| g.epoch)
    }

    /// The best train-on-synthetic score so far: (epoch, accuracy).
    pub fn best_tstr(&self) -> Option<(usize, f64)> {
        self.epochs
            .iter()
            .filter_map(|m| m.tstr_acc.map(|a| (m.epoch, a)))
            .fold(None, |best, (e, a)| match best {
                Some((_, b)) if b >= a => best,
                _ => Some((e, a)),
            })
    }

    /// Folds one event of the GAN run into the view.
    pub fn apply(&mut self, event: GanEvent) {
        match event {
            GanEvent::Started(info) => {
                let same_run = info.run_dir.is_some() && self.run_dir() == info.run_dir.as_deref();
                let done = info.history.len();
                if same_run {
                    // "+N epochs": the steps of the epochs kept stay on the plot.
                    let kept = |p: &[f64; 2]| p[0] <= done as f64 + 1e-9;
                    self.d_steps.retain(kept);
                    self.g_steps.retain(kept);
                } else {
                    self.d_steps.clear();
                    self.g_steps.clear();
                    self.grid = None;
                }
                self.epochs.clone_from(&info.history);
                self.position = (done, 0);
                self.samples_per_sec = 0.0;
                self.message = None;
                self.info = Some(info);
                self.phase = Phase::Running;
            }
            GanEvent::Step {
                epoch,
                step,
                d_loss,
                g_loss,
                samples_per_sec,
            } => {
                let per_epoch = self.info.as_ref().map_or(1, |i| i.steps_per_epoch.max(1));
                let x = (epoch.max(1) - 1) as f64 + step as f64 / per_epoch as f64;
                self.d_steps.push([x, d_loss]);
                self.g_steps.push([x, g_loss]);
                self.position = (epoch, step);
                self.samples_per_sec = samples_per_sec;
            }
            GanEvent::Epoch(metrics) => {
                self.epochs.retain(|m| m.epoch < metrics.epoch);
                self.epochs.push(metrics);
            }
            GanEvent::Grid(grid) => {
                self.grid = Some(grid);
                self.grids += 1;
            }
            GanEvent::Paused => self.phase = Phase::Paused,
            GanEvent::Resumed => self.phase = Phase::Running,
            GanEvent::Finished { status, message } => {
                self.phase = Phase::Ended(status);
                self.message = Some(message);
            }
            GanEvent::Failed { message } => {
                self.phase = Phase::Ended(RunStatus::Failed);
                self.message = Some(message);
                self.in_worker = false;
            }
        }
    }

    /// One line saying where the run stands.
    pub fn progress_text(&self) -> String {
        let Some(info) = &self.info else {
            return match &self.phase {
                Phase::Starting => "Loading the data and building the GAN…".to_owned(),
                Phase::Ended(status) => format!("GAN run {status}"),
                _ => "Ready: Start GAN trains on the data chosen in the Dataset panel".to_owned(),
            };
        };
        let (epoch, step) = self.position;
        let mut text = format!(
            "Epoch {}/{} · step {}/{} · {:.0} images/s",
            epoch.max(1),
            info.epochs,
            step,
            info.steps_per_epoch,
            self.samples_per_sec
        );
        if let (Some(d), Some(g)) = (self.d_steps.last(), self.g_steps.last()) {
            text.push_str(&format!(" · D loss {:.3} · G loss {:.3}", d[1], g[1]));
        }
        match &self.phase {
            Phase::Starting => text = "Continuing the GAN run…".to_owned(),
            Phase::Paused => text.push_str(" · paused"),
            Phase::Ended(RunStatus::Completed) => {
                text = format!("Completed {} epochs", self.epochs.len());
            }
            Phase::Ended(status) => {
                text = format!(
                    "GAN run {status} after {} of {} epochs",
                    self.epochs.len(),
                    info.epochs
                );
            }
            Phase::Idle | Phase::Running => {}
        }
        text
    }

    /// Fraction of the run done, in 0..=1.
    pub fn fraction_done(&self) -> f32 {
        let Some(info) = &self.info else { return 0.0 };
        if self.phase == Phase::Ended(RunStatus::Completed) {
            return 1.0;
        }
        let (epoch, step) = self.position;
        let done = self.epochs.len().max(epoch.saturating_sub(1));
        let partial = if epoch > self.epochs.len() {
            step as f64 / info.steps_per_epoch.max(1) as f64
        } else {
            0.0
        };
        ((done as f64 + partial) / info.epochs.max(1) as f64).clamp(0.0, 1.0) as f32
    }

    /// The window's contents.
    pub fn window_ui(&mut self, ui: &mut egui::Ui, input: &PanelInput<'_>) -> Option<GanCommand> {
        let mut command = None;
        let viewport = ui.available_height();
        egui::ScrollArea::vertical()
            .id_salt("generator_scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                self.settings_ui(ui, input);
                ui.separator();
                command = self.controls_ui(ui, input);
                ui.separator();
                // The grid as large as the window shows without scrolling (its heading and
                // the memorisation line take about 50 points).
                self.max_grid_height =
                    (viewport - ui.min_rect().height() - 50.0).max(MIN_GRID_HEIGHT_PX);
                let grid_width = self.grid_width(ui.available_width());
                ui.horizontal_top(|ui| {
                    let grid = ui.vertical(|ui| {
                        ui.set_width(grid_width);
                        self.grid_ui(ui, grid_width);
                    });
                    // A separator here would stretch to the bottom of the scroll area: a line
                    // as tall as the two columns is drawn instead.
                    ui.add_space(COLUMN_GAP_PX);
                    // The plots as tall as the grid beside them (a fixed height before it).
                    let height = if self.textures.is_some() {
                        grid.response.rect.height().max(PLOTS_HEIGHT_PX)
                    } else {
                        PLOTS_HEIGHT_PX
                    };
                    let plots = ui.vertical(|ui| {
                        self.plots_ui(ui, height);
                    });
                    let rect = grid.response.rect.union(plots.response.rect);
                    ui.painter().vline(
                        plots.response.rect.left() - COLUMN_GAP_PX / 2.0,
                        rect.y_range(),
                        ui.visuals().widgets.noninteractive.bg_stroke,
                    );
                });
                ui.separator();
                let picked = egui::CollapsingHeader::new("GAN runs")
                    .id_salt("gan_runs")
                    .default_open(true)
                    .show(ui, |ui| self.runs_ui(ui, input))
                    .body_returned
                    .flatten();
                command = command.take().or(picked);
            });
        command
    }

    /// The settings of the next run (editable while no GAN trains).
    fn settings_ui(&mut self, ui: &mut egui::Ui, input: &PanelInput<'_>) {
        ui.label(format!(
            "Learns from the training images of: {} (the Dataset panel's split; validation \
             images only score it)",
            input.dataset
        ));
        ui.add_enabled_ui(!self.is_active(), |ui| {
            ui.horizontal_wrapped(|ui| {
                let s = &mut self.settings;
                ui.add(
                    egui::DragValue::new(&mut s.epochs)
                        .range(1..=100_000)
                        .prefix("epochs "),
                )
                .on_hover_text("Passes over the training images");
                ui.add(
                    egui::DragValue::new(&mut s.batch_size)
                        .range(2..=4096)
                        .prefix("batch "),
                )
                .on_hover_text("Real images per step (as many generated ones beside them)");
                let lr = ui
                    .add(
                        egui::DragValue::new(&mut s.lr)
                            .range(1e-6..=1.0)
                            .speed(1e-5)
                            .custom_formatter(|v, _| format!("{v:.1e}"))
                            .prefix("learning rate "),
                    )
                    .on_hover_text(
                        "Adam's learning rate, the same for the generator and the \
                         discriminator (2e-4 is the usual start)",
                    );
                if lr.changed() {
                    s.d_lr = s.lr;
                }
                let text = |d: DiffAugment| match d {
                    DiffAugment::Auto => "DiffAugment: auto",
                    DiffAugment::On => "DiffAugment: on",
                    DiffAugment::Off => "DiffAugment: off",
                };
                egui::ComboBox::from_id_salt("gan_diff_augment")
                    .selected_text(text(s.diff_augment))
                    .show_ui(ui, |ui| {
                        for choice in [DiffAugment::Auto, DiffAugment::On, DiffAugment::Off] {
                            ui.selectable_value(&mut s.diff_augment, choice, text(choice));
                        }
                    })
                    .response
                    .on_hover_text(format!(
                        "The discriminator sees every image, real or generated, shifted, cut \
                         out and recoloured, so it cannot simply memorise a small training set \
                         (and the generator does not learn to copy it). Auto: on under {} \
                         training images.",
                        DiffAugment::AUTO_BELOW
                    ));
                ui.add(
                    egui::DragValue::new(&mut s.tstr_every)
                        .range(0..=1000)
                        .prefix("score every ")
                        .suffix(" epochs"),
                )
                .on_hover_text(format!(
                    "{TSTR_HELP} Measured every this many epochs and at the last; 0: never."
                ));
                ui.add_enabled(
                    s.tstr_every > 0,
                    egui::DragValue::new(&mut s.tstr_per_class)
                        .range(1..=10_000)
                        .prefix("scored on ")
                        .suffix(" images/class"),
                )
                .on_hover_text("Generated images per class the scoring classifier learns from");
            });
        });
    }

    /// Start, Pause/Resume, Stop, "+N epochs" and the progress line.
    fn controls_ui(&mut self, ui: &mut egui::Ui, input: &PanelInput<'_>) -> Option<GanCommand> {
        let mut command = None;
        ui.horizontal(|ui| {
            let can_start = !self.is_active() && !input.classifier_busy;
            if ui
                .add_enabled(can_start, egui::Button::new("Start GAN"))
                .on_hover_text(
                    "Train a new class-conditional GAN with these settings, recorded in the runs \
                     folder",
                )
                .on_disabled_hover_text(if input.classifier_busy {
                    "A classifier run (or the learning-rate finder) is using the training \
                     thread: wait for it or stop it"
                } else {
                    "A GAN run is in progress"
                })
                .clicked()
            {
                command = Some(GanCommand::Start);
            }
            if self.phase == Phase::Paused {
                if ui
                    .button("Resume GAN")
                    .on_hover_text("Continue training")
                    .clicked()
                {
                    command = Some(GanCommand::Resume);
                }
            } else if ui
                .add_enabled(self.phase == Phase::Running, egui::Button::new("Pause GAN"))
                .on_hover_text("Pause between two steps; nothing is lost")
                .clicked()
            {
                command = Some(GanCommand::Pause);
            }
            if ui
                .add_enabled(self.is_active(), egui::Button::new("Stop GAN"))
                .on_hover_text(
                    "End the run after the current step; its folder keeps the last finished epoch",
                )
                .clicked()
            {
                command = Some(GanCommand::Stop);
            }
            if let Phase::Ended(status) = self.phase
                && status.can_continue()
                && self.info.is_some()
            {
                ui.separator();
                if ui
                    .add_enabled(
                        !input.classifier_busy,
                        egui::Button::new(format!("+{} GAN epochs", self.extend_by)),
                    )
                    .on_hover_text(
                        "Continue this GAN from its last weights and optimizer state, in the \
                         same plots and run folder",
                    )
                    .clicked()
                {
                    command = Some(GanCommand::Extend(self.extend_by));
                }
                ui.add(egui::DragValue::new(&mut self.extend_by).range(1..=1000))
                    .on_hover_text("How many epochs to add");
            }
            ui.separator();
            let fraction = self.fraction_done();
            ui.add(
                egui::ProgressBar::new(fraction)
                    .desired_width(140.0)
                    .text(format!("{:.0} %", fraction * 100.0)),
            );
        });
        ui.label(self.progress_text());
        if let Some(message) = &self.message {
            let color = match self.phase {
                Phase::Ended(RunStatus::Failed | RunStatus::Diverged) => {
                    ui.visuals().error_fg_color
                }
                _ => ui.visuals().weak_text_color(),
            };
            ui.colored_label(color, message);
        } else if let Some(info) = &self.info {
            let dir = info
                .run_dir
                .as_ref()
                .map_or_else(|| "not recorded".to_owned(), |d| d.display().to_string());
            ui.label(
                egui::RichText::new(format!(
                    "{} training / {} validation images · generator {} and discriminator {} \
                     parameters · DiffAugment {} · {} · {dir}",
                    info.train_samples,
                    info.val_samples,
                    info.parameters[0],
                    info.parameters[1],
                    if info.diff_augment { "on" } else { "off" },
                    info.device
                ))
                .weak(),
            );
        }
        command
    }

    /// How many panes the grid shows: the generated images, and maybe their nearest twins.
    fn panes(&self) -> f32 {
        if self.show_nearest { 2.0 } else { 1.0 }
    }

    /// The largest magnification (in half steps) at which the grid's panes fit `room` points
    /// across and the window's height.
    fn zoom(&self, room: f32) -> f32 {
        let Some(size) = self.textures.as_ref().map(|t| t.size) else {
            return 1.0;
        };
        let panes = self.panes();
        let fit = ((room - NAME_COLUMN_PX - PANE_GAP_PX * panes) / panes / size.x)
            .min(self.max_grid_height / size.y);
        ((fit * 2.0).floor() / 2.0).clamp(1.0, MAX_ZOOM)
    }

    /// Width of the grid's column in a window `full` points wide: the grid at the largest
    /// magnification that leaves the plots room.
    fn grid_width(&self, full: f32) -> f32 {
        let Some(size) = self.textures.as_ref().map(|t| t.size) else {
            return (full * 0.45).max(300.0);
        };
        let panes = self.panes();
        let zoom = self.zoom((full - MIN_PLOTS_PX).max(full * 0.5));
        (NAME_COLUMN_PX + panes * (size.x * zoom + PANE_GAP_PX)).max(300.0)
    }

    /// Brings the grid textures up to date with the latest grid.
    fn refresh_textures(&mut self, ctx: &egui::Context) {
        let Some(grid) = &self.grid else {
            self.textures = None;
            return;
        };
        if self
            .textures
            .as_ref()
            .is_some_and(|t| t.serial == self.grids)
        {
            return;
        }
        let generated = color_image(&grid_picture(grid));
        let nearest_grid = GanGrid {
            images: grid.nearest.clone(),
            flagged: vec![false; grid.flagged.len()],
            ..(**grid).clone()
        };
        let nearest = color_image(&grid_picture(&nearest_grid));
        let size = egui::vec2(generated.size[0] as f32, generated.size[1] as f32);
        match &mut self.textures {
            Some(t) => {
                t.generated.set(generated, egui::TextureOptions::NEAREST);
                t.nearest.set(nearest, egui::TextureOptions::NEAREST);
                t.size = size;
                t.serial = self.grids;
            }
            None => {
                self.textures = Some(GridTextures {
                    serial: self.grids,
                    generated: ctx.load_texture(
                        "gan-grid",
                        generated,
                        egui::TextureOptions::NEAREST,
                    ),
                    nearest: ctx.load_texture(
                        "gan-grid-nearest",
                        nearest,
                        egui::TextureOptions::NEAREST,
                    ),
                    size,
                });
            }
        }
    }

    /// The fixed-noise grid: class names at the left, the generated images (and their nearest
    /// training images), the memorisation summary below.
    fn grid_ui(&mut self, ui: &mut egui::Ui, width: f32) {
        self.refresh_textures(ui.ctx());
        ui.horizontal(|ui| {
            ui.strong("Fixed-noise grid");
            ui.checkbox(&mut self.show_nearest, "Show nearest training images")
                .on_hover_text(
                    "Beside each generated image, the training image of its class closest to it \
                     (root mean square over pixels): a copy shows up as a twin",
                );
        });
        let (Some(grid), Some(textures)) = (&self.grid, &self.textures) else {
            ui.label(
                egui::RichText::new(
                    "The generator's images appear here after each epoch: the same noise every \
                     epoch, one row per class, so the rows show what it has learnt so far.",
                )
                .weak(),
            );
            return;
        };
        let names = self
            .info
            .as_ref()
            .map(|i| i.class_names.as_slice())
            .unwrap_or_default();
        let zoom = self.zoom(width);
        let shown = textures.size * zoom;
        let cell = [grid.shape.width as f32, grid.shape.height as f32];
        ui.horizontal_top(|ui| {
            ui.vertical(|ui| {
                ui.label(" ");
                let (rect, _) = ui
                    .allocate_exact_size(egui::vec2(NAME_COLUMN_PX, shown.y), egui::Sense::hover());
                let font = egui::TextStyle::Small.resolve(ui.style());
                for row in 0..grid.rows {
                    let y = rect.top()
                        + (GAP_PX + row as f32 * (cell[1] + GAP_PX) + cell[1] / 2.0) * zoom;
                    let name: String = names
                        .get(row)
                        .map_or_else(|| format!("class {row}"), Clone::clone)
                        .chars()
                        .take(14)
                        .collect();
                    ui.painter().text(
                        egui::pos2(rect.right() - 4.0, y),
                        egui::Align2::RIGHT_CENTER,
                        name,
                        font.clone(),
                        ui.visuals().text_color(),
                    );
                }
            });
            ui.vertical(|ui| {
                ui.label(format!("Generated, epoch {}", grid.epoch));
                let response = ui.add(
                    egui::Image::new((textures.generated.id(), shown))
                        .texture_options(egui::TextureOptions::NEAREST)
                        .sense(egui::Sense::hover()),
                );
                cell_hover(&response, grid, names, zoom, "generated");
            });
            if self.show_nearest {
                ui.vertical(|ui| {
                    ui.label("Nearest training image");
                    let response = ui.add(
                        egui::Image::new((textures.nearest.id(), shown))
                            .texture_options(egui::TextureOptions::NEAREST)
                            .sense(egui::Sense::hover()),
                    );
                    cell_hover(&response, grid, names, zoom, "nearest training image of");
                });
            }
        });
        let check = &grid.check;
        let color = if check.flagged > 0 {
            ui.visuals().warn_fg_color
        } else {
            ui.visuals().text_color()
        };
        ui.colored_label(
            color,
            format!(
                "{} of {} look memorised; median distance ratio {:.2}",
                check.flagged, check.checked, check.median_ratio
            ),
        )
        .on_hover_text(
            "Each generated image's distance to the nearest training image of its class, over \
             the distance at which training images typically lie from each other. Around 1 or \
             more: new images. Under half the closest 5 % of training pairs: likely a copy, \
             framed red.",
        );
    }

    /// Losses per step and per epoch, and the train-on-synthetic score per epoch.
    fn plots_ui(&self, ui: &mut egui::Ui, total_height: f32) {
        let link = ui.make_persistent_id("gan_epoch_axis");
        let planned = self.info.as_ref().map_or(1.0, |i| i.epochs as f64);
        ui.horizontal_wrapped(|ui| {
            ui.strong("Losses");
            if let Some(last) = self.epochs.last() {
                ui.label(format!(
                    "· epoch {}: D {:.3}, G {:.3}",
                    last.epoch, last.d_loss, last.g_loss
                ));
            }
        })
        .response
        .on_hover_text(
            "Faint: per step; bold: epoch means. Hinge losses. D falls when the discriminator tells real from generated; G falls \
             when the generator fools it. In a healthy run both wobble around a level; D near 0 \
             for long means the generator gets no signal.",
        );
        // Two headings and the gap between the plots take about 60 points.
        let plots = (total_height - 60.0).max(240.0);
        let loss_height = plots * 0.6;
        let mut loss_plot = Plot::new("gan_loss_plot")
            .height(loss_height)
            .include_y(0.0);
        if self.d_steps.is_empty() && self.epochs.is_empty() {
            // Before the first step: where hinge losses start, not -0.5..0.5 around nothing.
            loss_plot = loss_plot.include_y(2.0);
        }
        loss_plot
            .legend(Legend::default().text_style(egui::TextStyle::Small))
            .link_axis(link, [true, false])
            .link_cursor(link, [true, false])
            .include_x(0.0)
            .include_x(planned)
            .x_axis_label("epoch")
            .label_formatter(|pos| {
                let HoverPosition::NearDataPoint { position, .. } = pos else {
                    return None;
                };
                Some(format!("epoch {:.2}\nloss {:.3}", position.x, position.y))
            })
            .show(ui, |plot| {
                // Per-step and per-epoch lines share a name: one legend entry shows or hides both.
                for (name, steps, color) in [
                    ("D loss", &self.d_steps, D_COLOR),
                    ("G loss", &self.g_steps, G_COLOR),
                ] {
                    plot.line(
                        Line::new(
                            name,
                            PlotPoints::from(decimate_min_max(steps, MAX_STEP_POINTS)),
                        )
                        .color(color.gamma_multiply(0.35))
                        .width(1.0),
                    );
                }
                let d: Vec<[f64; 2]> = self
                    .epochs
                    .iter()
                    .map(|m| [m.epoch as f64, m.d_loss])
                    .collect();
                let g: Vec<[f64; 2]> = self
                    .epochs
                    .iter()
                    .map(|m| [m.epoch as f64, m.g_loss])
                    .collect();
                for (name, points, color) in [("D loss", d, D_COLOR), ("G loss", g, G_COLOR)] {
                    plot.line(
                        Line::new(name, PlotPoints::from(points.clone()))
                            .color(color)
                            .width(2.0),
                    );
                    plot.points(
                        Points::new(name, PlotPoints::from(points))
                            .color(color)
                            .radius(3.0),
                    );
                }
            });
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| {
            ui.strong("Train-on-synthetic accuracy");
            match self.best_tstr() {
                Some((epoch, acc)) => {
                    ui.label(format!("· best {:.1} % at epoch {epoch}", acc * 100.0));
                }
                None if self.settings.tstr_every == 0 && self.info.is_none() => {
                    ui.label("· not measured (score every 0 epochs)");
                }
                None => {
                    ui.label("· measured after the scored epochs");
                }
            }
        })
        .response
        .on_hover_text(TSTR_HELP);
        let classes = self.info.as_ref().map_or(0, |i| i.class_names.len());
        Plot::new("gan_tstr_plot")
            .height(plots - loss_height)
            .legend(
                Legend::default()
                    .position(Corner::LeftTop)
                    .text_style(egui::TextStyle::Small),
            )
            .link_axis(link, [true, false])
            .link_cursor(link, [true, false])
            .include_x(0.0)
            .include_x(planned)
            .include_y(0.0)
            .include_y(1.0)
            .x_axis_label("epoch")
            .y_axis_formatter(|mark, _| format!("{:.0} %", mark.value * 100.0))
            .label_formatter(|pos| {
                let HoverPosition::NearDataPoint { position, .. } = pos else {
                    return None;
                };
                Some(format!(
                    "epoch {:.0}\nTSTR {:.1} %\n(a SimpleCNN trained only on generated images,\nscored on real validation images)",
                    position.x,
                    position.y * 100.0
                ))
            })
            .show(ui, |plot| {
                let points: Vec<[f64; 2]> = self
                    .epochs
                    .iter()
                    .filter_map(|m| m.tstr_acc.map(|a| [m.epoch as f64, a]))
                    .collect();
                plot.points(
                    Points::new("TSTR accuracy", PlotPoints::from(points))
                        .color(TSTR_COLOR)
                        .radius(4.0),
                );
                if classes > 0 {
                    plot.hline(
                        HLine::new("chance", 1.0 / classes as f64)
                            .color(Color32::from_gray(140))
                            .style(LineStyle::dashed_loose()),
                    );
                }
            });
    }

    /// The GAN runs in the runs folder, with "Use in training" and "Resume".
    fn runs_ui(&mut self, ui: &mut egui::Ui, input: &PanelInput<'_>) -> Option<GanCommand> {
        let mut command = None;
        ui.horizontal(|ui| {
            ui.label("Use in training:");
            ui.add(
                egui::DragValue::new(&mut self.per_class)
                    .range(1..=100_000)
                    .suffix(" images per class"),
            )
            .on_hover_text(
                "Generated images of each class added to the classifier's training samples \
                 (never to its validation samples)",
            );
        });
        if input.runs.is_empty() {
            ui.label(egui::RichText::new("No GAN runs in the runs folder yet.").weak());
            return None;
        }
        let live = self.run_dir().filter(|_| self.is_active());
        egui::Grid::new("gan_runs_table")
            .striped(true)
            .num_columns(7)
            .show(ui, |ui| {
                for heading in [
                    "",
                    "Run",
                    "Data",
                    "Epochs",
                    "Status",
                    "Best TSTR",
                    "Memorised",
                ] {
                    ui.label(egui::RichText::new(heading).strong());
                }
                ui.end_row();
                for (dir, summary) in input.runs {
                    // The buttons first, where long names cannot push them away.
                    ui.horizontal(|ui| {
                        let resumable = summary.epochs_done > 0
                            && summary.status != RunStatus::Running
                            && live.is_none()
                            && !self.is_active()
                            && !input.classifier_busy;
                        let more = if summary.epochs_done < summary.epochs_planned {
                            format!("to its planned {} epochs", summary.epochs_planned)
                        } else {
                            format!("for {} more epochs", self.extend_by)
                        };
                        if ui
                            .add_enabled(resumable, egui::Button::new("Resume"))
                            .on_hover_text(format!(
                                "Continue this GAN from its last saved epoch {more}, in its folder"
                            ))
                            .clicked()
                        {
                            command = Some(GanCommand::ResumeRun(dir.clone(), self.extend_by));
                        }
                        let in_use = input.synthetic.is_active()
                            && input.synthetic.run.as_deref() == Some(dir.as_path());
                        let text = if in_use {
                            "In training"
                        } else {
                            "Use in training"
                        };
                        let usable = summary.epochs_done > 0 && !input.classifier_busy;
                        if ui
                            .add_enabled(usable, egui::Button::new(text).selected(in_use))
                            .on_hover_text(format!(
                                "Mix {} generated images per class from this run's generator \
                                 into the classifier's training samples (the Dataset panel's \
                                 Synthetic images row)",
                                self.per_class
                            ))
                            .on_disabled_hover_text(if summary.epochs_done == 0 {
                                "No finished epoch: its generator has not been saved"
                            } else {
                                "Wait for the classifier run to end"
                            })
                            .clicked()
                        {
                            command = Some(GanCommand::UseInTraining(SyntheticConfig {
                                run: Some(dir.clone()),
                                per_class: self.per_class,
                            }));
                        }
                    });
                    let name = dir.file_name().map_or_else(
                        || dir.display().to_string(),
                        |n| n.to_string_lossy().into_owned(),
                    );
                    ui.label(egui::RichText::new(&name).small())
                        .on_hover_text(dir.display().to_string());
                    let [c, h, w] = summary.shape;
                    ui.label(format!(
                        "{} · {} classes · {w}×{h}{}",
                        summary.dataset,
                        summary.class_names.len(),
                        if c == 1 { "" } else { " RGB" }
                    ))
                    .on_hover_text(summary.class_names.join(", "));
                    ui.label(format!(
                        "{}/{}",
                        summary.epochs_done, summary.epochs_planned
                    ));
                    ui.label(summary.status.to_string());
                    ui.label(summary.best_tstr.map_or_else(
                        || "—".to_owned(),
                        |(e, a)| format!("{:.1} % (epoch {e})", a * 100.0),
                    ))
                    .on_hover_text(TSTR_HELP);
                    ui.label(summary.nearest.as_ref().map_or_else(
                        || "—".to_owned(),
                        |n| format!("{} of {}", n.flagged, n.checked),
                    ));
                    ui.end_row();
                }
            });
        command
    }
}

/// Gap between images in [`grid_picture`], in pixels.
const GAP_PX: f32 = 2.0;

/// Says which image the pointer is over: its class and distance ratio.
fn cell_hover(response: &egui::Response, grid: &GanGrid, names: &[String], zoom: f32, what: &str) {
    let Some(pos) = response.hover_pos() else {
        return;
    };
    let local = (pos - response.rect.min) / zoom;
    let (w, h) = (grid.shape.width as f32, grid.shape.height as f32);
    let col = ((local.x - GAP_PX) / (w + GAP_PX)).floor();
    let row = ((local.y - GAP_PX) / (h + GAP_PX)).floor();
    if col < 0.0 || row < 0.0 || col as usize >= grid.cols || row as usize >= grid.rows {
        return;
    }
    let (row, col) = (row as usize, col as usize);
    let k = row * grid.cols + col;
    let class = names
        .get(row)
        .cloned()
        .unwrap_or_else(|| format!("class {row}"));
    let ratio = grid.ratios.get(k).copied().unwrap_or(f32::NAN);
    let mut text = format!(
        "{what} {class}, column {}\ndistance ratio {ratio:.2}",
        col + 1
    );
    if grid.flagged.get(k).copied().unwrap_or(false) {
        text.push_str(" (looks memorised)");
    }
    response.clone().on_hover_text_at_pointer(text);
}

fn color_image(picture: &image::RgbImage) -> egui::ColorImage {
    egui::ColorImage::from_rgb(
        [picture.width() as usize, picture.height() as usize],
        picture.as_raw(),
    )
}

/// The short section in the settings column: what the Generator is for, the run in progress,
/// the synthetic images in use and the button that opens the window.
pub fn summary_ui(ui: &mut egui::Ui, view: &mut GanView, synthetic: &SyntheticConfig) {
    ui.label(
        "Synthetic images for scarce data: train a class-conditional GAN on this dataset's \
         training images.",
    );
    if view.is_active() || view.info.is_some() {
        ui.label(egui::RichText::new(view.progress_text()).weak());
    }
    if let (true, Some(run)) = (synthetic.is_active(), &synthetic.run) {
        let name = run.file_name().map_or_else(
            || run.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        ui.label(
            egui::RichText::new(format!(
                "In training: {} images per class from {name}",
                synthetic.per_class
            ))
            .weak(),
        );
    }
    let label = if view.open {
        "Close Generator"
    } else {
        "Open Generator"
    };
    if ui
        .button(label)
        .on_hover_text(
            "Train a GAN, watch its images and scores per epoch, and pick a run whose images \
             join the classifier's training samples",
        )
        .clicked()
    {
        view.open = !view.open;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(run_dir: Option<&str>, history: Vec<GanEpoch>) -> GanInfo {
        GanInfo {
            epochs: 4,
            steps_per_epoch: 10,
            train_samples: 100,
            val_samples: 20,
            class_names: vec!["a".into(), "b".into()],
            parameters: [1, 1],
            diff_augment: true,
            device: "CPU".into(),
            run_dir: run_dir.map(PathBuf::from),
            history,
        }
    }

    fn epoch(n: usize, tstr_acc: Option<f64>) -> GanEpoch {
        GanEpoch {
            epoch: n,
            d_loss: 1.0,
            g_loss: 0.5,
            tstr_acc,
            secs: 1.0,
        }
    }

    fn step(view: &mut GanView, epoch: usize, step: usize) {
        view.apply(GanEvent::Step {
            epoch,
            step,
            d_loss: 1.0,
            g_loss: 0.5,
            samples_per_sec: 10.0,
        });
    }

    #[test]
    fn steps_sit_at_fractional_epochs_and_a_continued_run_keeps_its_finished_ones() {
        let mut view = GanView::default();
        view.starting();
        assert!(view.is_active() && view.in_worker);
        view.apply(GanEvent::Started(info(Some("/runs/g"), Vec::new())));
        step(&mut view, 1, 5);
        step(&mut view, 1, 10);
        view.apply(GanEvent::Epoch(epoch(1, Some(0.4))));
        step(&mut view, 2, 5);
        assert_eq!(view.d_steps.first(), Some(&[0.5, 1.0]));
        assert!((view.fraction_done() - 0.375).abs() < 1e-6);
        view.apply(GanEvent::Finished {
            status: RunStatus::Stopped,
            message: "stopped".into(),
        });
        assert!(!view.is_active());
        // "+N epochs" in the same folder: epoch 1 and its steps stay, the torn epoch 2 goes.
        view.apply(GanEvent::Started(info(
            Some("/runs/g"),
            vec![epoch(1, Some(0.4))],
        )));
        assert_eq!(view.d_steps.len(), 2);
        assert_eq!(view.epochs.len(), 1);
        // Another run: nothing of the old one stays.
        view.apply(GanEvent::Started(info(Some("/runs/h"), Vec::new())));
        assert!(view.d_steps.is_empty() && view.epochs.is_empty());
    }

    #[test]
    fn the_best_score_is_the_highest_measured_one() {
        let mut view = GanView::default();
        view.apply(GanEvent::Started(info(None, Vec::new())));
        assert_eq!(view.best_tstr(), None);
        for (n, acc) in [(1, Some(0.2)), (2, None), (3, Some(0.5)), (4, Some(0.45))] {
            view.apply(GanEvent::Epoch(epoch(n, acc)));
        }
        assert_eq!(view.best_tstr(), Some((3, 0.5)));
        view.apply(GanEvent::Failed {
            message: "boom".into(),
        });
        assert_eq!(view.phase, Phase::Ended(RunStatus::Failed));
        assert!(
            !view.in_worker,
            "a run that failed is not held for +N epochs"
        );
    }
}
