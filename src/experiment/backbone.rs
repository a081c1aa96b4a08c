//! "Pretrain here, transfer here": a finished run's weights written as a backbone file that any
//! later run can start from.

use std::path::Path;

use crate::model::{InputShape, TransferConfig, weights};
use crate::train::checkpoint;

use super::ExperimentConfig;

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    /// The architecture's command-line name.
    pub model: &'static str,
    /// Parameters written.
    pub params: usize,
    /// The epoch whose weights were written.
    pub epoch: usize,
}

/// Writes the weights of the run in `run_dir` (its best epoch, or its last with `last`) to
/// `out` as safetensors in PyTorch's names, with the architecture in the file's metadata.
pub fn export(run_dir: &Path, out: &Path, last: bool) -> Result<Exported, String> {
    let text = std::fs::read_to_string(run_dir.join("config.toml")).map_err(|e| {
        format!(
            "{} is not a run directory: cannot read config.toml ({e})",
            run_dir.display()
        )
    })?;
    let config = ExperimentConfig::from_toml(&text)
        .map_err(|e| format!("{}: {e}", run_dir.join("config.toml").display()))?;
    let committed = checkpoint::read(run_dir)?
        .ok_or_else(|| format!("{} has no finished epoch to export", run_dir.display()))?;
    let (epoch, file) = match (&committed.best, last) {
        (Some((epoch, file)), false) => (*epoch, file.clone()),
        _ => (committed.epoch, committed.last.clone()),
    };
    let data = crate::data::load(&config.dataset.source).map_err(|e| e.to_string())?;
    let input = InputShape::of(&data);
    let device = burn::prelude::Device::flex();
    // The architecture as trained, without the file it may have started from.
    let transfer = TransferConfig {
        weights: None,
        ..config.transfer.clone()
    };
    let fresh = transfer
        .build(&config.model, input, &device, config.seed)
        .map_err(|e| e.to_string())?;
    let model = checkpoint::load_model(fresh, &run_dir.join(file))?;
    weights::save(model.net(), &config.model, out).map_err(|e| e.to_string())?;
    Ok(Exported {
        model: config.model.short_name(),
        params: model.param_count(),
        epoch,
    })
}
