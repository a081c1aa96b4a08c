//! Optimizer choice, built on burn-optim's implementations.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};
use serde::{Deserialize, Serialize};

use crate::error::UnknownName;

/// Which optimizer updates the weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OptimizerConfig {
    /// Stochastic gradient descent, optionally with (Nesterov) momentum.
    Sgd {
        /// Momentum factor (0 = plain SGD).
        momentum: f64,
        /// Nesterov's look-ahead momentum.
        nesterov: bool,
    },
    /// Adam.
    #[default]
    Adam,
    /// Adam with decoupled weight decay.
    AdamW,
    /// RMSprop.
    RmsProp {
        /// Momentum factor.
        momentum: f64,
    },
}

/// Gradient clipping.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum GradClip {
    /// Rescale each parameter's gradient so its L2 norm is at most `max`.
    Norm {
        /// Largest norm.
        max: f32,
    },
    /// Clamp every gradient element to `[-max, max]`.
    Value {
        /// Largest magnitude.
        max: f32,
    },
}

impl OptimizerConfig {
    /// The names used on the command line.
    pub const NAMES: [&'static str; 4] = ["sgd", "adam", "adamw", "rmsprop"];

    /// The optimizer called `name` on the command line, with `momentum` where it takes one.
    pub fn from_name(name: &str, momentum: f64) -> Result<Self, UnknownName> {
        Ok(match name {
            "sgd" => Self::Sgd {
                momentum,
                nesterov: false,
            },
            "adam" => Self::Adam,
            "adamw" => Self::AdamW,
            "rmsprop" => Self::RmsProp { momentum },
            _ => {
                return Err(UnknownName {
                    kind: "optimizer",
                    name: name.to_owned(),
                    known: Self::NAMES.to_vec(),
                });
            }
        })
    }

    /// The command-line name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sgd { .. } => "sgd",
            Self::Adam => "adam",
            Self::AdamW => "adamw",
            Self::RmsProp { .. } => "rmsprop",
        }
    }

    /// Builds the burn-optim optimizer.
    pub fn init(&self, weight_decay: f64, clip: Option<GradClip>) -> ModuleOptimizer {
        let clip = clip.map(|c| match c {
            GradClip::Norm { max } => GradientClippingConfig::Norm(max),
            GradClip::Value { max } => GradientClippingConfig::Value(max),
        });
        let decay = (weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay as f32));
        match *self {
            Self::Sgd { momentum, nesterov } => SgdConfig::new()
                .with_momentum((momentum > 0.0).then(|| {
                    MomentumConfig::new()
                        .with_momentum(momentum)
                        .with_dampening(0.0)
                        .with_nesterov(nesterov)
                }))
                .with_weight_decay(decay)
                .with_gradient_clipping(clip)
                .init(),
            Self::Adam => AdamConfig::new()
                .with_weight_decay(decay)
                .with_grad_clipping(clip)
                .init(),
            Self::AdamW => AdamWConfig::new()
                .with_weight_decay(weight_decay as f32)
                .with_grad_clipping(clip)
                .init(),
            Self::RmsProp { momentum } => RmsPropConfig::new()
                .with_momentum(momentum as f32)
                .with_weight_decay(decay)
                .with_grad_clipping(clip)
                .init(),
        }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            Self::Sgd { momentum, .. } | Self::RmsProp { momentum }
                if !(0.0..1.0).contains(&momentum) =>
            {
                Err(format!("momentum must be in [0, 1), found {momentum}"))
            }
            _ => Ok(()),
        }
    }
}
