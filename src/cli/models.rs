//! Command-line options for models: transfer-learning settings of `train`, and the `predict`
//! and `export-weights` commands.

use std::path::PathBuf;

use anyhow::bail;
use clap::ValueEnum;

use crate::experiment::ExperimentConfig;
use crate::experiment::lesson_runs::{self, LessonRun};
use crate::model::preprocess::{self, Prepared};
use crate::model::{ChannelAdapt, Freeze, InputShape, ModelConfig, TransferConfig, weights};
use crate::train::worker::{StartRequest, TrainWorker};

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
    /// A CIFAR-style ResNet-20 for 28–32 px images.
    ResnetSmall,
}

impl ModelArg {
    /// The architecture with its default settings.
    pub fn config(self) -> ModelConfig {
        let name = self
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        ModelConfig::from_name(&name).unwrap_or_default()
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

/// Runs a lesson's runs one after the other and compares them.
pub fn lesson(args: &LessonArgs) -> anyhow::Result<()> {
    let runs = match args.lesson {
        LessonArg::Capacity => vec![LessonRun::CapacitySmall, LessonRun::CapacityResNet],
        LessonArg::Transfer => vec![LessonRun::TransferFineTune, LessonRun::TransferScratch],
        LessonArg::Pretrain => vec![LessonRun::TransferPretrain],
    };
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", args.out.display()))?;
    let backbone = lesson_runs::write_backbone(&args.out).map_err(anyhow::Error::msg)?;
    let mut rows = Vec::new();
    for run in runs {
        let mut config = run.config(&backbone);
        if let Some(epochs) = args.epochs {
            config.train.epochs = epochs;
        }
        let dir = args.out.join(run.slug());
        if !args.quiet {
            outln!("== {} ({})", run.label(), dir.display());
        }
        let worker = TrainWorker::spawn(std::sync::Arc::new(|| {}))
            .map_err(|e| anyhow::anyhow!("cannot start the training thread: {e}"))?;
        worker
            .start(StartRequest {
                config,
                run_dir: Some(dir.clone()),
            })
            .map_err(anyhow::Error::msg)?;
        super::follow(&worker, args.quiet)?;
        let history = crate::experiment::record::read_metrics(&dir.join("metrics.csv"))
            .map_err(anyhow::Error::msg)?;
        rows.push((run, history));
    }
    if args.lesson == LessonArg::Pretrain {
        let out = args.out.join(lesson_runs::TRANSFER_BACKBONE_FILE);
        let done = crate::experiment::backbone::export(
            &args.out.join(LessonRun::TransferPretrain.slug()),
            &out,
            false,
        )
        .map_err(anyhow::Error::msg)?;
        outln!(
            "Backbone: {} parameters from epoch {} written to {}",
            done.params,
            done.epoch,
            out.display()
        );
    }
    outln!(
        "\n{:<36} {:>10} {:>9} {:>9} {:>10}",
        "run",
        "best epoch",
        "val acc",
        "val loss",
        "train acc"
    );
    for (run, history) in &rows {
        let Some(best) = history
            .iter()
            .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))
        else {
            continue;
        };
        let last = history.last().map_or(0.0, |m| m.train_acc);
        outln!(
            "{:<36} {:>10} {:>8.1}% {:>9.3} {:>9.1}%",
            run.label(),
            best.epoch,
            best.val_acc * 100.0,
            best.val_loss,
            last * 100.0
        );
    }
    Ok(())
}

/// Writes a run's weights as a backbone file.
pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let done = crate::experiment::backbone::export(&args.dir, &args.out, args.last)
        .map_err(anyhow::Error::msg)?;
    outln!(
        "Wrote {} ({} parameters, epoch {}) to {}",
        done.model,
        done.params,
        done.epoch,
        args.out.display()
    );
    Ok(())
}

/// Classifies one image and prints the most probable classes.
pub fn predict(args: &PredictArgs) -> anyhow::Result<()> {
    let image = preprocess::open(&args.image)?;
    let info = args.weights.as_deref().map(weights::inspect).transpose()?;
    let (prepared, class_names): (Prepared, Vec<String>) = match args.preprocess {
        PreprocessArg::Imagenet => (preprocess::imagenet(&image)?, Vec::new()),
        PreprocessArg::Dataset => {
            let config = ExperimentConfig::default();
            let (data, split) = crate::data::prepare(&config.dataset, config.seed)?;
            let prepared = preprocess::dataset(
                &image,
                data.channels,
                data.height,
                data.width,
                &split.norm.mean,
                &split.norm.std,
            )?;
            (prepared, data.class_names.clone())
        }
    };
    let classes = args
        .classes
        .or_else(|| info.as_ref().and_then(|i| i.classes))
        .unwrap_or(10);
    let [channels, height, width] = prepared.shape;
    let mut model = args.model.config();
    if let Some(saved) = info.as_ref().and_then(|i| i.model.clone())
        && saved.short_name() == model.short_name()
    {
        model = saved;
    }
    let transfer = TransferConfig {
        weights: args.weights.clone(),
        backbone_channels: info.as_ref().and_then(|i| i.input_channels),
        replace_head: false,
        ..TransferConfig::default()
    };
    let input = InputShape {
        channels,
        height,
        width,
        classes,
    };
    let device = burn::prelude::Device::flex();
    let built = transfer.build(&model, input, &device, 0)?;
    let logits = built
        .logits(prepared.values, prepared.shape, &device)
        .map_err(anyhow::Error::msg)?;
    let probs = preprocess::softmax(&logits);
    let top = preprocess::top_k(&probs, args.top.max(1));
    if args.json {
        let json = serde_json::json!({
            "logits": logits,
            "top": top
                .iter()
                .map(|&(class, prob)| serde_json::json!({"class": class, "prob": prob}))
                .collect::<Vec<_>>(),
        });
        outln!("{json}");
        return Ok(());
    }
    if logits.is_empty() {
        bail!("the model gave no outputs");
    }
    for (class, prob) in top {
        let name = class_names
            .get(class)
            .map(|n| format!("  {n}"))
            .unwrap_or_default();
        outln!("{class:>5}  {:6.2}%{name}", prob * 100.0);
    }
    Ok(())
}
