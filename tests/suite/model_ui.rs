//! The Model panel in the real app, headless: choosing an architecture shows PyTorch's
//! parameter count, its size and memory, and freezing shows trainable against frozen.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::time::Duration;

use crate::common;

use cnn_workbench::app::WorkbenchApp;
use cnn_workbench::model::{Freeze, ModelConfig};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

/// The real app with the built-in dataset loaded.
fn harness<'a>(runs: &std::path::Path) -> Harness<'a, WorkbenchApp> {
    let app = WorkbenchApp::new(&egui::Context::default(), None, runs.to_owned());
    let mut harness = common::app_harness(app, [1280.0, 2400.0], false);
    // Loaded, and the Dataset panel's summary in place (the column's layout then stays put).
    common::wait_until("the dataset to load", Duration::from_secs(60), || {
        harness.step();
        harness.state().dataset.is_some() && harness.state().dataset_view.class_names().is_some()
    });
    harness.step();
    harness
}

#[test]
fn the_panel_shows_size_memory_and_frozen_parameters() {
    let runs = tempfile::tempdir().unwrap();
    let mut harness = harness(runs.path());
    assert!(
        harness
            .query_by_label_contains("31,530 trainable parameters")
            .is_some(),
        "SimpleCNN's count on 28×28 gray images"
    );

    harness.state_mut().config.model = ModelConfig::from_name("resnet18").unwrap();
    harness.run();
    assert!(
        harness
            .query_by_label_contains("11,175,370 trainable parameters")
            .is_some(),
        "ResNet-18 on one channel and ten classes"
    );
    assert!(harness.query_by_label_contains("33.011 M MACs").is_some());
    assert!(
        harness
            .query_by_label_contains("Memory for batch size 64")
            .is_some()
    );
    assert!(harness.query_by_label_contains("Layers (14)").is_some());

    harness.state_mut().config.transfer.freeze = Freeze::AllButLast { blocks: 1 };
    harness.run();
    // Stem, layer1..layer3 frozen; layer4 and fc train: 8,398,858 + 5,130.
    assert!(
        harness
            .query_by_label_contains("11,175,370 parameters: 8,398,858 trainable, 2,776,512 frozen")
            .is_some()
    );

    // Gray images into a 3-channel backbone at 64×64.
    harness.state_mut().config.transfer.backbone_channels = Some(3);
    harness.state_mut().config.transfer.resize = Some(64);
    harness.run();
    assert!(
        harness
            .query_by_label_contains("network sees 3×64×64")
            .is_some()
    );
    assert!(
        harness
            .query_by_label_contains("images resized from 28×28 to 64×64")
            .is_some()
    );

    // A model that cannot take the data says why.
    harness.state_mut().config.model = ModelConfig::LeNet5(Default::default());
    harness.state_mut().config.transfer.resize = Some(6);
    harness.run();
    assert!(harness.query_by_label_contains("does not fit").is_some());
}
