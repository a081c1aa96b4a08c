//! What a run measures and how it ends: one row of `metrics.csv` per epoch, the run's status,
//! changes made while paused and the weights restored at the end. Plain values shared by the
//! engine that produces them, the records that store them and the views that draw them.

use serde::{Deserialize, Serialize};

/// How a run ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunStatus {
    /// Still training.
    Running,
    /// All epochs done.
    Completed,
    /// Stopped by the user (or a signal) before the last epoch.
    Stopped,
    /// Early stopping ended it; the best weights were restored.
    EarlyStopped,
    /// The loss became NaN/infinite or exploded; the best checkpoint is intact.
    Diverged,
    /// An error ended it; the message says which.
    Failed,
}

impl RunStatus {
    /// Whether "+N epochs" can continue a run that ended this way.
    pub fn can_continue(self) -> bool {
        matches!(self, Self::Completed | Self::Stopped | Self::EarlyStopped)
    }

    /// The word used in `run.json`, the CLI and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Stopped => "stopped",
            Self::EarlyStopped => "early-stopped",
            Self::Diverged => "diverged",
            Self::Failed => "failed",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything measured in one epoch; one row of `metrics.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches (weighted by batch size).
    pub train_loss: f64,
    /// Mean validation loss at the end of the epoch.
    pub val_loss: f64,
    /// Training accuracy over the epoch, measured as the batches went by.
    pub train_acc: f64,
    /// Validation accuracy at the end of the epoch.
    pub val_acc: f64,
    /// Learning rate used in the epoch.
    pub lr: f64,
    /// Seconds spent training in the epoch.
    pub train_secs: f64,
    /// Seconds spent evaluating the validation set.
    pub val_secs: f64,
}

/// A change made to a run while it was paused, recorded in `run.json` and marked on the plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigChange {
    /// Where on the epoch axis it took effect (epochs done plus the fraction of the current one).
    pub at_epoch: f64,
    /// What changed, e.g. "lr 0.001 → 0.0001".
    pub description: String,
}

/// The best weights put back into the model when a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Restored {
    /// The epoch they come from (1-based).
    pub epoch: usize,
    /// The validation loss recorded at that epoch.
    pub best_val_loss: f64,
    /// The validation loss of the restored model, measured again after restoring.
    pub val_loss: f64,
}
