//! `gan train` and `gan sample`: a class-conditional GAN trained on the worker like any run,
//! followed on the terminal; its generator's images written as a class folder.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use crossbeam_channel::RecvTimeoutError;

use super::args::{DeviceArg, installed, parse_validation};
use crate::data::{DatasetSource, InMemory, InputFormat, TrainSize, Validation};
use crate::experiment::gan::GanConfig;
use crate::model::gan::DiffAugment;
use crate::train::gan::GanRequest;
use crate::train::message::{Command, Event, GanEvent, RunStatus};
use crate::train::worker::TrainWorker;

/// `cnn-workbench gan ...`
#[derive(Debug, Subcommand)]
pub enum GanCommand {
    /// Train a class-conditional GAN on a dataset's training samples; writes metrics.csv
    /// (epoch,d_loss,g_loss,tstr_acc,secs), run.json, config.toml, samples-eN.png and the
    /// generator and discriminator checkpoints to --out (or continues --resume DIR).
    Train(Box<GanTrainArgs>),
    /// Write images of a GAN run's generator as a PNG class folder (one subfolder per class).
    Sample(GanSampleArgs),
}

/// Options of `gan train`.
#[derive(Debug, clap::Args)]
pub struct GanTrainArgs {
    /// Dataset (the same SPEC as for train; default: the built-in Fashion-MNIST subset).
    #[arg(long, value_name = "SPEC")]
    pub dataset: Option<DatasetSource>,
    /// Training samples to use: all, N (in total, stratified) or N/class.
    #[arg(long, value_name = "N|N/class|all")]
    pub train_size: Option<TrainSize>,
    /// These classes only (dataset class numbers, comma-separated).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub classes: Option<Vec<u16>>,
    /// Resize every image to PX×PX (8 to 256).
    #[arg(long, value_name = "PX")]
    pub input_size: Option<u32>,
    /// 1 (grayscale) or 3 (RGB) channels.
    #[arg(long, value_name = "1|3")]
    pub channels: Option<u8>,
    /// Hold an image folder in memory (yes), on disk (no) or decide by size (auto).
    #[arg(long, value_name = "auto|yes|no")]
    pub data_in_memory: Option<InMemory>,
    /// Hold out this fraction for the train-on-synthetic score (default 0.2), or `source`.
    #[arg(long, value_name = "F|source", value_parser = parse_validation)]
    pub val_fraction: Option<Validation>,
    /// Epochs (default 20; with --resume: the recorded plan).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Real images per step (default 64).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Generator learning rate (default 2e-4).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Discriminator learning rate (default: the generator's).
    #[arg(long)]
    pub d_lr: Option<f64>,
    /// Differentiable augmentation of the discriminator's inputs: auto (on under 2,000
    /// training images), on or off.
    #[arg(long, value_name = "auto|on|off", value_parser = parse_diff_augment)]
    pub diff_augment: Option<DiffAugment>,
    /// Measure the train-on-synthetic score every N epochs (and at the last); 0 never.
    #[arg(long, value_name = "N")]
    pub tstr_every: Option<usize>,
    /// Generated images per class for that score (default 500).
    #[arg(long, value_name = "N")]
    pub tstr_per_class: Option<usize>,
    /// Noise length (default 64).
    #[arg(long)]
    pub z_dim: Option<usize>,
    /// Network width (default 64).
    #[arg(long)]
    pub width: Option<usize>,
    /// Seed of weights, batches, noise and augmentation (default 42).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Train on CPU or GPU.
    #[arg(long, value_enum)]
    pub device: Option<DeviceArg>,
    /// The run folder (default: a new folder in the window's runs folder).
    #[arg(long, conflicts_with = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the GAN run in this folder from its last finished epoch (--epochs sets a new
    /// total).
    #[arg(long, value_name = "DIR")]
    pub resume: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `gan sample`.
#[derive(Debug, clap::Args)]
pub struct GanSampleArgs {
    /// The GAN run folder.
    pub dir: PathBuf,
    /// Images per class.
    #[arg(long, default_value_t = 100)]
    pub per_class: usize,
    /// The folder to write (created; one subfolder per class).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

fn parse_diff_augment(text: &str) -> Result<DiffAugment, String> {
    match text {
        "auto" => Ok(DiffAugment::Auto),
        "on" => Ok(DiffAugment::On),
        "off" => Ok(DiffAugment::Off),
        other => Err(format!("expected auto, on or off, found {other:?}")),
    }
}

impl GanTrainArgs {
    /// The GAN run these options describe.
    pub fn to_config(&self) -> anyhow::Result<GanConfig> {
        let mut config = GanConfig::default();
        if let Some(dataset) = &self.dataset {
            config.dataset.source = installed(dataset.clone())?;
        }
        let data = &mut config.dataset;
        if let Some(size) = self.train_size {
            data.train_size = size;
        }
        if self.classes.is_some() {
            data.classes.clone_from(&self.classes);
        }
        if self.input_size.is_some() || self.channels.is_some() {
            data.input = InputFormat {
                size: self.input_size.or(data.input.size),
                channels: self.channels.or(data.input.channels),
                ..data.input
            };
        }
        if let Some(choice) = self.data_in_memory {
            data.input.in_memory = choice;
        }
        if let Some(validation) = self.val_fraction {
            data.validation = validation;
        }
        data.validate()?;
        let set = |value: Option<usize>, field: &mut usize| {
            if let Some(v) = value {
                *field = v;
            }
        };
        set(self.epochs, &mut config.epochs);
        set(self.batch_size, &mut config.batch_size);
        set(self.tstr_every, &mut config.tstr_every);
        set(self.tstr_per_class, &mut config.tstr_per_class);
        set(self.z_dim, &mut config.arch.z_dim);
        set(self.width, &mut config.arch.width);
        if let Some(lr) = self.lr {
            config.lr = lr;
            config.d_lr = lr;
        }
        if let Some(lr) = self.d_lr {
            config.d_lr = lr;
        }
        if let Some(choice) = self.diff_augment {
            config.diff_augment = choice;
        }
        if let Some(seed) = self.seed {
            config.seed = seed;
        }
        if let Some(device) = self.device {
            config.device = device.kind();
        }
        config.validate()?;
        Ok(config)
    }
}

/// Runs a `gan` command.
pub(super) fn gan(command: &GanCommand) -> anyhow::Result<()> {
    match command {
        GanCommand::Train(args) => train(args),
        GanCommand::Sample(args) => sample(args),
    }
}

fn sample(args: &GanSampleArgs) -> anyhow::Result<()> {
    let images = crate::train::gan::sample(&args.dir, args.per_class, args.seed)
        .map_err(anyhow::Error::msg)?;
    let written = crate::data::synthetic::save_folder(&images, &args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    outln!(
        "Wrote {written} images ({} per class, {} classes) to {}",
        args.per_class,
        images.class_names.len(),
        args.out.display()
    );
    Ok(())
}

fn train(args: &GanTrainArgs) -> anyhow::Result<()> {
    let worker = TrainWorker::spawn(Arc::new(|| {})).context("cannot start the training thread")?;
    match &args.resume {
        Some(dir) => worker.resume_gan(dir.clone(), args.epochs)?,
        None => {
            let config = args.to_config()?;
            let out = args.out.clone().unwrap_or_else(|| {
                crate::experiment::record::new_gan_run_dir(
                    &crate::experiment::record::default_runs_root(),
                    &config,
                )
            });
            if !args.quiet {
                outln!("Recording the GAN run in {}", out.display());
            }
            worker.start_gan(GanRequest {
                config,
                run_dir: Some(out),
            })?;
        }
    }
    let (status, message) = follow(&worker, args.quiet)?;
    match status {
        RunStatus::Failed | RunStatus::Diverged => bail!("{status}: {message}"),
        _ => {
            if !args.quiet {
                outln!("{status}: {message}");
            }
            Ok(())
        }
    }
}

/// Shows a GAN run's progress until it ends.
fn follow(worker: &TrainWorker, quiet: bool) -> anyhow::Result<(RunStatus, String)> {
    let bar = super::train::step_bar(quiet)?;
    let interrupted = super::train::interrupt_flag()?;
    let mut stopping = false;
    let mut epochs = 0;
    loop {
        if interrupted.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            bar.suspend(|| eprintln!("Stopping after the current step…"));
            worker.send(Command::Stop)?;
        }
        let event = match worker.events().recv_timeout(Duration::from_millis(100)) {
            Ok(Event::Gan(event)) => event,
            Ok(Event::Failed { message }) => bail!("{message}"),
            Ok(_) => continue,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                bail!("the training thread ended without a result")
            }
        };
        match event {
            GanEvent::Started(info) => {
                epochs = info.epochs;
                bar.set_length(info.steps_per_epoch as u64);
                if !quiet {
                    bar.suspend(|| {
                        outln!(
                            "GAN on {} training images ({} classes; generator {} and discriminator {} parameters; DiffAugment {}) on {}",
                            info.train_samples,
                            info.class_names.len(),
                            info.parameters[0],
                            info.parameters[1],
                            if info.diff_augment { "on" } else { "off" },
                            info.device
                        );
                    });
                }
            }
            GanEvent::Step {
                epoch,
                step,
                d_loss,
                g_loss,
                samples_per_sec,
            } => {
                bar.set_prefix(format!("epoch {epoch}/{epochs}"));
                bar.set_position(step as u64);
                bar.set_message(format!(
                    "D {d_loss:.3}  G {g_loss:.3}  {samples_per_sec:.0} images/s"
                ));
            }
            GanEvent::Epoch(m) => {
                if !quiet {
                    let tstr = m
                        .tstr_acc
                        .map_or(String::new(), |a| format!("  TSTR acc {:5.1}%", a * 100.0));
                    bar.suspend(|| {
                        outln!(
                            "epoch {:>3}  D loss {:.4}  G loss {:.4}{tstr}  ({:.1}s)",
                            m.epoch,
                            m.d_loss,
                            m.g_loss,
                            m.secs
                        );
                    });
                }
                bar.set_position(0);
            }
            GanEvent::Grid(grid) => {
                if !quiet && grid.check.flagged > 0 {
                    bar.suspend(|| {
                        outln!(
                            "           {} of {} grid images lie suspiciously close to a training image (memorised?)",
                            grid.check.flagged,
                            grid.check.checked
                        );
                    });
                }
            }
            GanEvent::Paused | GanEvent::Resumed => {}
            GanEvent::Finished { status, message } => {
                bar.finish_and_clear();
                return Ok((status, message));
            }
            GanEvent::Failed { message } => {
                bar.finish_and_clear();
                bail!("{message}");
            }
        }
    }
}
