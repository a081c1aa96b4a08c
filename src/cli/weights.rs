//! `export-weights` and `predict`: a run's weights written as a backbone file, and a model
//! (a run's, or any weight file's) applied to one image.

use anyhow::bail;

use super::args::{ExportArgs, PredictArgs, PreprocessArg};
use crate::experiment::ExperimentConfig;
use crate::model::preprocess::{self, Prepared};
use crate::model::{InputShape, TransferConfig, weights};

/// Writes a run's weights as a backbone file.
pub fn export(args: &ExportArgs) -> anyhow::Result<()> {
    let done = crate::train::backbone::export(&args.dir, &args.out, args.last)?;
    outln!(
        "Wrote {} ({} parameters, epoch {}) to {}",
        done.model,
        done.params,
        done.epoch,
        args.out.display()
    );
    Ok(())
}

/// Classifies one image and prints the most probable classes.
pub fn predict(args: &PredictArgs) -> anyhow::Result<()> {
    let image = preprocess::open(&args.image)?;
    let info = args.weights.as_deref().map(weights::inspect).transpose()?;
    let (prepared, class_names): (Prepared, Vec<String>) = match args.preprocess {
        PreprocessArg::Imagenet => (preprocess::imagenet(&image)?, Vec::new()),
        PreprocessArg::Dataset => {
            let config = ExperimentConfig::default();
            let (data, split) = crate::data::prepare(&config.dataset, config.seed)?;
            let prepared = preprocess::like_stored(&image, &data, &split.norm)?;
            (prepared, data.class_names.clone())
        }
    };
    let classes = args
        .classes
        .or_else(|| info.as_ref().and_then(|i| i.classes))
        .unwrap_or(10);
    let [channels, height, width] = prepared.shape;
    let mut model = args.model.config();
    if let Some(saved) = info.as_ref().and_then(|i| i.model.clone())
        && saved.short_name() == model.short_name()
    {
        model = saved;
    }
    let transfer = TransferConfig {
        weights: args.weights.clone(),
        backbone_channels: info.as_ref().and_then(|i| i.input_channels),
        replace_head: false,
        ..TransferConfig::default()
    };
    let input = InputShape {
        channels,
        height,
        width,
        classes,
    };
    let device = burn::prelude::Device::flex();
    let built = transfer.build(&model, input, &device, 0)?;
    let logits = built
        .logits(prepared.values, prepared.shape, &device)
        .map_err(anyhow::Error::msg)?;
    let probs = preprocess::softmax(&logits);
    let top = preprocess::top_k(&probs, args.top.max(1));
    if args.json {
        let json = serde_json::json!({
            "logits": logits,
            "top": top
                .iter()
                .map(|&(class, prob)| serde_json::json!({"class": class, "prob": prob}))
                .collect::<Vec<_>>(),
        });
        outln!("{json}");
        return Ok(());
    }
    if logits.is_empty() {
        bail!("the model gave no outputs");
    }
    for (class, prob) in top {
        let name = class_names
            .get(class)
            .map(|n| format!("  {n}"))
            .unwrap_or_default();
        outln!("{class:>5}  {:6.2}%{name}", prob * 100.0);
    }
    Ok(())
}
