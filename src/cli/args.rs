//! The command line's words: clap's types for every command and option, and how `train`'s
//! options become an [`ExperimentConfig`].

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Subcommand, ValueEnum};

use crate::augment::AugmentSpec;
use crate::augment::crop::{EvalCrop, TrainCrop};
use crate::data::{DatasetSource, InMemory, InputFormat, TrainSize, Validation};
use crate::experiment::lessons;
use crate::experiment::{DeviceKind, ExperimentConfig};
use crate::experiment::{GradClip, Monitor, OptimizerConfig, Schedule};
use crate::model::{
    CacheFeatures, ChannelAdapt, CnnConfig, Freeze, LeNet5Config, MlpConfig, ModelConfig,
    ResNet18Config, ResNet34Config, ResNet50Config, ResNetSmallConfig, SimpleCnnConfig,
    TransferConfig, weights,
};

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

impl DeviceArg {
    /// The device this names.
    pub fn kind(self) -> DeviceKind {
        match self {
            DeviceArg::Cpu => DeviceKind::Cpu,
            DeviceArg::Gpu => DeviceKind::Gpu,
        }
    }
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
    /// cifar10:PATH, cifar100:PATH, cifar100-coarse:PATH, shapes (synthetic), micro[:SEED]
    /// (synthetic stained-cell micrographs, 1024 px), noise, embedded (the built-in
    /// Fashion-MNIST subset, the default) or fashion-mnist (Debian's full copy).
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
    /// The network's input side: every image is resized to PX×PX (default: the data's own size;
    /// for an image folder the most common size, or 64 when that is over 128 px). With
    /// --train-crop or --eval-crop the images keep their own resolution and PX×PX inputs are cut
    /// from them.
    #[arg(long, value_name = "PX")]
    pub input_size: Option<u32>,
    /// How a training image becomes an input: none (the whole image resized), random (a window
    /// of the image scaled by --crop-scale) or resized (random area and aspect, resized).
    #[arg(long, value_enum)]
    pub train_crop: Option<TrainCropArg>,
    /// Scale of the image before a window is cut (1: native pixels, 0.5: halved first).
    #[arg(long, value_name = "F")]
    pub crop_scale: Option<f32>,
    /// How a validation image becomes inputs: resize (whole image), center (the middle window)
    /// or tiles (windows covering the image; their logits are averaged).
    #[arg(long, value_enum)]
    pub eval_crop: Option<EvalCropArg>,
    /// Keep each image's aspect ratio when bringing it to the stored size (scale the shorter
    /// side, cut the centre) instead of stretching it.
    #[arg(long)]
    pub keep_aspect: bool,
    /// Hold an image folder's decoded images in memory (yes), or leave the files on disk and
    /// decode each sample when a batch needs it (no); auto keeps them in memory when they fit
    /// 2 GiB decoded.
    #[arg(long, value_name = "auto|yes|no")]
    pub data_in_memory: Option<InMemory>,
    /// Budget in MB of the cache of decoded images of a folder kept on disk (default 512).
    #[arg(long, value_name = "MB")]
    pub data_cache_mb: Option<u32>,
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
    /// Mix images of this GAN run's generator (`gan train`) into the training samples (never
    /// the validation samples); with --synthetic-per-class.
    #[arg(long, value_name = "RUN_DIR")]
    pub synthetic: Option<PathBuf>,
    /// Generated images per class to mix in (default 100 with --synthetic).
    #[arg(long, value_name = "N", requires = "synthetic")]
    pub synthetic_per_class: Option<usize>,
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
    /// How progress is shown: a progress bar and a line per epoch, or one JSON object per line
    /// and event (started, each epoch with the fields of metrics.csv, pause and resume, changes,
    /// finished with run.json) for another program or a cluster's log to carry.
    #[arg(long, value_enum, default_value = "bar")]
    pub progress: ProgressArg,
    /// With --progress jsonl: after the run, every file of its folder (weights, report.png, …)
    /// as one JSON line each, its bytes in base64, for a job whose log is its only way back.
    #[arg(long)]
    pub emit_files: bool,
    /// Where the runs train: this machine, or a Ray cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Pretrained weights and how they are fitted.
    #[command(flatten)]
    pub transfer: TransferArgs,
}

