//! `augment`: a grid of augmented images written as a picture, to tune augmentation by eye.

use anyhow::{Context as _, bail};

use super::args::{AugmentArgs, installed};
use crate::augment::crop::CropConfig;
use crate::augment::grid::{self, GridRequest};
use crate::data::InputFormat;

/// Writes a grid of augmented samples as a PNG (rows: images, columns: draws).
pub(super) fn augment_grid(args: &AugmentArgs) -> anyhow::Result<()> {
    if !(1..=64).contains(&args.rows) || !(1..=64).contains(&args.cols) {
        bail!(
            "--rows and --cols must be between 1 and 64, found {} and {}",
            args.rows,
            args.cols
        );
    }
    if !(1..=16).contains(&args.zoom) {
        bail!("--zoom must be between 1 and 16, found {}", args.zoom);
    }
    let config = args.augment.load()?;
    let data = crate::data::load(&installed(args.dataset.clone())?, InputFormat::default())?;
    let samples = if args.samples.is_empty() {
        grid::random_samples(&data, args.rows, args.seed)
    } else {
        if let Some(bad) = args
            .samples
            .iter()
            .find(|&&i| i as usize >= data.train.len())
        {
            bail!(
                "sample {bad} does not exist: the training set has {} images (0 to {})",
                data.train.len(),
                data.train.len().saturating_sub(1)
            );
        }
        args.samples.clone()
    };
    let request = GridRequest {
        config,
        crop: CropConfig::default(),
        samples,
        epochs: (1..=args.cols as u64).collect(),
        seed: args.seed,
    };
    let preview = grid::compute(&request, &data);
    let (image, _) = grid::render(&preview, args.zoom);
    let png = grid::encode_png(&image)?;
    std::fs::write(&args.out, png)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    if !args.quiet {
        outln!(
            "wrote {} ({} samples × {} draws of \"{}\", seed {})",
            args.out.display(),
            preview.rows(),
            preview.columns(),
            request.config.summary(),
            args.seed
        );
        let shape = crate::augment::ImageShape::of(&data);
        for warning in crate::augment::warnings::check(&request.config, shape, &data.class_names) {
            outln!("warning: {}", warning.message);
        }
    }
    Ok(())
}
