//! The desktop application: panels on the left, live plots in the middle, run controls on top.
//!
//! Panels only read and edit plain state and return [`AppCommand`]s; [`WorkbenchApp`] applies
//! those after layout. All talk with the training thread goes through [`TrainWorker`]'s bounded
//! channels, drained each frame under a small time budget.

pub mod augment_panel;
mod augment_settings;
pub mod background;
mod commands;
pub mod dataset_panel;
mod dataset_split;
mod evaluation_panel;
mod export;
pub mod frame_log;
pub mod generator_panel;
mod hyper_panel;
mod layout;
pub mod lessons_panel;
mod model_panel;
mod model_tasks;
pub mod plot;
pub mod run_bar;
pub mod runs_panel;
pub mod state;
pub mod sweep_view;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use commands::AppCommand;

use crate::data::{Dataset, DatasetSource, loader::PendingLoad};
use crate::experiment::ExperimentConfig;
use crate::train::lr_finder::LrFinding;
use crate::train::message::{Event, GanEvent};
use crate::train::queue::RunQueue;
use crate::train::worker::TrainWorker;

use background::Background;
use state::{Phase, RunView};

/// Longest time a frame spends draining worker events.
const EVENT_BUDGET: Duration = Duration::from_millis(4);
/// Storage key of the last configuration.
const CONFIG_KEY: &str = "experiment_config";
/// Storage key of the plot options.
const PLOT_KEY: &str = "plot_options";
/// Storage key of the recently loaded datasets.
const RECENT_KEY: &str = "recent_datasets";
/// Storage key of the Generator window's settings.
const GAN_KEY: &str = "gan_settings";

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
    /// Where Start trains: this machine or a Ray cluster.
    pub target: run_bar::RunTarget,
    /// Smoothing, log axis and onset settings of the plot.
    pub plot_options: plot::PlotOptions,
    gpu_status: Option<String>,
    /// The last GPU warm-up: what it compiled for (model, batch size, data) and how it went.
    gpu_warmed: Option<(String, Result<f64, String>)>,
    /// When the GPU warm-up under way started.
    gpu_warm_since: Option<std::time::Instant>,
    /// Runs recorded on disk (this session's and earlier ones), newest first.
    pub runs: Vec<crate::experiment::runs::RunEntry>,
    /// GAN runs directly under the runs folder, newest first.
    pub gan_runs: Vec<(PathBuf, crate::experiment::gan::GanSummary)>,
    /// The Generator window: its settings and the GAN run on show.
    pub gan: generator_panel::GanView,
    /// Overlays and the run the settings were duplicated from.
    pub runs_view: runs_panel::RunsView,
    /// The sweep shown in its window, if any.
    pub sweep_view: sweep_view::SweepView,
    /// The picked lesson and its progress.
    pub lessons: lessons_panel::LessonState,
    /// Presenter mode: large type, thick lines, advanced controls hidden, the plot first.
    pub presenter: bool,
    /// Zoom factor used in presenter mode.
    pub presenter_zoom: f32,
    worker: Option<TrainWorker>,
    /// One-shot work in progress on its own threads.
    tasks: Tasks,
    ctx: egui::Context,
    /// The Dataset panel's state (path field, recent datasets, split summary).
    pub dataset_view: dataset_panel::DatasetView,
    evaluation_view: evaluation_panel::EvaluationView,
    model_view: model_panel::ModelView,
    /// The Augmentation panel's preview state.
    pub augment_view: augment_panel::AugmentView,
    /// Runs that follow the current one: an A/B pair or a lesson's runs.
    queue: Option<(Sequence, RunQueue<ExperimentConfig>)>,
    /// Frame timing written to a file (`--frame-log`).
    pub frame_log: Option<frame_log::FrameLog>,
}

/// How often the runs folder is read again for runs that other programs wrote.
const RESCAN_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The window's one-shot tasks in progress, at most one of each kind.
#[derive(Default)]
struct Tasks {
    /// A file being saved (the message to show when done).
    saving: Option<Background<String>>,
    /// The run directories being read again.
    runs_scan: Option<Background<Vec<crate::experiment::runs::RunEntry>>>,
    /// The GAN run directories being read again.
    gan_scan: Option<Background<Vec<(PathBuf, crate::experiment::gan::GanSummary)>>>,
    /// The GAN run outside the runs folder (a lesson's) the last scan also read.
    gan_scanned_extra: Option<PathBuf>,
    /// When the run directories were last read (another program, a sweep say, may add runs).
    last_scan: Option<std::time::Instant>,
    /// An experiment file being opened.
    opening: Option<Background<Result<(PathBuf, String), String>>>,
    /// A run bundle being imported.
    importing: Option<Background<Result<PathBuf, String>>>,
    /// Looking for the GPU wgpu would use.
    gpu_probe: Option<Background<String>>,
    /// Compiling the chosen model's GPU kernels ahead of a run, and for which settings.
    gpu_warm: Option<(String, Background<Result<f64, String>>)>,
    /// A Model panel task (weights file, backbone, prediction, lesson files).
    model_task: Option<Background<model_tasks::ModelOutcome>>,
}

