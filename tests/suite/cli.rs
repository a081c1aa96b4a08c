//! `cnn-workbench train` end to end: the files of a run directory, as documented.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common::{succeed, train_noise, workbench};

#[test]
fn train_writes_metrics_config_and_run_json() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    train_noise(
        &out,
        &[
            "--model",
            "simple-cnn",
            "--epochs",
            "3",
            "--batch-size",
            "10",
            "--lr",
            "0.001",
            "--seed",
            "5",
        ],
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
    let fingerprint = &run["dataset_fingerprint"];
    assert_eq!(fingerprint["shape"], "28x28x1");
    assert_eq!(fingerprint["indices_hash"].as_str().unwrap().len(), 16);
    let picture = image::open(out.join("report.png")).unwrap();
    assert!(picture.width() >= 320);

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
        train_noise(&out, &["--epochs", "2", "--seed", "9"]);
        metrics_without_times(&out)
    };
    assert_eq!(run("a"), run("b"));
}

/// The metrics of a run without the timing columns, which differ from run to run.
fn metrics_without_times(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
        .collect()
}

#[test]
fn a_saved_config_runs_the_same_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    // What the window's "Save config…" writes.
    let mut config = cnn_workbench::experiment::ExperimentConfig::noise();
    config.train.epochs = 2;
    config.train.lr = 0.002;
    config.seed = 11;
    let file = tmp.path().join("experiment.toml");
    std::fs::write(&file, config.to_toml().unwrap()).unwrap();

    let from_file = tmp.path().join("from-file");
    train_noise(&from_file, &["--config", file.to_str().unwrap()]);
    let from_flags = tmp.path().join("from-flags");
    train_noise(
        &from_flags,
        &["--epochs", "2", "--lr", "0.002", "--seed", "11"],
    );
    assert_eq!(
        metrics_without_times(&from_file),
        metrics_without_times(&from_flags)
    );
    let saved = std::fs::read_to_string(from_file.join("config.toml")).unwrap();
    assert_eq!(
        cnn_workbench::experiment::ExperimentConfig::from_toml(&saved).unwrap(),
        config
    );

    // Flags override the file.
    let overridden = tmp.path().join("overridden");
    train_noise(
        &overridden,
        &["--config", file.to_str().unwrap(), "--epochs", "1"],
    );
    assert_eq!(
        metrics_without_times(&overridden).len(),
        2,
        "header + 1 epoch"
    );

    // A bad field is reported with its line.
    std::fs::write(&file, "seed = 1\n[train]\nepochs = 0\n").unwrap();
    let output = workbench()
        .args(["train", "--config"])
        .arg(&file)
        .arg("--out")
        .arg(tmp.path().join("never"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 3") && stderr.contains("train.epochs"),
        "{stderr}"
    );
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
fn report_prints_the_story_and_writes_a_png() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    train_noise(&out, &["--epochs", "12"]);
    // The engine keeps the best epoch's evaluation next to the metrics.
    let evaluation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("evaluation.json")).unwrap())
            .unwrap();
    assert_eq!(evaluation["per_class"].as_array().unwrap().len(), 10);

    let output = succeed(workbench().arg("report").arg(&out));
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "Best epoch:",
        "Overfitting onset: epoch",
        "Final (epoch 12)",
        "Per class",
        "class 9",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let png = image::open(out.join("report.png")).unwrap();
    assert_eq!((png.width(), png.height()), (1200, 800));

    // A folder that is not a run gets a message naming what is missing, not a panic.
    let output = workbench().arg("report").arg(tmp.path()).output().unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("run.json"), "{err}");
}

#[test]
fn a_run_bundle_round_trips_through_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("noise-run");
    train_noise(&run, &["--epochs", "2"]);
    let zip = tmp.path().join("noise-run.zip");
    succeed(
        workbench()
            .args(["bundle", "export"])
            .arg(&run)
            .arg("--out")
            .arg(&zip),
    );
    let other = tmp.path().join("other-runs");
    succeed(
        workbench()
            .args(["bundle", "import"])
            .arg(&zip)
            .arg("--into")
            .arg(&other),
    );
    let imported = other.join("noise-run");
    for name in [
        "config.toml",
        "metrics.csv",
        "run.json",
        "report.png",
        "checkpoint.json",
    ] {
        assert_eq!(
            std::fs::read(imported.join(name)).unwrap(),
            std::fs::read(run.join(name)).unwrap(),
            "{name}"
        );
    }
    // The imported copy is a complete run: `report` reads it.
    succeed(workbench().arg("report").arg(&imported));

    // Not a zip: a message, exit code 1.
    let output = workbench()
        .args(["bundle", "import"])
        .arg(run.join("metrics.csv"))
        .arg("--into")
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a zip archive"));
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

#[test]
fn progress_jsonl_prints_one_json_object_per_event_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let output = succeed(
        workbench()
            .args([
                "train",
                "--dataset",
                "noise",
                "--epochs",
                "3",
                "--progress",
                "jsonl",
            ])
            .arg("--out")
            .arg(&out),
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["started", "epoch", "epoch", "epoch", "finished"]);
    assert_eq!(events[0]["train_samples"], 100);
    assert_eq!(events[0]["run_dir"], out.to_str().unwrap());
    // Each epoch line holds the metrics.csv row of that epoch.
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    for (line, event) in csv.lines().skip(1).zip(&events[1..4]) {
        let row: Vec<f64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        for (k, field) in [
            "epoch",
            "train_loss",
            "val_loss",
            "train_acc",
            "val_acc",
            "lr",
        ]
        .iter()
        .enumerate()
        {
            let value = event[field].as_f64().unwrap();
            assert!(
                (value - row[k]).abs() <= 1e-9 * row[k].abs().max(1.0),
                "{field}"
            );
        }
    }
    let last = &events[4];
    assert_eq!(last["status"], "completed");
    assert_eq!(last["run"]["status"], "completed");
    assert_eq!(last["run"]["epochs_done"], 3);
}

