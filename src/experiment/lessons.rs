//! Built-in lessons: each a ready experiment (or an A/B pair) from the built-in data, with a short
//! explanation of what the plot will show. Sized to make their point on a 2-core laptop CPU in
//! about a minute.

use super::ExperimentConfig;
use super::OptimizerConfig;
use super::lesson_runs::{self, LessonRun as RunKind};
use crate::augment::Preset;
use crate::augment::crop::{CropConfig, EvalCrop, TrainCrop};
use crate::data::{DatasetSource, TrainSize, Validation, noise::NoiseConfig};

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
    vec![
        noise(),
        small_data(),
        augmentation(),
        transfer(),
        too_big(),
        learning_rate(),
        label_noise(),
        high_resolution(),
        more_data(),
        synthetic(),
    ]
}

/// Generated images per class the synthetic-data lesson mixes in.
pub const SYNTHETIC_PER_CLASS: usize = 100;

fn synthetic() -> Lesson {
    let run = |augment: Preset, synthetic: bool| {
        let mut config = few_images(TrainSize::PerClass { count: 20 }, 60, 8);
        config.augment = augment.config();
        if synthetic {
            config.synthetic = super::gan::SyntheticConfig {
                run: Some(super::lesson_runs::lesson_gan_dir()),
                per_class: SYNTHETIC_PER_CLASS,
            };
        }
        config
    };
    Lesson {
        id: "synthetic",
        title: "Synthetic data from a GAN",
        explanation: "200 real training images (20 per class), four ways: no help; augmentation \
                      (seed snippet 2); 100 images per class from a class-conditional GAN \
                      trained on the same 200 images (shipped with the program; `gan train` \
                      makes your own); and both. Validation is the 1,000 real test images in \
                      every run.",
        look_for: "Compare the best validation loss and the gap of the four curves. A GAN \
                   trained on 200 images can only recombine what they show: its images add \
                   variety of pose and texture but no new information, and its \
                   train-on-synthetic score (in the Generator window) says how much class \
                   detail it kept. The README gives the measured outcome.",
        runs: vec![
            LessonRun {
                label: "no help",
                config: run(Preset::None, false),
            },
            LessonRun {
                label: "augmentation",
                config: run(Preset::Seed2, false),
            },
            LessonRun {
                label: "synthetic images",
                config: run(Preset::None, true),
            },
            LessonRun {
                label: "augmentation + synthetic images",
                config: run(Preset::Seed2, true),
            },
        ],
    }
}

/// Training-set sizes of the "more data" lesson.
pub const MORE_DATA_SIZES: [usize; 3] = [60, 250, 1000];

fn more_data() -> Lesson {
    let run = |size: usize, big: bool| {
        let mut config = few_images(TrainSize::Total { count: size }, 15, 32);
        if big {
            config.model =
                crate::model::ModelConfig::ResNetSmall(crate::model::ResNetSmallConfig::default());
        }
        config
    };
    let labels = [
        ("SimpleCNN, 60 images", "ResNet-small, 60 images"),
        ("SimpleCNN, 250 images", "ResNet-small, 250 images"),
        ("SimpleCNN, 1,000 images", "ResNet-small, 1,000 images"),
    ];
    let mut runs = Vec::new();
    for (size, (small, big)) in MORE_DATA_SIZES.into_iter().zip(labels) {
        runs.push(LessonRun {
            label: small,
            config: run(size, false),
        });
        runs.push(LessonRun {
            label: big,
            config: run(size, true),
        });
    }
    Lesson {
        id: "more-data",
        title: "More data beats a bigger model",
        explanation: "A learning curve: SimpleCNN (31,530 parameters) and ResNet-small (272,186, a CIFAR-style \
                      ResNet-20) on 60, 250 and 1,000 Fashion-MNIST images, validated on the \
                      same 1,000. The bigger model memorises small sets faster; each step up in \
                      data lowers the validation loss more than the bigger model does.",
        look_for: "At every size the small model's best validation loss is lower and its gap \
                   smaller; 1,000 images with the small model beat 250 with the big one. The \
                   same sweep on the command line (`sweep --grid dataset.train_size.count=… \
                   --grid model.kind=simple-cnn,resnet-small`) draws it as sweep.png.",
        runs,
    }
}

fn high_resolution() -> Lesson {
    let run = |crop: bool| {
        let mut config =
            ExperimentConfig::for_source(DatasetSource::Micro(crate::data::MicroConfig::default()));
        config.dataset.train_size = TrainSize::PerClass { count: 20 };
        config.dataset.validation = Validation::SourceTest;
        config.train.epochs = 40;
        config.train.batch_size = 8;
        config.seed = 1;
        if crop {
            config.crop = CropConfig {
                input_size: Some(64),
                train: TrainCrop::Random,
                eval: EvalCrop::Tiles,
                ..CropConfig::default()
            };
        } else {
            config.dataset.input.size = Some(64);
        }
        config
    };
    Lesson {
        id: "high-res",
        title: "High resolution, few labels",
        explanation: "Built-in micrographs, 1024×1024, of three kinds of stained cells that differ \
                      only in their nuclei (round, lobed, speckled), 20 per class. First each \
                      image squashed whole to 64×64, where that detail is gone; then 64×64 \
                      windows cut at random from the full-resolution images for training, and \
                      every validation image covered by 256 such tiles whose logits are averaged.",
        look_for: "The squashed run memorises its 60 images (training accuracy 100 %) while \
                   validation stays at chance and its loss climbs. The cropped run never sees \
                   the same input twice: its training and validation losses fall together and \
                   validation accuracy rises well above chance.",
        runs: vec![
            LessonRun {
                label: "whole images squashed to 64 px",
                config: run(false),
            },
            LessonRun {
                label: "random 64 px crops, tiled validation",
                config: run(true),
            },
        ],
    }
}

