//! Built-in lessons: pairs of runs that differ in one thing, to be overlaid in the Runs panel.
//!
//! - **Capacity**: the seed's SimpleCNN against ResNet-18 (355 times the parameters) on 30
//!   images per class, validated on the 1,000 test images: the big model memorises its few
//!   training images at once, and validation shows what that buys.
//! - **Transfer**: a CNN pretrained here on Fashion-MNIST classes 0–4 (T-shirt to Coat),
//!   fine-tuned on classes 5–9 (Sandal to Ankle boot) with only 10 images per class, against
//!   the same CNN trained from scratch on the same 50 images.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ExperimentConfig;
use crate::data::{TrainSize, Validation};
use crate::model::cnn::Pooling;
use crate::model::{CnnConfig, Freeze, ModelConfig, ResNet18Config, TransferConfig};

/// The backbone of the transfer lesson, pretrained with `cnn-workbench lesson pretrain` (see
/// the README for the exact command).
pub const TRANSFER_BACKBONE: &[u8] = include_bytes!("../../assets/transfer-backbone.safetensors");

/// File name the backbone is written to before a run loads it.
pub const TRANSFER_BACKBONE_FILE: &str = "transfer-backbone.safetensors";

/// One run of a lesson.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LessonRun {
    /// Capacity lesson: SimpleCNN on 30 images per class.
    CapacitySmall,
    /// Capacity lesson: ResNet-18 on the same images.
    CapacityResNet,
    /// Transfer lesson, step 0: pretrain the CNN on classes 0–4 (makes the backbone).
    TransferPretrain,
    /// Transfer lesson: fine-tune the pretrained CNN on 10 images of each of classes 5–9.
    TransferFineTune,
    /// Transfer lesson: the same CNN from scratch on the same 50 images.
    TransferScratch,
}

impl LessonRun {
    /// Every run, in the order the lessons use them.
    pub const ALL: [Self; 5] = [
        Self::CapacitySmall,
        Self::CapacityResNet,
        Self::TransferPretrain,
        Self::TransferFineTune,
        Self::TransferScratch,
    ];

    /// Name for buttons and run directories.
    pub fn label(self) -> &'static str {
        match self {
            Self::CapacitySmall => "capacity: SimpleCNN",
            Self::CapacityResNet => "capacity: ResNet-18",
            Self::TransferPretrain => "transfer: pretrain on classes 0–4",
            Self::TransferFineTune => "transfer: fine-tune on 5–9",
            Self::TransferScratch => "transfer: from scratch on 5–9",
        }
    }

    /// Short name for directories.
    pub fn slug(self) -> &'static str {
        match self {
            Self::CapacitySmall => "capacity-simple-cnn",
            Self::CapacityResNet => "capacity-resnet18",
            Self::TransferPretrain => "transfer-pretrain",
            Self::TransferFineTune => "transfer-finetune",
            Self::TransferScratch => "transfer-scratch",
        }
    }

    /// The run's configuration. `backbone` is where the transfer backbone file lies (see
    /// [`write_backbone`]); only the fine-tuning run uses it.
    pub fn config(self, backbone: &Path) -> ExperimentConfig {
        let mut config = ExperimentConfig {
            seed: 1,
            ..ExperimentConfig::default()
        };
        match self {
            Self::CapacitySmall | Self::CapacityResNet => {
                config.dataset.train_size = TrainSize::PerClass { count: 30 };
                config.dataset.validation = Validation::SourceTest;
                config.train.epochs = 20;
                config.train.batch_size = 32;
                if self == Self::CapacityResNet {
                    config.model = ModelConfig::ResNet18(ResNet18Config::default());
                }
            }
            Self::TransferPretrain | Self::TransferFineTune | Self::TransferScratch => {
                config.model = ModelConfig::Cnn(transfer_cnn());
                if self == Self::TransferPretrain {
                    config.dataset.classes = Some(vec![0, 1, 2, 3, 4]);
                    config.train.epochs = 8;
                } else {
                    config.dataset.classes = Some(vec![5, 6, 7, 8, 9]);
                    config.dataset.train_size = TrainSize::PerClass { count: 10 };
                    config.dataset.validation = Validation::SourceTest;
                    config.train.epochs = 30;
                    config.train.batch_size = 10;
                }
                if self == Self::TransferFineTune {
                    config.transfer = TransferConfig {
                        weights: Some(backbone.to_owned()),
                        freeze: Freeze::AllButLast { blocks: 1 },
                        ..TransferConfig::default()
                    };
                }
            }
        }
        config
    }
}