/// Sending runs to a Ray cluster (`train` and `sweep`).
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Train on a Ray cluster instead of this machine: its job server, ray://HOST:8265 or
    /// http://HOST:8265. The run folders fill here as the epochs arrive.
    #[arg(long = "cluster", value_name = "ADDRESS")]
    pub address: Option<String>,
    /// An extra HTTP header for a cluster behind a proxy, e.g. 'Authorization: Bearer TOKEN'.
    #[arg(
        long = "cluster-header",
        value_name = "NAME: VALUE",
        requires = "address"
    )]
    pub header: Option<String>,
    /// The program the cluster's jobs run (default: this one), e.g. a Linux build of CNN
    /// Workbench when this machine runs another system.
    #[arg(long = "cluster-program", value_name = "FILE", requires = "address")]
    pub program: Option<PathBuf>,
}

/// Options of `cnn-workbench sweep`.
#[derive(Debug, Clone, clap::Args)]
pub struct SweepArgs {
    /// The base experiment (a run's config.toml or one saved from the window; default: the
    /// window's default experiment).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// A swept setting: its path in config.toml and its values, e.g. train.lr=0.001,0.01 or
    /// dataset.train_size.count=10,100 (repeat the option for a grid of several settings).
    #[arg(long, value_name = "KEY=V1,V2,...")]
    pub grid: Vec<crate::experiment::sweep::Axis>,
    /// Random search: draw this many points of the --range settings (seeded by the config's
    /// seed); with --grid, every grid combination runs every point.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub random: usize,
    /// A setting drawn at random: KEY=LO:HI (uniform) or KEY=LO:HI:log (log-uniform), whole
    /// numbers when both bounds are, e.g. train.lr=0.0001:0.1:log.
    #[arg(long, value_name = "KEY=LO:HI[:log]")]
    pub range: Vec<crate::experiment::sweep::Range>,
    /// Run every combination this many times, with seeds seed, seed + 1, ….
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Runs trained at once on this machine.
    #[arg(long, default_value_t = 1)]
    pub local: usize,
    /// Directory for the runs (one folder each) and sweep.csv.
    #[arg(long)]
    pub out: PathBuf,
    /// Where the runs train: this machine, or a Ray cluster.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Progress reports of `train`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProgressArg {
    /// A progress bar and a line per epoch.
    Bar,
    /// One JSON object per line and event.
    Jsonl,
}

/// Training crops on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TrainCropArg {
    /// The whole image, resized to the input size.
    None,
    /// A window at a random position.
    Random,
    /// A window of random area and aspect ratio, resized.
    Resized,
}

/// Evaluation crops on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalCropArg {
    /// The whole image, resized to the input size.
    Resize,
    /// The window at the centre.
    Center,
    /// Windows covering the image, their logits averaged.
    Tiles,
}

/// Models selectable on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// conv 3×3 (16 channels) → ReLU → max-pool 2 → linear (31,530 parameters).
    SimpleCnn,
    /// The configurable CNN (default: 2 conv blocks of 32 and 64 channels with BatchNorm).
    Cnn,
    /// A multi-layer perceptron (default: 2 hidden layers of 256).
    Mlp,
    /// LeNet-5 (61,706 parameters on 28×28 grayscale, 10 classes).
    Lenet5,
    /// torchvision's ResNet-18 (11.2 M parameters for 10 classes).
    Resnet18,
    /// torchvision's ResNet-34 (21.3 M parameters for 10 classes).
    Resnet34,
    /// torchvision's ResNet-50 with bottleneck blocks (23.5 M parameters for 10 classes).
    Resnet50,
    /// A CIFAR-style ResNet-20 for 28–32 px images.
    ResnetSmall,
}

impl ModelArg {
    /// The architecture with its default settings.
    pub fn config(self) -> ModelConfig {
        match self {
            Self::SimpleCnn => ModelConfig::SimpleCnn(SimpleCnnConfig::default()),
            Self::Cnn => ModelConfig::Cnn(CnnConfig::default()),
            Self::Mlp => ModelConfig::Mlp(MlpConfig::default()),
            Self::Lenet5 => ModelConfig::LeNet5(LeNet5Config::default()),
            Self::Resnet18 => ModelConfig::ResNet18(ResNet18Config::default()),
            Self::Resnet34 => ModelConfig::ResNet34(ResNet34Config::default()),
            Self::Resnet50 => ModelConfig::ResNet50(ResNet50Config::default()),
            Self::ResnetSmall => ModelConfig::ResNetSmall(ResNetSmallConfig::default()),
        }
    }
}

/// How grayscale data meets an RGB backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChannelAdaptArg {
    /// Repeat the gray channel into every channel.
    Repeat,
    /// Sum the first convolution's weights over its input channels.
    Sum,
}

