//! The desktop application: panels on the left, live plots in the middle, run controls on top.
//!
//! Panels only read and edit plain state and return [`AppCommand`]s; [`WorkbenchApp`] applies
//! those after layout. All talk with the training thread goes through [`TrainWorker`]'s bounded
//! channels, drained each frame under a small time budget.

pub mod augment_panel;
pub mod dataset_panel;
mod evaluation_panel;
mod export;
pub mod frame_log;
mod hyper_panel;
pub mod lessons_panel;
mod model_panel;
mod model_tasks;
pub mod plot;
mod run_bar;
pub mod runs_panel;
pub mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::data::{Dataset, DatasetSource, loader::PendingLoad};
use crate::experiment::bundle;
use crate::experiment::chart::{self, ChartOptions};
use crate::experiment::{ExperimentConfig, record};
use crate::train::lr_finder::LrFinding;
use crate::train::message::{Command, Event, RunStatus};
use crate::train::worker::{StartRequest, TrainWorker};
use state::{Phase, RunView};

/// Longest time a frame spends draining worker events.
const EVENT_BUDGET: Duration = Duration::from_millis(4);
/// Storage key of the last configuration.
const CONFIG_KEY: &str = "experiment_config";
/// Storage key of the plot options.
const PLOT_KEY: &str = "plot_options";
/// Storage key of the recently loaded datasets.
const RECENT_KEY: &str = "recent_datasets";

/// Something a panel asks the app to do after this frame's layout.
#[derive(Debug, Clone, PartialEq)]
pub enum AppCommand {
    /// Start training with the current configuration.
    Start,
    /// Pause the run.
    Pause,
    /// Resume the paused run.
    Resume,
    /// Stop the run.
    Stop,
    /// Switch to another dataset (resets dataset-specific defaults).
    SelectDataset(DatasetSource),
    /// Stop loading the dataset being loaded (the one on show stays).
    CancelLoad,
    /// Reload the dataset at another input size or channel count.
    SetInput(crate::data::InputFormat),
    /// Save the list of files the loader skipped, with the reasons.
    ExportSkipped,
    /// Train the finished run for this many more epochs.
    Extend(usize),
    /// Run the learning-rate finder.
    FindLr,
    /// Use this learning rate (from the finder).
    UseLr(f64),
    /// Send the edited learning rate and schedule to the paused run.
    ApplyLr,
    /// Save the run's per-epoch metrics as CSV.
    ExportMetrics,
    /// Save the latest confusion matrix as CSV.
    ExportConfusion,
    /// Save the loss and accuracy curves, with their markers, as a PNG.
    ExportPlot,
    /// Load a recorded run's settings into the editor (for an A/B run).
    Duplicate(PathBuf),
    /// Pick a built-in lesson (index into the lesson list) and load its first run.
    PickLesson(usize),
    /// Pick the lesson after the current one.
    NextLesson,
    /// Switch presenter mode (large type, thick lines, plot first) on or off.
    TogglePresenter,
    /// Zoom the whole window by this factor (presenter mode's +/-).
    Zoom(f32),
    /// Save the current experiment as a TOML file.
    SaveConfig,
    /// Load an experiment from a TOML file.
    OpenConfig,
    /// Save a recorded run's directory as a zip bundle.
    ExportBundle(PathBuf),
    /// Unpack a run bundle into the runs folder and overlay it.
    ImportBundle,
    /// Weights files, backbones and predictions (the Model panel).
    Model(model_tasks::ModelCommand),
    /// Save the augmentation preview grid as a PNG.
    ExportAugmentGrid,
    /// Train twice: without augmentation, then with the current one, the first overlaid.
    StartAb,
}

/// The CNN Workbench window.
pub struct WorkbenchApp {
    /// The configuration the next run will use (edited by the panels).
    pub config: ExperimentConfig,
    /// The current (or last) run.
    pub run: RunView,
    /// The loaded dataset shown in the Dataset panel.
    pub dataset: Option<Arc<Dataset>>,
    /// A dataset being loaded.
    pending: Option<PendingLoad>,
    /// An error to show in the status bar (bad setting, failed load).
    pub error: Option<String>,
    /// Where runs are recorded.
    pub runs_root: PathBuf,
    /// Start a run as soon as the dataset has loaded (the `--start` option).
    pub start_when_loaded: bool,
    /// The learning-rate finder's last answer, shown in its own window.
    pub lr_finding: Option<LrFinding>,
    /// Whether the learning-rate finder is running.
    pub finding_lr: bool,
    /// Epochs the "+N epochs" button adds.
    pub extend_by: usize,
    /// Smoothing, log axis and onset settings of the plot.
    pub plot_options: plot::PlotOptions,
    gpu_status: Option<String>,
    saving: Option<export::PendingSave>,
    /// Runs recorded on disk (this session's and earlier ones), newest first.
    pub runs: Vec<crate::experiment::runs::RunEntry>,
    runs_scan: Option<crossbeam_channel::Receiver<Vec<crate::experiment::runs::RunEntry>>>,
    /// Overlays and the run the settings were duplicated from.
    pub runs_view: runs_panel::RunsView,
    /// The picked lesson and its progress.
    pub lessons: lessons_panel::LessonState,
    /// Presenter mode: large type, thick lines, advanced controls hidden, the plot first.
    pub presenter: bool,
    /// Zoom factor used in presenter mode.
    pub presenter_zoom: f32,
    opening: Option<export::PendingOpen<(PathBuf, String)>>,
    importing: Option<export::PendingOpen<PathBuf>>,
    gpu_probe: Option<crossbeam_channel::Receiver<String>>,
    worker: Option<TrainWorker>,
    ctx: egui::Context,
    /// The Dataset panel's state (path field, recent datasets, split summary).
    pub dataset_view: dataset_panel::DatasetView,
    evaluation_view: evaluation_panel::EvaluationView,
    model_view: model_panel::ModelView,
    model_task: Option<model_tasks::PendingModelTask>,
    /// The Augmentation panel's preview state.
    pub augment_view: augment_panel::AugmentView,
    /// Runs still to start for an A/B comparison.
    ab_queue: Vec<ExperimentConfig>,
    /// Frame timing written to a file (`--frame-log`).
    pub frame_log: Option<frame_log::FrameLog>,
    /// The first run of the current A/B pair (overlaid on the plot).
    ab_overlay: Option<PathBuf>,
}

