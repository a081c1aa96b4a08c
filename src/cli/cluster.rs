//! `train --cluster` and `sweep --cluster`: runs sent to a Ray cluster as jobs and followed into
//! their local run folders (see [`crate::train::ray`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use signal_hook::consts::{SIGINT, SIGTERM};

use super::args::{ProgressArg, TrainArgs};
use crate::experiment::ExperimentConfig;
use crate::experiment::metrics::RunStatus;
use crate::experiment::sweep::SweepRun;
use crate::train::ray::{Cluster, RemoteRun, package};

/// How often a job's status and log are read.
const POLL: Duration = Duration::from_millis(500);

/// Connects (reporting Ray's version) and uploads the package for runs of `config`; the URI
/// and the configuration as the job reads it.
fn prepare(
    cluster: &Cluster,
    config: &ExperimentConfig,
    program: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<(String, ExperimentConfig)> {
    let version = cluster.version().map_err(anyhow::Error::msg)?;
    let exe = match program {
        Some(program) => program.to_owned(),
        None => std::env::current_exe().context("cannot find this program to send it")?,
    };
    let (zip, job_config) = package(&exe, config).map_err(anyhow::Error::msg)?;
    if !quiet {
        outln!(
            "Ray {version} at {}; sending a package of {:.0} MB",
            cluster.address(),
            zip.len() as f64 / 1e6
        );
    }
    let uri = cluster.upload(&zip).map_err(anyhow::Error::msg)?;
    Ok((uri, job_config))
}

/// Ctrl+C or SIGTERM sets the flag (a second one exits at once).
fn interrupt_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let interrupted = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&interrupted))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&interrupted)))
            .context("cannot install the Ctrl+C handler")?;
    }
    Ok(interrupted)
}

/// One run as a Ray job, followed until it ends.
pub(super) fn train(args: &TrainArgs, address: &str) -> anyhow::Result<()> {
    if args.resume.is_some() {
        bail!("--resume continues a run on this machine; leave out --cluster");
    }
    let cluster =
        Cluster::new(address, args.cluster.header.as_deref()).map_err(anyhow::Error::msg)?;
    let config = args.to_config()?;
    let out = args.out.clone().unwrap_or_else(|| {
        crate::experiment::record::new_run_dir(
            &crate::experiment::record::default_runs_root(),
            &config,
        )
    });
    let human = args.progress == ProgressArg::Bar && !args.quiet;
    let (uri, job_config) = prepare(&cluster, &config, args.cluster.program.as_deref(), !human)?;
    let metadata = serde_json::json!({"cnn_workbench_run": out.display().to_string()});
    let mut run = RemoteRun::submit(&cluster, &uri, &job_config, &config, &out, &metadata)
        .map_err(anyhow::Error::msg)?;
    if human {
        outln!("Job {} recording into {}", run.id, out.display());
    }
    let interrupted = interrupt_flag()?;
    let mut stopping = false;
    loop {
        if interrupted.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            eprintln!("Stopping job {}…", run.id);
            cluster.stop(&run.id).map_err(anyhow::Error::msg)?;
        }
        for m in run.poll(&cluster).map_err(anyhow::Error::msg)? {
            if human {
                outln!(
                    "epoch {:>3}  train loss {:.4}  val loss {:.4}  train acc {:5.1}%  val acc {:5.1}%",
                    m.epoch,
                    m.train_loss,
                    m.val_loss,
                    m.train_acc * 100.0,
                    m.val_acc * 100.0
                );
            }
        }
        if run.is_done() {
            break;
        }
        std::thread::sleep(POLL);
    }
    let (status, message) = run.finished.clone().unwrap_or((
        RunStatus::Failed,
        "the job ended without a result".to_owned(),
    ));
    match status {
        RunStatus::Failed | RunStatus::Diverged => bail!("{status}: {message}"),
        _ => {
            if human {
                outln!(
                    "{status}: {message} (job {}; folder {})",
                    run.id,
                    out.display()
                );
            }
            Ok(())
        }
    }
}

/// Every run of a sweep as a Ray job at once (Ray queues what does not fit); each followed into
/// its folder under `out`. The seconds each took, in order.
pub(super) fn sweep(
    runs: &[SweepRun],
    out: &Path,
    address: &str,
    header: Option<&str>,
    program: Option<&Path>,
    quiet: bool,
) -> anyhow::Result<Vec<f64>> {
    let cluster = Cluster::new(address, header).map_err(anyhow::Error::msg)?;
    let Some(first) = runs.first() else {
        return Ok(Vec::new());
    };
    // One package for the whole sweep: the program, and the dataset of the first run when it
    // travels (runs of another dataset name their own path).
    let (uri, _) = prepare(&cluster, &first.config, program, quiet)?;
    let sweep_name = out
        .file_name()
        .map_or_else(|| "sweep".to_owned(), |n| n.to_string_lossy().into_owned());
    let mut jobs = Vec::with_capacity(runs.len());
    for run in runs {
        let job_config = package_config(&run.config, &first.config);
        let dir: PathBuf = out.join(&run.name);
        let metadata =
            serde_json::json!({"cnn_workbench_sweep": sweep_name, "cnn_workbench_run": run.name});
        let job = RemoteRun::submit(&cluster, &uri, &job_config, &run.config, &dir, &metadata)
            .map_err(anyhow::Error::msg)?;
        if !quiet {
            outln!("{}: job {}", run.name, job.id);
        }
        jobs.push((job, Instant::now(), None::<f64>));
    }
    let interrupted = interrupt_flag()?;
    let mut stopping = false;
    while jobs.iter().any(|(job, _, _)| !job.is_done()) {
        if interrupted.load(Ordering::Relaxed) && !stopping {
            stopping = true;
            eprintln!("Stopping the sweep's jobs…");
            for (job, _, _) in jobs.iter().filter(|(j, _, _)| !j.is_done()) {
                cluster.stop(&job.id).ok();
            }
        }
        for (k, (job, started, secs)) in jobs.iter_mut().enumerate() {
            if job.is_done() {
                continue;
            }
            job.poll(&cluster).map_err(anyhow::Error::msg)?;
            if job.is_done() {
                *secs = Some(started.elapsed().as_secs_f64());
                if !quiet {
                    let (status, message) = job.finished.clone().unwrap_or((
                        RunStatus::Failed,
                        "the job ended without a result".to_owned(),
                    ));
                    outln!(
                        "{}: {status}: {}",
                        runs[k].name,
                        message.lines().next().unwrap_or("")
                    );
                }
            }
        }
        std::thread::sleep(POLL);
    }
    Ok(jobs.iter().map(|(_, _, s)| s.unwrap_or(0.0)).collect())
}

/// The configuration a sweep's run reads on the cluster: its dataset inside the package when it
/// is the packaged one.
fn package_config(config: &ExperimentConfig, packaged: &ExperimentConfig) -> ExperimentConfig {
    let mut job = config.clone();
    if let crate::data::DatasetSource::Folder { path } = &config.dataset.source
        && config.dataset.source == packaged.dataset.source
        && crate::train::ray::dataset_travels(path)
    {
        job.dataset.source = crate::data::DatasetSource::Folder {
            path: PathBuf::from("data"),
        };
    }
    job
}
