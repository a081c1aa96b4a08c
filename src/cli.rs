//! Headless commands on the same engine as the GUI.

/// `println!` for command output that a closed pipe cannot break: when the reader has gone
/// (`cnn-workbench report DIR | head`), the rest of the output is dropped and the command still
/// finishes its work (files are written, runs are recorded) instead of panicking.
macro_rules! outln {
    () => {
        $crate::cli::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` with the same care as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!($($arg)*))
    };
}

mod models;

use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use crossbeam_channel::RecvTimeoutError;
use indicatif::{ProgressBar, ProgressStyle};
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::augment::AugmentSpec;
use crate::augment::grid::{self, GridRequest};
use crate::data::{DatasetSource, InputFormat, TrainSize, Validation};
use crate::experiment::bundle;
use crate::experiment::chart::{self, ChartOptions};
use crate::experiment::lessons;
use crate::experiment::report::Report;
use crate::experiment::{DeviceKind, ExperimentConfig};
use crate::train::message::{Command, Event, RunStatus};
use crate::train::worker::{StartRequest, TrainWorker};
use crate::train::{GradClip, Monitor, OptimizerConfig, Schedule};
pub use models::{ExportArgs, LessonArgs, ModelArg, PredictArgs, TransferArgs};

/// CNN Workbench: train CNNs on image data and watch overfitting happen.
///
/// Without a command, the desktop window opens.
#[derive(Debug, Parser)]
#[command(name = "cnn-workbench", version, about)]
pub struct Cli {
    /// What to do (default: open the window).
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    /// Window only: open with this dataset instead of the last one used (the same specs as
    /// `train --dataset`).
    #[arg(long, value_name = "SPEC")]
    pub dataset: Option<DatasetSource>,
    /// Window only: start training as soon as the dataset is loaded.
    #[arg(long)]
    pub start: bool,
    /// Window only: open with this architecture instead of the last one used.
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Window only: use this augmentation (a preset or a .toml/.json file) and open its panel.
    #[arg(long, value_name = "FILE|PRESET")]
    pub augment: Option<AugmentSpec>,
    /// Window only: pick this built-in lesson (its id or number); with --start it runs.
    #[arg(long, value_name = "ID|N")]
    pub lesson: Option<String>,
    /// Window only: open in presenter mode (large type, thick lines, plot first).
    #[arg(long)]
    pub presenter: bool,
    /// Window only: write each frame's CPU time (and the delay from Start to the first plotted
    /// loss) to this CSV file.
    #[arg(long, value_name = "FILE")]
    pub frame_log: Option<PathBuf>,
}

impl Cli {
    /// The window's start-up options.
    pub fn gui_options(&self) -> anyhow::Result<crate::app::GuiOptions> {
        Ok(crate::app::GuiOptions {
            dataset: self.dataset.clone().map(installed).transpose()?,
            start: self.start,
            model: self.model.map(ModelArg::config),
            augment: self.augment.as_ref().map(AugmentSpec::load).transpose()?,
            lesson: self
                .lesson
                .as_deref()
                .map(|key| {
                    let all = lessons::lessons();
                    all.iter()
                        .position(|l| l.id == key)
                        .or_else(|| {
                            key.parse::<usize>()
                                .ok()
                                .and_then(|n| n.checked_sub(1))
                                .filter(|&i| i < all.len())
                        })
                        .with_context(|| unknown_lesson(key))
                })
                .transpose()?,
            presenter: self.presenter,
            frame_log: self.frame_log.clone(),
        })
    }
}

/// The headless commands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Train a model without the window; writes metrics.csv, config.toml, run.json and weights
    /// to --out (or continues the run in --resume DIR).
    Train(Box<TrainArgs>),
    /// Sweep the learning rate upwards for a few batches and suggest one (the same options as
    /// train; with --out DIR the curve is written to DIR/lr_find.csv).
    LrFind(Box<TrainArgs>),
    /// Print a run's summary (best epoch, overfitting onset, final and best metrics, per-class
    /// table) and write its curves with the markers to DIR/report.png.
    Report(ReportArgs),
    /// Pack a run directory into a zip bundle, or unpack one into the runs folder.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Classify one image with a model and print the most probable classes.
    Predict(Box<PredictArgs>),
    /// Write a run's weights as a safetensors backbone file that later runs can start from
    /// (train --weights FILE).
    ExportWeights(ExportArgs),
    /// Run a built-in lesson (its runs one after the other) and compare the runs.
    Lesson(LessonArgs),
    /// Write the augmentation preview grid as a PNG: one row per sample, the original at the
    /// left, then what a run with --seed gives that sample in epochs 1, 2, ….
    Augment(AugmentArgs),
}

/// Options of `cnn-workbench augment`.
#[derive(Debug, clap::Args)]
pub struct AugmentArgs {
    /// Dataset whose training images are shown (the same SPEC as for train).
    #[arg(long, value_name = "SPEC", default_value = "embedded")]
    pub dataset: DatasetSource,
    /// A preset (none, seed2, light, strong) or a .toml/.json augmentation file.
    #[arg(long, value_name = "FILE|PRESET", default_value = "seed2")]
    pub augment: AugmentSpec,
    /// Rows: samples shown (1 to 64).
    #[arg(long, default_value_t = 4)]
    pub rows: usize,
    /// Columns: random draws per sample, beside the original (1 to 64).
    #[arg(long, default_value_t = 8)]
    pub cols: usize,
    /// The run seed whose draws are shown (also picks the random samples).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Show these training images (comma-separated indices) instead of random ones.
    #[arg(long, value_delimiter = ',')]
    pub samples: Vec<u32>,
    /// Screen pixels per image pixel (1 to 16).
    #[arg(long, default_value_t = 4)]
    pub zoom: usize,
    /// The PNG file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `cnn-workbench bundle ...`
#[derive(Debug, Subcommand)]
pub enum BundleCommand {
    /// Zip a run directory (config, metrics, run.json, weights, report).
    Export {
        /// The run directory.
        dir: PathBuf,
        /// The zip file to write (default: RUN_NAME.zip here).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Unpack a bundle into a new run directory (refusing entries that point elsewhere).
    Import {
        /// The zip file.
        bundle: PathBuf,
        /// The runs folder to unpack into (default: the window's runs folder).
        #[arg(long)]
        into: Option<PathBuf>,
    },
}

/// Options of `cnn-workbench report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The run directory (as written by `train` or the window).
    pub dir: PathBuf,
    /// Where to write the picture (default: DIR/report.png).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Rising validation epochs (while training loss falls) that mark the overfitting onset.
    #[arg(long, default_value_t = 3)]
    pub onset_k: usize,
    /// Picture width in pixels.
    #[arg(long, default_value_t = 1200)]
    pub width: u32,
    /// Picture height in pixels.
    #[arg(long, default_value_t = 800)]
    pub height: u32,
}

/// Devices selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// The CPU (Burn's flex backend).
    Cpu,
    /// A GPU through wgpu.
    Gpu,
}

