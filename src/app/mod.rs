//! The desktop application: panels on the left, live plots in the middle, run controls on top.
//!
//! Panels only read and edit plain state and return [`AppCommand`]s; [`WorkbenchApp`] applies
//! those after layout. All talk with the training thread goes through [`TrainWorker`]'s bounded
//! channels, drained each frame under a small time budget.

pub mod augment_panel;
mod dataset_panel;
mod evaluation_panel;
mod export;
mod hyper_panel;
mod model_panel;
pub mod plot;
mod run_bar;
pub mod runs_panel;
pub mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::data::{Dataset, DatasetSource, loader::PendingLoad};
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
    /// Load a recorded run's settings into the editor (for an A/B run).
    Duplicate(PathBuf),
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
    gpu_probe: Option<crossbeam_channel::Receiver<String>>,
    worker: Option<TrainWorker>,
    ctx: egui::Context,
    dataset_view: dataset_panel::DatasetView,
    evaluation_view: evaluation_panel::EvaluationView,
    /// The Augmentation panel's preview state.
    pub augment_view: augment_panel::AugmentView,
    /// Runs still to start for an A/B comparison.
    ab_queue: Vec<ExperimentConfig>,
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
            gpu_probe: None,
            worker,
            ctx: ctx.clone(),
            dataset_view: dataset_panel::DatasetView::default(),
            evaluation_view: evaluation_panel::EvaluationView::default(),
            augment_view: augment_panel::AugmentView::default(),
            ab_queue: Vec::new(),
            ab_overlay: None,
        };
        app.load_dataset(app.config.dataset.source.clone());
        app.rescan_runs();
        app
    }

    fn load_dataset(&mut self, source: DatasetSource) {
        let ctx = self.ctx.clone();
        self.pending = Some(PendingLoad::spawn(source, move || ctx.request_repaint()));
    }

    /// Whether a dataset is still loading.
    pub fn is_loading(&self) -> bool {
        self.pending.is_some()
    }

    /// Per-frame work that draws nothing: finished loads and worker events.
    pub fn poll(&mut self) {
        if let Some(result) = self.pending.as_ref().and_then(PendingLoad::poll) {
            self.pending = None;
            match result {
                Ok(data) => {
                    self.dataset_view.invalidate();
                    self.dataset = Some(data);
                    if std::mem::take(&mut self.start_when_loaded) {
                        self.start();
                    }
                }
                Err(message) => self.error = Some(message),
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
        let Some(worker) = &self.worker else { return };
        let deadline = Instant::now() + EVENT_BUDGET;
        let mut rescan = false;
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
                    rescan |= matches!(event, Event::Finished { .. });
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

    /// Draws the whole window and applies what the panels asked for.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        let mut commands = Vec::new();
        let ab_note = self.ab_note();
        egui::Panel::top("run_bar").show(ui, |ui| {
            commands.extend(run_bar::run_bar_ui(
                ui,
                &self.run,
                self.dataset.is_some() && !self.finding_lr,
                &mut self.extend_by,
            ));
        });
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar_ui(ui));
        egui::Panel::left("settings")
            .resizable(true)
            .default_size(300.0)
            .size_range(240.0..=480.0)
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
                        egui::CollapsingHeader::new("Dataset")
                            .default_open(true)
                            .show(ui, |ui| {
                                commands.extend(self.dataset_view.dataset_ui(
                                    ui,
                                    &mut self.config,
                                    self.dataset.as_deref(),
                                    self.pending.is_some(),
                                    editable,
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
                                model_panel::model_ui(
                                    ui,
                                    &mut self.config,
                                    self.dataset.as_deref(),
                                    editable,
                                );
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
            let full = ui.available_rect_before_wrap();
            let eval_width = (full.width() * 0.37).clamp(300.0, 460.0);
            let split = full.max.x - eval_width;
            let plots_rect =
                egui::Rect::from_min_max(full.min, egui::pos2(split - 8.0, full.max.y));
            let eval_rect = egui::Rect::from_min_max(egui::pos2(split, full.min.y), full.max);
            ui.scope_builder(egui::UiBuilder::new().max_rect(plots_rect), |ui| {
                plot::options_ui(ui, &mut self.plot_options);
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
                        self.evaluation_view.evaluation_ui(
                            ui,
                            self.run.evaluation.as_ref(),
                            self.dataset.as_deref(),
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
            AppCommand::Start => self.start(),
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
            AppCommand::Duplicate(dir) => {
                if let Some(run) = self.runs.iter().find(|r| r.dir == dir) {
                    let source_changed = run.config.dataset.source != self.config.dataset.source;
                    self.config = run.config.clone();
                    self.runs_view.base = Some(dir);
                    if source_changed {
                        self.dataset = None;
                        self.load_dataset(self.config.dataset.source.clone());
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
            AppCommand::ExportConfusion => {
                if let (Some(evaluation), Some(data)) = (&self.run.evaluation, &self.dataset) {
                    let csv = evaluation.confusion_csv(&data.class_names);
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
                let model = self.config.model.clone();
                let seed = self.config.seed;
                let device = self.config.device;
                self.config = ExperimentConfig::for_source(source.clone());
                self.config.model = model;
                self.config.seed = seed;
                self.config.device = device;
                self.dataset = None;
                self.error = None;
                self.load_dataset(source);
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
        if self.saving.is_some() {
            return;
        }
        match export::PendingSave::spawn(file_name.to_owned(), contents.into(), self.ctx.clone()) {
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
        // Dropping the handle raises the stop flag and joins the thread.
        self.worker = None;
    }
}

impl eframe::App for WorkbenchApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.poll();
        handle_shortcuts(self, ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, CONFIG_KEY, &self.config);
        eframe::set_value(storage, PLOT_KEY, &self.plot_options);
    }

    fn on_exit(&mut self) {
        self.shutdown();
    }
}

/// Space starts, pauses or resumes; Escape stops.
fn handle_shortcuts(app: &mut WorkbenchApp, ctx: &egui::Context) {
    if ctx.egui_wants_keyboard_input() {
        return;
    }
    let (space, escape) = ctx.input(|i| {
        (
            i.key_pressed(egui::Key::Space),
            i.key_pressed(egui::Key::Escape),
        )
    });
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
    /// Use this augmentation and open the Augmentation panel.
    pub augment: Option<crate::augment::AugmentConfig>,
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
            if let Some(augment) = options.augment {
                app.config.augment = augment;
                app.augment_view.open = true;
            }
            app.start_when_loaded = options.start;
            Ok(Box::new(app))
        }),
    )
}