/// What a queue of runs is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sequence {
    /// The settings without augmentation, then with it.
    AbPair,
    /// A lesson's runs, in order.
    Lesson,
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
            target: run_bar::RunTarget::default(),
            plot_options: storage
                .and_then(|s| eframe::get_value(s, PLOT_KEY))
                .unwrap_or_default(),
            gpu_status: None,
            gpu_warmed: None,
            gpu_warm_since: None,
            runs: Vec::new(),
            gan_runs: Vec::new(),
            gan: generator_panel::GanView::default(),
            runs_view: runs_panel::RunsView::default(),
            sweep_view: sweep_view::SweepView::default(),
            lessons: lessons_panel::LessonState::default(),
            presenter: false,
            presenter_zoom: 1.5,
            worker,
            tasks: Tasks::default(),
            ctx: ctx.clone(),
            dataset_view: dataset_panel::DatasetView::default(),
            evaluation_view: evaluation_panel::EvaluationView::default(),
            model_view: model_panel::ModelView::default(),
            augment_view: augment_panel::AugmentView::default(),
            queue: None,
            frame_log: None,
        };
        if let Some(recent) = storage.and_then(|s| eframe::get_value(s, RECENT_KEY)) {
            app.dataset_view.recent = recent;
        }
        if let Some(settings) = storage.and_then(|s| eframe::get_value(s, GAN_KEY)) {
            app.gan.settings = settings;
        }
        app.load_dataset(app.config.dataset.source.clone(), app.config.dataset.input);
        app.rescan_runs();
        app
    }

    /// Starts loading `source` at `input`; what is on show stays until it has loaded.
    /// With cropping on, the images are loaded at their own resolution (the run's storage).
    fn load_dataset(&mut self, source: DatasetSource, input: crate::data::InputFormat) {
        let input = crate::experiment::storage(input, &self.config.crop);
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
            config.crop = self.config.crop;
            config.transfer = self.config.transfer.clone();
            config.seed = self.config.seed;
            config.device = self.config.device;
            self.config = config;
        }
        // A load at the run's own storage leaves the chosen input format as it is.
        if input != self.config.storage() {
            self.config.dataset.input = input;
        }
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
                        if self.queue.is_some() {
                            // A queued run was waiting for its data.
                            self.start_queued();
                        } else {
                            self.start();
                        }
                    }
                }
                Err(e) => {
                    self.start_when_loaded = false;
                    self.dataset_view.load_error = Some(e.to_string());
                }
            }
        }
        if let Some(runs) = self.tasks.runs_scan.as_ref().and_then(Background::poll) {
            self.tasks.runs_scan = None;
            self.runs = runs;
        }
        if let Some(runs) = self.tasks.gan_scan.as_ref().and_then(Background::poll) {
            self.tasks.gan_scan = None;
            self.gan_runs = runs;
        }
        // The synthetic images may come from a GAN run outside the runs folder (a lesson's):
        // read it too, once.
        if let Some(dir) = &self.config.synthetic.run
            && self.tasks.gan_scan.is_none()
            && self.tasks.gan_scanned_extra.as_ref() != Some(dir)
            && !self.gan_runs.iter().any(|(d, _)| d == dir)
        {
            self.rescan_runs();
        }
        // Runs written by another program (a sweep from the command line, a run in a terminal)
        // join the table within a few seconds.
        if self.tasks.runs_scan.is_none()
            && self
                .tasks
                .last_scan
                .is_none_or(|t| t.elapsed() >= RESCAN_EVERY)
        {
            self.rescan_runs();
        }
        self.ctx.request_repaint_after(RESCAN_EVERY);
        if let Some(message) = self.tasks.saving.as_ref().and_then(Background::poll) {
            self.tasks.saving = None;
            self.run.message = Some(message);
        }
        if let Some(imported) = self.tasks.importing.as_ref().and_then(Background::poll) {
            self.tasks.importing = None;
            match imported {
                Ok(dir) => {
                    self.run.message = Some(format!("Imported the run into {}", dir.display()));
                    self.runs_view.overlaid.push(dir);
                    self.rescan_runs();
                }
                Err(message) => self.error = Some(message),
            }
        }
        if let Some(opened) = self.tasks.opening.as_ref().and_then(Background::poll) {
            self.tasks.opening = None;
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
        if let Some(outcome) = self.tasks.model_task.as_ref().and_then(Background::poll) {
            self.tasks.model_task = None;
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
                Ok(Event::Gan(event)) => {
                    if matches!(
                        event,
                        GanEvent::Started(_) | GanEvent::Finished { .. } | GanEvent::Failed { .. }
                    ) {
                        // The runs table follows the folder's run.json.
                        rescan = true;
                    }
                    self.gan.apply(event);
                }
                // A crash of the worker while it trains a GAN.
                Ok(Event::Failed { message }) if self.gan.is_active() => {
                    rescan = true;
                    self.gan.apply(GanEvent::Failed { message });
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
            self.continue_queue(status);
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
            log.plotted(!self.run.steps.is_empty(), !self.run.epochs.is_empty());
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, CONFIG_KEY, &self.config);
        eframe::set_value(storage, PLOT_KEY, &self.plot_options);
        eframe::set_value(storage, RECENT_KEY, &self.dataset_view.recent);
        eframe::set_value(storage, GAN_KEY, &self.gan.settings);
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
    /// Train on this device instead of the last one used.
    pub device: Option<crate::experiment::DeviceKind>,
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
            let mut app = WorkbenchApp::new(
                &cc.egui_ctx,
                cc.storage,
                crate::experiment::record::default_runs_root(),
            );
            if let Some(source) = options.dataset {
                app.apply(AppCommand::SelectDataset(source));
            }
            if let Some(model) = options.model {
                app.config.model = model;
            }
            if let Some(device) = options.device {
                app.config.device = device;
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