/// Optimizers selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// Stochastic gradient descent (with --momentum, --nesterov).
    Sgd,
    /// Adam.
    Adam,
    /// Adam with decoupled weight decay.
    Adamw,
    /// RMSprop (with --momentum).
    Rmsprop,
}

/// Learning-rate schedules selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// The same rate throughout.
    Constant,
    /// ×0.1 every 10 epochs.
    Step,
    /// ×0.9 per epoch.
    Exp,
    /// One epoch of warm-up, then cosine decay to 0.
    Cosine,
    /// One cycle: warm up over 30 % of the run, then anneal.
    Onecycle,
}

/// What early stopping watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MonitorArg {
    /// Validation loss (lower is better).
    ValLoss,
    /// Validation accuracy (higher is better).
    ValAcc,
}

/// Options of `cnn-workbench train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Start from this experiment file (config.toml of a run, or one saved from the window);
    /// the other options override its fields.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Start from a built-in lesson's experiment (its id or number; see the window's Lessons);
    /// the other options override its fields.
    #[arg(long, conflicts_with = "config")]
    pub lesson: Option<String>,
    /// Which of the lesson's runs (1-based, for lessons that compare runs).
    #[arg(long, default_value_t = 1, requires = "lesson")]
    pub lesson_run: usize,
    /// Dataset to train on: folder:PATH (one subfolder per class), idx:PATH (MNIST-style files),
    /// cifar10:PATH, cifar100:PATH, cifar100-coarse:PATH, shapes (synthetic), noise, embedded
    /// (the built-in Fashion-MNIST subset, the default) or fashion-mnist (Debian's full copy).
    #[arg(long, value_name = "SPEC")]
    pub dataset: Option<DatasetSource>,
    /// Training samples to use: all, N (in total, stratified) or N/class.
    #[arg(long, value_name = "N|N/class|all")]
    pub train_size: Option<TrainSize>,
    /// Replace this fraction of the training labels with a different random class (seeded;
    /// validation labels stay clean).
    #[arg(long, value_name = "F")]
    pub label_noise: Option<f32>,
    /// Train on these classes only (dataset class numbers, comma-separated).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub classes: Option<Vec<u16>>,
    /// Resize every image to PX×PX (default: the data's own size; for an image folder the most
    /// common size, or 64 when that is over 128 px).
    #[arg(long, value_name = "PX")]
    pub input_size: Option<u32>,
    /// 1 (grayscale) or 3 (RGB) input channels (default: grayscale only if every image is).
    #[arg(long, value_name = "1|3")]
    pub channels: Option<u8>,
    /// Model architecture (default: simple-cnn).
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Number of epochs (default: 10, or 50 on noise; with --resume: the recorded plan).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size (default: 64, or 10 on noise).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Base learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Optimizer.
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Momentum for SGD and RMSprop.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// Nesterov momentum (SGD).
    #[arg(long)]
    pub nesterov: bool,
    /// Learning-rate schedule.
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleArg>,
    /// Weight decay (L2 penalty; decoupled for AdamW).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Clip each parameter's gradient to this L2 norm.
    #[arg(long, conflicts_with = "clip_grad_value")]
    pub clip_grad: Option<f32>,
    /// Clip every gradient element to [-F, F].
    #[arg(long)]
    pub clip_grad_value: Option<f32>,
    /// Label smoothing for the cross-entropy loss.
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// Dropout before the classifier.
    #[arg(long)]
    pub dropout: Option<f64>,
    /// Stop after this many epochs without improvement (and restore the best weights).
    #[arg(long)]
    pub early_stopping_patience: Option<usize>,
    /// What early stopping watches.
    #[arg(long, value_enum)]
    pub early_stopping_monitor: Option<MonitorArg>,
    /// Smallest change that counts as an improvement for early stopping.
    #[arg(long)]
    pub min_delta: Option<f64>,
    /// Seed for initialisation, the split and the batch order.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Hold out this fraction of the training data for validation (default 0.2; noise uses its own
    /// held-out set), or `source` to validate on the source's own test/val split.
    #[arg(long, value_name = "F|source", value_parser = parse_validation)]
    pub val_fraction: Option<Validation>,
    /// Train on CPU or GPU.
    #[arg(long, value_enum)]
    pub device: Option<DeviceArg>,
    /// Directory for the run's files (default: a new folder in the window's runs folder).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in this directory from its last finished epoch (its config.toml applies;
    /// --epochs sets a new total).
    #[arg(long, conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Augment the training images: a preset (none, seed2, light, strong) or a .toml/.json
    /// file holding an augmentation configuration (saved with the run in config.toml).
    #[arg(long, value_name = "FILE|PRESET", conflicts_with = "resume")]
    pub augment: Option<AugmentSpec>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Pretrained weights and how they are fitted.
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// Writes command output to standard output, dropping it when the reader has gone.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    // A closed pipe (or a full disk behind a redirect) must not end the command: its results
    // are in files; this output is a courtesy.
    std::io::stdout().lock().write_fmt(args).ok();
}

