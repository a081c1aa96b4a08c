//! Helpers shared by the integration tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::train::message::{EpochMetrics, Event, Restored, RunInfo, RunStatus};
use cnn_workbench::train::worker::{StartRequest, TrainWorker};

/// What a finished run reported.
#[derive(Debug)]
pub struct Outcome {
    pub info: Option<RunInfo>,
    pub epochs: Vec<EpochMetrics>,
    pub steps: usize,
    pub status: RunStatus,
    pub message: String,
    pub restored: Option<Restored>,
}

/// A worker already training `config`, recorded in `run_dir` if given.
pub fn start_worker(config: ExperimentConfig, run_dir: Option<std::path::PathBuf>) -> TrainWorker {
    let worker = TrainWorker::spawn(Arc::new(|| {})).unwrap();
    worker.start(StartRequest { config, run_dir }).unwrap();
    worker
}

/// Calls `poll` until it gives a value; the test fails after `limit` without one, naming `what`.
#[allow(dead_code)] // not every module polls
pub fn wait_for_value<T>(what: &str, limit: Duration, mut poll: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = poll() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Calls `done` until it is true; the test fails after `limit`, naming `what`.
#[allow(dead_code)] // not every module polls
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    wait_for_value(what, limit, || done().then_some(()));
}

/// The worker's first event that is `wanted`, skipping the others; a `Failed` event or `secs`
/// without any event fails the test.
#[allow(dead_code)] // not every module steps through events
pub fn wait_for_event(worker: &TrainWorker, secs: u64, wanted: impl Fn(&Event) -> bool) -> Event {
    loop {
        let event = worker
            .events()
            .recv_timeout(Duration::from_secs(secs))
            .expect("an event in time");
        if let Event::Failed { message } = &event {
            panic!("{message}");
        }
        if wanted(&event) {
            return event;
        }
    }
}

/// The worker's next event (a test failure after a minute without one).
#[allow(dead_code)] // not every test file steps through events
pub fn next_event(worker: &TrainWorker) -> Event {
    worker
        .events()
        .recv_timeout(Duration::from_secs(60))
        .expect("an event within a minute")
}

/// Trains `config` on a worker thread and collects its events until the run ends.
pub fn train(config: ExperimentConfig, run_dir: Option<std::path::PathBuf>) -> Outcome {
    let worker = start_worker(config, run_dir);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut outcome = Outcome {
        info: None,
        epochs: Vec::new(),
        steps: 0,
        status: RunStatus::Running,
        message: String::new(),
        restored: None,
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match worker
            .events()
            .recv_timeout(left)
            .expect("the run did not end in time")
        {
            Event::Started(info) => outcome.info = Some(info),
            Event::Step { .. } => outcome.steps += 1,
            Event::Epoch(m) => outcome.epochs.push(m),
            Event::Paused
            | Event::Resumed
            | Event::Changed(_)
            | Event::TrainingBatch(_)
            | Event::LrFound(_)
            | Event::Evaluated(_)
            | Event::Gan(_) => {}
            Event::Finished {
                status,
                message,
                restored,
            } => {
                outcome.status = status;
                outcome.message = message;
                outcome.restored = restored;
                return outcome;
            }
            Event::Failed { message } => {
                outcome.status = RunStatus::Failed;
                outcome.message = message;
                return outcome;
            }
        }
    }
}

/// A safetensors file of zeros holding f32 tensors of the given names and shapes.
#[allow(dead_code)] // not every module writes weight files
pub fn write_safetensors<N: AsRef<str>>(path: &std::path::Path, tensors: &[(N, Vec<usize>)]) {
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape) in tensors {
        let bytes = 4 * shape.iter().product::<usize>();
        header.insert(
            name.as_ref().to_owned(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let header = serde_json::to_vec(&header).unwrap();
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend(header);
    file.extend(vec![0u8; offset]);
    std::fs::write(path, file).unwrap();
}

/// The real app in a headless `width`×`height` harness (rendered through wgpu with `wgpu`),
/// polled and drawn each frame as eframe would.
#[allow(dead_code)] // only the window's modules build one
pub fn app_harness<'a>(
    app: cnn_workbench::app::WorkbenchApp,
    [width, height]: [f32; 2],
    wgpu: bool,
) -> egui_kittest::Harness<'a, cnn_workbench::app::WorkbenchApp> {
    let mut builder = egui_kittest::Harness::builder().with_size([width, height]);
    if wgpu {
        builder = builder.wgpu();
    }
    builder.build_ui_state(
        |ui, app: &mut cnn_workbench::app::WorkbenchApp| {
            app.poll();
            app.draw(ui);
        },
        app,
    )
}

/// The program under test.
#[allow(dead_code)] // not every module runs it
pub fn workbench() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_cnn-workbench"))
}

/// Runs a command; fails the test (showing its output) unless it succeeds.
#[allow(dead_code)] // not every module runs it
pub fn succeed(command: &mut std::process::Command) -> std::process::Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `train --dataset noise --quiet --out OUT` with `extra` options; fails the test (showing
/// the error output) unless it succeeds.
#[allow(dead_code)] // not every module trains from the command line
pub fn train_noise(out: &std::path::Path, extra: &[&str]) {
    succeed(
        workbench()
            .args(["train", "--dataset", "noise", "--quiet"])
            .args(extra)
            .arg("--out")
            .arg(out),
    );
}
