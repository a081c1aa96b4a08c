//! `cnn-workbench train` end to end: the files of a run directory, as documented.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::process::Command;

fn workbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cnn-workbench"))
}

#[test]
fn train_writes_metrics_config_and_run_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let output = workbench()
        .args([
            "train",
            "--dataset",
            "noise",
            "--model",
            "simple-cnn",
            "--epochs",
            "3",
        ])
        .args([
            "--batch-size",
            "10",
            "--lr",
            "0.001",
            "--seed",
            "5",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,train_loss,val_loss,train_acc,val_acc,lr,train_secs,val_secs")
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 8);
        assert_eq!(row[0], (i + 1) as f64);
        assert!(row[1] > 0.0 && row[2] > 0.0, "losses are positive");
        assert!(
            (0.0..=1.0).contains(&row[3]) && (0.0..=1.0).contains(&row[4]),
            "accuracies"
        );
        assert_eq!(row[5], 0.001);
    }

    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["status"], "completed");
    assert_eq!(run["epochs_done"], 3);
    assert_eq!(run["train_samples"], 100);
    assert_eq!(run["val_samples"], 100);

    let config = cnn_workbench::experiment::ExperimentConfig::from_toml(
        &std::fs::read_to_string(out.join("config.toml")).unwrap(),
    )
    .unwrap();
    assert_eq!(config.train.epochs, 3);
    assert_eq!(config.train.batch_size, 10);
    assert_eq!(config.seed, 5);
    assert_eq!(config.dataset.source.short_name(), "noise");
}

#[test]
fn the_same_seed_gives_the_same_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |name: &str| {
        let out = tmp.path().join(name);
        let status = workbench()
            .args([
                "train",
                "--dataset",
                "noise",
                "--epochs",
                "2",
                "--seed",
                "9",
                "--quiet",
                "--out",
            ])
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success());
        let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
        // Drop the timing columns, which differ from run to run.
        csv.lines()
            .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
    };
    assert_eq!(run("a"), run("b"));
}

#[test]
fn bad_arguments_give_a_message_and_exit_code_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let output = workbench()
        .args(["train", "--dataset", "noise", "--epochs", "0", "--out"])
        .arg(tmp.path().join("r"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("epochs must be between 1"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // An output path under a regular file cannot be created.
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let output = workbench()
        .args([
            "train",
            "--dataset",
            "noise",
            "--epochs",
            "1",
            "--quiet",
            "--out",
        ])
        .arg(file.join("run"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot write") && stderr.contains("file"),
        "{stderr}"
    );
}

#[test]
fn augment_writes_a_reproducible_preview_grid_png() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = |seed: &str, name: &str| {
        let out = tmp.path().join(name);
        let output = workbench()
            .args(["augment", "--dataset", "embedded", "--augment", "seed2"])
            .args([
                "--rows", "3", "--cols", "5", "--seed", seed, "--zoom", "2", "--out",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read(out).unwrap()
    };
    let png = grid("4", "a.png");
    assert_eq!(&png[1..4], b"PNG");
    let size = |png: &[u8], at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    let shape = cnn_workbench::augment::ImageShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    let [w, h] = cnn_workbench::augment::grid::Layout::new(shape, 3, 5, 2).size();
    assert_eq!((size(&png, 16), size(&png, 20)), (w as u32, h as u32));
    assert_eq!(grid("4", "b.png"), png, "the same seed gives the same grid");
    assert_ne!(grid("5", "c.png"), png, "another seed, other draws");
}

#[test]
fn train_saves_its_augmentation_and_bad_files_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let output = workbench()
        .args([
            "train",
            "--dataset",
            "noise",
            "--epochs",
            "1",
            "--augment",
            "seed2",
        ])
        .args(["--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config = cnn_workbench::experiment::ExperimentConfig::from_toml(
        &std::fs::read_to_string(out.join("config.toml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        config.augment,
        cnn_workbench::augment::Preset::Seed2.config()
    );

    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[affine]\ndegrees = \"ten\"\n").unwrap();
    let typo = tmp.path().join("typo.toml");
    std::fs::write(&typo, "[afine]\nenabled = true\n").unwrap();
    for (spec, expected) in [
        (
            bad.to_str().unwrap(),
            "bad.toml is not a valid augmentation file",
        ),
        (typo.to_str().unwrap(), "afine"),
        ("sed2", "neither an augmentation preset"),
    ] {
        let output = workbench()
            .args([
                "train",
                "--dataset",
                "noise",
                "--epochs",
                "1",
                "--augment",
                spec,
            ])
            .arg("--out")
            .arg(tmp.path().join("never"))
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{spec}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
