//! "Pretrain here, transfer here": a finished run's weights written as a backbone file that any
//! later run can start from, and a finished run's model applied to an image.

use std::path::Path;

use burn::prelude::Device;

use crate::model::{InputShape, Model, TransferConfig, preprocess, weights};
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

/// A run's model with its best (or last) weights.
struct RunModel {
    config: ExperimentConfig,
    data: std::sync::Arc<crate::data::Dataset>,
    split: crate::data::Split,
    model: Model,
    epoch: usize,
}

fn load_run_model(run_dir: &Path, last: bool) -> Result<RunModel, String> {
    let text = std::fs::read_to_string(run_dir.join("config.toml")).map_err(|e| {
        format!(
            "{} is not a run directory: cannot read config.toml ({e})",
            run_dir.display()
        )
    })?;
    let config = ExperimentConfig::from_toml(&text)
        .map_err(|e| format!("{}: {e}", run_dir.join("config.toml").display()))?;
    let committed = checkpoint::read(run_dir)?
        .ok_or_else(|| format!("{} has no finished epoch", run_dir.display()))?;
    let (epoch, file) = match (&committed.best, last) {
        (Some((epoch, file)), false) => (*epoch, file.clone()),
        _ => (committed.epoch, committed.last.clone()),
    };
    let (data, split) =
        crate::data::prepare(&config.dataset, config.seed).map_err(|e| e.to_string())?;
    let input = InputShape::for_split(&data, &split);
    // The architecture as trained, without the file it may have started from.
    let transfer = TransferConfig {
        weights: None,
        ..config.transfer.clone()
    };
    let fresh = transfer
        .build(&config.model, input, &Device::flex(), config.seed)
        .map_err(|e| e.to_string())?;
    let model = checkpoint::load_model(fresh, &run_dir.join(file))?;
    Ok(RunModel {
        config,
        data,
        split,
        model,
        epoch,
    })
}

/// Writes the weights of the run in `run_dir` (its best epoch, or its last with `last`) to
/// `out` as safetensors in PyTorch's names, with the architecture in the file's metadata.
pub fn export(run_dir: &Path, out: &Path, last: bool) -> Result<Exported, String> {
    let run = load_run_model(run_dir, last)?;
    weights::save(run.model.net(), &run.config.model, out).map_err(|e| e.to_string())?;
    Ok(Exported {
        model: run.config.model.short_name(),
        params: run.model.param_count(),
        epoch: run.epoch,
    })
}

/// One class of a prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassScore {
    /// Class index.
    pub class: usize,
    /// Class name.
    pub name: String,
    /// Softmax probability.
    pub prob: f32,
}

/// Classifies the image at `image` with the best weights of the run in `run_dir`, prepared as
/// that run's training images were (size, channels, normalisation); the `top` most probable
/// classes, most probable first.
pub fn predict(run_dir: &Path, image: &Path, top: usize) -> Result<Vec<ClassScore>, String> {
    let run = load_run_model(run_dir, false)?;
    let split = &run.split;
    let class_names = split.class_names(&run.data);
    let picture = preprocess::open(image).map_err(|e| e.to_string())?;
    let prepared = preprocess::dataset(
        &picture,
        run.data.channels,
        run.data.height,
        run.data.width,
        &split.norm.mean,
        &split.norm.std,
    )
    .map_err(|e| e.to_string())?;
    let logits = run
        .model
        .logits(prepared.values, prepared.shape, &Device::flex())?;
    let probs = preprocess::softmax(&logits);
    Ok(preprocess::top_k(&probs, top)
        .into_iter()
        .map(|(class, prob)| ClassScore {
            class,
            name: class_names
                .get(class)
                .cloned()
                .unwrap_or_else(|| class.to_string()),
            prob,
        })
        .collect())
}