impl WorkbenchApp {
    /// Builds the app: restores the last configuration (if `storage` has one), starts the training
    /// thread and begins loading the dataset.
    pub fn new(
        ctx: &egui::Context,
        storage: Option<&dyn eframe::Storage>,
        runs_root: PathBuf,
    ) -> Self {
        let config: ExperimentConfig = storage
            .and_then(|s| eframe::get_value(s, CONFIG_KEY))
            .unwrap_or_default();
        let waker = {
            let ctx = ctx.clone();
            Arc::new(move || ctx.request_repaint_after(Duration::from_millis(16)))
        };
        let (worker, error) = match TrainWorker::spawn(waker) {
            Ok(worker) => (Some(worker), None),
            Err(e) => (None, Some(format!("cannot start the training thread: {e}"))),
        };
        let mut app = Self {
            config,
            run: RunView::default(),
            dataset: None,
            pending: None,
            error,
            runs_root,
            start_when_loaded: false,
            lr_finding: None,
            finding_lr: false,
            extend_by: 5,
            plot_options: storage
                .and_then(|s| eframe::get_value(s, PLOT_KEY))
                .unwrap_or_default(),
            gpu_status: None,
            saving: None,
            runs: Vec::new(),
            runs_scan: None,
            runs_view: runs_panel::RunsView::default(),
            lessons: lessons_panel::LessonState::default(),
            presenter: false,
            presenter_zoom: 1.5,
            opening: None,
            importing: None,
            gpu_probe: None,
            worker,
            ctx: ctx.clone(),
            dataset_view: dataset_panel::DatasetView::default(),
            evaluation_view: evaluation_panel::EvaluationView::default(),
            model_view: model_panel::ModelView::default(),
            model_task: None,
            augment_view: augment_panel::AugmentView::default(),
            ab_queue: Vec::new(),
            ab_overlay: None,
            frame_log: None,
        };
        if let Some(recent) = storage.and_then(|s| eframe::get_value(s, RECENT_KEY)) {
            app.dataset_view.recent = recent;
        }
        app.load_dataset(app.config.dataset.source.clone(), app.config.dataset.input);
        app.rescan_runs();
        app
    }

    /// Starts loading `source` at `input`; what is on show stays until it has loaded.
    fn load_dataset(&mut self, source: DatasetSource, input: crate::data::InputFormat) {
        let ctx = self.ctx.clone();
        self.dataset_view.load_error = None;
        self.pending = Some(PendingLoad::spawn(source, input, move || {
            ctx.request_repaint();
        }));
    }

    /// A loaded dataset becomes the one on show. When it is another source than the
    /// experiment's (picked in the panel), the experiment switches to it with that source's
    /// defaults, keeping model, augmentation, seed and device.
    fn loaded(&mut self, data: Arc<Dataset>, input: crate::data::InputFormat) {
        if data.source != self.config.dataset.source {
            let mut config = ExperimentConfig::for_source(data.source.clone());
            config.model = self.config.model.clone();
            config.augment = self.config.augment.clone();
            config.transfer = self.config.transfer.clone();
            config.seed = self.config.seed;
            config.device = self.config.device;
            self.config = config;
        }
        self.config.dataset.input = input;
        self.dataset_view.remember(&data.source);
        self.dataset_view.invalidate();
        self.dataset = Some(data);
    }

    /// Class names in the model's output order: the run's, else the Dataset panel's split's,
    /// else the dataset's.
    fn class_names(&self) -> Vec<String> {
        if let Some(info) = &self.run.info
            && !info.class_names.is_empty()
        {
            return info.class_names.clone();
        }
        self.dataset_view
            .class_names()
            .map(<[String]>::to_vec)
            .or_else(|| self.dataset.as_ref().map(|d| d.class_names.clone()))
            .unwrap_or_default()
    }

