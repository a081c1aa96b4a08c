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
mod args;
mod augment;
mod cluster;
mod gan;
mod lesson;
mod report;
mod sweep;
mod train;
mod weights;

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::augment::AugmentSpec;
use crate::data::DatasetSource;
use crate::experiment::lessons;
use args::{installed, unknown_lesson};

pub use args::{
    AugmentArgs, BundleCommand, ChannelAdaptArg, DeviceArg, ExportArgs, LessonArg, LessonArgs,
    ModelArg, MonitorArg, OptimizerArg, PredictArgs, PreprocessArg, ReportArgs, ScheduleArg,
    SweepArgs, TrainArgs, TransferArgs,
};

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
    /// Window only: train on this device instead of the last one used (on the GPU the
    /// window compiles the model's kernels ahead, while nothing trains).
    #[arg(long, value_enum)]
    pub device: Option<DeviceArg>,
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
            device: self.device.map(DeviceArg::kind),
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
    /// Expand a grid of settings into runs, train them on this machine (--local N at once) and
    /// compare them in OUT/sweep.csv.
    Sweep(SweepArgs),
    /// Train a class-conditional GAN on a dataset, or write its generator's images.
    #[command(subcommand)]
    Gan(gan::GanCommand),
}

/// Writes command output to standard output, dropping it when the reader has gone.
pub(crate) fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    // A closed pipe (or a full disk behind a redirect) must not end the command: its results
    // are in files; this output is a courtesy.
    std::io::stdout().lock().write_fmt(args).ok();
}

/// Runs a CLI command; the returned error is printed by `main` and gives exit code 1.
pub fn run(command: CliCommand) -> anyhow::Result<()> {
    match command {
        CliCommand::Train(args) => train::train(&args),
        CliCommand::LrFind(args) => train::lr_find(&args),
        CliCommand::Report(args) => report::report(&args),
        CliCommand::Bundle(command) => report::bundle(command),
        CliCommand::Predict(args) => weights::predict(&args),
        CliCommand::ExportWeights(args) => weights::export(&args),
        CliCommand::Lesson(args) => lesson::lesson(&args),
        CliCommand::Augment(args) => augment::augment_grid(&args),
        CliCommand::Sweep(args) => sweep::sweep(&args),
        CliCommand::Gan(command) => gan::gan(&command),
    }
}