/// The message for a lesson key that names no lesson.
fn unknown_lesson(key: &str) -> String {
    let known: Vec<String> = lessons::lessons()
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{} ({})", i + 1, l.id))
        .collect();
    format!("no lesson {key:?}; the lessons are {}", known.join(", "))
}

/// The experiment of run `run` (1-based) of the lesson named `key` (id or number).
fn lesson_config(key: &str, run: usize) -> anyhow::Result<ExperimentConfig> {
    let lesson = lessons::find(key).with_context(|| unknown_lesson(key))?;
    let count = lesson.runs.len();
    run.checked_sub(1)
        .and_then(|i| lesson.runs.into_iter().nth(i))
        .map(|r| r.config)
        .with_context(|| {
            format!("lesson {key:?} has {count} run(s); --lesson-run {run} is not one")
        })
}

/// `--val-fraction`: a fraction, or `source` for the source's own split.
fn parse_validation(text: &str) -> Result<Validation, String> {
    if text.eq_ignore_ascii_case("source") {
        return Ok(Validation::SourceTest);
    }
    text.parse::<f32>()
        .map(|fraction| Validation::Holdout { fraction })
        .map_err(|_| format!("'{text}' is neither a fraction nor 'source'"))
}

/// The source, or a hint when it is the full Fashion-MNIST and that is not installed.
fn installed(source: DatasetSource) -> anyhow::Result<DatasetSource> {
    if let DatasetSource::FashionMnist { dir } = &source
        && !dir.join("train-images-idx3-ubyte.gz").is_file()
    {
        bail!(
            "the full Fashion-MNIST is not installed (looked in {}); install Debian's \
             dataset-fashion-mnist package or use --dataset embedded",
            dir.display()
        );
    }
    Ok(source)
}

