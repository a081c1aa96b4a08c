//! Learning-rate schedules: the learning rate of every optimizer step, as a pure function.

use serde::{Deserialize, Serialize};

use crate::error::UnknownName;

/// How the learning rate changes over a run. `lr` in [`super::TrainConfig`] is the base (peak)
/// learning rate; a schedule scales it per step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    /// The same learning rate throughout.
    #[default]
    Constant,
    /// Multiply by `gamma` every `every_epochs` epochs.
    Step {
        /// Epochs between two drops.
        every_epochs: usize,
        /// Factor applied at each drop.
        gamma: f64,
    },
    /// Multiply by `gamma` after every epoch (smoothly, per step).
    Exponential {
        /// Factor per epoch.
        gamma: f64,
    },
    /// Linear warm-up from 0 to the base rate, then a cosine decay down to `min_fraction` of it.
    Cosine {
        /// Epochs of linear warm-up.
        warmup_epochs: usize,
        /// Final learning rate as a fraction of the base rate.
        min_fraction: f64,
    },
    /// One cycle: cosine warm-up from `base / div_factor` to the base rate over `pct_start` of
    /// the run, then cosine annealing to `base / (div_factor · final_div_factor)`.
    OneCycle {
        /// Fraction of the run spent warming up.
        pct_start: f64,
        /// Initial rate is `base / div_factor`.
        div_factor: f64,
        /// Final rate is the initial rate divided by this.
        final_div_factor: f64,
    },
}

