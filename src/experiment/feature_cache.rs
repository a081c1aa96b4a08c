//! When a run may train its classifier on cached backbone features, and the record of whether
//! it did.
//!
//! A backbone that is frozen as a whole (only the classifier trains) gives an image the same
//! features every epoch, provided nothing random happens before it: no augmentation (or a fixed
//! set of augmented views, `cache_views`), no mixup or cutmix. Its BatchNorm layers use their
//! running statistics (Burn's `freeze` turns a layer's training behaviour off), so an image's
//! features do not depend on the other images of its batch either. Such a run computes each
//! image's features once, while its first epoch trains, and trains the classifier on them from
//! then on; the metrics are the same, bit for bit, as recomputing them every step.
//!
//! [`plan`] decides from the configuration alone (the Model panel shows its [`CachePlan::line`]);
//! the engine then checks the cache's size against a memory budget and records the outcome in
//! `run.json` as a [`FeatureCacheRecord`].

use serde::{Deserialize, Serialize};

use super::ExperimentConfig;
use crate::augment::Op;
use crate::model::CacheFeatures;
use crate::model::transfer::MAX_CACHE_VIEWS;

/// What the configuration allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CachePlan {
    /// The backbone's features are cached: `views` augmented views per training image (0: the
    /// images as they are).
    Cached {
        /// Augmented views per training image (0: none, the images as they are).
        views: usize,
    },
    /// Every step runs the backbone, for this reason (a phrase such as "augmentation is on").
    Recomputed(String),
}

impl CachePlan {
    /// Whether features are cached.
    pub fn is_cached(&self) -> bool {
        matches!(self, Self::Cached { .. })
    }

    /// One line for the Model panel.
    pub fn line(&self) -> String {
        match self {
            Self::Cached { views: 0 } => "Backbone features: computed once per image in the first \
                                          epoch, then only the classifier runs"
                .to_owned(),
            Self::Cached { views } => format!(
                "Backbone features: {views} augmented views per training image computed once, \
                 one picked per image each epoch"
            ),
            Self::Recomputed(reason) => {
                format!("Backbone features: recomputed every step ({reason})")
            }
        }
    }
}

/// Whether `config` lets a run cache its backbone's features, or why not.
pub fn plan(config: &ExperimentConfig) -> CachePlan {
    let transfer = &config.transfer;
    if transfer.cache_features == CacheFeatures::Off {
        return CachePlan::Recomputed("feature caching is off".to_owned());
    }
    let model = &config.model;
    if !matches!(
        model,
        crate::model::ModelConfig::ResNet18(_)
            | crate::model::ModelConfig::ResNet34(_)
            | crate::model::ModelConfig::ResNet50(_)
            | crate::model::ModelConfig::ResNetSmall(_)
    ) {
        return CachePlan::Recomputed(format!(
            "only the ResNets' backbones are cached, not {}",
            model.label()
        ));
    }
    let backbone_blocks = model.blocks().len().saturating_sub(1);
    if transfer.frozen_blocks(model) < backbone_blocks {
        return CachePlan::Recomputed("the backbone is not frozen".to_owned());
    }
    if config.crop.is_active() {
        return CachePlan::Recomputed(
            "inputs are cut from the images (crops or tiles), not whole images".to_owned(),
        );
    }
    let augment = &config.augment;
    if augment.is_active(Op::Mixup) || augment.is_active(Op::Cutmix) {
        return CachePlan::Recomputed(
            "mixup or cutmix mixes images before the backbone".to_owned(),
        );
    }
    if transfer.cache_views > MAX_CACHE_VIEWS {
        return CachePlan::Recomputed(format!("at most {MAX_CACHE_VIEWS} cached views per image"));
    }
    if augment.is_identity() {
        return CachePlan::Cached { views: 0 };
    }
    if transfer.cache_views == 0 {
        return CachePlan::Recomputed(
            "augmentation is on; cache_views caches a fixed number of augmented views".to_owned(),
        );
    }
    CachePlan::Cached {
        views: transfer.cache_views,
    }
}

/// Whether a run's backbone features were cached, as `run.json` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureCacheRecord {
    /// Whether they were.
    pub cached: bool,
    /// Augmented views per training image (0: the images as they are).
    #[serde(default)]
    pub views: usize,
    /// Bytes the cache holds (training and validation features).
    #[serde(default)]
    pub bytes: u64,
    /// Why not, when they were not.
    #[serde(default)]
    pub reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::Preset;
    use crate::model::{Freeze, ModelConfig, ResNet18Config};

    fn frozen_resnet() -> ExperimentConfig {
        let mut config = ExperimentConfig {
            model: ModelConfig::ResNet18(ResNet18Config { width: 4 }),
            ..ExperimentConfig::default()
        };
        config.transfer.freeze = Freeze::Backbone;
        config
    }

    #[test]
    fn a_frozen_resnet_without_augmentation_is_cached() {
        let config = frozen_resnet();
        assert_eq!(plan(&config), CachePlan::Cached { views: 0 });
        assert!(plan(&config).line().contains("computed once"));
        let mut all_but_zero = config.clone();
        all_but_zero.transfer.freeze = Freeze::AllButLast { blocks: 0 };
        assert!(plan(&all_but_zero).is_cached());
    }

    #[test]
    fn each_reason_not_to_cache_is_named() {
        let reason = |config: &ExperimentConfig| match plan(config) {
            CachePlan::Recomputed(reason) => reason,
            CachePlan::Cached { .. } => panic!("cached"),
        };
        let mut off = frozen_resnet();
        off.transfer.cache_features = CacheFeatures::Off;
        assert!(reason(&off).contains("off"));
        let mut partial = frozen_resnet();
        partial.transfer.freeze = Freeze::AllButLast { blocks: 1 };
        assert!(reason(&partial).contains("not frozen"));
        let mut cnn = frozen_resnet();
        cnn.model = ModelConfig::default();
        assert!(reason(&cnn).contains("only the ResNets"));
        let mut augmented = frozen_resnet();
        augmented.augment = Preset::Seed2.config();
        augmented.augment.mixup.enabled = false;
        augmented.augment.cutmix.enabled = false;
        assert!(reason(&augmented).contains("augmentation is on"));
        augmented.transfer.cache_views = 4;
        assert_eq!(plan(&augmented), CachePlan::Cached { views: 4 });
        augmented.augment.mixup.enabled = true;
        augmented.augment.mixup.p = 0.5;
        assert!(reason(&augmented).contains("mixup"));
        assert!(plan(&augmented).line().contains("recomputed every step"));
    }
}