impl TrainArgs {
    /// The experiment these options describe.
    pub fn to_config(&self) -> anyhow::Result<ExperimentConfig> {
        let base = match (&self.config, &self.lesson) {
            (Some(path), _) => Some(ExperimentConfig::load(path)?),
            (None, Some(key)) => Some(lesson_config(key, self.lesson_run)?),
            (None, None) => None,
        };
        let mut config = match base {
            Some(mut config) => {
                if let Some(dataset) = &self.dataset {
                    config.dataset.source = installed(dataset.clone())?;
                }
                config
            }
            None => {
                ExperimentConfig::for_source(installed(self.dataset.clone().unwrap_or_default())?)
            }
        };
        let data = &mut config.dataset;
        if let Some(size) = self.train_size {
            data.train_size = size;
        }
        if let Some(noise) = self.label_noise {
            data.label_noise = noise;
        }
        if self.classes.is_some() {
            data.classes.clone_from(&self.classes);
        }
        if self.input_size.is_some() || self.channels.is_some() {
            data.input = InputFormat {
                size: self.input_size,
                channels: self.channels,
            };
        }
        data.validate()?;
        if let Some(model) = self.model {
            config.model = model.config();
        }
        self.transfer.apply(&mut config)?;
        if let Some(dropout) = self.dropout {
            match config.model.dropout_mut() {
                Some(d) => *d = dropout,
                None => bail!("--dropout: {} has no dropout", config.model.label()),
            }
        }
        let train = &mut config.train;
        if let Some(epochs) = self.epochs {
            train.epochs = epochs;
        }
        if let Some(batch_size) = self.batch_size {
            train.batch_size = batch_size;
        }
        if let Some(lr) = self.lr {
            train.lr = lr;
        }
        if let Some(optimizer) = self.optimizer {
            train.optimizer = match optimizer {
                OptimizerArg::Sgd => OptimizerConfig::Sgd {
                    momentum: self.momentum,
                    nesterov: self.nesterov,
                },
                OptimizerArg::Adam => OptimizerConfig::Adam,
                OptimizerArg::Adamw => OptimizerConfig::AdamW,
                OptimizerArg::Rmsprop => OptimizerConfig::RmsProp {
                    momentum: self.momentum,
                },
            };
        }
        if let Some(schedule) = self.schedule {
            let name = match schedule {
                ScheduleArg::Constant => "constant",
                ScheduleArg::Step => "step",
                ScheduleArg::Exp => "exp",
                ScheduleArg::Cosine => "cosine",
                ScheduleArg::Onecycle => "onecycle",
            };
            train.schedule = Schedule::from_name(name).unwrap_or_default();
        }
        if let Some(weight_decay) = self.weight_decay {
            train.weight_decay = weight_decay;
        }
        match (self.clip_grad, self.clip_grad_value) {
            (Some(max), _) => train.clip_grad = Some(GradClip::Norm { max }),
            (None, Some(max)) => train.clip_grad = Some(GradClip::Value { max }),
            (None, None) => {}
        }
        if let Some(smoothing) = self.label_smoothing {
            train.label_smoothing = smoothing;
        }
        if let Some(patience) = self.early_stopping_patience {
            train.early_stopping.enabled = true;
            train.early_stopping.patience = patience;
        }
        if let Some(monitor) = self.early_stopping_monitor {
            train.early_stopping.monitor = match monitor {
                MonitorArg::ValLoss => Monitor::ValLoss,
                MonitorArg::ValAcc => Monitor::ValAcc,
            };
        }
        if let Some(min_delta) = self.min_delta {
            train.early_stopping.min_delta = min_delta;
        }
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(validation) = self.val_fraction {
            config.dataset.validation = validation;
            config.dataset.validate()?;
        }
        if let Some(device) = self.device {
            config.device = match device {
                DeviceArg::Cpu => DeviceKind::Cpu,
                DeviceArg::Gpu => DeviceKind::Gpu,
            };
        }
        if let Some(spec) = &self.augment {
            config.augment = spec.load()?;
        }
        config.train.validate()?;
        Ok(config)
    }
}

