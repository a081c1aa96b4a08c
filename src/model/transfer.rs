//! Transfer learning: start from pretrained weights, fit them to the data (new classifier,
//! grayscale into an RGB backbone, resized inputs), freeze part of the network and train the
//! backbone at a lower learning rate.

use std::path::PathBuf;

use burn::lr_scheduler::constant::ConstantLr;
use burn::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};
use burn::module::ParamGroup;
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::weights::{self, LoadOptions, WeightsError};
use super::{InputShape, Model, ModelConfig, ModelError};

/// How grayscale images meet a backbone trained on RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ChannelAdapt {
    /// Repeat the gray channel into every channel the backbone expects.
    #[default]
    Repeat,
    /// Sum the first convolution's weights over its input channels (the same result on gray
    /// images, a third of that layer's work).
    SumFirstConv,
}

/// Which parts of the network keep their weights while training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Freeze {
    /// Everything trains.
    #[default]
    Nothing,
    /// Only the classifier trains.
    Backbone,
    /// The last `blocks` blocks before the classifier train too.
    AllButLast {
        /// Trainable blocks before the classifier.
        blocks: usize,
    },
}

impl Freeze {
    /// How many of the first `backbone_blocks` blocks are frozen.
    pub fn frozen_blocks(self, backbone_blocks: usize) -> usize {
        match self {
            Self::Nothing => 0,
            Self::Backbone => backbone_blocks,
            Self::AllButLast { blocks } => backbone_blocks.saturating_sub(blocks),
        }
    }
}

/// Whether a fully frozen backbone's features are computed once and reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CacheFeatures {
    /// Cache them whenever the result is the same as recomputing them (see
    /// `experiment::feature_cache`).
    #[default]
    Auto,
    /// Run the backbone on every step.
    Off,
}

impl CacheFeatures {
    /// The name in configuration files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Off => "off",
        }
    }
}

impl std::str::FromStr for CacheFeatures {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            _ => Err(format!("expected auto or off, found {text}")),
        }
    }
}

/// Most augmented views per training image whose features may be cached.
pub const MAX_CACHE_VIEWS: usize = 64;

/// Pretrained weights and how they are fitted to the data. The default is training from
/// scratch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransferConfig {
    /// Weights to start from: safetensors, or a PyTorch `.pt`/`.pth` state dict.
    pub weights: Option<PathBuf>,
    /// Input channels of the backbone (`None`: the data's).
    pub backbone_channels: Option<usize>,
    /// How grayscale data meets an RGB backbone.
    pub channel_adapt: ChannelAdapt,
    /// Resize images to this square size before the network (`None`: as they are).
    pub resize: Option<usize>,
    /// A fresh classifier for the data's classes instead of the file's.
    pub replace_head: bool,
    /// Which blocks keep their weights.
    pub freeze: Freeze,
    /// The backbone's learning rate as a fraction of the classifier's (1: the same).
    pub backbone_lr_factor: f64,
    /// Whether a fully frozen backbone's features are computed once per image and reused.
    pub cache_features: CacheFeatures,
    /// With augmentation on, the augmented views per training image whose features are cached
    /// (0: none, so augmentation turns caching off); each epoch picks one view per image.
    pub cache_views: usize,
}

impl Default for TransferConfig {
    fn default() -> Self {
        Self {
            weights: None,
            backbone_channels: None,
            channel_adapt: ChannelAdapt::Repeat,
            resize: None,
            replace_head: true,
            freeze: Freeze::Nothing,
            backbone_lr_factor: 1.0,
            cache_features: CacheFeatures::Auto,
            cache_views: 0,
        }
    }
}

/// A model that could not be built: its shape, or its weights.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The architecture does not fit the data.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The weights could not be loaded.
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

/// How the data reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adaptation {
    /// What the network is built for.
    pub network: InputShape,
    /// Each data channel is repeated this many times.
    pub repeat_channels: usize,
    /// Images are resized to this size.
    pub resize: Option<[usize; 2]>,
    /// The first convolution's weights are summed over the file's channels.
    pub sum_first_conv: bool,
}

impl TransferConfig {
    /// Whether this differs from training from scratch on the data as it is.
    pub fn is_active(&self) -> bool {
        let defaults = Self::default();
        let without_cache = Self {
            cache_features: defaults.cache_features,
            cache_views: defaults.cache_views,
            ..self.clone()
        };
        without_cache != defaults
    }

    /// Checks the settings and works out how the data reaches the network.
    pub fn adaptation(
        &self,
        model: &ModelConfig,
        data: InputShape,
    ) -> Result<Adaptation, ModelError> {
        let name = model.label();
        let err = |message: String| ModelError::new(name, message);
        if !(self.backbone_lr_factor.is_finite()
            && self.backbone_lr_factor > 0.0
            && self.backbone_lr_factor <= 1.0)
        {
            return Err(err(format!(
                "the backbone's learning-rate factor must be in (0, 1], found {}",
                self.backbone_lr_factor
            )));
        }
        let wanted = self.backbone_channels.unwrap_or(data.channels);
        let mut adaptation = Adaptation {
            network: data,
            repeat_channels: 1,
            resize: None,
            sum_first_conv: false,
        };
        if wanted != data.channels {
            if data.channels != 1 || wanted == 0 || wanted > 16 {
                return Err(err(format!(
                    "the data has {} channels but the backbone expects {wanted}; only grayscale \
                     images can be adapted to another channel count",
                    data.channels
                )));
            }
            match self.channel_adapt {
                ChannelAdapt::Repeat => {
                    adaptation.repeat_channels = wanted;
                    adaptation.network.channels = wanted;
                }
                ChannelAdapt::SumFirstConv => adaptation.sum_first_conv = true,
            }
        }
        if self.cache_views > MAX_CACHE_VIEWS {
            return Err(err(format!(
                "at most {MAX_CACHE_VIEWS} cached views per image, found {}",
                self.cache_views
            )));
        }
        if let Some(size) = self.resize {
            if !(4..=1024).contains(&size) {
                return Err(err(format!(
                    "the input size must be between 4 and 1024 pixels, found {size}"
                )));
            }
            adaptation.resize = Some([size, size]);
            adaptation.network.height = size;
            adaptation.network.width = size;
        }
        Ok(adaptation)
    }