/// Model settings and transfer-learning options of `train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TransferArgs {
    /// The architecture's settings as JSON, e.g. '{"kind": "cnn", "channels": [32, 64, 128],
    /// "global_pool": true, "hidden": 0}' (unnamed settings keep their defaults; replaces
    /// --model).
    #[arg(long, value_name = "JSON")]
    pub model_json: Option<String>,
    /// Start from these weights: safetensors, or a PyTorch .pt/.pth state dict.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Channels the backbone expects (default: the weight file's, else the data's).
    #[arg(long)]
    pub backbone_channels: Option<usize>,
    /// How grayscale images meet an RGB backbone.
    #[arg(long, value_enum, default_value = "repeat")]
    pub channel_adapt: ChannelAdaptArg,
    /// Resize images to N×N before the network (e.g. 224 for ImageNet backbones).
    #[arg(long, value_name = "N")]
    pub resize: Option<usize>,
    /// Keep the weight file's classifier instead of a fresh one for the data's classes.
    #[arg(long)]
    pub keep_head: bool,
    /// Freeze: nothing, backbone (train only the classifier) or all-but-N (the last N blocks
    /// before the classifier train too).
    #[arg(long, default_value = "nothing", value_parser = parse_freeze)]
    pub freeze: Freeze,
    /// The backbone's learning rate as a fraction of --lr (e.g. 0.1).
    #[arg(long, value_name = "F")]
    pub backbone_lr: Option<f64>,
    /// Compute a fully frozen backbone's features once per image and train the classifier on
    /// them (auto), or run the backbone on every step (off).
    #[arg(long, value_name = "auto|off", default_value = "auto")]
    pub cache_features: CacheFeatures,
    /// With augmentation on: cache the features of K fixed augmented views per training image
    /// (each epoch picks one per image) instead of augmenting afresh every epoch.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub cache_views: usize,
}

fn parse_freeze(text: &str) -> Result<Freeze, String> {
    match text {
        "nothing" | "none" => Ok(Freeze::Nothing),
        "backbone" => Ok(Freeze::Backbone),
        _ => text
            .strip_prefix("all-but-")
            .and_then(|n| n.parse().ok())
            .map(|blocks| Freeze::AllButLast { blocks })
            .ok_or_else(|| format!("expected nothing, backbone or all-but-N, found {text}")),
    }
}

impl TransferArgs {
    /// Applies the options to `config`.
    pub fn apply(&self, config: &mut ExperimentConfig) -> anyhow::Result<()> {
        if let Some(json) = &self.model_json {
            config.model = serde_json::from_str(json).map_err(|e| {
                anyhow::anyhow!(
                    "--model-json: {e} (expected an object with \"kind\": one of {})",
                    ModelConfig::NAMES.join(", ")
                )
            })?;
        }
        let mut transfer = TransferConfig {
            weights: self.weights.clone(),
            backbone_channels: self.backbone_channels,
            channel_adapt: match self.channel_adapt {
                ChannelAdaptArg::Repeat => ChannelAdapt::Repeat,
                ChannelAdaptArg::Sum => ChannelAdapt::SumFirstConv,
            },
            resize: self.resize,
            replace_head: !self.keep_head,
            freeze: self.freeze,
            backbone_lr_factor: self.backbone_lr.unwrap_or(1.0),
            cache_features: self.cache_features,
            cache_views: self.cache_views,
        };
        if let Some(path) = &self.weights {
            let info = weights::inspect(path)?;
            if transfer.backbone_channels.is_none() {
                transfer.backbone_channels = info.input_channels;
            }
            if let Some(model) = info.model
                && model.short_name() == config.model.short_name()
            {
                config.model = model;
            }
        }
        config.transfer = transfer;
        Ok(())
    }
}

/// How `predict` prepares the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PreprocessArg {
    /// torchvision's evaluation transform: resize to 256, centre-crop 224, ImageNet mean/std.
    Imagenet,
    /// The built-in dataset's: 28×28 grayscale with its training mean and std.
    Dataset,
}

/// Options of `cnn-workbench predict`.
#[derive(Debug, Clone, clap::Args)]
pub struct PredictArgs {
    /// Model architecture.
    #[arg(long, value_enum)]
    pub model: ModelArg,
    /// Weights to use: safetensors, or a PyTorch .pt/.pth state dict (without: untrained).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Number of classes (default: the weight file's classifier, else 10).
    #[arg(long)]
    pub classes: Option<usize>,
    /// The image (PNG or JPEG).
    #[arg(long, value_name = "PATH")]
    pub image: PathBuf,
    /// How the image is prepared.
    #[arg(long, value_enum, default_value = "imagenet")]
    pub preprocess: PreprocessArg,
    /// How many classes to list.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Print `{"logits": [...], "top": [{"class": i, "prob": p}, ...]}`.
    #[arg(long)]
    pub json: bool,
}