/// Runs a CLI command; the returned error is printed by `main` and gives exit code 1.
pub fn run(command: CliCommand) -> anyhow::Result<()> {
    match command {
        CliCommand::Train(args) => train(&args),
        CliCommand::LrFind(args) => lr_find(&args),
        CliCommand::Report(args) => report(&args),
        CliCommand::Bundle(BundleCommand::Export { dir, out }) => {
            let out = match out {
                Some(out) => out,
                None => {
                    let name = dir
                        .canonicalize()
                        .ok()
                        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                        .unwrap_or_else(|| "run".to_owned());
                    PathBuf::from(format!("{name}.zip"))
                }
            };
            let files = bundle::export(&dir, &out)?;
            outln!("Wrote {} ({files} files)", out.display());
            Ok(())
        }
        CliCommand::Bundle(BundleCommand::Import { bundle: file, into }) => {
            let root = into.unwrap_or_else(crate::experiment::record::default_runs_root);
            let dir = bundle::import(&file, &root)?;
            outln!("Imported into {}", dir.display());
            Ok(())
        }
        CliCommand::Predict(args) => models::predict(&args),
        CliCommand::ExportWeights(args) => models::export(&args),
        CliCommand::Lesson(args) => models::lesson(&args),
        CliCommand::Augment(args) => augment_grid(&args),
    }
}

fn report(args: &ReportArgs) -> anyhow::Result<()> {
    let report = Report::load(&args.dir)?;
    out!("{}", report.text(args.onset_k));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.dir.join("report.png"));
    if report.history.is_empty() {
        outln!("(no picture: the run has no finished epoch)");
        return Ok(());
    }
    let options = ChartOptions {
        width: args.width,
        height: args.height,
        ..report.chart_options(args.onset_k)
    };
    let png = chart::render_png(&report.history, &options)?;
    crate::experiment::record::write_atomic(&out, &png)?;
    outln!("\nCurves written to {}", out.display());
    Ok(())
}

fn augment_grid(args: &AugmentArgs) -> anyhow::Result<()> {
    if !(1..=64).contains(&args.rows) || !(1..=64).contains(&args.cols) {
        bail!(
            "--rows and --cols must be between 1 and 64, found {} and {}",
            args.rows,
            args.cols
        );
    }
    if !(1..=16).contains(&args.zoom) {
        bail!("--zoom must be between 1 and 16, found {}", args.zoom);
    }
    let config = args.augment.load()?;
    let data = crate::data::load(&installed(args.dataset.clone())?, InputFormat::default())?;
    let samples = if args.samples.is_empty() {
        grid::random_samples(&data, args.rows, args.seed)
    } else {
        if let Some(bad) = args
            .samples
            .iter()
            .find(|&&i| i as usize >= data.train.len())
        {
            bail!(
                "sample {bad} does not exist: the training set has {} images (0 to {})",
                data.train.len(),
                data.train.len().saturating_sub(1)
            );
        }
        args.samples.clone()
    };
    let request = GridRequest {
        config,
        samples,
        epochs: (1..=args.cols as u64).collect(),
        seed: args.seed,
    };
    let preview = grid::compute(&request, &data);
    let (image, _) = grid::render(&preview, args.zoom);
    let png = grid::encode_png(&image)?;
    std::fs::write(&args.out, png)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    if !args.quiet {
        outln!(
            "wrote {} ({} samples × {} draws of \"{}\", seed {})",
            args.out.display(),
            preview.rows(),
            preview.columns(),
            request.config.summary(),
            args.seed
        );
        let shape = crate::augment::ImageShape::of(&data);
        for warning in crate::augment::warnings::check(&request.config, shape, &data.class_names) {
            outln!("warning: {}", warning.message);
        }
    }
    Ok(())
}

