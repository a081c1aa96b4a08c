//! Built-in lessons: each a ready experiment (or an A/B pair) from the built-in data, with a short
//! explanation of what the plot will show. Sized to make their point on a 2-core laptop CPU in
//! about a minute.

use super::ExperimentConfig;
use crate::data::{DatasetSource, noise::NoiseConfig};
use crate::train::OptimizerConfig;

/// One run of a lesson.
#[derive(Debug, Clone, PartialEq)]
pub struct LessonRun {
    /// What this run is, e.g. "without augmentation".
    pub label: &'static str,
    /// Its experiment.
    pub config: ExperimentConfig,
}

/// A lesson: its runs (trained one after the other and overlaid) and what to look for.
#[derive(Debug, Clone, PartialEq)]
pub struct Lesson {
    /// Short identifier for the command line (`train --lesson ID`).
    pub id: &'static str,
    /// Title shown in the list.
    pub title: &'static str,
    /// What the lesson demonstrates, in two or three sentences.
    pub explanation: &'static str,
    /// What to watch on the plot.
    pub look_for: &'static str,
    /// The runs, in order; the first is loaded when the lesson is picked.
    pub runs: Vec<LessonRun>,
}

/// Every built-in lesson, in teaching order.
pub fn lessons() -> Vec<Lesson> {
    vec![noise(), learning_rate()]
}

/// The lesson with this identifier or 1-based number.
pub fn find(key: &str) -> Option<Lesson> {
    let all = lessons();
    if let Ok(n) = key.parse::<usize>() {
        return n.checked_sub(1).and_then(|i| all.get(i).cloned());
    }
    all.into_iter().find(|l| l.id == key)
}

fn noise() -> Lesson {
    Lesson {
        id: "noise",
        title: "Memorising noise",
        explanation: "100 images of pure Gaussian noise with random labels: there is nothing to \
                      learn, yet a small CNN reaches 100 % training accuracy by memorising them. \
                      Validation accuracy stays at chance (10 %).",
        look_for: "Training loss falls towards zero while validation loss bottoms out within a \
                   few epochs and then climbs: the shaded gap is pure memorisation. The best \
                   epoch and the overfitting onset come early.",
        runs: vec![LessonRun {
            label: "noise",
            config: ExperimentConfig::for_source(DatasetSource::Noise(NoiseConfig::default())),
        }],
    }
}

fn learning_rate() -> Lesson {
    let with_lr = |lr: f64, epochs: usize| {
        let mut config = ExperimentConfig::for_source(DatasetSource::Embedded);
        config.train.optimizer = OptimizerConfig::Sgd {
            momentum: 0.9,
            nesterov: false,
        };
        config.train.lr = lr;
        config.train.epochs = epochs;
        config
    };
    Lesson {
        id: "learning-rate",
        title: "Learning rate too high, too low",
        explanation: "The same model and data with SGD at three learning rates. Far too high and \
                      the loss explodes within the first epoch (the run stops as diverged); far \
                      too low and it crawls; in between it learns.",
        look_for: "The too-high run ends at once with a divergence message; the too-low run's \
                   loss barely moves in 5 epochs while the well-chosen one falls steeply. Use \
                   LR finder to find the good rate yourself.",
        runs: vec![
            LessonRun {
                label: "too high (lr 1)",
                config: with_lr(1.0, 5),
            },
            LessonRun {
                label: "too low (lr 1e-5)",
                config: with_lr(1e-5, 5),
            },
            LessonRun {
                label: "about right (lr 0.02)",
                config: with_lr(0.02, 5),
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_is_valid_and_findable() {
        let all = lessons();
        assert!(!all.is_empty());
        for (i, lesson) in all.iter().enumerate() {
            assert!(!lesson.runs.is_empty(), "{}", lesson.id);
            for run in &lesson.runs {
                run.config.train.validate().unwrap();
                let text = run.config.to_toml().unwrap();
                assert_eq!(ExperimentConfig::parse(&text).unwrap(), run.config);
            }
            assert_eq!(find(lesson.id).as_ref(), Some(lesson));
            assert_eq!(find(&(i + 1).to_string()).as_ref(), Some(lesson));
        }
        assert!(find("0").is_none() && find("nope").is_none());
    }
}
