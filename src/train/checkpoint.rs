//! Weights and optimizer state on disk (burnpack), written atomically.

use std::path::Path;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

use crate::experiment::record::write_atomic;
use crate::model::Model;

/// File names inside a run directory.
pub const BEST: &str = "best.bpk";
/// Weights after the last finished epoch.
pub const LAST: &str = "last.bpk";
/// Optimizer state after the last finished epoch (for resuming).
pub const OPTIMIZER: &str = "optimizer.bpk";

/// Writes a model's weights to `path` (temporary file + rename).
pub fn save_model(model: &Model, path: &Path) -> Result<(), String> {
    let bytes = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| format!("cannot serialise the weights for {}: {e}", path.display()))?;
    write_atomic(path, &bytes).map_err(|e| e.to_string())
}

/// Loads weights from `path` into `model` (which fixes the architecture).
pub fn load_model(model: Model, path: &Path) -> Result<Model, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|e| {
        format!(
            "{} is not a weight file of this program: {e}",
            path.display()
        )
    })?;
    model
        .try_load_record(record)
        .map_err(|e| format!("{} does not fit the model: {e}", path.display()))
}

/// Writes the optimizer's state to `path` (temporary file + rename).
pub fn save_optimizer(optimizer: &ModuleOptimizer, path: &Path) -> Result<(), String> {
    let bytes = optimizer.into_bytes().map_err(|e| {
        format!(
            "cannot serialise the optimizer state for {}: {e}",
            path.display()
        )
    })?;
    write_atomic(path, &bytes).map_err(|e| e.to_string())
}

/// Loads optimizer state from `path` into a fresh optimizer of the same kind.
pub fn load_optimizer(optimizer: ModuleOptimizer, path: &Path) -> Result<ModuleOptimizer, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    optimizer
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| {
            format!(
                "{} is not an optimizer state of this program: {e}",
                path.display()
            )
        })
}
