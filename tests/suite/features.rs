//! Cached backbone features: a frozen ResNet's run trains the same, bit for bit, with its
//! features cached as recomputed every step; caching stays off (with the reason in `run.json`)
//! where it would change the result; cached augmented views are reproducible.

use std::path::{Path, PathBuf};

use cnn_workbench::augment::Preset;
use cnn_workbench::data::{DatasetSource, ShapesConfig};
use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::experiment::feature_cache::FeatureCacheRecord;
use cnn_workbench::experiment::record::RunSummary;
use cnn_workbench::model::{CacheFeatures, Freeze, ModelConfig, ResNet18Config, TransferConfig};
use cnn_workbench::train::message::{EpochMetrics, RunStatus};

use crate::common;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/resnet")
        .join(name)
}

/// The classic transfer recipe in small: the 4-wide ResNet-18 fixture, frozen but for a new
/// head, on 32×32 colour shapes; 3 epochs of Adam with a partial last batch.
fn frozen_run() -> ExperimentConfig {
    let mut config = ExperimentConfig::for_source(DatasetSource::Shapes(ShapesConfig {
        classes: 4,
        train_samples: 60,
        test_samples: 30,
        size: 32,
        ..ShapesConfig::default()
    }));
    config.model = ModelConfig::ResNet18(ResNet18Config { width: 4 });
    config.transfer = TransferConfig {
        weights: Some(fixture("resnet18_w4.safetensors")),
        backbone_channels: Some(3),
        freeze: Freeze::Backbone,
        ..TransferConfig::default()
    };
    config.train.epochs = 3;
    config.train.batch_size = 8;
    config.train.lr = 1e-2;
    config.seed = 5;
    config
}

/// Trains `config`, recorded in a temporary directory; the epochs and what `run.json` says
/// about the cache.
fn run(config: ExperimentConfig) -> (Vec<EpochMetrics>, FeatureCacheRecord) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let outcome = common::train(config, Some(dir.clone()));
    assert_eq!(outcome.status, RunStatus::Completed, "{}", outcome.message);
    let text = std::fs::read_to_string(dir.join("run.json")).unwrap();
    let summary: RunSummary = serde_json::from_str(&text).unwrap();
    (outcome.epochs, summary.feature_cache.expect("recorded"))
}

/// The numbers a run produces, as bits (timings left out).
fn bits(epochs: &[EpochMetrics]) -> Vec<[u64; 4]> {
    epochs
        .iter()
        .map(|m| {
            [
                m.train_loss.to_bits(),
                m.train_acc.to_bits(),
                m.val_loss.to_bits(),
                m.val_acc.to_bits(),
            ]
        })
        .collect()
}

#[test]
fn cached_features_train_exactly_as_recomputed_ones() {
    let (cached, record) = run(frozen_run());
    assert!(record.cached, "{record:?}");
    assert_eq!(record.reason, None);
    assert!(record.bytes > 0);
    let mut off = frozen_run();
    off.transfer.cache_features = CacheFeatures::Off;
    let (recomputed, record) = run(off);
    assert!(!record.cached);
    assert!(record.reason.unwrap().contains("off"));
    assert_eq!(cached.len(), 3);
    assert_eq!(
        bits(&cached),
        bits(&recomputed),
        "{cached:?}\n{recomputed:?}"
    );
    // The head did learn something: the epochs differ.
    assert_ne!(bits(&cached[..1]), bits(&cached[2..]));
}

#[test]
fn caching_is_off_where_it_would_change_the_result() {
    let mut augmented = frozen_run();
    augmented.train.epochs = 1;
    augmented.augment = Preset::Seed2.config();
    let (_, record) = run(augmented);
    assert!(!record.cached);
    assert!(
        record
            .reason
            .as_deref()
            .unwrap()
            .contains("augmentation is on"),
        "{record:?}"
    );
    let mut partial = frozen_run();
    partial.train.epochs = 1;
    partial.transfer.freeze = Freeze::AllButLast { blocks: 1 };
    let (_, record) = run(partial);
    assert!(!record.cached);
    assert!(
        record.reason.as_deref().unwrap().contains("not frozen"),
        "{record:?}"
    );
}

#[test]
fn cached_views_are_reproducible() {
    let views = || {
        let mut config = frozen_run();
        config.augment = Preset::Seed2.config();
        config.transfer.cache_views = 3;
        config
    };
    let (a, record) = run(views());
    assert!(record.cached && record.views == 3, "{record:?}");
    let (b, _) = run(views());
    assert_eq!(bits(&a), bits(&b));
    // The views are augmented: the run differs from one without augmentation.
    let (plain, _) = run(frozen_run());
    assert_ne!(bits(&a), bits(&plain));
}