#[test]
fn a_local_sweep_runs_every_combination_and_tabulates_them() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    train_noise(&base, &["--epochs", "2"]);
    let out = tmp.path().join("sweep");
    succeed(
        workbench()
            .args(["sweep", "--config"])
            .arg(base.join("config.toml"))
            .args([
                "--grid",
                "train.batch_size=10,50",
                "--repeat",
                "2",
                "--local",
                "2",
                "--quiet",
            ])
            .arg("--out")
            .arg(&out),
    );
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "train.batch_size,seed,run,status,best_epoch,best_val_loss,best_val_acc,final_gap,secs"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let swept: Vec<(&str, &str)> = rows.iter().map(|r| (r[0], r[1])).collect();
    assert_eq!(
        swept,
        [("10", "42"), ("10", "43"), ("50", "42"), ("50", "43")]
    );
    for row in &rows {
        assert_eq!(row[3], "completed", "{row:?}");
        let run = out.join(row[2]);
        let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
        assert!(
            config.contains(&format!("batch_size = {}", row[0])),
            "{config}"
        );
        assert_eq!(
            std::fs::read_to_string(run.join("metrics.csv"))
                .unwrap()
                .lines()
                .count(),
            3
        );
    }
    // The sweep's run with the base's settings repeats the base run exactly.
    let base_metrics = std::fs::read_to_string(base.join("metrics.csv")).unwrap();
    let same = std::fs::read_to_string(out.join("run-001").join("metrics.csv")).unwrap();
    let losses = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(losses(&base_metrics), losses(&same));

    let output = workbench()
        .args(["sweep", "--grid", "train.lrr=0.1", "--out"])
        .arg(tmp.path().join("bad"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("train.lrr"), "{err}");
}

#[test]
fn a_random_search_draws_its_points_in_range_and_draws_the_sweep_chart() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    train_noise(&base, &["--epochs", "1"]);
    let out = tmp.path().join("random");
    succeed(
        workbench()
            .args(["sweep", "--config"])
            .arg(base.join("config.toml"))
            .args([
                "--random",
                "3",
                "--range",
                "train.lr=0.0001:0.1:log",
                "--grid",
                "train.batch_size=10,50",
                "--local",
                "2",
                "--quiet",
                "--out",
            ])
            .arg(&out),
    );
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("train.batch_size,train.lr,run,status")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 6);
    for row in &rows {
        let lr: f64 = row[1].parse().unwrap();
        assert!((1e-4..=0.1).contains(&lr), "{row:?}");
        assert_eq!(row[3], "completed", "{row:?}");
        let config = std::fs::read_to_string(out.join(row[2]).join("config.toml")).unwrap();
        assert!(config.contains(&format!("lr = {}", row[1])), "{config}");
    }
    // The same three learning rates for both batch sizes.
    assert_eq!(
        rows[..3].iter().map(|r| r[1]).collect::<Vec<_>>(),
        rows[3..].iter().map(|r| r[1]).collect::<Vec<_>>()
    );
    let png = image::open(out.join("sweep.png")).unwrap();
    assert_eq!((png.width(), png.height()), (1200, 800));

    let output = workbench()
        .args([
            "sweep",
            "--range",
            "train.lr=0.1:0.01",
            "--random",
            "2",
            "--out",
        ])
        .arg(tmp.path().join("bad"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("below the upper"), "{err}");
}

#[test]
fn a_resnet_run_recorded_by_the_earlier_block_layout_resumes_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    std::fs::create_dir_all(&run).unwrap();
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/legacy-resnet-run");
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, run.join(path.file_name().unwrap())).unwrap();
    }
    succeed(
        workbench()
            .args(["train", "--quiet", "--epochs", "2", "--resume"])
            .arg(&run),
    );
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(json["status"], "completed");
    let out = tmp.path().join("backbone.safetensors");
    succeed(
        workbench()
            .arg("export-weights")
            .arg(&run)
            .arg("--out")
            .arg(&out),
    );
    assert!(std::fs::metadata(&out).unwrap().len() > 10_000);
}

/// The program runs with mimalloc's purge delay set (it starts itself again with it when the
/// environment lacks it), and keeps a person's own setting.
#[cfg(target_os = "linux")]
#[test]
fn the_program_runs_with_the_allocators_purge_delay() {
    let environ_of = |setting: Option<&str>| {
        let dir = tempfile::tempdir().unwrap();
        let mut command = workbench();
        command
            .args([
                "train",
                "--dataset",
                "noise",
                "--epochs",
                "1000",
                "--quiet",
                "--out",
            ])
            .arg(dir.path().join("run"))
            .env_remove("MIMALLOC_PURGE_DELAY")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if let Some(value) = setting {
            command.env("MIMALLOC_PURGE_DELAY", value);
        }
        let mut child = command.spawn().unwrap();
        // After the new start, the process's environment has the variable.
        let path = format!("/proc/{}/environ", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let mut found = None;
        while found.is_none() && std::time::Instant::now() < deadline {
            let environ = std::fs::read(&path).unwrap_or_default();
            found = environ
                .split(|b| *b == 0)
                .filter_map(|entry| entry.strip_prefix(b"MIMALLOC_PURGE_DELAY="))
                .map(|value| String::from_utf8_lossy(value).into_owned())
                .next();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        found
    };
    assert_eq!(environ_of(None).as_deref(), Some("10000"));
    assert_eq!(environ_of(Some("-1")).as_deref(), Some("-1"));
}
