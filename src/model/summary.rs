//! A model's size at a glance: parameters (trainable and frozen), multiply-adds per sample,
//! memory for a batch, and how its capacity compares with the training data. Computed from the
//! configuration alone, so the Model panel can show it every frame.

use super::{InputShape, LayerInfo, ModelConfig, ModelError, TransferConfig};

/// Bytes per value (f32).
const BYTES: u64 = 4;

/// The size of a model for a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSummary {
    /// The data's shape.
    pub data: InputShape,
    /// What the network is built for (after repeating channels and resizing).
    pub network: InputShape,
    /// How the data is adapted, in words (empty when it is used as it is).
    pub adaptation: Vec<String>,
    /// The layer table.
    pub layers: Vec<LayerInfo>,
    /// The freezing units, input to classifier.
    pub blocks: Vec<String>,
    /// How many of the first blocks are frozen.
    pub frozen_blocks: usize,
}

impl ModelSummary {
    /// The summary of `model` with `transfer`'s settings on data of shape `data`.
    pub fn new(
        model: &ModelConfig,
        transfer: &TransferConfig,
        data: InputShape,
    ) -> Result<Self, ModelError> {
        let adaptation = transfer.adaptation(model, data)?;
        let layers = model.layers(adaptation.network)?;
        let blocks = model.blocks();
        let frozen_blocks = transfer
            .freeze
            .frozen_blocks(blocks.len().saturating_sub(1));
        let mut notes = Vec::new();
        if adaptation.repeat_channels > 1 {
            notes.push(format!(
                "gray channel repeated into {} channels",
                adaptation.repeat_channels
            ));
        }
        if adaptation.sum_first_conv {
            notes.push("first convolution's weights summed over the file's channels".into());
        }
        if let Some([h, w]) = adaptation.resize {
            notes.push(format!(
                "images resized from {}×{} to {h}×{w} (bilinear)",
                data.height, data.width
            ));
        }
        Ok(Self {
            data,
            network: adaptation.network,
            adaptation: notes,
            layers,
            blocks,
            frozen_blocks,
        })
    }

    /// All parameters (PyTorch's count).
    pub fn params(&self) -> usize {
        self.layers.iter().map(|l| l.params).sum()
    }

    /// Parameters of frozen blocks.
    pub fn frozen_params(&self) -> usize {
        self.layers
            .iter()
            .filter(|l| self.is_frozen(l))
            .map(|l| l.params)
            .sum()
    }

    /// Parameters that training changes.
    pub fn trainable_params(&self) -> usize {
        self.params() - self.frozen_params()
    }

    /// Whether a row belongs to a frozen block.
    pub fn is_frozen(&self, layer: &LayerInfo) -> bool {
        layer.block < self.frozen_blocks
    }

    /// Multiply-adds per sample of the forward pass.
    pub fn macs(&self) -> u64 {
        self.layers.iter().map(|l| l.macs).sum()
    }

    /// Values per sample kept for the backward pass (the network's input and every layer's
    /// intermediate results).
    pub fn activations_per_sample(&self) -> u64 {
        let n = self.network;
        (n.channels * n.height * n.width) as u64
            + self.layers.iter().map(|l| l.activations).sum::<u64>()
    }

    /// Estimated memory for training with `batch_size`, in bytes: activations kept for the
    /// backward pass, plus weights, gradients and two optimizer moments (Adam) per trainable
    /// parameter.
    pub fn training_bytes(&self, batch_size: usize) -> (u64, u64) {
        let activations = self.activations_per_sample() * batch_size as u64 * BYTES;
        let params = self.params() as u64 * BYTES + 3 * self.trainable_params() as u64 * BYTES;
        (activations, params)
    }

    /// Why training with `batch_size` cannot fit into `available` bytes of memory, if it
    /// cannot: the estimate of [`Self::training_bytes`] is a lower bound of what training takes.
    pub fn memory_refusal(&self, batch_size: usize, available: u64) -> Option<String> {
        let (activations, params) = self.training_bytes(batch_size);
        let need = activations.saturating_add(params);
        (need > available).then(|| {
            format!(
                "this model needs at least {} to train with batches of {batch_size} ({} of \
                 activations, {} of weights, gradients and optimizer state), more than the {} of \
                 memory available: choose a smaller batch size, input size or model",
                bytes(need),
                bytes(activations),
                bytes(params),
                bytes(available)
            )
        })
    }

    /// A sentence comparing trainable parameters with the number of training images.
    pub fn capacity_note(&self, train_samples: usize) -> String {
        let per_sample = self.trainable_params() as f64 / train_samples.max(1) as f64;
        let cue = if per_sample >= 10.0 {
            "easily enough capacity to memorise every training image"
        } else if per_sample >= 1.0 {
            "enough capacity to memorise much of the training set: watch the validation curve"
        } else {
            "little room to memorise"
        };
        format!("≈ {per_sample:.1} trainable parameters per training image: {cue}")
    }
}

/// Memory the system can still give, in bytes (Linux's `MemAvailable`), if known.
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = text.lines().find_map(|line| {
        line.strip_prefix("MemAvailable:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse::<u64>()
            .ok()
    })?;
    Some(kib.saturating_mul(1024))
}

/// `31530` → `31,530`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1_818_558_976` → `1.82 G`.
pub fn si(n: f64) -> String {
    let (value, unit) = if n >= 1e9 {
        (n / 1e9, "G")
    } else if n >= 1e6 {
        (n / 1e6, "M")
    } else if n >= 1e3 {
        (n / 1e3, "k")
    } else {
        (n, "")
    };
    format!("{value:.3} {unit}")
        .trim_end_matches(' ')
        .to_owned()
}

/// Bytes in binary units: `3_145_728` → `3.0 MiB`.
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} GiB", n / (1024.0 * 1024.0 * 1024.0))
    } else if n >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", n / (1024.0 * 1024.0))
    } else {
        format!("{:.1} KiB", n / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelConfig, TransferConfig};

    #[test]
    fn memory_refusal_compares_the_estimate_with_what_is_available() {
        let input = InputShape {
            channels: 1,
            height: 28,
            width: 28,
            classes: 10,
        };
        let summary =
            ModelSummary::new(&ModelConfig::default(), &TransferConfig::default(), input).unwrap();
        let (activations, params) = summary.training_bytes(64);
        let need = activations + params;
        assert!(summary.memory_refusal(64, need).is_none());
        let refusal = summary.memory_refusal(64, need - 1).unwrap();
        assert!(refusal.contains("batches of 64"), "{refusal}");
        assert!(
            available_memory().is_none_or(|bytes| bytes > 1 << 20),
            "a machine running tests has more than a MiB free"
        );
    }
}
