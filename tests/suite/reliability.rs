//! The CLI under signals and under watch: SIGTERM stops a run cleanly between batches (recorded
//! as stopped, resumable), and training opens no network socket.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common;

fn workbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cnn-workbench"))
}

fn finished_epochs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .map(|csv| csv.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

fn run_status(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

#[test]
fn sigterm_stops_the_run_between_batches_and_it_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let mut child = workbench()
        .args([
            "train",
            "--dataset",
            "embedded",
            "--epochs",
            "40",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_until("a finished epoch", Duration::from_secs(180), || {
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        finished_epochs(&out) >= 1
    });
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("Stopping after the current batch"),
        "{stderr}"
    );
    let run = run_status(&out);
    assert_eq!(run["status"], "stopped");
    let done = finished_epochs(&out);
    assert!((1..40).contains(&done), "{done} epochs");
    assert_eq!(run["epochs_done"], done);

    // The stopped run continues where it stopped.
    let output = workbench()
        .args([
            "train",
            "--quiet",
            "--epochs",
            &(done + 1).to_string(),
            "--resume",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(finished_epochs(&out), done + 1);
    assert_eq!(run_status(&out)["status"], "completed");
}

#[test]
fn training_opens_no_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("trace.txt");
    let Ok(output) = Command::new("strace")
        .args(["-f", "-e", "trace=socket,connect", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_cnn-workbench"))
        .args([
            "train",
            "--dataset",
            "noise",
            "--epochs",
            "2",
            "--quiet",
            "--out",
        ])
        .arg(tmp.path().join("run"))
        .output()
    else {
        eprintln!("skipped: strace is not installed (.ci/run installs it)");
        return;
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && stderr.contains("ptrace") {
        eprintln!("skipped: tracing is not permitted here: {stderr}");
        return;
    }
    assert!(output.status.success(), "{stderr}");
    let calls = std::fs::read_to_string(&trace).unwrap();
    // The trace really followed the program to its end.
    assert!(calls.contains("+++ exited with 0 +++"), "{calls}");
    let network: Vec<&str> = calls
        .lines()
        .filter(|l| l.contains("socket(") || l.contains("connect("))
        .collect();
    assert!(network.is_empty(), "network calls: {network:?}");
    assert!(tmp.path().join("run/metrics.csv").is_file());
}

/// A short noise run recorded in `out`, which must succeed.
fn train_noise(out: &Path, epochs: usize) {
    let output = workbench()
        .args(["train", "--dataset", "noise", "--quiet", "--epochs"])
        .arg(epochs.to_string())
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs the CLI and returns (exit code, stderr); a panic would exit with 101.
fn fails_cleanly(args: &[&str]) -> String {
    let output = workbench().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_model_too_big_for_memory_is_refused_before_anything_is_allocated() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let out_arg = out.to_str().unwrap();
    // ResNet-18 on 512×512 inputs in batches of 65,536: terabytes of activations.
    let stderr = fails_cleanly(&[
        "train",
        "--dataset",
        "noise",
        "--input-size",
        "512",
        "--model",
        "resnet18",
        "--batch-size",
        "65536",
        "--epochs",
        "1",
        "--out",
        out_arg,
    ]);
    assert!(stderr.contains("more than the"), "{stderr}");
    assert!(stderr.contains("batches of 65536"), "{stderr}");
}

#[test]
fn a_run_directory_that_cannot_be_written_is_a_message_and_earlier_runs_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let earlier = tmp.path().join("earlier");
    train_noise(&earlier, 2);
    let before = std::fs::read(earlier.join("metrics.csv")).unwrap();

    // A file where the run folder's parent should be: nothing can be created under it (the
    // same error as a read-only or full disk, and root cannot bypass it).
    let blocker = tmp.path().join("not-a-folder");
    std::fs::write(&blocker, b"x").unwrap();
    let stderr = fails_cleanly(&[
        "train",
        "--dataset",
        "noise",
        "--epochs",
        "2",
        "--out",
        blocker.join("run").to_str().unwrap(),
    ]);
    assert!(stderr.contains("not-a-folder"), "{stderr}");
    assert_eq!(std::fs::read(earlier.join("metrics.csv")).unwrap(), before);
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_and_the_work_is_still_done() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train_noise(&run, 3);
    std::fs::remove_file(run.join("report.png")).unwrap();
    // The reader closes its end before the report is printed.
    let mut child = workbench()
        .arg("report")
        .arg(&run)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        run.join("report.png").is_file(),
        "the picture is written all the same"
    );
}

#[test]
fn a_config_with_each_field_wrong_in_turn_names_the_field_and_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.toml");
    let out = tmp.path().join("never");
    // (the file, a line it must name, words the message must hold)
    let cases: &[(&str, usize, &str)] = &[
        ("seed = \"x\"\n", 1, "seed"),
        ("device = \"tpu\"\n", 1, "tpu"),
        ("sede = 3\n", 1, "unknown field `sede`"),
        ("[train]\nepochs = 0\n", 2, "train.epochs"),
        ("[train]\nbatch_size = 0\n", 2, "train.batch_size"),
        ("[train]\nlr = -1.0\n", 2, "train.lr"),
        ("[train]\nweight_decay = -0.5\n", 2, "train.weight_decay"),
        (
            "[train]\nlabel_smoothing = 1.5\n",
            2,
            "train.label_smoothing",
        ),
        ("[train]\nschedule = \"sideways\"\n", 2, "sideways"),
        ("[model]\nkind = \"transformer\"\n", 2, "transformer"),
        ("[dataset]\nlabel_noise = 2.0\n", 2, "label noise"),
        ("[dataset]\nclasses = [3]\n", 2, "two classes"),
        ("[dataset.source]\nkind = \"cifar10\"\n", 1, "path"),
        ("[dataset.input]\nsize = 2\n", 1, "dataset"),
        ("[augment.hflip]\np = 3.0\n", 1, "probability"),
    ];
    for &(text, line, words) in cases {
        std::fs::write(&file, text).unwrap();
        let output = workbench()
            .args(["train", "--config"])
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{text:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{text:?}: {stderr}");
        assert!(
            stderr.contains(words),
            "{text:?} should say {words:?}: {stderr}"
        );
        assert!(
            stderr.contains(&format!("line {line}")),
            "{text:?} should name line {line}: {stderr}"
        );
        assert!(
            !out.exists(),
            "{text:?}: no run folder for a refused config"
        );
    }
}
