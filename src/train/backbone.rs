//! "Pretrain here, transfer here": a finished run's weights written as a backbone file that any
//! later run can start from, and a finished run's model applied to an image.

use std::path::Path;

use super::session::{self, Parts, Purpose, SessionError};
use crate::experiment::checkpoint::{self, CheckpointError};
use crate::experiment::runs::{RunDirError, open_run};
use crate::model::preprocess::{self, PreprocessError};
use crate::model::weights::{self, WeightsError};

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

/// Why a run's model could not be exported or applied.
#[derive(Debug, thiserror::Error)]
pub enum BackboneError {
    /// The run directory could not be read.
    #[error(transparent)]
    RunDir(#[from] RunDirError),
    /// The run's data, device or architecture could not be set up again.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The weights could not be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The backbone file could not be written.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The image could not be read or prepared.
    #[error(transparent)]
    Image(#[from] PreprocessError),
    /// The model could not be applied to the image.
    #[error("{0}")]
    Apply(String),
}

/// A run's model with its best (or last) weights.
struct RunModel {
    parts: Parts,
    epoch: usize,
}

fn load_run_model(run_dir: &Path, last: bool) -> Result<RunModel, BackboneError> {
    let run = open_run(run_dir)?;
    let committed = run.committed()?;
    let (epoch, file) = match (&committed.best, last) {
        (Some((epoch, file)), false) => (*epoch, file.clone()),
        _ => (committed.epoch, committed.last.clone()),
    };
    // The architecture as trained, without the file it may have started from.
    let mut config = run.config.clone();
    config.transfer.weights = None;
    let mut parts = session::build(&config, Purpose::Infer)?;
    parts.model = checkpoint::load_model(parts.model, &run.file(&file))?;
    parts.config = run.config;
    Ok(RunModel { parts, epoch })
}

/// Writes the weights of the run in `run_dir` (its best epoch, or its last with `last`) to
/// `out` as safetensors in PyTorch's names, with the architecture in the file's metadata.
pub fn export(run_dir: &Path, out: &Path, last: bool) -> Result<Exported, BackboneError> {
    let RunModel { parts, epoch } = load_run_model(run_dir, last)?;
    weights::save(parts.model.net(), &parts.config.model, out)?;
    Ok(Exported {
        model: parts.config.model.short_name(),
        params: parts.model.param_count(),
        epoch,
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
pub fn predict(run_dir: &Path, image: &Path, top: usize) -> Result<Vec<ClassScore>, BackboneError> {
    let load = load_run_model(run_dir, false)?;
    let Parts {
        data,
        split,
        device,
        model,
        ..
    } = &load.parts;
    let class_names = split.class_names(data);
    let picture = preprocess::open(image)?;
    let crop = &load.parts.config.crop;
    let logits = if crop.is_active() {
        // As validation sees it: the image at the stored size, then the evaluation crop (the
        // mean of the tiles' logits).
        let stored = crate::augment::ImageShape::of(data);
        let identity = crate::data::ChannelNorm {
            mean: vec![0.0; data.channels],
            std: vec![1.0; data.channels],
        };
        let raw = preprocess::like_stored(&picture, data, &identity)?;
        let pixels: Vec<u8> = raw
            .values
            .iter()
            .map(|&v| v.round().clamp(0.0, 255.0) as u8)
            .collect();
        let norm = crate::augment::batch::PixelNorm::new(&split.norm);
        let input = crop.input_shape(stored);
        let mut views = Vec::new();
        crop.eval_views(stored, &pixels, &mut views);
        let mut sum: Vec<f32> = Vec::new();
        for view in &views {
            let mut values = Vec::with_capacity(input.len());
            norm.extend(view, input.plane(), &mut values);
            let shape = [input.channels, input.height, input.width];
            let logits = model
                .logits(values, shape, device)
                .map_err(BackboneError::Apply)?;
            sum.resize(logits.len(), 0.0);
            for (s, l) in sum.iter_mut().zip(logits) {
                *s += l;
            }
        }
        let n = views.len().max(1) as f32;
        sum.into_iter().map(|s| s / n).collect()
    } else {
        let prepared = preprocess::like_stored(&picture, data, &split.norm)?;
        model
            .logits(prepared.values, prepared.shape, device)
            .map_err(BackboneError::Apply)?
    };
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
