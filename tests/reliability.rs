//! The CLI under signals and under watch: SIGTERM stops a run cleanly between batches (recorded
//! as stopped, resumable), and training opens no network socket.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    let deadline = Instant::now() + Duration::from_secs(180);
    while finished_epochs(&out) < 1 {
        assert!(Instant::now() < deadline, "no epoch finished in time");
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
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
