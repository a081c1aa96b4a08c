//! What the panels ask for ([`AppCommand`]) and how the app carries it out after layout:
//! starting runs (alone, as an A/B pair or a lesson's queue), talking to the training worker,
//! and the background tasks behind exports, dialogs and scans.

use std::path::{Path, PathBuf};

use super::background::Background;
use super::generator_panel::GanCommand;
use super::state::{Phase, RunView};
use super::{Sequence, WorkbenchApp, export, model_tasks};
use crate::data::DatasetSource;
use crate::experiment::bundle;
use crate::experiment::chart::{self, ChartOptions};
use crate::experiment::gan::GanConfig;
use crate::experiment::{ExperimentConfig, record};
use crate::train::gan::GanRequest;
use crate::train::message::{Command, RunStatus};
use crate::train::queue::{ContinueRule, RunQueue};
use crate::train::worker::{RemoteRequest, StartRequest};

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
    /// Use other crop and tile settings (reloading the data when its storage changes).
    SetCrop(crate::augment::crop::CropConfig),
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
    /// The Generator window's GAN runs and synthetic images.
    Gan(GanCommand),
}

/// Why a GAN cannot start while a classifier trains.
const CLASSIFIER_BUSY: &str = "A classifier run (or the learning-rate finder) is using the \
                               training thread: stop it (or wait for it) before training a GAN";

/// Why a classifier run cannot start while a GAN trains.
const GAN_BUSY: &str = "A GAN is training in the Generator window: stop it (or wait for it) \
                        before starting a classifier run";

