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
            | Event::Evaluated(_) => {}
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