    /// Builds `model` for `data` on `device`: fresh weights drawn from `seed`, then the weights
    /// file (if any), the input adaptation and the freezing.
    pub fn build(
        &self,
        model: &ModelConfig,
        data: InputShape,
        device: &Device,
        seed: u64,
    ) -> Result<Model, BuildError> {
        let adaptation = match self.adaptation(model, data) {
            Ok(adaptation) => adaptation,
            // Weights of another architecture make their channel count meaningless: when the
            // file's names say so, that is the error, not the channels.
            Err(e) => {
                if let Err(BuildError::Weights(wrong)) = self.check_weights(model, data) {
                    return Err(wrong.into());
                }
                return Err(e.into());
            }
        };
        let built = model.init(adaptation.network, device, seed)?;
        let built = match &self.weights {
            Some(path) => {
                let options = LoadOptions {
                    replace_head: self.replace_head,
                    sum_input_channels: adaptation.sum_first_conv,
                };
                let net = weights::load_into(built.net().clone(), model.label(), path, options)?;
                built.with_net(net)
            }
            None => built,
        };
        Ok(built
            .with_input_adaptation(data, adaptation.repeat_channels, adaptation.resize)
            .freeze_first(self.frozen_blocks(model)))
    }

    /// Checks by tensor names alone, before any shape or channel count is reasoned about, that
    /// the weights file (if any) holds `model`'s architecture: a file of another one is refused
    /// with what it appears to hold ([`WeightsError::WrongArchitecture`]). Builds the network
    /// once on the CPU for `data` (resized as set, channels as they are) to learn its tensor
    /// names. [`Self::build`] makes this check itself; call it before [`Self::adaptation`] (or
    /// a [`super::ModelSummary`]) to have a wrong file named as such rather than its channels.
    pub fn check_weights(&self, model: &ModelConfig, data: InputShape) -> Result<(), BuildError> {
        let Some(path) = &self.weights else {
            return Ok(());
        };
        let mut shape = data;
        if let Some(size) = self.resize.filter(|s| (4..=1024).contains(s)) {
            shape.height = size;
            shape.width = size;
        }
        let probe = model.init(shape, &Device::flex(), 0)?;
        weights::check_architecture(probe.net(), model.label(), path, self.replace_head)?;
        Ok(())
    }

    /// How many of `model`'s first blocks are frozen.
    pub fn frozen_blocks(&self, model: &ModelConfig) -> usize {
        let backbone_blocks = model.blocks().len().saturating_sub(1);
        self.freeze.frozen_blocks(backbone_blocks)
    }

    /// The learning rates of one step: `lr` for the classifier, `lr · backbone_lr_factor` for
    /// everything else.
    pub fn learning_rate(&self, model: &Model, lr: f64) -> ModuleLearningRate {
        if self.backbone_lr_factor >= 1.0 {
            return lr.into();
        }
        ModuleLrScheduler::new(ConstantLr::new(lr * self.backbone_lr_factor))
            .with_group(
                ParamGroup::from_ids(model.head_param_ids()),
                ConstantLr::new(lr),
            )
            .step()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freezing_counts_blocks_from_the_input() {
        assert_eq!(Freeze::Nothing.frozen_blocks(5), 0);
        assert_eq!(Freeze::Backbone.frozen_blocks(5), 5);
        assert_eq!(Freeze::AllButLast { blocks: 2 }.frozen_blocks(5), 3);
        assert_eq!(Freeze::AllButLast { blocks: 9 }.frozen_blocks(5), 0);
    }

    #[test]
    fn grayscale_meets_an_rgb_backbone_either_way() {
        let data = InputShape {
            channels: 1,
            height: 28,
            width: 28,
            classes: 10,
        };
        let model = ModelConfig::ResNet18(super::super::ResNet18Config::default());
        let mut t = TransferConfig {
            backbone_channels: Some(3),
            resize: Some(64),
            ..TransferConfig::default()
        };
        let a = t.adaptation(&model, data).unwrap();
        assert_eq!((a.network.channels, a.repeat_channels), (3, 3));
        assert_eq!((a.network.height, a.network.width), (64, 64));
        t.channel_adapt = ChannelAdapt::SumFirstConv;
        let a = t.adaptation(&model, data).unwrap();
        assert_eq!(
            (a.network.channels, a.repeat_channels, a.sum_first_conv),
            (1, 1, true)
        );
        let rgb = InputShape {
            channels: 3,
            ..data
        };
        t.backbone_channels = Some(1);
        assert!(
            t.adaptation(&model, rgb)
                .unwrap_err()
                .to_string()
                .contains("grayscale")
        );
    }
}