impl WorkbenchApp {
    /// A line on the A/B pair in progress, if one is.
    pub fn ab_note(&self) -> Option<String> {
        match &self.queue {
            Some((Sequence::AbPair, queue)) => match queue.position() {
                Some((1, _)) => Some("A/B: run 1 of 2 (no augmentation); run 2 follows".to_owned()),
                Some((2, _)) => {
                    Some("A/B: run 2 of 2 (with augmentation); run 1 is overlaid".to_owned())
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// When a queued run ends, asks the queue (by its rule) whether the next one starts; if it
    /// does, the run that ended stays on the plot as an overlay and the next one starts with its
    /// settings (once its dataset is loaded, if that changes).
    pub(super) fn continue_queue(&mut self, status: RunStatus) {
        let Some((sequence, queue)) = self.queue.as_mut() else {
            return;
        };
        let sequence = *sequence;
        let Some(next) = queue.on_finished(status) else {
            self.queue = None;
            return;
        };
        if let Some(dir) = self.run.info.as_ref().and_then(|i| i.run_dir.clone())
            && !self.runs_view.overlaid.contains(&dir)
        {
            self.runs_view.overlaid.push(dir);
        }
        if sequence == Sequence::Lesson {
            self.lessons.advance();
        }
        let same_data = next.dataset.source == self.config.dataset.source
            && next.storage() == self.config.storage();
        self.use_config(next);
        if same_data && self.dataset.is_some() {
            self.start_queued();
        } else {
            self.start_when_loaded = true;
        }
    }

    /// Starts the queue's run now in `config`; a run that cannot start ends the queue.
    pub(super) fn start_queued(&mut self) {
        if self.start_config(self.config.clone()).is_none() {
            self.queue = None;
        }
    }

    /// Starts the first run of `queue` (with its settings) and keeps the rest for later.
    pub(super) fn start_queue(
        &mut self,
        sequence: Sequence,
        mut queue: RunQueue<ExperimentConfig>,
    ) {
        let Some(first) = queue.start() else {
            return;
        };
        let Some(dir) = self.start_config(first) else {
            self.queue = None;
            return;
        };
        if sequence == Sequence::AbPair && !self.runs_view.overlaid.contains(&dir) {
            // The plain run is the one the augmented run is compared with.
            self.runs_view.overlaid.push(dir);
        }
        self.queue = Some((sequence, queue));
    }

    /// Makes `config` the one the next run uses, loading its dataset if that changed.
    pub(super) fn use_config(&mut self, config: ExperimentConfig) {
        let source_changed = config.dataset.source != self.config.dataset.source
            || config.storage() != self.config.storage();
        self.config = config;
        if source_changed {
            self.dataset = None;
            self.load_dataset(
                self.config.dataset.source.clone(),
                self.config.dataset.input,
            );
        }
    }

    /// Carries out a command from a panel (also used by tests and keyboard shortcuts).
    pub fn apply(&mut self, command: AppCommand) {
        match command {
            AppCommand::Start => self.start(),
            AppCommand::Pause => self.send(Command::Pause),
            AppCommand::Resume => self.send(Command::Resume),
            AppCommand::Stop => self.send(Command::Stop),
            AppCommand::Extend(more) => {
                if !matches!(self.run.phase, Phase::Ended(status) if status.can_continue()) {
                    return;
                }
                if self.gan.is_active() {
                    self.error = Some(GAN_BUSY.to_owned());
                    return;
                }
                if self.gan.in_worker {
                    // The worker dropped this run when the GAN started: continue it from its
                    // folder instead.
                    let Some(dir) = self.run.info.as_ref().and_then(|i| i.run_dir.clone()) else {
                        return;
                    };
                    let Some(worker) = &self.worker else { return };
                    match worker.resume_dir(dir, Some(self.run.epochs.len() + more)) {
                        Ok(()) => {
                            self.gan.in_worker = false;
                            self.run.phase = Phase::Starting;
                        }
                        Err(e) => self.error = Some(e.to_string()),
                    }
                } else {
                    self.send(Command::Extend(more));
                    self.run.phase = Phase::Starting;
                }
            }
            AppCommand::Gan(command) => self.apply_gan(command),
            AppCommand::FindLr => self.find_lr(),
            AppCommand::Model(command) => {
                let files = self
                    .runs_root
                    .parent()
                    .unwrap_or(&self.runs_root)
                    .to_owned();
                match model_tasks::spawn(command, files, &self.ctx) {
                    Ok(task) => self.tasks.model_task = Some(task),
                    Err(e) => {
                        self.model_view.set_busy(false);
                        self.error = Some(crate::error::chain(&e));
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
                if self.tasks.opening.is_none() && !self.run.is_active() {
                    let read = |path: PathBuf| {
                        std::fs::read_to_string(&path)
                            .map(|text| (path.clone(), text))
                            .map_err(|e| format!("cannot read {}: {e}", path.display()))
                    };
                    match export::open(&self.ctx, ("Experiment (TOML)", &["toml"]), read) {
                        Ok(pending) => self.tasks.opening = Some(pending),
                        Err(e) => self.error = Some(crate::error::chain(&e)),
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
                if self.tasks.importing.is_none() {
                    let root = self.runs_root.clone();
                    let import = move |path: PathBuf| {
                        bundle::import(&path, &root).map_err(|e| e.to_string())
                    };
                    match export::open(&self.ctx, ("Run bundle (zip)", &["zip"]), import) {
                        Ok(pending) => self.tasks.importing = Some(pending),
                        Err(e) => self.error = Some(crate::error::chain(&e)),
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
            AppCommand::SetCrop(crop) => {
                if !self.run.is_active() {
                    let mut next = self.config.clone();
                    next.crop = crop;
                    self.use_config(next);
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

    /// Starts a run of the current settings: the picked lesson's runs from here on when they
    /// are one of its runs, else this run alone.
    pub(super) fn start(&mut self) {
        if self.run.is_active() {
            return;
        }
        self.queue = None;
        match self.lessons.on_start(&self.config) {
            Some(runs) => {
                self.start_queue(
                    Sequence::Lesson,
                    RunQueue::new(ContinueRule::UnlessStopped, runs),
                );
            }
            None => {
                self.start_config(self.config.clone());
            }
        }
    }

    /// Starts a run of `config`; returns its directory if it started.
    pub(super) fn start_config(&mut self, config: ExperimentConfig) -> Option<PathBuf> {
        if self.gan.is_active() {
            self.error = Some(GAN_BUSY.to_owned());
            return None;
        }
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
        let remote = self.target.on_cluster;
        let started = if remote {
            worker.start_remote(RemoteRequest {
                config,
                run_dir: run_dir.clone(),
                address: self.target.address(),
                header: None,
                program: self.target.program.clone(),
            })
        } else {
            worker.start(StartRequest {
                config,
                run_dir: Some(run_dir.clone()),
            })
        };
        match started {
            Ok(()) => {
                self.error = None;
                // The worker drops the GAN run it held.
                self.gan.in_worker = false;
                self.run = RunView::starting();
                self.run.remote = remote;
                if let Some(log) = self.frame_log.as_mut() {
                    log.started();
                }
                Some(run_dir)
            }
            Err(e) => {
                self.error = Some(e.to_string());
                None
            }
        }
    }

    /// The A/B pair: the current settings without augmentation now, then with it (only if the
    /// first ends as planned); the first run stays on the plot as an overlay.
    pub(super) fn start_ab(&mut self) {
        if self.run.is_active() || self.config.augment.is_identity() {
            return;
        }
        let mut plain = self.config.clone();
        plain.augment = crate::augment::AugmentConfig::default();
        let pair = RunQueue::new(ContinueRule::AfterSuccess, [plain, self.config.clone()]);
        self.start_queue(Sequence::AbPair, pair);
    }

    /// Reads the run directories again, on the `run-scan` thread (and the GAN runs on the
    /// `gan-scan` thread).
    pub(super) fn rescan_runs(&mut self) {
        self.tasks.last_scan = Some(std::time::Instant::now());
        if self.tasks.gan_scan.is_none() {
            let root = self.runs_root.clone();
            let extra = self.config.synthetic.run.clone();
            self.tasks.gan_scanned_extra.clone_from(&extra);
            match Background::spawn("gan-scan", &self.ctx, move || {
                let mut runs = crate::experiment::gan::gan_runs(&root);
                if let Some(dir) = extra
                    && !runs.iter().any(|(d, _)| *d == dir)
                    && let Ok(summary) = crate::experiment::gan::read_gan_summary(&dir)
                {
                    runs.push((dir, summary));
                }
                runs
            }) {
                Ok(scan) => self.tasks.gan_scan = Some(scan),
                Err(e) => {
                    self.error = Some(format!(
                        "cannot read the runs folder: {}",
                        crate::error::chain(&e)
                    ));
                }
            }
        }
        let root = self.runs_root.clone();
        match Background::spawn("run-scan", &self.ctx, move || {
            crate::experiment::runs::scan(&root)
        }) {
            Ok(scan) => self.tasks.runs_scan = Some(scan),
            Err(e) => {
                self.error = Some(format!(
                    "cannot read the runs folder: {}",
                    crate::error::chain(&e)
                ));
            }
        }
    }

    pub(super) fn save(&mut self, file_name: &str, contents: impl Into<Vec<u8>>) {
        let bytes = contents.into();
        self.save_with(file_name, move || Ok(bytes));
    }

    pub(super) fn save_with(
        &mut self,
        file_name: &str,
        contents: impl FnOnce() -> Result<Vec<u8>, String> + Send + 'static,
    ) {
        if self.tasks.saving.is_some() {
            return;
        }
        match export::save(&self.ctx, file_name.to_owned(), contents) {
            Ok(pending) => self.tasks.saving = Some(pending),
            Err(e) => self.error = Some(crate::error::chain(&e)),
        }
    }

    pub(super) fn find_lr(&mut self) {
        if self.run.is_active() || self.finding_lr {
            return;
        }
        if self.gan.is_active() {
            self.error = Some(GAN_BUSY.to_owned());
            return;
        }
        let Some(worker) = &self.worker else { return };
        match worker.find_lr(self.config.clone()) {
            Ok(()) => {
                self.finding_lr = true;
                self.error = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }

    /// Finds out (once, off the UI thread) which GPU wgpu would use, for the Device row.
    pub(super) fn probe_gpu(&mut self) {
        if self.gpu_status.is_some() {
            return;
        }
        if let Some(probe) = &self.tasks.gpu_probe {
            if let Some(status) = probe.poll() {
                self.gpu_status = Some(status);
                self.tasks.gpu_probe = None;
            }
            return;
        }
        let probe = Background::spawn("gpu-probe", &self.ctx, || {
            match crate::train::gpu::device() {
                Ok((_, name)) => format!("Adapter: {name}"),
                Err(why) => why,
            }
        });
        match probe {
            Ok(probe) => self.tasks.gpu_probe = Some(probe),
            Err(e) => {
                self.gpu_status = Some(format!(
                    "cannot look for a GPU: {}",
                    crate::error::chain(&e)
                ));
            }
        }
    }

    /// Compiles the chosen model's GPU kernels on a background thread while nothing trains, so
    /// that Start on the GPU plots its first point without waiting for them (see
    /// [`crate::train::warm`]); again whenever the model, batch size or data change.
    pub(super) fn warm_gpu(&mut self) {
        if let Some((signature, task)) = &self.tasks.gpu_warm {
            let Some(result) = task.poll() else {
                // The line under the Device row counts the seconds.
                self.ctx
                    .request_repaint_after(std::time::Duration::from_secs(1));
                return;
            };
            self.gpu_warmed = Some((signature.clone(), result));
            self.tasks.gpu_warm = None;
        }
        let probed = self.gpu_status.is_some() && self.tasks.gpu_probe.is_none();
        if !probed
            || self.run.is_active()
            || self.finding_lr
            || self.dataset.is_none()
            || crate::train::gpu::device().is_err()
        {
            return;
        }
        let config = &self.config;
        let signature = serde_json::to_string(&(
            &config.model,
            &config.transfer,
            config.train.batch_size,
            &config.dataset,
            &config.crop,
            &config.synthetic,
        ))
        .unwrap_or_default();
        if self
            .gpu_warmed
            .as_ref()
            .is_some_and(|(done, _)| *done == signature)
        {
            return;
        }
        let config = config.clone();
        let task = Background::spawn("gpu-warm-up", &self.ctx, move || {
            let warm = std::panic::catch_unwind(|| crate::train::warm::warm_up(&config));
            match warm {
                Ok(Ok(secs)) => Ok(secs),
                Ok(Err(e)) => Err(crate::error::chain(&e)),
                Err(panic) => Err(crate::train::engine::panic_text(&*panic)),
            }
        });
        match task {
            Ok(task) => {
                self.tasks.gpu_warm = Some((signature, task));
                self.gpu_warm_since = Some(std::time::Instant::now());
            }
            Err(e) => {
                self.gpu_warmed = Some((signature, Err(crate::error::chain(&e))));
            }
        }
    }

    /// The Device row's line under a GPU: the adapter and where its kernels for the chosen
    /// model stand.
    pub(super) fn gpu_line(&self) -> String {
        let adapter = self.gpu_status.as_deref().unwrap_or("Looking for a GPU…");
        if self.tasks.gpu_warm.is_some() {
            let secs = self
                .gpu_warm_since
                .map_or(0.0, |t| t.elapsed().as_secs_f64());
            return format!(
                "{adapter} · compiling this model's kernels ({}), once per program",
                super::state::format_duration(secs)
            );
        }
        match &self.gpu_warmed {
            Some((_, Ok(secs))) if *secs > 0.0 => {
                format!("{adapter} · kernels ready (compiled in {secs:.0} s)")
            }
            Some((_, Ok(_))) => format!("{adapter} · kernels ready"),
            Some((_, Err(why))) => format!("{adapter} · could not compile ahead: {why}"),
            None => adapter.to_owned(),
        }
    }

    /// Carries out what the Generator window asked for.
    fn apply_gan(&mut self, command: GanCommand) {
        match command {
            GanCommand::Start => {
                if self.gan.is_active() {
                    return;
                }
                let config = GanConfig {
                    dataset: self.config.dataset.clone(),
                    seed: self.config.seed,
                    device: self.config.device,
                    ..self.gan.settings.clone()
                };
                if let Err(e) = config.validate() {
                    self.gan.message = Some(e.to_string());
                    return;
                }
                let run_dir = record::new_gan_run_dir(&self.runs_root, &config);
                let request = GanRequest {
                    config,
                    run_dir: Some(run_dir),
                };
                self.start_gan(|worker| worker.start_gan(request));
            }
            GanCommand::ResumeRun(dir, more) => {
                if self.gan.is_active() {
                    return;
                }
                let epochs = self
                    .gan_runs
                    .iter()
                    .find(|(d, _)| *d == dir)
                    .and_then(|(_, s)| {
                        (s.epochs_done >= s.epochs_planned).then_some(s.epochs_done + more)
                    });
                self.start_gan(|worker| worker.resume_gan(dir, epochs));
            }
            GanCommand::Extend(more) => {
                if !matches!(self.gan.phase, Phase::Ended(status) if status.can_continue()) {
                    return;
                }
                if self.gan.in_worker {
                    if self.run.is_active() || self.finding_lr {
                        self.gan.message = Some(CLASSIFIER_BUSY.to_owned());
                        return;
                    }
                    self.send(Command::Extend(more));
                    self.gan.starting();
                } else if let Some(dir) = self.gan.run_dir().map(Path::to_owned) {
                    // A classifier run has replaced it in the worker: continue from its folder.
                    let epochs = self.gan.epochs.len() + more;
                    self.start_gan(|worker| worker.resume_gan(dir, Some(epochs)));
                }
            }
            GanCommand::Pause => self.send(Command::Pause),
            GanCommand::Resume => self.send(Command::Resume),
            GanCommand::Stop => self.send(Command::Stop),
            GanCommand::UseInTraining(synthetic) => {
                if self.run.is_active() {
                    return;
                }
                let name = synthetic
                    .run
                    .as_ref()
                    .and_then(|d| d.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                self.run.message = Some(format!(
                    "The next classifier run mixes {} generated images per class from {name} \
                     into its training samples",
                    synthetic.per_class
                ));
                self.config.synthetic = synthetic;
            }
        }
    }

    /// Hands a GAN run to the worker, unless a classifier run or the finder holds it.
    fn start_gan(
        &mut self,
        send: impl FnOnce(
            &crate::train::worker::TrainWorker,
        ) -> Result<(), crate::train::worker::WorkerError>,
    ) {
        if self.run.is_active() || self.finding_lr {
            self.gan.message = Some(CLASSIFIER_BUSY.to_owned());
            return;
        }
        let Some(worker) = &self.worker else {
            self.gan.message =
                Some("the training thread is not running; restart the app".to_owned());
            return;
        };
        match send(worker) {
            Ok(()) => self.gan.starting(),
            Err(e) => self.gan.message = Some(e.to_string()),
        }
    }

    pub(super) fn send(&mut self, command: Command) {
        if let Some(worker) = &self.worker
            && let Err(e) = worker.send(command)
        {
            self.error = Some(e.to_string());
        }
    }
}
