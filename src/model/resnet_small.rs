//! A CIFAR-style ResNet for 28–32 px images (He et al. 2016, section 4.2): a 3×3 stem without
//! max-pooling, three stages of basic blocks with 16, 32 and 64 channels (the last two halve the
//! size), global average pooling and the classifier. Three blocks per stage is ResNet-20.
//!
//! The shortcuts that change shape are 1×1 convolutions with BatchNorm (the paper's option B,
//! torchvision's `downsample`), and the modules and names are those of
//! [`super::resnet`], so weights saved from one run load into another.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::resnet::{BlockKind, Layout, ResNet, Stem};
use super::{InputShape, LayerInfo, ModelError};

/// Settings of ResNet-small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResNetSmallConfig {
    /// Basic blocks per stage (3: ResNet-20, 5: ResNet-32).
    pub blocks_per_stage: usize,
    /// Channels of the first stage (the next two double it).
    pub width: usize,
}

impl Default for ResNetSmallConfig {
    fn default() -> Self {
        Self {
            blocks_per_stage: 3,
            width: 16,
        }
    }
}

impl ResNetSmallConfig {
    fn layout(&self) -> Layout {
        let w = self.width;
        Layout {
            name: "ResNet-small",
            stem: Stem {
                conv: (3, 1, 1),
                max_pool: false,
            },
            block: BlockKind::Basic,
            widths: vec![w, 2 * w, 4 * w],
            depths: vec![self.blocks_per_stage; 3],
        }
    }

    /// Layer table for `input`.
    pub fn layers(&self, input: InputShape) -> Result<Vec<LayerInfo>, ModelError> {
        self.layout().layers(input)
    }

    /// Builds the model on `device` (call [`Self::layers`] first to validate `input`).
    pub fn init(&self, input: InputShape, device: &Device) -> ResNet {
        self.layout().init(input, device)
    }
}