fn lr_find(args: &TrainArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let worker = TrainWorker::spawn(std::sync::Arc::new(|| {}))
        .context("cannot start the training thread")?;
    worker.find_lr(config).map_err(anyhow::Error::msg)?;
    let finding = loop {
        match worker.events().recv() {
            Ok(Event::LrFound(finding)) => break finding,
            Ok(Event::Failed { message }) => bail!("{message}"),
            Ok(_) => {}
            Err(_) => bail!("the training thread ended without a result"),
        }
    };
    let mut csv = String::from("lr,smoothed_loss\n");
    for [lr, loss] in &finding.points {
        csv.push_str(&format!("{lr},{loss}\n"));
    }
    if !args.quiet {
        outln!("{:>10}  {:>10}", "lr", "loss");
        for [lr, loss] in finding.points.iter().step_by(5) {
            outln!("{lr:>10.2e}  {loss:>10.4}");
        }
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("lr_find.csv");
        std::fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?;
    }
    match finding.suggestion {
        Some(lr) => outln!("suggested learning rate: {lr:.2e}"),
        None => outln!("no suggestion: the loss did not fall at any learning rate tried"),
    }
    Ok(())
}

fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let worker = TrainWorker::spawn(std::sync::Arc::new(|| {}))
        .context("cannot start the training thread")?;
    match &args.resume {
        Some(dir) => worker.resume_dir(dir.clone(), args.epochs),
        None => {
            let config = args.to_config()?;
            // Without --out the run joins the window's runs table.
            let out = args.out.clone().unwrap_or_else(|| {
                crate::experiment::record::new_run_dir(
                    &crate::experiment::record::default_runs_root(),
                    &config,
                )
            });
            if !args.quiet {
                outln!("Recording the run in {}", out.display());
            }
            worker.start(StartRequest {
                config,
                run_dir: Some(out),
            })
        }
    }
    .map_err(anyhow::Error::msg)?;
    follow(&worker, args.quiet)
}

/// Shows a run's progress until it ends; the run's failure or divergence is the error.
fn follow(worker: &TrainWorker, quiet: bool) -> anyhow::Result<()> {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps  {msg}  ETA {eta}")
            .map_err(anyhow::Error::msg)?
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(250));
    let mut epochs = 0;
    // Ctrl+C or SIGTERM stops the run between two batches (it is recorded as stopped and can
    // be resumed); a second Ctrl+C exits at once.
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&interrupted))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&interrupted)))
            .context("cannot install the Ctrl+C handler")?;
    }
    let mut stopping = false;
    loop {
        // Checked before every event, not only when none came for a while: a fast model sends
        // step events more often than the wait below, and the stop must not wait for quiet.
        if interrupted.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            bar.suspend(|| eprintln!("Stopping after the current batch…"));
            worker.send(Command::Stop).map_err(anyhow::Error::msg)?;
        }
        let event = match worker.events().recv_timeout(Duration::from_millis(100)) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                bail!("the training thread ended without a result")
            }
        };
        match event {
            Event::Started(info) => {
                epochs = info.epochs;
                bar.set_length(info.steps_per_epoch as u64);
                if !quiet {
                    bar.suspend(|| {
                        outln!(
                            "Training on {} training and {} validation samples ({} parameters) on {}",
                            info.train_samples, info.val_samples, info.num_params, info.device
                        );
                    });
                }
            }
            Event::Step {
                epoch,
                step,
                loss,
                lr,
                samples_per_sec,
            } => {
                bar.set_prefix(format!("epoch {epoch}/{epochs}"));
                bar.set_position(step as u64);
                bar.set_message(format!(
                    "loss {loss:.4}  lr {lr:.2e}  {samples_per_sec:.0} samples/s"
                ));
            }
            Event::Epoch(m) => {
                if !quiet {
                    bar.suspend(|| {
                        outln!(
                            "epoch {:>3}  train loss {:.4}  val loss {:.4}  train acc {:5.1}%  val acc {:5.1}%  lr {:.2e}  ({:.1}s)",
                            m.epoch,
                            m.train_loss,
                            m.val_loss,
                            m.train_acc * 100.0,
                            m.val_acc * 100.0,
                            m.lr,
                            m.train_secs + m.val_secs
                        );
                    });
                }
                bar.set_position(0);
            }
            Event::Paused
            | Event::Resumed
            | Event::Changed(_)
            | Event::TrainingBatch(_)
            | Event::LrFound(_)
            | Event::Evaluated(_) => {}
            Event::Finished {
                status, message, ..
            } => {
                bar.finish_and_clear();
                return match status {
                    RunStatus::Failed | RunStatus::Diverged => bail!("{status}: {message}"),
                    _ => {
                        if !quiet {
                            outln!("{status}: {message}");
                        }
                        Ok(())
                    }
                };
            }
            Event::Failed { message } => {
                bar.finish_and_clear();
                bail!("{message}");
            }
        }
    }
}
