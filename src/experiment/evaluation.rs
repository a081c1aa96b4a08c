//! Evaluation of a classifier on the validation samples: confusion matrix, per-class metrics and
//! the mistakes with the highest loss. Built from per-sample predictions, so it is pure and
//! testable by hand.

use serde::{Deserialize, Serialize};

use crate::data::Part;

/// What the model said about one validation sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Which image set the sample is in.
    pub part: Part,
    /// Its index there.
    pub index: u32,
    /// The true class.
    pub truth: u16,
    /// The predicted class (highest logit).
    pub predicted: u16,
    /// The probability given to the predicted class.
    pub confidence: f32,
    /// The sample's cross-entropy loss.
    pub loss: f32,
}

/// Precision, recall and F1 of one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Samples of this class.
    pub support: u32,
    /// Of the samples predicted as this class, the fraction that are (0 when none is).
    pub precision: f64,
    /// Of the samples of this class, the fraction predicted as it: the per-class accuracy.
    pub recall: f64,
    /// Harmonic mean of precision and recall (0 when both are 0).
    pub f1: f64,
}

/// The evaluation of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The epoch it belongs to (1-based).
    pub epoch: usize,
    /// `confusion[truth][predicted]` counts.
    pub confusion: Vec<Vec<u32>>,
    /// Metrics per class.
    pub per_class: Vec<ClassMetrics>,
    /// Misclassified samples, highest loss first (at most [`Evaluation::MAX_MISTAKES`]).
    pub mistakes: Vec<Prediction>,
    /// Every sample's prediction, highest loss first (for the confusion matrix's cells).
    pub predictions: Vec<Prediction>,
}

impl Evaluation {
    /// Mistakes kept for the gallery.
    pub const MAX_MISTAKES: usize = 200;

    /// Builds the evaluation of `classes` classes from per-sample predictions.
    pub fn from_predictions(epoch: usize, classes: usize, predictions: &[Prediction]) -> Self {
        let mut confusion = vec![vec![0u32; classes]; classes];
        for p in predictions {
            confusion[usize::from(p.truth)][usize::from(p.predicted)] += 1;
        }
        let per_class = (0..classes)
            .map(|c| {
                let support: u32 = confusion[c].iter().sum();
                let predicted: u32 = confusion.iter().map(|row| row[c]).sum();
                let hits = f64::from(confusion[c][c]);
                let ratio = |n: u32| if n == 0 { 0.0 } else { hits / f64::from(n) };
                let (precision, recall) = (ratio(predicted), ratio(support));
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassMetrics {
                    support,
                    precision,
                    recall,
                    f1,
                }
            })
            .collect();
        let mut predictions = predictions.to_vec();
        predictions.sort_by(|a, b| b.loss.total_cmp(&a.loss));
        let mistakes: Vec<Prediction> = predictions
            .iter()
            .filter(|p| p.truth != p.predicted)
            .take(Self::MAX_MISTAKES)
            .copied()
            .collect();
        Self {
            epoch,
            confusion,
            per_class,
            mistakes,
            predictions,
        }
    }

    /// The confusion matrix with each row divided by its total (rows without samples stay 0).
    pub fn row_normalised(&self) -> Vec<Vec<f64>> {
        self.confusion
            .iter()
            .map(|row| {
                let total: u32 = row.iter().sum();
                row.iter()
                    .map(|&n| {
                        if total == 0 {
                            0.0
                        } else {
                            f64::from(n) / f64::from(total)
                        }
                    })
                    .collect()
            })
            .collect()
    }

    /// The confusion matrix as CSV (RFC 4180): a header of predicted class names, one row per
    /// true class. Class names come from folder names, so any of them may hold a comma, a quote
    /// or a line break; the CSV writer quotes each as needed.
    pub fn confusion_csv(&self, class_names: &[String]) -> String {
        let name = |c: usize| class_names.get(c).cloned().unwrap_or_else(|| c.to_string());
        let classes = self.confusion.len();
        let mut writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let header = std::iter::once("true/predicted".to_owned()).chain((0..classes).map(name));
        // Writing to memory cannot fail; a record that somehow did would leave its row out.
        writer.write_record(header).ok();
        for (t, row) in self.confusion.iter().enumerate() {
            let cells = std::iter::once(name(t)).chain(row.iter().map(ToString::to_string));
            writer.write_record(cells).ok();
        }
        let bytes = writer.into_inner().unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }
}

