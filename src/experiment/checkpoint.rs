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

use super::record::{RecordError, write_atomic};
use crate::model::Model;

/// Why weights or optimizer state could not be written or read back. Each names its file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] RecordError),
    /// `checkpoint.json` is not what this program writes.
    #[error("{path} is damaged")]
    Damaged {
        /// The file.
        path: String,
        /// What the JSON reader found.
        #[source]
        source: serde_json::Error,
    },
    /// Burn could not turn the state into bytes.
    #[error("cannot serialise the {what} for {path}")]
    Serialise {
        /// "weights" or "optimizer state".
        what: &'static str,
        /// The file it was meant for.
        path: String,
        /// Burn's reason.
        #[source]
        source: burn::store::RecordError,
    },
    /// The file holds no state this program wrote.
    #[error("{path} is not {what} of this program")]
    Foreign {
        /// "a weight file" or "an optimizer state".
        what: &'static str,
        /// The file.
        path: String,
        /// Burn's reason.
        #[source]
        source: burn::store::RecordError,
    },
    /// The weights are of another architecture or size than the model.
    #[error("{path} does not fit the model")]
    Mismatch {
        /// The file.
        path: String,
        /// Burn's reason.
        #[source]
        source: burn::store::RecordError,
    },
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}

fn read_file(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    std::fs::read(path).map_err(|source| CheckpointError::Read {
        path: shown(path),
        source,
    })
}

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
) -> Result<Checkpoint, CheckpointError> {
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
    let pointer = dir.join(POINTER);
    let json =
        serde_json::to_vec_pretty(&checkpoint).map_err(|source| CheckpointError::Damaged {
            path: shown(&pointer),
            source,
        })?;
    write_atomic(&pointer, &json)?;
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
pub fn read(dir: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
    let path = dir.join(POINTER);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| CheckpointError::Damaged {
                    path: shown(&path),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CheckpointError::Read {
            path: shown(&path),
            source,
        }),
    }
}

/// Writes a model's weights to `path` (temporary file + rename).
pub fn save_model(model: &Model, path: &Path) -> Result<(), CheckpointError> {
    save_module(model, path)
}

/// Writes any module's weights to `path` (temporary file + rename).
pub fn save_module<M: Module>(module: &M, path: &Path) -> Result<(), CheckpointError> {
    let bytes = module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|source| CheckpointError::Serialise {
            what: "weights",
            path: shown(path),
            source,
        })?;
    Ok(write_atomic(path, &bytes)?)
}

/// Loads weights from `path` into `model` (which fixes the architecture).
pub fn load_model(model: Model, path: &Path) -> Result<Model, CheckpointError> {
    match load_module(model.clone(), path) {
        Err(CheckpointError::Mismatch {
            path: shown_path,
            source,
        }) => {
            // Checkpoints of ResNets written before the blocks could be bottlenecks name
            // `layer1.0.conv1`, where the blocks are now `layer1.0.Basic.conv1`.
            if let Some(loaded) = legacy_resnet_record(&read_file(path)?)
                .and_then(|record| model.try_load_record(record).ok())
            {
                return Ok(loaded);
            }
            Err(CheckpointError::Mismatch {
                path: shown_path,
                source,
            })
        }
        other => other,
    }
}

/// Loads weights written by [`save_module`] into `module` (which fixes the architecture).
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M, CheckpointError> {
    let bytes = read_file(path)?;
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes)).map_err(|source| {
        CheckpointError::Foreign {
            what: "a weight file",
            path: shown(path),
            source,
        }
    })?;
    module
        .try_load_record(record)
        .map_err(|source| CheckpointError::Mismatch {
            path: shown(path),
            source,
        })
}

/// The record of a ResNet checkpoint in the earlier layout, its block tensors renamed into the
/// current one (`net.ResNet.layerS.I.x` → `net.ResNet.layerS.I.Basic.x`); `None` when the file
/// holds no such names or cannot be read.
fn legacy_resnet_record(bytes: &[u8]) -> Option<ModuleRecord> {
    let tensors = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .ok()?
        .into_tensors()
        .ok()?;
    let mut renamed = 0;
    let mut out = Vec::with_capacity(tensors.len());
    for tensor in tensors {
        let (name, dtype, shape, id, data) = tensor.into_parts().ok()?;
        let name = match legacy_block_name(&name) {
            Some(new) => {
                renamed += 1;
                new
            }
            None => name,
        };
        out.push(burn_pack::Tensor::new(name, dtype, shape, id, data));
    }
    if renamed == 0 {
        return None;
    }
    let bytes = burn_pack::Writer::new(out).into_bytes().ok()?;
    ModuleRecord::from_bytes(bytes).ok()
}

/// `net.ResNet.layer2.0.conv1.weight` → `net.ResNet.layer2.0.Basic.conv1.weight`.
fn legacy_block_name(name: &str) -> Option<String> {
    let rest = name.strip_prefix("net.ResNet.layer")?;
    let mut parts = rest.splitn(3, '.');
    let stage = parts.next()?;
    let block = parts.next()?;
    let tail = parts.next()?;
    if !stage.chars().all(|c| c.is_ascii_digit())
        || !block.chars().all(|c| c.is_ascii_digit())
        || tail.starts_with("Basic.")
        || tail.starts_with("Bottleneck.")
    {
        return None;
    }
    Some(format!("net.ResNet.layer{stage}.{block}.Basic.{tail}"))
}

/// Writes the optimizer's state to `path` (temporary file + rename).
pub fn save_optimizer(optimizer: &ModuleOptimizer, path: &Path) -> Result<(), CheckpointError> {
    let bytes = optimizer
        .into_bytes()
        .map_err(|source| CheckpointError::Serialise {
            what: "optimizer state",
            path: shown(path),
            source,
        })?;
    Ok(write_atomic(path, &bytes)?)
}

/// Loads optimizer state from `path` into a fresh optimizer of the same kind.
pub fn load_optimizer(
    optimizer: ModuleOptimizer,
    path: &Path,
) -> Result<ModuleOptimizer, CheckpointError> {
    let bytes = read_file(path)?;
    optimizer
        .from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|source| CheckpointError::Foreign {
            what: "an optimizer state",
            path: shown(path),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_resnet_block_names_are_brought_forward() {
        assert_eq!(
            legacy_block_name("net.ResNet.layer2.0.conv1.weight").as_deref(),
            Some("net.ResNet.layer2.0.Basic.conv1.weight")
        );
        assert_eq!(
            legacy_block_name("net.ResNet.layer2.0.downsample.0.weight").as_deref(),
            Some("net.ResNet.layer2.0.Basic.downsample.0.weight")
        );
        assert_eq!(
            legacy_block_name("net.ResNet.layer2.0.Basic.conv1.weight"),
            None
        );
        assert_eq!(legacy_block_name("net.ResNet.conv1.weight"), None);
        assert_eq!(legacy_block_name("net.SimpleCnn.conv.weight"), None);
    }
}
