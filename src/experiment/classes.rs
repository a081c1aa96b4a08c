//! A dataset restricted to some of its classes, with at most N training images per class: the
//! setting of the transfer lesson (pretrain on classes 0–4, fine-tune on 10 images of each of
//! classes 5–9).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::data::{Dataset, ImageSet};

/// Which classes a run sees, and how many training images of each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ClassSubset {
    /// Classes kept, relabelled 0, 1, … in this order (empty: all).
    pub classes: Vec<u16>,
    /// At most this many training images per class, the first ones in the source's order
    /// (`None`: all). The source's test images are kept whole.
    pub train_per_class: Option<usize>,
}

impl ClassSubset {
    /// Whether this keeps the dataset as it is.
    pub fn is_all(&self) -> bool {
        self.classes.is_empty() && self.train_per_class.is_none()
    }

    /// `"5-9"`, `"0,2,4"` or `"3"` as a list of classes.
    pub fn parse_classes(text: &str) -> Result<Vec<u16>, String> {
        let mut classes = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || format!("expected classes like 0-4 or 1,3,5, found {text}");
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b): (u16, u16) = (
                        a.trim().parse().map_err(|_| bad())?,
                        b.trim().parse().map_err(|_| bad())?,
                    );
                    if a > b {
                        return Err(bad());
                    }
                    classes.extend(a..=b);
                }
                None => classes.push(part.parse().map_err(|_| bad())?),
            }
        }
        Ok(classes)
    }

    /// The dataset with only the chosen classes (relabelled) and at most the chosen number of
    /// training images per class.
    pub fn apply(&self, data: &Arc<Dataset>) -> Result<Arc<Dataset>, String> {
        if self.is_all() {
            return Ok(Arc::clone(data));
        }
        let all: Vec<u16> = (0..u16::try_from(data.num_classes()).unwrap_or(u16::MAX)).collect();
        let classes = if self.classes.is_empty() {
            all
        } else {
            self.classes.clone()
        };
        if let Some(&bad) = classes
            .iter()
            .find(|&&c| usize::from(c) >= data.num_classes())
        {
            return Err(format!(
                "class {bad} does not exist: the dataset has classes 0 to {}",
                data.num_classes().saturating_sub(1)
            ));
        }
        if classes.len() < 2 {
            return Err("keep at least 2 classes".to_owned());
        }
        if self.train_per_class == Some(0) {
            return Err("keep at least 1 training image per class".to_owned());
        }
        let image_len = data.image_len();
        let filter = |set: &ImageSet, cap: Option<usize>| {
            let mut counts = vec![0usize; classes.len()];
            let mut out = ImageSet::default();
            for (i, &label) in set.labels.iter().enumerate() {
                let Some(new) = classes.iter().position(|&c| c == label) else {
                    continue;
                };
                if cap.is_some_and(|cap| counts[new] >= cap) {
                    continue;
                }
                counts[new] += 1;
                out.pixels
                    .extend_from_slice(&set.pixels[i * image_len..(i + 1) * image_len]);
                out.labels.push(u16::try_from(new).unwrap_or(u16::MAX));
            }
            out
        };
        let mut subset = Dataset::clone(data);
        subset.train = filter(&data.train, self.train_per_class);
        subset.test = data.test.as_ref().map(|t| filter(t, None));
        subset.class_names = classes
            .iter()
            .map(|&c| data.class_names[usize::from(c)].clone())
            .collect();
        Ok(Arc::new(subset))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DatasetSource, load};

    #[test]
    fn classes_parse_as_ranges_and_lists() {
        assert_eq!(ClassSubset::parse_classes("5-9").unwrap(), [5, 6, 7, 8, 9]);
        assert_eq!(ClassSubset::parse_classes("0, 2,4").unwrap(), [0, 2, 4]);
        assert!(ClassSubset::parse_classes("4-1").is_err());
        assert!(ClassSubset::parse_classes("a").is_err());
    }

    #[test]
    fn ten_images_of_each_of_five_classes() {
        let data = load(&DatasetSource::Embedded).unwrap();
        let subset = ClassSubset {
            classes: vec![5, 6, 7, 8, 9],
            train_per_class: Some(10),
        }
        .apply(&data)
        .unwrap();
        assert_eq!(subset.num_classes(), 5);
        assert_eq!(subset.class_names[0], "Sandal");
        assert_eq!(subset.train.len(), 50);
        for class in 0..5 {
            assert_eq!(
                subset.train.labels.iter().filter(|&&l| l == class).count(),
                10
            );
        }
        let test = subset.test.as_ref().unwrap();
        assert_eq!(
            test.len(),
            500,
            "the test images of the five classes, all of them"
        );
        // The first Sandal kept is the source's first Sandal.
        let first = data.train.labels.iter().position(|&l| l == 5).unwrap();
        let kept = subset.train.labels.iter().position(|&l| l == 0).unwrap();
        assert_eq!(
            subset.image(crate::data::Part::Train, kept),
            data.image(crate::data::Part::Train, first)
        );
        assert!(
            ClassSubset {
                classes: vec![3, 12],
                train_per_class: None
            }
            .apply(&data)
            .is_err()
        );
    }
}