/// Softmax bookkeeping for one sample's logits: predicted class, its probability and the
/// cross-entropy loss of the true class.
pub fn score(logits: &[f32], truth: usize) -> (u16, f32, f32) {
    let (predicted, max) =
        logits
            .iter()
            .copied()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
                if v > best.1 { (i, v) } else { best }
            });
    let log_sum = max + logits.iter().map(|&v| (v - max).exp()).sum::<f32>().ln();
    let confidence = (max - log_sum).exp();
    let loss = log_sum - logits.get(truth).copied().unwrap_or(f32::NAN);
    (
        u16::try_from(predicted).unwrap_or(u16::MAX),
        confidence,
        loss,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(truth: u16, predicted: u16, loss: f32) -> Prediction {
        Prediction {
            part: Part::Train,
            index: 0,
            truth,
            predicted,
            confidence: 0.5,
            loss,
        }
    }

    #[test]
    fn confusion_and_per_class_metrics_match_hand_counts() {
        // Class 0: 3 samples, 2 right, 1 called 1. Class 1: 2 samples, 1 right, 1 called 0.
        // Class 2: 1 sample, called 1. Nothing is predicted as 2.
        let preds = [
            p(0, 0, 0.1),
            p(0, 0, 0.2),
            p(0, 1, 2.0),
            p(1, 1, 0.3),
            p(1, 0, 1.5),
            p(2, 1, 3.0),
        ];
        let e = Evaluation::from_predictions(4, 3, &preds);
        assert_eq!(
            e.confusion,
            vec![vec![2, 1, 0], vec![1, 1, 0], vec![0, 1, 0]]
        );
        let c0 = e.per_class[0];
        assert_eq!(c0.support, 3);
        assert!((c0.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((c0.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((c0.f1 - 2.0 / 3.0).abs() < 1e-12);
        let c1 = e.per_class[1];
        assert!((c1.precision - 1.0 / 3.0).abs() < 1e-12);
        assert!((c1.recall - 0.5).abs() < 1e-12);
        assert!((c1.f1 - 0.4).abs() < 1e-12);
        assert_eq!(
            e.per_class[2],
            ClassMetrics {
                support: 1,
                precision: 0.0,
                recall: 0.0,
                f1: 0.0
            }
        );
        let losses: Vec<f32> = e.mistakes.iter().map(|m| m.loss).collect();
        assert_eq!(
            losses,
            vec![3.0, 2.0, 1.5],
            "mistakes only, highest loss first"
        );
        let norm = e.row_normalised();
        assert!((norm[0][1] - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(norm[2], vec![0.0, 1.0, 0.0]);
    }

    #[test]
    fn confusion_csv_names_rows_and_columns() {
        let e = Evaluation::from_predictions(1, 2, &[p(0, 1, 1.0), p(1, 1, 0.1)]);
        let names = vec!["T-shirt/top".to_owned(), "Bag, small".to_owned()];
        assert_eq!(
            e.confusion_csv(&names),
            "true/predicted,T-shirt/top,\"Bag, small\"\nT-shirt/top,0,1\n\"Bag, small\",0,1\n"
        );
        // A quote or a line break in a folder name stays inside its cell.
        let names = vec!["say \"hi\"".to_owned(), "two\nlines".to_owned()];
        let text = e.confusion_csv(&names);
        let mut rows = csv::Reader::from_reader(text.as_bytes());
        let header: Vec<String> = rows.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, ["true/predicted", "say \"hi\"", "two\nlines"]);
        let first: Vec<String> = rows
            .records()
            .next()
            .unwrap()
            .unwrap()
            .iter()
            .map(String::from)
            .collect();
        assert_eq!(first, ["say \"hi\"", "0", "1"]);
        assert_eq!(rows.records().count(), 1);
    }

    #[test]
    fn score_is_softmax_cross_entropy() {
        let (pred, conf, loss) = score(&[0.0, 2.0_f32.ln(), 0.0], 0);
        assert_eq!(pred, 1);
        assert!((conf - 0.5).abs() < 1e-6, "{conf}");
        assert!((loss - 4.0_f32.ln()).abs() < 1e-6, "{loss}");
    }
}