/// Where the transfer lesson's shipped backbone is unpacked for runs to load: beside the runs
/// folder, so recorded configurations keep pointing at a file that exists.
pub fn backbone_path() -> std::path::PathBuf {
    let dir = super::record::default_runs_root().with_file_name("backbones");
    lesson_runs::write_backbone(&dir)
        .unwrap_or_else(|_| dir.join(lesson_runs::TRANSFER_BACKBONE_FILE))
}

fn transfer() -> Lesson {
    let backbone = backbone_path();
    Lesson {
        id: "transfer",
        title: "Transfer learning",
        explanation: "A CNN pretrained here on Fashion-MNIST classes 0–4 (T-shirt to Coat) is \
                      fine-tuned on classes 5–9 (Sandal to Ankle boot) with only 10 images per \
                      class and all but its last block frozen, against the same CNN trained from \
                      scratch on the same 50 images.",
        look_for: "The fine-tuned run starts with a far lower validation loss and ends with a \
                   higher validation accuracy: features learnt on clothes transfer to shoes \
                   and bags. From scratch, 50 images are quickly memorised.",
        runs: vec![
            LessonRun {
                label: "pretrained backbone, fine-tuned",
                config: RunKind::TransferFineTune.config(&backbone),
            },
            LessonRun {
                label: "from scratch",
                config: RunKind::TransferScratch.config(&backbone),
            },
        ],
    }
}

fn too_big() -> Lesson {
    let backbone = backbone_path();
    Lesson {
        id: "too-big",
        title: "Too big a model",
        explanation: "The seed's SimpleCNN (31,530 parameters) against ResNet-18 (11.2 million) on \
                      30 images per class. The big model has capacity to spare for memorising \
                      300 images, and little data to learn general features from.",
        look_for: "Both reach near-100 % training accuracy; compare the validation curves and \
                   the gap. ResNet-18 is also far slower per epoch.",
        runs: vec![
            LessonRun {
                label: "SimpleCNN",
                config: RunKind::CapacitySmall.config(&backbone),
            },
            LessonRun {
                label: "ResNet-18",
                config: RunKind::CapacityResNet.config(&backbone),
            },
        ],
    }
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

/// The seed's SimpleCNN with Adam on a few training images of the built-in Fashion-MNIST,
/// validated on its 1,000 test images (a steady curve).
fn few_images(train_size: TrainSize, epochs: usize, batch_size: usize) -> ExperimentConfig {
    let mut config = ExperimentConfig::for_source(DatasetSource::Embedded);
    config.dataset.train_size = train_size;
    config.dataset.validation = Validation::SourceTest;
    config.train.epochs = epochs;
    config.train.batch_size = batch_size;
    config
}

fn small_data() -> Lesson {
    Lesson {
        id: "small-data",
        title: "Small data overfits",
        explanation: "The same small CNN that generalises well on 6,000 images is given only 200 \
                      (20 per class). It can fit 200 images perfectly, and does: everything it \
                      learns after the first few epochs is specific to those 200.",
        look_for: "Training loss keeps falling towards zero; validation loss reaches its \
                   minimum after a few epochs and then rises while validation accuracy stalls. \
                   Try the Training images setting: more data pushes the onset later.",
        runs: vec![LessonRun {
            label: "200 training images",
            config: few_images(TrainSize::Total { count: 200 }, 60, 8),
        }],
    }
}

fn augmentation() -> Lesson {
    let run = |augment: Preset| {
        let mut config = few_images(TrainSize::PerClass { count: 20 }, 100, 8);
        config.augment = augment.config();
        config
    };
    Lesson {
        id: "augmentation",
        title: "Augmentation helps",
        explanation: "An A/B pair on 200 training images (20 per class), 100 epochs: first \
                      without augmentation, then with the seed's snippet 2 (random horizontal flip and \
                      a small random affine: ±10°, 10 % shift, 0.9–1.1 scale). Every epoch the \
                      model sees slightly different versions of the same 200 images.",
        look_for: "The plain run's validation loss climbs steeply after its minimum; the \
                   augmented run's curve stays close to its minimum for much longer, with \
                   training loss higher: memorising is harder when the images keep changing.",
        runs: vec![
            LessonRun {
                label: "no augmentation",
                config: run(Preset::None),
            },
            LessonRun {
                label: "seed snippet 2 augmentation",
                config: run(Preset::Seed2),
            },
        ],
    }
}

fn label_noise() -> Lesson {
    let run = |noise: f32| {
        let mut config = few_images(TrainSize::Total { count: 1000 }, 40, 32);
        config.dataset.label_noise = noise;
        config
    };
    Lesson {
        id: "label-noise",
        title: "Label noise and how validation exposes it",
        explanation: "1,000 training images with clean labels, then the same images with 40 % of \
                      their labels replaced by a wrong class at random. The validation labels \
                      stay clean, so the validation curve measures what the model really learnt.",
        look_for: "With noisy labels the training loss stays high for long, then falls as the \
                   model starts memorising the wrong labels, and exactly then validation loss \
                   turns upwards. Training accuracy alone would hide this; validation shows it.",
        runs: vec![
            LessonRun {
                label: "clean labels",
                config: run(0.0),
            },
            LessonRun {
                label: "40 % label noise",
                config: run(0.4),
            },
        ],
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
