//! Headless commands on the same engine as the GUI.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::augment::AugmentSpec;
use crate::augment::grid::{self, GridRequest};
use crate::data::{DatasetSource, Validation, noise::NoiseConfig};
use crate::experiment::{DeviceKind, ExperimentConfig};
use crate::model::ModelConfig;
use crate::train::message::{Event, RunStatus};
use crate::train::worker::{StartRequest, TrainWorker};
use crate::train::{GradClip, Monitor, OptimizerConfig, Schedule};

/// CNN Workbench: train CNNs on image data and watch overfitting happen.
///
/// Without a command, the desktop window opens.
#[derive(Debug, Parser)]
#[command(name = "cnn-workbench", version, about)]
pub struct Cli {
    /// What to do (default: open the window).
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    /// Window only: open with this dataset instead of the last one used.
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetArg>,
    /// Window only: start training as soon as the dataset is loaded.
    #[arg(long)]
    pub start: bool,
    /// Window only: use this augmentation (a preset or a .toml/.json file) and open its panel.
    #[arg(long, value_name = "FILE|PRESET")]
    pub augment: Option<AugmentSpec>,
}

impl Cli {
    /// The window's start-up options.
    pub fn gui_options(&self) -> anyhow::Result<crate::app::GuiOptions> {
        Ok(crate::app::GuiOptions {
            dataset: self.dataset.map(dataset_source).transpose()?,
            start: self.start,
            augment: self.augment.as_ref().map(AugmentSpec::load).transpose()?,
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
    /// Write the augmentation preview grid as a PNG: one row per sample, the original at the
    /// left, then what a run with --seed gives that sample in epochs 1, 2, ….
    Augment(AugmentArgs),
}

/// Options of `cnn-workbench augment`.
#[derive(Debug, clap::Args)]
pub struct AugmentArgs {
    /// Dataset whose training images are shown.
    #[arg(long, value_enum, default_value = "embedded")]
    pub dataset: DatasetArg,
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

/// Datasets selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DatasetArg {
    /// The built-in Fashion-MNIST subset (6,000 training + 1,000 test images).
    Embedded,
    /// Gaussian noise with random labels (100 training + 100 validation images).
    Noise,
    /// The full Fashion-MNIST from Debian's dataset-fashion-mnist package.
    FashionMnist,
}

/// Models selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// conv 3×3 (16 channels) → ReLU → max-pool 2 → linear.
    SimpleCnn,
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
    /// Dataset to train on.
    #[arg(long, value_enum, default_value = "embedded")]
    pub dataset: DatasetArg,
    /// Model architecture.
    #[arg(long, value_enum, default_value = "simple-cnn")]
    pub model: ModelArg,
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
    #[arg(long, value_enum, default_value = "val-loss")]
    pub early_stopping_monitor: MonitorArg,
    /// Smallest change that counts as an improvement for early stopping.
    #[arg(long, default_value_t = 0.0)]
    pub min_delta: f64,
    /// Seed for initialisation, the split and the batch order.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Hold out this fraction of the training data for validation (default 0.2; noise uses its own
    /// held-out set).
    #[arg(long)]
    pub val_fraction: Option<f32>,
    /// Train on CPU or GPU.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceArg,
    /// Directory for the run's files.
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
}

fn dataset_source(arg: DatasetArg) -> anyhow::Result<DatasetSource> {
    Ok(match arg {
        DatasetArg::Embedded => DatasetSource::Embedded,
        DatasetArg::Noise => DatasetSource::Noise(NoiseConfig::default()),
        DatasetArg::FashionMnist => DatasetSource::system_fashion_mnist().with_context(|| {
            format!(
                "the full Fashion-MNIST is not installed (looked in {}); install Debian's \
                 dataset-fashion-mnist package or use --dataset embedded",
                crate::data::SYSTEM_FASHION_MNIST_DIR
            )
        })?,
    })
}

impl TrainArgs {
    /// The experiment these options describe.
    pub fn to_config(&self) -> anyhow::Result<ExperimentConfig> {
        let mut config = ExperimentConfig::for_source(dataset_source(self.dataset)?);
        config.model = match self.model {
            ModelArg::SimpleCnn => ModelConfig::default(),
        };
        let ModelConfig::SimpleCnn(cnn) = &mut config.model;
        if let Some(dropout) = self.dropout {
            cnn.dropout = dropout;
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
        train.clip_grad = match (self.clip_grad, self.clip_grad_value) {
            (Some(max), _) => Some(GradClip::Norm { max }),
            (None, Some(max)) => Some(GradClip::Value { max }),
            (None, None) => None,
        };
        if let Some(smoothing) = self.label_smoothing {
            train.label_smoothing = smoothing;
        }
        if let Some(patience) = self.early_stopping_patience {
            train.early_stopping.enabled = true;
            train.early_stopping.patience = patience;
        }
        train.early_stopping.monitor = match self.early_stopping_monitor {
            MonitorArg::ValLoss => Monitor::ValLoss,
            MonitorArg::ValAcc => Monitor::ValAcc,
        };
        train.early_stopping.min_delta = self.min_delta;
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(fraction) = self.val_fraction {
            config.dataset.validation = Validation::Holdout { fraction };
        }
        if let Some(spec) = &self.augment {
            config.augment = spec.load()?;
        }
        config.device = match self.device {
            DeviceArg::Cpu => DeviceKind::Cpu,
            DeviceArg::Gpu => DeviceKind::Gpu,
        };
        config.train.validate()?;
        Ok(config)
    }
}

/// Runs a CLI command; the returned error is printed by `main` and gives exit code 1.
pub fn run(command: CliCommand) -> anyhow::Result<()> {
    match command {
        CliCommand::Train(args) => train(&args),
        CliCommand::LrFind(args) => lr_find(&args),
        CliCommand::Augment(args) => augment_grid(&args),
    }
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
    let data = crate::data::load(&dataset_source(args.dataset)?)?;
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
        println!(
            "wrote {} ({} samples × {} draws of \"{}\", seed {})",
            args.out.display(),
            preview.rows(),
            preview.columns(),
            request.config.summary(),
            args.seed
        );
        let shape = crate::augment::ImageShape::of(&data);
        for warning in crate::augment::warnings::check(&request.config, shape, &data.class_names) {
            println!("warning: {}", warning.message);
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
        println!("{:>10}  {:>10}", "lr", "loss");
        for [lr, loss] in finding.points.iter().step_by(5) {
            println!("{lr:>10.2e}  {loss:>10.4}");
        }
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("lr_find.csv");
        std::fs::write(&path, csv).with_context(|| format!("cannot write {}", path.display()))?;
    }
    match finding.suggestion {
        Some(lr) => println!("suggested learning rate: {lr:.2e}"),
        None => println!("no suggestion: the loss did not fall at any learning rate tried"),
    }
    Ok(())
}

fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let worker = TrainWorker::spawn(std::sync::Arc::new(|| {}))
        .context("cannot start the training thread")?;
    match (&args.resume, &args.out) {
        (Some(dir), _) => worker.resume_dir(dir.clone(), args.epochs),
        (None, Some(out)) => {
            let config = args.to_config()?;
            worker.start(StartRequest {
                config,
                run_dir: Some(out.clone()),
            })
        }
        (None, None) => bail!("give --out DIR for a new run or --resume DIR to continue one"),
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
    loop {
        let Ok(event) = worker.events().recv() else {
            bail!("the training thread ended without a result");
        };
        match event {
            Event::Started(info) => {
                epochs = info.epochs;
                bar.set_length(info.steps_per_epoch as u64);
                if !quiet {
                    bar.suspend(|| {
                        println!(
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
                        println!(
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
                            println!("{status}: {message}");
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