/// The transfer lesson's CNN: two conv blocks (32, 64 channels, BatchNorm, max-pooling) and a
/// hidden layer of 64; 220,005 parameters for 5 classes, small enough to ship pretrained.
pub fn transfer_cnn() -> CnnConfig {
    CnnConfig {
        channels: vec![32, 64],
        kernel_size: 3,
        batch_norm: true,
        pooling: Pooling::Max,
        pool_every: 1,
        global_pool: false,
        hidden: 64,
        dropout: 0.0,
    }
}

/// The synthetic-data lesson's GAN run (trained on the lesson's 200 images with the command in
/// the README): the files `gan sample` and `train --synthetic` read, written into a folder of
/// this name before first use.
pub const LESSON_GAN: [(&str, &[u8]); 4] = [
    (
        "config.toml",
        include_bytes!("../../assets/lesson-gan/config.toml"),
    ),
    (
        "run.json",
        include_bytes!("../../assets/lesson-gan/run.json"),
    ),
    (
        "checkpoint.json",
        include_bytes!("../../assets/lesson-gan/checkpoint.json"),
    ),
    (
        "generator.bpk",
        include_bytes!("../../assets/lesson-gan/generator.bpk"),
    ),
];

/// The name of the folder the lesson's GAN run is written to.
pub const LESSON_GAN_DIR: &str = "lesson-synthetic-gan";

/// Where the synthetic-data lesson's GAN run lives: beside the window's runs.
pub fn lesson_gan_dir() -> PathBuf {
    super::record::default_runs_root()
        .join("lesson-files")
        .join(LESSON_GAN_DIR)
}

/// Writes the shipped lesson GAN run into `dir` when `dir` is a folder of that name and its
/// files are missing or differ; other folders are left alone.
pub fn write_lesson_gan(dir: &Path) -> Result<(), super::record::RecordError> {
    if dir.file_name().and_then(|n| n.to_str()) != Some(LESSON_GAN_DIR) {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| super::record::RecordError::new(dir, e))?;
    for (name, bytes) in LESSON_GAN {
        let path = dir.join(name);
        if std::fs::read(&path).ok().as_deref() != Some(bytes) {
            super::record::write_atomic(&path, bytes)?;
        }
    }
    Ok(())
}

/// Writes the shipped transfer backbone into `dir` (unless it is there already) and returns
/// its path.
pub fn write_backbone(dir: &Path) -> Result<PathBuf, super::record::RecordError> {
    let path = dir.join(TRANSFER_BACKBONE_FILE);
    let current = std::fs::read(&path).ok();
    if current.as_deref() != Some(TRANSFER_BACKBONE) {
        std::fs::create_dir_all(dir).map_err(|e| super::record::RecordError::new(dir, e))?;
        super::record::write_atomic(&path, TRANSFER_BACKBONE)?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InputShape, weights};
    use burn::prelude::Device;

    #[test]
    fn the_shipped_backbone_fits_the_fine_tuning_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_backbone(dir.path()).unwrap();
        let config = LessonRun::TransferFineTune.config(&path);
        assert_eq!(
            weights::read_model_config(&path),
            Some(config.model.clone())
        );
        let input = InputShape {
            channels: 1,
            height: 28,
            width: 28,
            classes: 5,
        };
        let model = config
            .transfer
            .build(&config.model, input, &Device::flex(), 1)
            .unwrap();
        assert_eq!(model.param_count(), 220_005);
        let scratch = LessonRun::TransferScratch.config(&path);
        assert_eq!(scratch.transfer, TransferConfig::default());
        assert_eq!(
            (scratch.model, scratch.dataset),
            (config.model, config.dataset),
            "the two runs differ only in their start"
        );
    }
}
