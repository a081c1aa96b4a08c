//! Weights and optimizer state on disk (burnpack), committed as a group.
//!
//! Each epoch writes `last-eN.bpk` and `optimizer-eN.bpk` (and `best-eN.bpk` when the epoch is
//! the best so far), then replaces `checkpoint.json`, which names the files that belong
//! together, atomically; files it no longer names are removed afterwards. A process killed at any
//! moment therefore leaves a consistent checkpoint: the previous one or the new one.

use std::path::Path;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use serde::{Deserialize, Serialize};

use crate::experiment::record::write_atomic;
use crate::model::Model;

/// The file that says which weight files are current.
pub const POINTER: &str = "checkpoint.json";

/// The content of `checkpoint.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// Epochs finished when it was written.
    pub epoch: usize,
    /// Weights after that epoch.
    pub last: String,
    /// Optimizer state after that epoch.
    pub optimizer: String,
    /// The best epoch so far and its weights.
    pub best: Option<(usize, String)>,
}

impl Checkpoint {
    fn files(&self) -> Vec<&str> {
        let mut files = vec![self.last.as_str(), self.optimizer.as_str()];
        files.extend(self.best.as_ref().map(|(_, f)| f.as_str()));
        files
    }
}

/// Writes epoch `epoch`'s state into `dir` and makes it current. `is_best` also saves the
/// weights as the best ones.
pub fn commit(
    dir: &Path,
    epoch: usize,
    model: &Model,
    optimizer: &ModuleOptimizer,
    is_best: bool,
    previous: Option<&Checkpoint>,
) -> Result<Checkpoint, String> {
    let last = format!("last-e{epoch}.bpk");
    save_model(model, &dir.join(&last))?;
    let optim = format!("optimizer-e{epoch}.bpk");
    save_optimizer(optimizer, &dir.join(&optim))?;
    let best = if is_best {
        let name = format!("best-e{epoch}.bpk");
        save_model(model, &dir.join(&name))?;
        Some((epoch, name))
    } else {
        previous.and_then(|p| p.best.clone())
    };
    let checkpoint = Checkpoint {
        epoch,
        last,
        optimizer: optim,
        best,
    };
    let json = serde_json::to_vec_pretty(&checkpoint).map_err(|e| e.to_string())?;
    write_atomic(&dir.join(POINTER), &json).map_err(|e| e.to_string())?;
    if let Some(previous) = previous {
        let keep = checkpoint.files();
        for stale in previous.files().into_iter().filter(|f| !keep.contains(f)) {
            // A stale file left behind only costs disk space; the pointer is already right.
            std::fs::remove_file(dir.join(stale)).ok();
        }
    }
    Ok(checkpoint)
}

/// The current checkpoint of a run directory, if one was committed.
pub fn read(dir: &Path) -> Result<Option<Checkpoint>, String> {
    let path = dir.join(POINTER);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("{} is damaged: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

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