/// Options of `cnn-workbench export-weights`.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// The run directory.
    pub dir: PathBuf,
    /// The safetensors file to write.
    #[arg(long)]
    pub out: PathBuf,
    /// Export the last epoch's weights instead of the best epoch's.
    #[arg(long)]
    pub last: bool,
}

/// The built-in lessons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LessonArg {
    /// SimpleCNN against ResNet-18 on 30 images per class.
    Capacity,
    /// Fine-tuning the shipped backbone on 10 images of each of classes 5–9, against training
    /// from scratch.
    Transfer,
    /// Pretrains the transfer lesson's backbone on classes 0–4 and writes it to
    /// DIR/transfer-backbone.safetensors.
    Pretrain,
}

/// Options of `cnn-workbench lesson`.
#[derive(Debug, Clone, clap::Args)]
pub struct LessonArgs {
    /// Which lesson.
    #[arg(value_enum)]
    pub lesson: LessonArg,
    /// Directory for the lesson's runs (one subdirectory per run).
    #[arg(long)]
    pub out: PathBuf,
    /// Epochs per run instead of the lesson's.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Print only the final comparison.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The message for a lesson key that names no lesson.
pub(super) fn unknown_lesson(key: &str) -> String {
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
pub(super) fn parse_validation(text: &str) -> Result<Validation, String> {
    if text.eq_ignore_ascii_case("source") {
        return Ok(Validation::SourceTest);
    }
    text.parse::<f32>()
        .map(|fraction| Validation::Holdout { fraction })
        .map_err(|_| format!("'{text}' is neither a fraction nor 'source'"))
}

/// The source, or a hint when it is the full Fashion-MNIST and that is not installed.
pub(super) fn installed(source: DatasetSource) -> anyhow::Result<DatasetSource> {
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
        let crop = &mut config.crop;
        if let Some(train) = self.train_crop {
            crop.train = match train {
                TrainCropArg::None => TrainCrop::None,
                TrainCropArg::Random => TrainCrop::Random,
                TrainCropArg::Resized => TrainCrop::Resized,
            };
        }
        if let Some(eval) = self.eval_crop {
            crop.eval = match eval {
                EvalCropArg::Resize => EvalCrop::Resize,
                EvalCropArg::Center => EvalCrop::Center,
                EvalCropArg::Tiles => EvalCrop::Tiles,
            };
        }
        if let Some(scale) = self.crop_scale {
            crop.scale = scale;
        }
        let cropping = crop.train != TrainCrop::None || crop.eval != EvalCrop::Resize;
        if cropping {
            crop.input_size = self.input_size.or(crop.input_size);
            if crop.input_size.is_none() {
                bail!(
                    "--train-crop and --eval-crop need --input-size PX: the side of the inputs cut from the images"
                );
            }
        } else if self.crop_scale.is_some() {
            bail!("--crop-scale needs --train-crop random|resized or --eval-crop center|tiles");
        }
        crop.validate()?;
        let data = &mut config.dataset;
        if self.input_size.is_some() || self.channels.is_some() || self.keep_aspect {
            data.input = InputFormat {
                size: if cropping {
                    None
                } else {
                    self.input_size.or(data.input.size)
                },
                channels: self.channels.or(data.input.channels),
                keep_aspect: self.keep_aspect || data.input.keep_aspect,
                ..data.input
            };
        }
        if let Some(choice) = self.data_in_memory {
            data.input.in_memory = choice;
        }
        if let Some(mb) = self.data_cache_mb {
            data.input.cache_mb = Some(mb);
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
            train.schedule = Schedule::from_name(name)?;
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
        if let Some(run) = &self.synthetic {
            crate::experiment::gan::read_gan_summary(run).map_err(anyhow::Error::msg)?;
            config.synthetic = crate::experiment::gan::SyntheticConfig {
                run: Some(run.clone()),
                per_class: self.synthetic_per_class.unwrap_or(100),
            };
            if config.synthetic.per_class == 0 {
                bail!("--synthetic-per-class must be at least 1");
            }
        }
        if let Some(validation) = self.val_fraction {
            config.dataset.validation = validation;
            config.dataset.validate()?;
        }
        if let Some(device) = self.device {
            config.device = device.kind();
        }
        if let Some(spec) = &self.augment {
            config.augment = spec.load()?;
        }
        config.train.validate()?;
        Ok(config)
    }
}