    /// Takes files dropped onto the window: the first path is loaded as a dataset. While files
    /// are dragged over the window, says what dropping them does.
    fn take_dropped_files(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| !i.raw.hovered_files.is_empty()) {
            let screen = ctx.content_rect();
            let painter = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("drop_overlay"),
            ));
            painter.rect_filled(screen, 0.0, egui::Color32::from_black_alpha(170));
            painter.text(
                screen.center(),
                egui::Align2::CENTER_CENTER,
                "Drop a folder (image classes, IDX or CIFAR files) to load it as the dataset",
                egui::FontId::proportional(22.0),
                egui::Color32::WHITE,
            );
        }
        let dropped = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_owned())
                .find(|p| !p.as_os_str().is_empty())
        });
        let Some(path) = dropped else { return };
        if self.run.is_active() {
            self.error = Some("Stop the run before loading another dataset".to_owned());
            return;
        }
        self.dataset_view.path_text = path.display().to_string();
        match DatasetSource::detect(&path) {
            Ok(source) => self.apply(AppCommand::SelectDataset(source)),
            Err(message) => self.dataset_view.load_error = Some(message),
        }
    }

    /// Whether a dataset is still loading.
    pub fn is_loading(&self) -> bool {
        self.pending.is_some()
    }

    /// Per-frame work that draws nothing: finished loads and worker events.
    pub fn poll(&mut self) {
        if let Some(result) = self.pending.as_ref().and_then(PendingLoad::poll) {
            let input = self.pending.take().map(|p| p.input).unwrap_or_default();
            match result {
                Ok(data) => {
                    self.loaded(data, input);
                    if std::mem::take(&mut self.start_when_loaded) {
                        self.lessons.on_start(&self.config);
                        self.start();
                    }
                }
                Err(e) => {
                    self.start_when_loaded = false;
                    self.dataset_view.load_error = Some(e.to_string());
                }
            }
        }
        if let Some(runs) = self.runs_scan.as_ref().and_then(|rx| rx.try_recv().ok()) {
            self.runs_scan = None;
            self.runs = runs;
        }
        if let Some(message) = self.saving.as_ref().and_then(export::PendingSave::poll) {
            self.saving = None;
            self.run.message = Some(message);
        }
        if let Some(imported) = self.importing.as_ref().and_then(export::PendingOpen::poll) {
            self.importing = None;
            match imported {
                Ok(dir) => {
                    self.run.message = Some(format!("Imported the run into {}", dir.display()));
                    self.runs_view.overlaid.push(dir);
                    self.rescan_runs();
                }
                Err(message) => self.error = Some(message),
            }
        }
        if let Some(opened) = self.opening.as_ref().and_then(export::PendingOpen::poll) {
            self.opening = None;
            match opened.and_then(|(path, text)| {
                ExperimentConfig::parse(&text).map_err(|mut e| {
                    e.file = path.display().to_string();
                    e.to_string()
                })
            }) {
                Ok(config) => {
                    self.use_config(config);
                    self.error = None;
                }
                Err(message) => self.error = Some(message),
            }
        }
        if let Some(outcome) = self
            .model_task
            .as_ref()
            .and_then(model_tasks::PendingModelTask::poll)
        {
            self.model_task = None;
            if let Some(message) = self.model_view.apply(outcome, &mut self.config) {
                self.run.message = Some(message);
            }
            // A lesson may train on another dataset than the one shown.
            let source = &self.config.dataset.source;
            if self.dataset.as_ref().is_some_and(|d| &d.source != source) {
                self.dataset = None;
                self.load_dataset(source.clone(), self.config.dataset.input);
            }
        }
        let Some(worker) = &self.worker else { return };
        let deadline = Instant::now() + EVENT_BUDGET;
        let mut rescan = false;
        let mut finished = None;
        while Instant::now() < deadline {
            match worker.events().try_recv() {
                Ok(Event::LrFound(finding)) => {
                    self.finding_lr = false;
                    self.lr_finding = Some(finding);
                }
                Ok(Event::Failed { message }) if self.finding_lr => {
                    self.finding_lr = false;
                    self.error = Some(message);
                }
                Ok(event) => {
                    if let Event::Finished { status, .. } = &event {
                        rescan = true;
                        finished = Some(*status);
                    }
                    self.run.apply(event);
                }
                Err(_) => break,
            }
        }
        if !worker.events().is_empty() {
            // More news than fits in one frame's budget: come back next frame.
            self.ctx.request_repaint();
        }
        if rescan {
            self.rescan_runs();
        }
        if let Some(status) = finished {
            self.continue_lesson(status);
        }
        self.continue_ab();
    }

    /// Starts the next run of an A/B pair once the previous one has ended well; a stopped or
    /// failed run cancels the rest.
    fn continue_ab(&mut self) {
        let Phase::Ended(status) = self.run.phase else {
            return;
        };
        if self.ab_queue.is_empty() {
            return;
        }
        if matches!(status, RunStatus::Completed | RunStatus::EarlyStopped) {
            let next = self.ab_queue.remove(0);
            self.start_config(next);
        } else {
            self.ab_queue.clear();
        }
    }

    /// A line on the A/B pair in progress, if one is.
    pub fn ab_note(&self) -> Option<String> {
        if !self.ab_queue.is_empty() {
            Some("A/B: run 1 of 2 (no augmentation); run 2 follows".to_owned())
        } else if self.run.is_active() && self.ab_overlay.is_some() {
            Some("A/B: run 2 of 2 (with augmentation); run 1 is overlaid".to_owned())
        } else {
            None
        }
    }

    /// When a lesson's run ends, overlays it and starts the lesson's next run (unless the user
    /// stopped it).
    fn continue_lesson(&mut self, status: crate::train::message::RunStatus) {
        let stopped = status == crate::train::message::RunStatus::Stopped;
        let Some(next) = self.lessons.on_finished(!stopped) else {
            return;
        };
        if let Some(dir) = self.run.info.as_ref().and_then(|i| i.run_dir.clone())
            && !self.runs_view.overlaid.contains(&dir)
        {
            self.runs_view.overlaid.push(dir);
        }
        let same_data = next.dataset.source == self.config.dataset.source;
        self.use_config(next);
        if same_data && self.dataset.is_some() {
            self.lessons.on_start(&self.config);
            self.start();
        } else {
            self.start_when_loaded = true;
        }
    }

    /// Makes `config` the one the next run uses, loading its dataset if that changed.
    fn use_config(&mut self, config: ExperimentConfig) {
        let source_changed = config.dataset.source != self.config.dataset.source
            || config.dataset.input != self.config.dataset.input;
        self.config = config;
        if source_changed {
            self.dataset = None;
            self.load_dataset(
                self.config.dataset.source.clone(),
                self.config.dataset.input,
            );
        }
    }

    /// Draws the whole window and applies what the panels asked for.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        self.take_dropped_files(ui.ctx());
        let mut commands = Vec::new();
        let ab_note = self.ab_note();
        egui::Panel::top("run_bar").show(ui, |ui| {
            commands.extend(run_bar::run_bar_ui(
                ui,
                &self.run,
                self.dataset.is_some() && !self.finding_lr,
                &mut self.extend_by,
                self.presenter,
            ));
        });
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));
        // Presenter mode keeps only the lesson list there: a narrow column leaves the plot room.
        let (settings_id, settings_width) = if self.presenter {
            ("settings_presenter", 260.0)
        } else {
            ("settings", 300.0)
        };
        egui::Panel::left(settings_id)
            .resizable(true)
            .default_size(settings_width)
            .size_range(200.0..=480.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .auto_shrink([false; 2])
                    .show(ui, |ui| {
                        let editable = !self.run.is_active() && !self.finding_lr;
                        let hyper_editable = match self.run.phase {
                            _ if self.finding_lr => hyper_panel::Editable::Nothing,
                            Phase::Paused => hyper_panel::Editable::LearningRateOnly,
                            Phase::Starting | Phase::Running => hyper_panel::Editable::Nothing,
                            Phase::Idle | Phase::Ended(_) => hyper_panel::Editable::All,
                        };
                        let gpu_status = self.gpu_status.as_deref().unwrap_or("Looking for a GPU…");
                        egui::CollapsingHeader::new("Lessons")
                            .default_open(true)
                            .show(ui, |ui| {
                                commands.extend(self.lessons.picker_ui(ui, editable));
                            });
                        if self.presenter {
                            // Presenter mode keeps the lesson list and leaves the rest to the plot.
                            return;
                        }
                        egui::CollapsingHeader::new("Dataset")
                            .default_open(true)
                            .show(ui, |ui| {
                                let input = dataset_panel::PanelInput {
                                    data: self.dataset.as_ref(),
                                    pending: self.pending.as_ref(),
                                    editable,
                                };
                                commands.extend(self.dataset_view.dataset_ui(
                                    ui,
                                    &mut self.config,
                                    &input,
                                ));
                            });
                        egui::CollapsingHeader::new("Augmentation")
                            .default_open(true)
                            .show(ui, |ui| {
                                augment_panel::summary_ui(
                                    ui,
                                    &mut self.augment_view,
                                    &mut self.config,
                                    self.dataset.as_deref(),
                                    editable,
                                    ab_note.as_deref(),
                                );
                            });
                        egui::CollapsingHeader::new("Model")
                            .default_open(true)
                            .show(ui, |ui| {
                                let finished = match self.run.phase {
                                    Phase::Ended(status) if status.can_continue() => {
                                        self.run.info.as_ref().and_then(|i| i.run_dir.as_deref())
                                    }
                                    _ => None,
                                };
                                commands.extend(self.model_view.model_ui(
                                    ui,
                                    &mut self.config,
                                    self.dataset.as_deref(),
                                    editable,
                                    finished,
                                ));
                            });
                        egui::CollapsingHeader::new("Hyperparameters")
                            .default_open(true)
                            .show(ui, |ui| {
                                commands.extend(hyper_panel::hyper_ui(
                                    ui,
                                    &mut self.config,
                                    hyper_editable,
                                    gpu_status,
                                ));
                            });
                        egui::CollapsingHeader::new("Runs")
                            .default_open(true)
                            .show(ui, |ui| {
                                commands.extend(runs_panel::runs_ui(
                                    ui,
                                    &self.runs,
                                    &mut self.runs_view,
                                    &self.config,
                                ));
                            });
                    });
            });
        egui::CentralPanel::default().show(ui, |ui| {
            // Plots on the left, the Evaluation panel on the right, each in its own rect (the
            // plots size themselves from their Ui's max rect).
            self.lessons.card_ui(ui);
            let full = ui.available_rect_before_wrap();
            // Presenter mode gives the whole width to the plots.
            let eval_width = if self.presenter {
                0.0
            } else {
                (full.width() * 0.37).clamp(300.0, 460.0)
            };
            let split = full.max.x - eval_width;
            let gutter = if self.presenter { 0.0 } else { 8.0 };
            let plots_rect =
                egui::Rect::from_min_max(full.min, egui::pos2(split - gutter, full.max.y));
            let eval_rect = egui::Rect::from_min_max(egui::pos2(split, full.min.y), full.max);
            ui.scope_builder(egui::UiBuilder::new().max_rect(plots_rect), |ui| {
                let can_export = !self.run.epochs.is_empty();
                commands.extend(plot::options_ui(ui, &mut self.plot_options, can_export));
                let overlays: Vec<plot::Overlay<'_>> = self
                    .runs_view
                    .overlaid
                    .iter()
                    .filter_map(|dir| self.runs.iter().find(|r| &r.dir == dir))
                    .zip(runs_panel::OVERLAY_COLORS.iter().cycle())
                    .map(|(run, &color)| plot::Overlay {
                        name: &run.name,
                        history: &run.history,
                        color,
                    })
                    .collect();
                plot::plots_ui(
                    ui,
                    &self.run,
                    &self.config.train.early_stopping,
                    &self.plot_options,
                    &overlays,
                );
            });
            if self.presenter {
                return;
            }
            ui.painter().vline(
                split - 4.0,
                full.y_range(),
                ui.visuals().widgets.noninteractive.bg_stroke,
            );
            ui.scope_builder(egui::UiBuilder::new().max_rect(eval_rect), |ui| {
                egui::ScrollArea::both()
                    .id_salt("evaluation_scroll")
                    .auto_shrink([false; 2])
                    .show(ui, |ui| {
                        ui.horizontal(|ui| {
                            ui.heading("Evaluation");
                            let ready = self.run.evaluation.is_some();
                            if ui
                                .add_enabled(ready, egui::Button::new("Confusion CSV…").small())
                                .on_hover_text("Save the confusion matrix as CSV")
                                .clicked()
                            {
                                commands.push(AppCommand::ExportConfusion);
                            }
                            if ui
                                .add_enabled(
                                    !self.run.epochs.is_empty(),
                                    egui::Button::new("Metrics CSV…").small(),
                                )
                                .on_hover_text("Save the per-epoch metrics as CSV")
                                .clicked()
                            {
                                commands.push(AppCommand::ExportMetrics);
                            }
                        });
                        let names = self.class_names();
                        self.evaluation_view.evaluation_ui(
                            ui,
                            self.run.evaluation.as_ref(),
                            self.dataset.as_deref(),
                            &names,
                        );
                    });
            });
        });
        if let Some(finding) = &self.lr_finding {
            let mut open = true;
            egui::Window::new("Learning-rate finder")
                .open(&mut open)
                .default_width(460.0)
                .show(ui.ctx(), |ui| {
                    commands.extend(plot::lr_finder_ui(ui, finding));
                });
            if !open {
                self.lr_finding = None;
            }
        }
        if self.augment_view.open {
            let mut open = true;
            let input = augment_panel::PanelInput {
                data: self.dataset.as_ref(),
                last_batch: self.run.last_batch.as_deref(),
                editable: !self.run.is_active() && !self.finding_lr,
            };
            egui::Window::new("Augmentation")
                .open(&mut open)
                .default_pos([306.0, 60.0])
                .default_size([960.0, 660.0])
                .show(ui.ctx(), |ui| {
                    commands.extend(self.augment_view.augment_ui(ui, &mut self.config, &input));
                });
            self.augment_view.open &= open;
        }
        if self.config.device == crate::experiment::DeviceKind::Gpu {
            self.probe_gpu();
        }
        for command in commands {
            self.apply(command);
        }
    }

    fn status_bar_ui(&self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(error) = &self.error {
                ui.colored_label(ui.visuals().error_fg_color, error);
            } else if let Some(message) = &self.run.message {
                let color = match self.run.phase {
                    Phase::Ended(crate::train::message::RunStatus::Failed) => {
                        ui.visuals().error_fg_color
                    }
                    _ => ui.visuals().text_color(),
                };
                ui.colored_label(color, message);
            } else if let Some(dir) = self.run.info.as_ref().and_then(|i| i.run_dir.as_ref()) {
                ui.label(format!("Recording to {}", dir.display()));
            } else {
                ui.label(format!("Runs are saved under {}", self.runs_root.display()));
            }
        });
    }

    /// Carries out a command from a panel (also used by tests and keyboard shortcuts).
    pub fn apply(&mut self, command: AppCommand) {
        match command {
            AppCommand::Start => {
                if !self.run.is_active() {
                    self.lessons.on_start(&self.config);
                }
                self.start();
            }
            AppCommand::Pause => self.send(Command::Pause),
            AppCommand::Resume => self.send(Command::Resume),
            AppCommand::Stop => self.send(Command::Stop),
            AppCommand::Extend(more) => {
                if matches!(self.run.phase, Phase::Ended(status) if status.can_continue()) {
                    self.send(Command::Extend(more));
                    self.run.phase = Phase::Starting;
                }
            }
            AppCommand::FindLr => self.find_lr(),
            AppCommand::Model(command) => {
                let files = self
                    .runs_root
                    .parent()
                    .unwrap_or(&self.runs_root)
                    .to_owned();
                match model_tasks::PendingModelTask::spawn(command, files, self.ctx.clone()) {
                    Ok(task) => self.model_task = Some(task),
                    Err(e) => {
                        self.model_view.set_busy(false);
                        self.error = Some(e);
                    }
                }
            }
            AppCommand::Duplicate(dir) => {
                if let Some(config) = self
                    .runs
                    .iter()
                    .find(|r| r.dir == dir)
                    .map(|r| r.config.clone())
                {
                    self.use_config(config);
                    self.runs_view.base = Some(dir);
                }
            }
            AppCommand::PickLesson(index) => {
                if !self.run.is_active()
                    && let Some(config) = self.lessons.pick(index)
                {
                    self.use_config(config);
                    self.runs_view.overlaid.clear();
                }
            }
            AppCommand::NextLesson => self.apply(AppCommand::PickLesson(self.lessons.next_index())),
            AppCommand::TogglePresenter => {
                self.presenter = !self.presenter;
                self.plot_options.line_scale = if self.presenter { 2.0 } else { 1.0 };
                self.ctx.set_zoom_factor(if self.presenter {
                    self.presenter_zoom
                } else {
                    1.0
                });
            }
            AppCommand::Zoom(factor) => {
                let zoom = (self.ctx.zoom_factor() * factor).clamp(0.5, 4.0);
                if self.presenter {
                    self.presenter_zoom = zoom;
                }
                self.ctx.set_zoom_factor(zoom);
            }
            AppCommand::SaveConfig => match self.config.to_toml() {
                Ok(text) => self.save("experiment.toml", text),
                Err(e) => self.error = Some(format!("cannot write the configuration: {e}")),
            },
            AppCommand::OpenConfig => {
                if self.opening.is_none() && !self.run.is_active() {
                    let read = |path: PathBuf| {
                        std::fs::read_to_string(&path)
                            .map(|text| (path.clone(), text))
                            .map_err(|e| format!("cannot read {}: {e}", path.display()))
                    };
                    match export::PendingOpen::spawn(
                        self.ctx.clone(),
                        ("Experiment (TOML)", &["toml"]),
                        read,
                    ) {
                        Ok(pending) => self.opening = Some(pending),
                        Err(e) => self.error = Some(e),
                    }
                }
            }
            AppCommand::ExportBundle(dir) => {
                let name = dir
                    .file_name()
                    .map_or_else(|| "run".to_owned(), |n| n.to_string_lossy().into_owned());
                let zip_name = format!("{name}.zip");
                let scratch = std::env::temp_dir()
                    .join(format!("cnn-workbench-{}-{zip_name}", std::process::id()));
                self.save_with(&zip_name, move || {
                    bundle::export(&dir, &scratch).map_err(|e| e.to_string())?;
                    let bytes = std::fs::read(&scratch)
                        .map_err(|e| format!("cannot read {}: {e}", scratch.display()));
                    std::fs::remove_file(&scratch).ok();
                    bytes
                });
            }
            AppCommand::ImportBundle => {
                if self.importing.is_none() {
                    let root = self.runs_root.clone();
                    let import = move |path: PathBuf| {
                        bundle::import(&path, &root).map_err(|e| e.to_string())
                    };
                    match export::PendingOpen::spawn(
                        self.ctx.clone(),
                        ("Run bundle (zip)", &["zip"]),
                        import,
                    ) {
                        Ok(pending) => self.importing = Some(pending),
                        Err(e) => self.error = Some(e),
                    }
                }
            }
            AppCommand::ExportMetrics => {
                let mut csv = format!("{}\n", record::METRICS_HEADER);
                for m in &self.run.epochs {
                    csv.push_str(&record::metrics_row(m));
                    csv.push('\n');
                }
                self.save("metrics.csv", csv);
            }
            AppCommand::ExportPlot => {
                let epochs = self.run.epochs.clone();
                let mut options = ChartOptions {
                    title: self.config.short_name(),
                    onset_k: self.plot_options.onset_k,
                    early_stopping: Some(self.config.train.early_stopping),
                    ..ChartOptions::default()
                };
                if let Some(info) = &self.run.info {
                    options.planned_epochs = info.epochs;
                    options.title = format!(
                        "{} · {} training / {} validation samples",
                        options.title, info.train_samples, info.val_samples
                    );
                }
                self.save_with("curves.png", move || {
                    chart::render_png(&epochs, &options).map_err(|e| e.to_string())
                });
            }
            AppCommand::ExportConfusion => {
                if let Some(evaluation) = &self.run.evaluation {
                    let csv = evaluation.confusion_csv(&self.class_names());
                    self.save(&format!("confusion-epoch{}.csv", evaluation.epoch), csv);
                }
            }
            AppCommand::ExportAugmentGrid => match self.augment_view.png() {
                Some(Ok(png)) => self.save("augmentation-grid.png", png),
                Some(Err(e)) => self.error = Some(e),
                None => {}
            },
            AppCommand::StartAb => self.start_ab(),
            AppCommand::UseLr(lr) => {
                self.config.train.lr = lr;
                self.lr_finding = None;
            }
            AppCommand::ApplyLr => self.send(Command::Update {
                lr: self.config.train.lr,
                schedule: self.config.train.schedule,
            }),
            AppCommand::SelectDataset(source) => {
                if !self.run.is_active() {
                    self.error = None;
                    let input = if source == self.config.dataset.source {
                        self.config.dataset.input
                    } else {
                        crate::data::InputFormat::default()
                    };
                    self.load_dataset(source, input);
                }
            }
            AppCommand::CancelLoad => {
                if let Some(pending) = self.pending.take() {
                    pending.cancel();
                    self.start_when_loaded = false;
                    self.dataset_view.load_error =
                        Some(format!("Loading {} cancelled", pending.source.label()));
                }
            }
            AppCommand::SetInput(input) => {
                if !self.run.is_active() {
                    self.load_dataset(self.config.dataset.source.clone(), input);
                }
            }
            AppCommand::ExportSkipped => {
                if let Some(data) = &self.dataset {
                    let mut text = format!("Files skipped while loading {}\n", data.source);
                    for file in &data.skipped {
                        text.push_str(&format!("{file}\n"));
                    }
                    self.save("skipped-files.txt", text);
                }
            }
        }
    }

    fn start(&mut self) {
        if self.run.is_active() {
            return;
        }
        self.ab_queue.clear();
        self.ab_overlay = None;
        self.start_config(self.config.clone());
    }

    /// Starts a run of `config`; returns its directory if it started.
    fn start_config(&mut self, config: ExperimentConfig) -> Option<PathBuf> {
        if let Err(e) = config.train.validate() {
            self.error = Some(e.to_string());
            return None;
        }
        if let Err(e) = config.augment.validate() {
            self.error = Some(e.to_string());
            return None;
        }
        let Some(worker) = &self.worker else {
            self.error = Some("the training thread is not running; restart the app".to_owned());
            return None;
        };
        let run_dir = record::new_run_dir(&self.runs_root, &config);
        match worker.start(StartRequest {
            config,
            run_dir: Some(run_dir.clone()),
        }) {
            Ok(()) => {
                self.error = None;
                self.run = RunView::starting();
                if let Some(log) = self.frame_log.as_mut() {
                    log.started();
                }
                Some(run_dir)
            }
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }

    /// The A/B pair: the current settings without augmentation now, then with it; the first
    /// run stays on the plot as an overlay.
    fn start_ab(&mut self) {
        if self.run.is_active() || self.config.augment.is_identity() {
            return;
        }
        let mut plain = self.config.clone();
        plain.augment = crate::augment::AugmentConfig::default();
        if let Some(dir) = self.start_config(plain) {
            self.ab_queue = vec![self.config.clone()];
            if !self.runs_view.overlaid.contains(&dir) {
                self.runs_view.overlaid.push(dir.clone());
            }
            self.ab_overlay = Some(dir);
        }
    }

    /// Reads the run directories again, on the `run-scan` thread.
    fn rescan_runs(&mut self) {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let root = self.runs_root.clone();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("run-scan".to_owned())
            .spawn(move || {
                // The app may be gone already; then nobody needs the list.
                tx.send(crate::experiment::runs::scan(&root)).ok();
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.runs_scan = Some(rx),
            Err(e) => self.error = Some(format!("cannot read the runs folder: {e}")),
        }
    }

    fn save(&mut self, file_name: &str, contents: impl Into<Vec<u8>>) {
        let bytes = contents.into();
        self.save_with(file_name, move || Ok(bytes));
    }

    fn save_with(
        &mut self,
        file_name: &str,
        contents: impl FnOnce() -> Result<Vec<u8>, String> + Send + 'static,
    ) {
        if self.saving.is_some() {
            return;
        }
        match export::PendingSave::spawn(file_name.to_owned(), contents, self.ctx.clone()) {
            Ok(pending) => self.saving = Some(pending),
            Err(e) => self.error = Some(e),
        }
    }

    fn find_lr(&mut self) {
        if self.run.is_active() || self.finding_lr {
            return;
        }
        let Some(worker) = &self.worker else { return };
        match worker.find_lr(self.config.clone()) {
            Ok(()) => {
                self.finding_lr = true;
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Finds out (once, off the UI thread) which GPU wgpu would use, for the Device row.
    fn probe_gpu(&mut self) {
        if self.gpu_status.is_some() {
            return;
        }
        if let Some(rx) = &self.gpu_probe {
            if let Ok(status) = rx.try_recv() {
                self.gpu_status = Some(status);
                self.gpu_probe = None;
            }
            return;
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("gpu-probe".to_owned())
            .spawn(move || {
                let status = match crate::train::gpu::device() {
                    Ok((_, name)) => format!("Adapter: {name}"),
                    Err(why) => why,
                };
                // The app may be gone already; then nobody needs the answer.
                tx.send(status).ok();
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.gpu_probe = Some(rx),
            Err(e) => self.gpu_status = Some(format!("cannot look for a GPU: {e}")),
        }
    }

    fn send(&mut self, command: Command) {
        if let Some(worker) = &self.worker
            && let Err(e) = worker.send(command)
        {
            self.error = Some(e);
        }
    }

    /// Stops any run and joins the training thread (also done on drop).
    pub fn shutdown(&mut self) {
        // Dropping a pending load cancels it (its thread stops at the next image).
        self.pending = None;
        // Dropping the handle raises the stop flag and joins the thread.
        self.worker = None;
    }
}

impl eframe::App for WorkbenchApp {
    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        self.poll();
        handle_shortcuts(self, ctx);
        if let Some(log) = self.frame_log.as_mut() {
            log.frame(
                frame.info().cpu_usage,
                self.run.is_active(),
                self.run.epochs.len(),
            );
            log.plotted(!self.run.steps.is_empty());
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, CONFIG_KEY, &self.config);
        eframe::set_value(storage, PLOT_KEY, &self.plot_options);
        eframe::set_value(storage, RECENT_KEY, &self.dataset_view.recent);
    }

    fn on_exit(&mut self) {
        if let Some(log) = self.frame_log.as_mut() {
            log.flush();
        }
        self.shutdown();
    }
}

/// Space starts, pauses or resumes; Escape or S stops; N picks the next lesson; + and - zoom.
pub fn handle_shortcuts(app: &mut WorkbenchApp, ctx: &egui::Context) {
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    let (space, escape, next, zoom_in, zoom_out) = ctx.input(|i| {
        let plain = !i.modifiers.command && !i.modifiers.alt;
        (
            i.key_pressed(egui::Key::Space),
            i.key_pressed(egui::Key::Escape) || (plain && i.key_pressed(egui::Key::S)),
            plain && i.key_pressed(egui::Key::N),
            plain && (i.key_pressed(egui::Key::Plus) || i.key_pressed(egui::Key::Equals)),
            plain && i.key_pressed(egui::Key::Minus),
        )
    });
    if next && !app.run.is_active() {
        app.apply(AppCommand::NextLesson);
    }
    if zoom_in {
        app.apply(AppCommand::Zoom(1.1));
    }
    if zoom_out {
        app.apply(AppCommand::Zoom(1.0 / 1.1));
    }
    if space {
        let command = match app.run.phase {
            Phase::Running => AppCommand::Pause,
            Phase::Paused => AppCommand::Resume,
            Phase::Starting => return,
            Phase::Idle | Phase::Ended(_) => AppCommand::Start,
        };
        app.apply(command);
    }
    if escape && app.run.is_active() {
        app.apply(AppCommand::Stop);
    }
}

/// Start-up options of the window (from the command line).
#[derive(Debug, Clone, Default)]
pub struct GuiOptions {
    /// Open with this dataset instead of the last one used.
    pub dataset: Option<DatasetSource>,
    /// Start training as soon as the dataset is loaded.
    pub start: bool,
    /// Open with this architecture instead of the last one used.
    pub model: Option<crate::model::ModelConfig>,
    /// Use this augmentation and open the Augmentation panel.
    pub augment: Option<crate::augment::AugmentConfig>,
    /// Pick this built-in lesson (index into the lesson list).
    pub lesson: Option<usize>,
    /// Open in presenter mode.
    pub presenter: bool,
    /// Write frame timings to this file.
    pub frame_log: Option<PathBuf>,
}

/// Opens the window (blocking until it is closed).
pub fn run_gui(options: GuiOptions) -> eframe::Result {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("CNN Workbench")
            .with_app_id("cnn-workbench")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([900.0, 560.0]),
        ..Default::default()
    };
    eframe::run_native(
        "CNN Workbench",
        native,
        Box::new(move |cc| {
            let mut app = WorkbenchApp::new(&cc.egui_ctx, cc.storage, record::default_runs_root());
            if let Some(source) = options.dataset {
                app.apply(AppCommand::SelectDataset(source));
            }
            if let Some(model) = options.model {
                app.config.model = model;
            }
            if let Some(augment) = options.augment {
                app.config.augment = augment;
                app.augment_view.open = true;
            }
            if let Some(index) = options.lesson {
                app.apply(AppCommand::PickLesson(index));
            }
            if options.presenter {
                app.apply(AppCommand::TogglePresenter);
            }
            app.start_when_loaded = options.start;
            if let Some(path) = &options.frame_log {
                match frame_log::FrameLog::create(path) {
                    Ok(log) => app.frame_log = Some(log),
                    Err(e) => {
                        app.error = Some(format!(
                            "cannot write the frame log {}: {e}",
                            path.display()
                        ));
                    }
                }
            }
            Ok(Box::new(app))
        }),
    )
}
