//! Generated images mixed into a run's training samples: checked against the dataset (size,
//! channels, class names), appended after the real training images and marked, so the sample
//! grid, `run.json` and the dataset fingerprint can tell them apart. Validation samples are
//! never touched.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{DataError, Dataset, Part, Split};

/// Images a generator made, CHW `u8` each, with their class.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticImages {
    /// Image width in pixels.
    pub width: usize,
    /// Image height in pixels.
    pub height: usize,
    /// 1 or 3.
    pub channels: usize,
    /// The generator's class names; `labels` index them.
    pub class_names: Vec<String>,
    /// The images, concatenated.
    pub pixels: Vec<u8>,
    /// One class per image.
    pub labels: Vec<u16>,
    /// Where they came from, e.g. "gan run 20261203T1200-gan-fashion (epoch 20)".
    pub origin: String,
}

impl SyntheticImages {
    /// Bytes per image.
    pub fn image_len(&self) -> usize {
        self.width * self.height * self.channels
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Which training samples of a split are generated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntheticMark {
    /// Index in the dataset's training images where the generated ones begin.
    pub first: u32,
    /// How many were mixed in.
    pub count: usize,
    /// Images per class.
    pub per_class: usize,
    /// Where they came from.
    pub origin: String,
}

impl SyntheticMark {
    /// Whether training image `index` is a generated one.
    pub fn contains(&self, index: u32) -> bool {
        index >= self.first && ((index - self.first) as usize) < self.count
    }
}

/// `data` and `split` with `images` appended to the training images and samples. Every class
/// of the split must be among the generator's (by name); generated classes the split does not
/// use are left out. `per_class` is recorded in the mark.
pub fn mix(
    data: &Dataset,
    split: &Split,
    images: &SyntheticImages,
    per_class: usize,
) -> Result<(Arc<Dataset>, Split), DataError> {
    if data.disk.is_some() {
        return Err(DataError::Invalid(
            "synthetic images can only be mixed into data held in memory (use --data-in-memory yes)"
                .to_owned(),
        ));
    }
    if (images.width, images.height, images.channels) != (data.width, data.height, data.channels) {
        return Err(DataError::Invalid(format!(
            "the synthetic images are {}×{}×{} but the dataset's are {}×{}×{}: train the GAN on \
             this dataset at this input size",
            images.width, images.height, images.channels, data.width, data.height, data.channels
        )));
    }
    let wanted: Vec<&str> = split
        .classes
        .iter()
        .map(|&c| data.class_names[usize::from(c)].as_str())
        .collect();
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|name| !images.class_names.iter().any(|n| n == name))
        .collect();
    if !missing.is_empty() {
        let extra: Vec<&str> = images
            .class_names
            .iter()
            .map(String::as_str)
            .filter(|n| !wanted.contains(n))
            .collect();
        let mut message = format!(
            "the synthetic images' classes ({}) do not match the dataset's ({}): the generator \
             makes no {}",
            images.class_names.join(", "),
            wanted.join(", "),
            missing.join(", ")
        );
        if !extra.is_empty() {
            message.push_str(&format!(
                "; it makes {} that the dataset lacks",
                extra.join(", ")
            ));
        }
        return Err(DataError::Invalid(message));
    }
    let len = images.image_len();
    let mut mixed = data.clone();
    let first = mixed.train.len() as u32;
    let mut new_split = split.clone();
    let mut count = 0;
    for (k, &label) in images.labels.iter().enumerate() {
        let Some(name) = images.class_names.get(usize::from(label)) else {
            continue;
        };
        let Some(dataset_class) = data.class_names.iter().position(|n| n == name) else {
            continue;
        };
        let Some(model_class) = split
            .classes
            .iter()
            .position(|&c| usize::from(c) == dataset_class)
        else {
            continue;
        };
        mixed
            .train
            .pixels
            .extend_from_slice(&images.pixels[k * len..(k + 1) * len]);
        mixed.train.labels.push(dataset_class as u16);
        new_split.train.indices.push(first + count as u32);
        new_split.train.labels.push(model_class as u16);
        count += 1;
    }
    if split.train.part != Part::Train {
        return Err(DataError::Invalid(
            "synthetic images need a split whose training samples come from the training images"
                .to_owned(),
        ));
    }
    new_split.synthetic = Some(SyntheticMark {
        first,
        count,
        per_class,
        origin: images.origin.clone(),
    });
    Ok((Arc::new(mixed), new_split))
}

/// A class name as a folder name: characters no file system takes (`/`, `\\`, `:`, …) become
/// `_` (Fashion-MNIST's "T-shirt/top" is written as `T-shirt_top`).
pub fn folder_name(class: &str) -> String {
    let name: String = class
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    match name.trim() {
        "" | "." | ".." => "class".to_owned(),
        trimmed => trimmed.to_owned(),
    }
}

/// Writes `images` under `out` as PNG files, one subfolder per class (`out/CLASS/00000.png`),
/// readable by any tool (and by `--dataset folder:OUT`). Returns how many were written.
pub fn save_folder(images: &SyntheticImages, out: &std::path::Path) -> std::io::Result<usize> {
    let len = images.image_len();
    let mut counts = vec![0usize; images.class_names.len()];
    for (k, &label) in images.labels.iter().enumerate() {
        let class = usize::from(label);
        let Some(name) = images.class_names.get(class) else {
            continue;
        };
        let dir = out.join(folder_name(name));
        std::fs::create_dir_all(&dir)?;
        let pixels = &images.pixels[k * len..(k + 1) * len];
        let plane = images.width * images.height;
        let (w, h) = (images.width as u32, images.height as u32);
        let path = dir.join(format!("{:05}.png", counts[class]));
        let result = if images.channels == 3 {
            let interleaved: Vec<u8> = (0..plane)
                .flat_map(|i| [pixels[i], pixels[plane + i], pixels[2 * plane + i]])
                .collect();
            image::RgbImage::from_raw(w, h, interleaved).map(|img| img.save(&path))
        } else {
            image::GrayImage::from_raw(w, h, pixels.to_vec()).map(|img| img.save(&path))
        };
        match result {
            Some(Ok(())) => counts[class] += 1,
            Some(Err(e)) => return Err(std::io::Error::other(e)),
            None => return Err(std::io::Error::other("image buffer of the wrong size")),
        }
    }
    Ok(counts.iter().sum())
}
