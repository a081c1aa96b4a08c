//! The GAN from the command line: `gan train` (run folder, resume, same seed same samples, bad
//! input), `gan sample` (a class folder any loader reads) and `train --synthetic` (generated
//! images in the training samples only, recorded).

use std::path::Path;

use crate::common::{succeed, workbench};

/// A small, fast GAN on a few images per class of the built-in data; `extra` holds
/// `--option value` pairs that replace or add to the defaults.
fn tiny_gan(out: &Path, extra: &[&str]) -> std::process::Output {
    let mut options: Vec<(&str, &str)> = vec![
        ("--dataset", "embedded"),
        ("--train-size", "12/class"),
        ("--batch-size", "16"),
        ("--z-dim", "16"),
        ("--width", "16"),
        ("--tstr-every", "1"),
        ("--tstr-per-class", "8"),
    ];
    for pair in extra.chunks(2) {
        match options.iter_mut().find(|(k, _)| *k == pair[0]) {
            Some(slot) => slot.1 = pair[1],
            None => options.push((pair[0], pair[1])),
        }
    }
    workbench()
        .args(["gan", "train", "--quiet"])
        .args(options.iter().flat_map(|(k, v)| [*k, *v]))
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

fn ok(output: &std::process::Output) {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn gan_train_records_its_epochs_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("gan");
    ok(&tiny_gan(&dir, &["--epochs", "2"]));
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = metrics.lines().collect();
    assert_eq!(rows[0], "epoch,d_loss,g_loss,tstr_acc,secs");
    assert_eq!(rows.len(), 3, "{metrics}");
    for row in &rows[1..] {
        let fields: Vec<&str> = row.split(',').collect();
        let tstr: f64 = fields[3].parse().unwrap();
        assert!((0.0..=1.0).contains(&tstr), "{row}");
        assert!(fields[1].parse::<f64>().unwrap().is_finite());
    }
    let run = json(&dir.join("run.json"));
    assert_eq!(run["kind"], "gan");
    assert_eq!(run["status"], "completed");
    assert_eq!(run["train_samples"], 120);
    assert_eq!(run["diff_augment"], true, "auto: on for 120 images");
    assert_eq!(run["nearest"]["checked"], 80);
    assert!(dir.join("samples-e1.png").is_file() && dir.join("samples-e2.png").is_file());
    let checkpoint = json(&dir.join("checkpoint.json"));
    assert_eq!(checkpoint["epoch"], 2);
    assert!(dir.join("generator-e2.bpk").is_file());
    assert!(
        !dir.join("generator-e1.bpk").exists(),
        "older epochs are removed"
    );
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(config.contains("batch_size = 16"), "{config}");

    // Resume to 3 epochs: the first two rows stay, a third comes.
    succeed(
        workbench()
            .args(["gan", "train", "--quiet", "--epochs", "3", "--resume"])
            .arg(&dir),
    );
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "{metrics}");
    assert!(
        metrics.starts_with(&rows[..3].join("\n")),
        "earlier rows kept"
    );
    let run = json(&dir.join("run.json"));
    assert_eq!(run["epochs_done"], 3);
    assert_eq!(run["status"], "completed");
}

#[test]
fn the_same_seed_gives_the_same_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let [a, b, c] = ["a", "b", "c"].map(|n| tmp.path().join(n));
    let settings = ["--epochs", "1", "--tstr-every", "0"];
    ok(&tiny_gan(&a, &settings));
    ok(&tiny_gan(&b, &settings));
    ok(&tiny_gan(&c, &[&settings[..], &["--seed", "7"]].concat()));
    let grid = |dir: &Path| std::fs::read(dir.join("samples-e1.png")).unwrap();
    assert_eq!(grid(&a), grid(&b), "same seed, same grid");
    assert_ne!(grid(&a), grid(&c), "another seed, another grid");
    let metrics = |dir: &Path| {
        let text = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
        let row = text.lines().nth(1).unwrap().to_owned();
        row.rsplit_once(',').unwrap().0.to_owned()
    };
    assert_eq!(metrics(&a), metrics(&b), "same losses");
    // `gan sample` with the same seed writes the same files.
    for (dir, out) in [(&a, "sa"), (&b, "sb")] {
        succeed(
            workbench()
                .args(["gan", "sample", "--per-class", "2", "--seed", "3", "--out"])
                .arg(tmp.path().join(out))
                .arg(dir),
        );
    }
    let file =
        |out: &str| std::fs::read(tmp.path().join(out).join("Sneaker").join("00001.png")).unwrap();
    assert_eq!(file("sa"), file("sb"));
}

