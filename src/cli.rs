//! Headless commands on the same engine as the GUI.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use crate::data::{DatasetSource, Validation, noise::NoiseConfig};
use crate::experiment::{DeviceKind, ExperimentConfig};
use crate::model::ModelConfig;
use crate::train::message::{Event, RunStatus};
use crate::train::worker::{StartRequest, TrainWorker};

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
}

impl Cli {
    /// The window's start-up options.
    pub fn gui_options(&self) -> anyhow::Result<crate::app::GuiOptions> {
        Ok(crate::app::GuiOptions {
            dataset: self.dataset.map(dataset_source).transpose()?,
            start: self.start,
        })
    }
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

/// The headless commands.
#[derive(Debug, Subcommand)]
pub enum CliCommand {
    /// Train a model without the window; writes metrics.csv, config.toml and run.json to --out.
    Train(TrainArgs),
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

/// Options of `cnn-workbench train`.
#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Dataset to train on.
    #[arg(long, value_enum, default_value = "embedded")]
    pub dataset: DatasetArg,
    /// Model architecture.
    #[arg(long, value_enum, default_value = "simple-cnn")]
    pub model: ModelArg,
    /// Number of epochs (default: 10, or 50 on noise).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size (default: 64, or 10 on noise).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate of the Adam optimizer.
    #[arg(long)]
    pub lr: Option<f64>,
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
    /// Directory for metrics.csv, config.toml and run.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

impl TrainArgs {
    /// The experiment these options describe.
    pub fn to_config(&self) -> anyhow::Result<ExperimentConfig> {
        let source = dataset_source(self.dataset)?;
        let mut config = ExperimentConfig::for_source(source);
        config.model = match self.model {
            ModelArg::SimpleCnn => ModelConfig::default(),
        };
        if let Some(epochs) = self.epochs {
            config.train.epochs = epochs;
        }
        if let Some(batch_size) = self.batch_size {
            config.train.batch_size = batch_size;
        }
        if let Some(lr) = self.lr {
            config.train.lr = lr;
        }
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(fraction) = self.val_fraction {
            config.dataset.validation = Validation::Holdout { fraction };
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
    }
}

fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let config = args.to_config()?;
    let worker = TrainWorker::spawn(std::sync::Arc::new(|| {}))
        .context("cannot start the training thread")?;
    worker
        .start(StartRequest {
            config: config.clone(),
            run_dir: Some(args.out.clone()),
        })
        .map_err(anyhow::Error::msg)?;
    let bar = if args.quiet {
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
    let mut epochs = config.train.epochs;
    loop {
        let Ok(event) = worker.events().recv() else {
            bail!("the training thread ended without a result");
        };
        match event {
            Event::Started(info) => {
                epochs = info.epochs;
                bar.set_length(info.steps_per_epoch as u64);
                bar.set_prefix(format!("epoch 1/{epochs}"));
                if !args.quiet {
                    bar.suspend(|| println!(
                        "Training {} on {} ({} training, {} validation samples, {} parameters) on {}",
                        config.model.short_name(),
                        config.dataset.source.short_name(),
                        info.train_samples,
                        info.val_samples,
                        info.num_params,
                        info.device,
                    ));
                }
            }
            Event::Step {
                epoch,
                step,
                loss,
                samples_per_sec,
            } => {
                bar.set_prefix(format!("epoch {epoch}/{epochs}"));
                bar.set_position(step as u64);
                bar.set_message(format!("loss {loss:.4}  {samples_per_sec:.0} samples/s"));
            }
            Event::Epoch(m) if !args.quiet => {
                bar.suspend(|| println!(
                    "epoch {:>3}  train loss {:.4}  val loss {:.4}  train acc {:5.1}%  val acc {:5.1}%  ({:.1}s)",
                    m.epoch,
                    m.train_loss,
                    m.val_loss,
                    m.train_acc * 100.0,
                    m.val_acc * 100.0,
                    m.train_secs + m.val_secs
                ));
                bar.set_position(0);
            }
            Event::Epoch(_) => {}
            Event::Paused | Event::Resumed => {}
            Event::Finished { status, message } => {
                bar.finish_and_clear();
                if !args.quiet {
                    println!("{status}: {message}");
                }
                return match status {
                    RunStatus::Failed => bail!("{message}"),
                    _ => Ok(()),
                };
            }
            Event::Failed { message } => {
                bar.finish_and_clear();
                bail!("{message}");
            }
        }
    }
}
