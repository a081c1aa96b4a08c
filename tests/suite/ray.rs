//! Runs and sweeps on a real single-node Ray cluster. `.ci/run` installs Ray into a virtual
//! environment, starts a head on 127.0.0.1 and names its job server in `CNN_WORKBENCH_RAY`;
//! without it these tests say why they did not run and pass.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use cnn_workbench::train::ray::Cluster;

use crate::common::{succeed, workbench};

fn address() -> Option<String> {
    match std::env::var("CNN_WORKBENCH_RAY") {
        Ok(address) if !address.is_empty() => Some(address),
        _ => {
            eprintln!(
                "skipped: no Ray cluster (CNN_WORKBENCH_RAY is not set; .ci/run starts one when \
                 Ray can be installed)"
            );
            None
        }
    }
}

fn losses(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
        .collect()
}

fn run_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap()
}

#[test]
fn a_cluster_run_matches_the_local_one_and_a_sweep_fills_its_folders() {
    let Some(address) = address() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let local = tmp.path().join("local");
    let remote = tmp.path().join("remote");
    let args = ["train", "--dataset", "noise", "--epochs", "3", "--quiet"];
    succeed(workbench().args(args).arg("--out").arg(&local));
    succeed(
        workbench()
            .args(args)
            .args(["--cluster", &address, "--out"])
            .arg(&remote),
    );
    assert_eq!(losses(&local).len(), 4);
    assert_eq!(losses(&local), losses(&remote), "same config, same seed");
    let json = run_json(&remote);
    assert_eq!(json["status"], "completed");
    // The job's own files came back: the best weights, the report, the evaluation.
    for file in [
        "report.png",
        "evaluation.json",
        "checkpoint.json",
        "cluster.log",
    ] {
        assert!(remote.join(file).is_file(), "{file}");
    }
    let checkpoint: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(remote.join("checkpoint.json")).unwrap())
            .unwrap();
    let best = checkpoint["best"][1]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(remote.join(&best).is_file(), "{checkpoint}");
    // … and the weights predict here.
    succeed(workbench().args(["report"]).arg(&remote));

    // A 2×2 sweep as four jobs.
    let out = tmp.path().join("sweep");
    succeed(
        workbench()
            .args(["sweep", "--config"])
            .arg(local.join("config.toml"))
            .args([
                "--grid",
                "train.batch_size=10,50",
                "--grid",
                "train.lr=0.001,0.01",
                "--cluster",
                &address,
                "--quiet",
                "--out",
            ])
            .arg(&out),
    );
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows.iter().all(|r| r.contains(",completed,")), "{csv}");
    assert!(out.join("sweep.png").is_file());
    // The sweep's run with the base's settings repeats it exactly.
    let same = rows
        .iter()
        .position(|r| r.starts_with("10,0.001,"))
        .unwrap();
    assert_eq!(
        losses(&local),
        losses(&out.join(format!("run-{:03}", same + 1)))
    );

    // A dataset the cluster does not have: the job fails, and says why.
    let output = workbench()
        .args([
            "train",
            "--dataset",
            "idx:/no/such/mnist",
            "--cluster",
            &address,
            "--out",
        ])
        .arg(tmp.path().join("missing"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("/no/such/mnist"), "{err}");
    assert_eq!(run_json(&tmp.path().join("missing"))["status"], "failed");
}

#[test]
fn a_cluster_run_fills_its_folder_live_and_stops_through_ray() {
    let Some(address) = address() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("long");
    let mut child = workbench()
        .args([
            "train",
            "--dataset",
            "noise",
            "--epochs",
            "5000",
            "--cluster",
            &address,
            "--out",
        ])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Epochs arrive in the local folder while the job still runs.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let rows = std::fs::read_to_string(dir.join("metrics.csv"))
            .map(|t| t.lines().count())
            .unwrap_or(0);
        if rows >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no epoch arrived");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the client ended early"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(run_json(&dir)["status"], "running");
    // Stopped through Ray's own endpoint, as another tool would.
    let cluster = Cluster::new(&address, None).unwrap();
    let id = run_json(&dir)["device"]
        .as_str()
        .and_then(|d| d.split("Ray job ").nth(1))
        .map(|s| s.trim_end_matches(')').to_owned())
        .unwrap();
    cluster.stop(&id).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "a stopped run is not an error");
    assert_eq!(cluster.state(&id).unwrap().status, "STOPPED");
    let json = run_json(&dir);
    assert_eq!(json["status"], "stopped", "{json}");
    let epochs = std::fs::read_to_string(dir.join("metrics.csv"))
        .unwrap()
        .lines()
        .count();
    assert!(epochs < 5001, "it stopped early ({epochs} lines)");
}