impl Schedule {
    /// The names used on the command line.
    pub const NAMES: [&'static str; 5] = ["constant", "step", "exp", "cosine", "onecycle"];

    /// The schedule called `name` on the command line, with its usual parameters.
    pub fn from_name(name: &str) -> Result<Self, UnknownName> {
        Ok(match name {
            "constant" => Self::Constant,
            "step" => Self::Step {
                every_epochs: 10,
                gamma: 0.1,
            },
            "exp" => Self::Exponential { gamma: 0.9 },
            "cosine" => Self::Cosine {
                warmup_epochs: 1,
                min_fraction: 0.0,
            },
            "onecycle" => Self::OneCycle {
                pct_start: 0.3,
                div_factor: 25.0,
                final_div_factor: 1e4,
            },
            _ => {
                return Err(UnknownName {
                    kind: "schedule",
                    name: name.to_owned(),
                    known: Self::NAMES.to_vec(),
                });
            }
        })
    }

    /// The command-line name of this schedule.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Constant => "constant",
            Self::Step { .. } => "step",
            Self::Exponential { .. } => "exp",
            Self::Cosine { .. } => "cosine",
            Self::OneCycle { .. } => "onecycle",
        }
    }

    /// Learning rate for 0-based optimizer step `step` of a run of `total_steps` steps with
    /// `steps_per_epoch` steps per epoch.
    pub fn lr_at(
        &self,
        base_lr: f64,
        step: usize,
        steps_per_epoch: usize,
        total_steps: usize,
    ) -> f64 {
        let per_epoch = steps_per_epoch.max(1) as f64;
        let total = total_steps.max(1) as f64;
        let t = step as f64;
        match *self {
            Self::Constant => base_lr,
            Self::Step {
                every_epochs,
                gamma,
            } => {
                let drops = (step / steps_per_epoch.max(1)) / every_epochs.max(1);
                base_lr * gamma.powi(i32::try_from(drops).unwrap_or(i32::MAX))
            }
            Self::Exponential { gamma } => base_lr * gamma.powf(t / per_epoch),
            Self::Cosine {
                warmup_epochs,
                min_fraction,
            } => {
                let warmup = warmup_epochs as f64 * per_epoch;
                if t < warmup {
                    return base_lr * (t + 1.0) / warmup;
                }
                let span = (total - warmup).max(1.0);
                let progress = ((t - warmup) / span).clamp(0.0, 1.0);
                let min_lr = base_lr * min_fraction;
                min_lr + (base_lr - min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
            }
            Self::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
            } => {
                let initial = base_lr / div_factor;
                let last = initial / final_div_factor;
                let peak_step = (pct_start * total).max(1.0);
                let cos_between = |from: f64, to: f64, p: f64| {
                    to + (from - to)
                        * 0.5
                        * (1.0 + (std::f64::consts::PI * p.clamp(0.0, 1.0)).cos())
                };
                if t < peak_step {
                    cos_between(initial, base_lr, t / peak_step)
                } else {
                    cos_between(
                        base_lr,
                        last,
                        (t - peak_step) / (total - peak_step).max(1.0),
                    )
                }
            }
        }
    }

    /// Checks the parameters, naming the first one out of range.
    pub fn validate(&self) -> Result<(), String> {
        let ok = match *self {
            Self::Constant => true,
            Self::Step {
                every_epochs,
                gamma,
            } => every_epochs >= 1 && gamma > 0.0 && gamma <= 1.0,
            Self::Exponential { gamma } => gamma > 0.0 && gamma <= 1.0,
            Self::Cosine { min_fraction, .. } => (0.0..=1.0).contains(&min_fraction),
            Self::OneCycle {
                pct_start,
                div_factor,
                final_div_factor,
            } => pct_start > 0.0 && pct_start < 1.0 && div_factor >= 1.0 && final_div_factor >= 1.0,
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "the {} schedule's parameters are out of range: {self:?}",
                self.name()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn constant_and_step_follow_their_formulas() {
        assert_eq!(Schedule::Constant.lr_at(0.1, 999, 10, 1000), 0.1);
        let step = Schedule::Step {
            every_epochs: 3,
            gamma: 0.5,
        };
        // 10 steps per epoch: epochs 0-2 at 0.1, 3-5 at 0.05, 6-8 at 0.025.
        assert!(close(step.lr_at(0.1, 29, 10, 100), 0.1));
        assert!(close(step.lr_at(0.1, 30, 10, 100), 0.05));
        assert!(close(step.lr_at(0.1, 65, 10, 100), 0.025));
    }

    #[test]
    fn exponential_is_gamma_per_epoch() {
        let exp = Schedule::Exponential { gamma: 0.9 };
        assert!(close(exp.lr_at(1.0, 0, 10, 100), 1.0));
        assert!(close(exp.lr_at(1.0, 20, 10, 100), 0.81));
        assert!(close(exp.lr_at(1.0, 5, 10, 100), 0.9f64.powf(0.5)));
    }

    #[test]
    fn cosine_warms_up_then_decays_to_the_floor() {
        let cos = Schedule::Cosine {
            warmup_epochs: 1,
            min_fraction: 0.1,
        };
        // Warm-up over 10 steps: step k gives (k+1)/10 of the base.
        assert!(close(cos.lr_at(1.0, 0, 10, 110), 0.1));
        assert!(close(cos.lr_at(1.0, 9, 10, 110), 1.0));
        assert!(close(cos.lr_at(1.0, 10, 10, 110), 1.0));
        // Half-way through the decay: (1 + 0.1) / 2.
        assert!(close(cos.lr_at(1.0, 60, 10, 110), 0.55));
        assert!(close(cos.lr_at(1.0, 110, 10, 110), 0.1));
    }

    #[test]
    fn one_cycle_rises_to_the_peak_then_anneals() {
        let one = Schedule::from_name("onecycle").unwrap();
        assert!(close(one.lr_at(1.0, 0, 10, 100), 1.0 / 25.0));
        assert!(close(one.lr_at(1.0, 30, 10, 100), 1.0));
        let end = one.lr_at(1.0, 100, 10, 100);
        assert!(close(end, 1.0 / 25.0 / 1e4), "{end}");
        assert!(one.lr_at(1.0, 15, 10, 100) < 1.0 && one.lr_at(1.0, 15, 10, 100) > 0.04);
    }

    #[test]
    fn names_round_trip_and_bad_parameters_are_named() {
        for name in Schedule::NAMES {
            assert_eq!(Schedule::from_name(name).unwrap().name(), name);
        }
        assert!(
            Schedule::from_name("linear")
                .unwrap_err()
                .to_string()
                .contains("known: constant, step")
        );
        let bad = Schedule::Step {
            every_epochs: 0,
            gamma: 0.5,
        };
        assert!(bad.validate().unwrap_err().contains("step"));
    }
}
