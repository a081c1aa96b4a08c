//! The model commands end to end: every architecture trains from the command line, a run's
//! weights become a backbone that `predict` and a fine-tuning run take, and weight files that
//! do not fit are refused with their tensors named (those of another architecture as such).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

use crate::common;

fn workbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cnn-workbench"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn every_architecture_trains_on_the_noise_data() {
    let tmp = tempfile::tempdir().unwrap();
    for (model, params) in [
        ("simple-cnn", "31530"),
        ("cnn", "421738"),
        ("mlp", "269322"),
        ("lenet5", "61706"),
        ("resnet-small", "272186"),
    ] {
        let out = tmp.path().join(model);
        let stdout = ok(&workbench(&[
            "train",
            "--dataset",
            "noise",
            "--model",
            model,
            "--epochs",
            "1",
            "--out",
            path(&out),
        ]));
        assert!(
            stdout.contains(&format!("({params} parameters)")),
            "{model}: {stdout}"
        );
        let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
        assert!(config.contains(&format!("kind = \"{model}\"")), "{config}");
    }
}

/// ResNet-34 and ResNet-50, narrowed through their `width` setting so an epoch takes moments,
/// train from the command line and are recorded under their names.
#[test]
fn deeper_resnets_train_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    for model in ["resnet34", "resnet50"] {
        let out = tmp.path().join(model);
        let json = format!(r#"{{"kind": "{model}", "width": 4}}"#);
        let stdout = ok(&workbench(&[
            "train",
            "--dataset",
            "noise",
            "--model-json",
            &json,
            "--epochs",
            "1",
            "--out",
            path(&out),
        ]));
        assert!(stdout.contains(" parameters) on "), "{model}: {stdout}");
        let config = std::fs::read_to_string(out.join("config.toml")).unwrap();
        assert!(config.contains(&format!("kind = \"{model}\"")), "{config}");
        assert!(config.contains("width = 4"), "{config}");
    }
}

#[test]
fn a_run_becomes_a_backbone_for_predict_and_fine_tuning() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("pretrain");
    ok(&workbench(&[
        "train",
        "--dataset",
        "noise",
        "--model",
        "lenet5",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        path(&run),
    ]));
    let backbone = tmp.path().join("lenet.safetensors");
    let stdout = ok(&workbench(&[
        "export-weights",
        path(&run),
        "--out",
        path(&backbone),
    ]));
    assert!(
        stdout.contains("lenet5") && stdout.contains("61706"),
        "{stdout}"
    );

    // A 28×28 gray picture, classified as the built-in data's images are prepared.
    let image = tmp.path().join("gray.png");
    image::GrayImage::from_fn(28, 28, |x, y| image::Luma([((x * 9 + y * 5) % 256) as u8]))
        .save(&image)
        .unwrap();
    let stdout = ok(&workbench(&[
        "predict",
        "--model",
        "lenet5",
        "--weights",
        path(&backbone),
        "--image",
        path(&image),
        "--preprocess",
        "dataset",
        "--top",
        "3",
        "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["logits"].as_array().unwrap().len(), 10);
    let top = json["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    let probs: Vec<f64> = top.iter().map(|t| t["prob"].as_f64().unwrap()).collect();
    assert!(probs.windows(2).all(|w| w[0] >= w[1]), "{probs:?}");
    assert!(probs.iter().sum::<f64>() <= 1.0 + 1e-6);

    // Fine-tune from the backbone with everything but the classifier frozen.
    let tuned = tmp.path().join("tuned");
    ok(&workbench(&[
        "train",
        "--dataset",
        "noise",
        "--model",
        "lenet5",
        "--weights",
        path(&backbone),
        "--freeze",
        "backbone",
        "--backbone-lr",
        "0.1",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        path(&tuned),
    ]));
    let config = std::fs::read_to_string(tuned.join("config.toml")).unwrap();
    assert!(config.contains("kind = \"backbone\""), "{config}");
}

#[test]
fn the_transfer_lesson_runs_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let stdout = ok(&workbench(&[
        "lesson",
        "transfer",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        path(tmp.path()),
    ]));
    assert!(
        stdout.contains("transfer: fine-tune on 5–9")
            && stdout.contains("transfer: from scratch on 5–9"),
        "{stdout}"
    );
    for run in ["transfer-finetune", "transfer-scratch"] {
        let summary = std::fs::read_to_string(tmp.path().join(run).join("run.json")).unwrap();
        assert!(summary.contains("\"train_samples\": 50"), "{summary}");
        assert!(summary.contains("\"val_samples\": 500"), "{summary}");
    }
}

#[test]
fn predict_with_imagenet_preprocessing_and_a_torchvision_file() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("photo.jpg");
    image::RgbImage::from_fn(300, 200, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    })
    .save(&image)
    .unwrap();
    let weights =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resnet/resnet18_w4.pth");
    // The fixture is a narrow ResNet-18: the full-width model is refused by name and shape.
    let output = workbench(&[
        "predict",
        "--model",
        "resnet18",
        "--weights",
        path(&weights),
        "--image",
        path(&image),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("conv1.weight (file [4, 3, 7, 7], model [64, 3, 7, 7])"),
        "{stderr}"
    );
    // Untrained, with 1,000 classes: the top-5 of a full-size ResNet-18.
    let stdout = ok(&workbench(&[
        "predict",
        "--model",
        "resnet18",
        "--classes",
        "1000",
        "--image",
        path(&image),
        "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(json["logits"].as_array().unwrap().len(), 1000);
    assert_eq!(json["top"].as_array().unwrap().len(), 5);
}

#[test]
fn weights_of_another_architecture_are_refused_as_such() {
    let tmp = tempfile::tempdir().unwrap();
    // EfficientNet-PyTorch's names in outline: a 3-channel stem and a head convolution taking
    // 320 channels, which the channel count was once wrongly read from.
    let mut tensors = vec![("_conv_stem.weight".to_owned(), vec![32, 3, 3, 3])];
    for (bn, c) in [("_bn0", 32), ("_blocks.0._bn1", 32), ("_bn1", 1280)] {
        for p in ["weight", "bias", "running_mean", "running_var"] {
            tensors.push((format!("{bn}.{p}"), vec![c]));
        }
    }
    tensors.push(("_blocks.0._depthwise_conv.weight".into(), vec![32, 1, 3, 3]));
    tensors.push(("_conv_head.weight".into(), vec![1280, 320, 1, 1]));
    tensors.push(("_fc.weight".into(), vec![10, 1280]));
    tensors.push(("_fc.bias".into(), vec![10]));
    let weights = tmp.path().join("efficientnet_lite0.safetensors");
    common::write_safetensors(&weights, &tensors);
    let output = workbench(&[
        "train",
        "--dataset",
        "noise",
        "--model",
        "resnet18",
        "--weights",
        path(&weights),
        "--epochs",
        "1",
        "--quiet",
        "--out",
        path(&tmp.path().join("run")),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("efficientnet_lite0.safetensors holds an EfficientNet")
            && stderr.contains("not ResNet-18 (torchvision)")
            && stderr.contains("CNN Workbench does not support that architecture")
            && stderr.contains("missing from the file: bn1.bias [64]")
            && stderr.contains("in the file but not in the model: _blocks.0._bn1.bias [32]"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("backbone expects") && !stderr.contains("grayscale"),
        "{stderr}"
    );
}