#[test]
fn sampled_images_form_a_class_folder_and_mix_into_training_only() {
    let tmp = tempfile::tempdir().unwrap();
    let gan = tmp.path().join("gan");
    ok(&tiny_gan(&gan, &["--epochs", "1", "--tstr-every", "0"]));

    // A class folder: one subfolder per class ("T-shirt/top" cannot be a folder name).
    let folder = tmp.path().join("synthetic");
    let out = succeed(
        workbench()
            .args(["gan", "sample", "--per-class", "3", "--out"])
            .arg(&folder)
            .arg(&gan),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Wrote 30 images"));
    let mut classes: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    classes.sort();
    assert_eq!(classes.len(), 10);
    assert!(classes.contains(&"T-shirt_top".to_owned()), "{classes:?}");
    for class in &classes {
        assert_eq!(std::fs::read_dir(folder.join(class)).unwrap().count(), 3);
    }
    let image = image::open(folder.join("Bag").join("00000.png")).unwrap();
    assert_eq!((image.width(), image.height()), (28, 28));
    // Any loader reads it: train on it for an epoch.
    succeed(
        workbench()
            .args(["train", "--quiet", "--epochs", "1", "--dataset"])
            .arg(format!("folder:{}", folder.display()))
            .arg("--out")
            .arg(tmp.path().join("on-folder")),
    );

    // Mixed into a classifier run: training samples grow, validation samples do not.
    let plain = tmp.path().join("plain");
    let mixed = tmp.path().join("mixed");
    let base = [
        "train",
        "--quiet",
        "--epochs",
        "1",
        "--train-size",
        "20/class",
    ];
    succeed(workbench().args(base).arg("--out").arg(&plain));
    succeed(
        workbench()
            .args(base)
            .args(["--synthetic-per-class", "5", "--synthetic"])
            .arg(&gan)
            .arg("--out")
            .arg(&mixed),
    );
    let (plain, mixed) = (json(&plain.join("run.json")), json(&mixed.join("run.json")));
    assert_eq!(
        mixed["train_samples"].as_u64().unwrap(),
        plain["train_samples"].as_u64().unwrap() + 50
    );
    assert_eq!(mixed["val_samples"], plain["val_samples"]);
    assert_eq!(mixed["synthetic"]["count"], 50);
    assert_eq!(mixed["synthetic"]["per_class"], 5);
    let (fp, fm) = (&plain["dataset_fingerprint"], &mixed["dataset_fingerprint"]);
    assert_ne!(fp["indices_hash"], fm["indices_hash"]);
    assert!(
        fm["synthetic"]
            .as_str()
            .unwrap()
            .contains("50 generated images")
    );
    assert!(fp.get("synthetic").is_none());
    let config = std::fs::read_to_string(tmp.path().join("mixed").join("config.toml")).unwrap();
    assert!(
        config.contains("[synthetic]") && config.contains("per_class = 5"),
        "{config}"
    );
}

fn fails_with(output: &std::process::Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "should fail: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_gets_a_clear_message() {
    let tmp = tempfile::tempdir().unwrap();
    // One image per class: nothing to learn a class from.
    let output = tiny_gan(
        &tmp.path().join("one"),
        &["--train-size", "1/class", "--batch-size", "4"],
    );
    fails_with(&output, "at least 2 training images per class");
    // Fewer images than one batch.
    let output = tiny_gan(
        &tmp.path().join("small"),
        &["--train-size", "2/class", "--batch-size", "64"],
    );
    fails_with(&output, "fewer than the batch size 64");
    // Settings out of range are named.
    let output = tiny_gan(&tmp.path().join("lr"), &["--lr", "0"]);
    fails_with(&output, "lr");
    // A GAN of two classes cannot feed a run of ten: the missing classes are named.
    let two = tmp.path().join("two");
    ok(&tiny_gan(
        &two,
        &["--classes", "0,1", "--epochs", "1", "--tstr-every", "0"],
    ));
    let output = workbench()
        .args(["train", "--quiet", "--epochs", "1", "--synthetic"])
        .arg(&two)
        .arg("--out")
        .arg(tmp.path().join("mismatch"))
        .output()
        .unwrap();
    fails_with(&output, "do not match the dataset's");
    fails_with(&output, "Sneaker");
    // A folder that is not a GAN run.
    let output = workbench()
        .args(["train", "--quiet", "--synthetic"])
        .arg(tmp.path())
        .output()
        .unwrap();
    fails_with(&output, "not a run folder");
    let output = workbench()
        .args(["gan", "sample", "--out"])
        .arg(tmp.path().join("x"))
        .arg(tmp.path())
        .output()
        .unwrap();
    fails_with(&output, "not a run folder");
}

#[test]
fn the_synthetic_lesson_mixes_the_shipped_generators_images_in() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("synthetic");
    succeed(
        workbench()
            .args([
                "train",
                "--quiet",
                "--lesson",
                "synthetic",
                "--lesson-run",
                "4",
            ])
            .args(["--epochs", "1", "--out"])
            .arg(&dir),
    );
    let run = json(&dir.join("run.json"));
    assert_eq!(
        run["train_samples"], 1200,
        "200 real + 100 generated per class"
    );
    assert_eq!(run["val_samples"], 1000);
    assert_eq!(run["synthetic"]["count"], 1000);
    assert!(
        run["synthetic"]["origin"]
            .as_str()
            .unwrap()
            .contains("lesson-synthetic-gan, epoch 150")
    );
}
