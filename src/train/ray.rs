//! Runs on a Ray cluster, through its Jobs REST API (the dashboard's port, 8265).
//!
//! One run is one Ray job. Its package (Ray's `working_dir`) holds this program and, for an image
//! folder small enough, the dataset; the run's `config.toml` travels in the job's command line.
//! The job runs `train --progress jsonl --emit-files`, so its log carries the run live: the
//! client reads the log as it grows and rebuilds the run folder here (config.toml, run.json,
//! metrics.csv as epochs arrive), and at the end the job writes every file of its run folder
//! (weights, report.png, evaluation.json) into the log as base64 lines, which the client writes
//! back: the local folder is then the remote one, byte for byte. Stopping is Ray's stop endpoint.
//! Nothing leaves the machine unless a cluster address is given.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::data::DatasetSource;
use crate::experiment::ExperimentConfig;
use crate::experiment::metrics::{EpochMetrics, RunStatus};
use crate::experiment::record::{RunRecorder, RunSummary};
use crate::experiment::transfer;

/// Largest package sent (Ray's limit is its gRPC message size, 512 MiB).
pub const MAX_PACKAGE_BYTES: u64 = 500 << 20;
/// A dataset folder larger than this is not packaged: its path must exist on the cluster.
pub const MAX_DATASET_BYTES: u64 = 100 << 20;

/// A Ray cluster's job server.
#[derive(Debug, Clone)]
pub struct Cluster {
    host: String,
    port: u16,
    /// An extra header for clusters behind a proxy, e.g. `Authorization: Bearer …`.
    header: Option<(String, String)>,
}

/// A job's state as Ray reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// `PENDING`, `RUNNING`, `STOPPED`, `SUCCEEDED` or `FAILED`.
    pub status: String,
    /// Ray's message (why it failed, for one).
    pub message: String,
}

impl JobState {
    /// Whether the job has ended.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status.as_str(), "STOPPED" | "SUCCEEDED" | "FAILED")
    }
}

impl Cluster {
    /// `ray://HOST:PORT`, `http://HOST:PORT` or `HOST:PORT` (port 8265 when left out), and an
    /// optional `Name: value` header.
    pub fn new(address: &str, header: Option<&str>) -> Result<Self, String> {
        let rest = address
            .strip_prefix("ray://")
            .or_else(|| address.strip_prefix("http://"))
            .unwrap_or(address);
        if address.starts_with("https://") {
            return Err(format!(
                "{address}: https is not supported; reach the job server over http (e.g. through \
                 an SSH tunnel to port 8265)"
            ));
        }
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() || rest.contains('/') {
            return Err(format!(
                "'{address}' is not a cluster address: use ray://HOST:8265 or http://HOST:8265"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (
                host.to_owned(),
                port.parse::<u16>()
                    .map_err(|_| format!("'{address}': '{port}' is not a port number"))?,
            ),
            None => (rest.to_owned(), 8265),
        };
        let header = match header {
            None => None,
            Some(text) => {
                let (name, value) = text
                    .split_once(':')
                    .ok_or_else(|| format!("'{text}' is not a header: use 'Name: value'"))?;
                let name = name.trim();
                if name.is_empty() || name.contains(char::is_whitespace) || value.contains('\n') {
                    return Err(format!("'{text}' is not a header: use 'Name: value'"));
                }
                Some((name.to_owned(), value.trim().to_owned()))
            }
        };
        Ok(Self { host, port, header })
    }

    /// `http://HOST:PORT`.
    pub fn address(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    /// One HTTP/1.1 request; the status code and the body.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<(u16, Vec<u8>), String> {
        let what = || format!("{} {}{path}", method, self.address());
        let addr = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot find {}: {e}", self.address()))?
            .next()
            .ok_or_else(|| format!("cannot find {}", self.address()))?;
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .map_err(|e| format!("cannot reach the Ray cluster at {}: {e}", self.address()))?;
        stream.set_read_timeout(Some(Duration::from_secs(120))).ok();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nAccept: */*\r\n",
            self.host, self.port
        );
        if let Some((name, value)) = &self.header {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let body = body.unwrap_or(("application/json", b""));
        if method != "GET" {
            head.push_str(&format!(
                "Content-Type: {}\r\nContent-Length: {}\r\n",
                body.0,
                body.1.len()
            ));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.1))
            .map_err(|e| format!("{}: {e}", what()))?;
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .map_err(|e| format!("{}: {e}", what()))?;
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("{}: not an HTTP answer", what()))?;
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let mut body = raw[split + 4..].to_vec();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("{}: not an HTTP answer", what()))?;
        let chunked = head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("transfer-encoding:") && l.contains("chunked")
        });
        if chunked {
            body = dechunk(&body).ok_or_else(|| format!("{}: a broken chunked answer", what()))?;
        }
        Ok((status, body))
    }

    /// A request whose answer must be 200, as JSON.
    fn json(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let (status, answer) = self.request(
            method,
            path,
            bytes.as_deref().map(|b| ("application/json", b)),
        )?;
        let text = String::from_utf8_lossy(&answer);
        if status != 200 {
            return Err(format!(
                "the Ray job server answered {status} to {method} {path}: {}",
                text.trim().lines().last().unwrap_or("")
            ));
        }
        serde_json::from_str(&text).map_err(|e| format!("{method} {path}: not JSON ({e})"))
    }

    /// Ray's version: the connection test.
    pub fn version(&self) -> Result<String, String> {
        let answer = self.json("GET", "/api/version", None)?;
        Ok(answer["ray_version"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned())
    }

    /// Uploads a zip package unless the cluster has it; its `gcs://` URI.
    pub fn upload(&self, zip: &[u8]) -> Result<String, String> {
        if zip.len() as u64 > MAX_PACKAGE_BYTES {
            return Err(format!(
                "the job's package is {} MB, over Ray's limit of {} MB",
                zip.len() >> 20,
                MAX_PACKAGE_BYTES >> 20
            ));
        }
        let name = format!("_ray_pkg_{:016x}.zip", fnv(zip));
        let path = format!("/api/packages/gcs/{name}");
        let (status, _) = self.request("GET", &path, None)?;
        if status != 200 {
            let (status, answer) = self.request("PUT", &path, Some(("application/zip", zip)))?;
            if status != 200 {
                return Err(format!(
                    "the Ray job server refused the package ({status}): {}",
                    String::from_utf8_lossy(&answer)
                        .trim()
                        .lines()
                        .last()
                        .unwrap_or("")
                ));
            }
        }
        Ok(format!("gcs://{name}"))
    }

    /// Submits a job; its submission id.
    pub fn submit(
        &self,
        entrypoint: &str,
        package: &str,
        metadata: &Value,
    ) -> Result<String, String> {
        let body = json!({
            "entrypoint": entrypoint,
            "runtime_env": {"working_dir": package},
            "metadata": metadata,
        });
        let answer = self.json("POST", "/api/jobs/", Some(&body))?;
        answer["submission_id"]
            .as_str()
            .or_else(|| answer["job_id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| format!("the job server gave no job id: {answer}"))
    }

    /// A job's status and message.
    pub fn state(&self, id: &str) -> Result<JobState, String> {
        let answer = self.json("GET", &format!("/api/jobs/{id}"), None)?;
        Ok(JobState {
            status: answer["status"].as_str().unwrap_or("UNKNOWN").to_owned(),
            message: answer["message"].as_str().unwrap_or("").to_owned(),
        })
    }

    /// A job's whole log so far.
    pub fn logs(&self, id: &str) -> Result<String, String> {
        let answer = self.json("GET", &format!("/api/jobs/{id}/logs"), None)?;
        Ok(answer["logs"].as_str().unwrap_or("").to_owned())
    }

    /// Asks Ray to stop a job.
    pub fn stop(&self, id: &str) -> Result<(), String> {
        self.json("POST", &format!("/api/jobs/{id}/stop"), None)
            .map(|_| ())
    }
}

/// The body of a chunked HTTP answer.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// FNV-1a, 64 bits: the package's content name.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The job package for runs of `config`: this program and, when the dataset is a local image
/// folder under [`MAX_DATASET_BYTES`], the folder as `data/`. Also the configuration as the
/// job will read it (the dataset path pointing into the package when it travels).
pub fn package(
    exe: &Path,
    config: &ExperimentConfig,
) -> Result<(Vec<u8>, ExperimentConfig), String> {
    use zip::write::SimpleFileOptions;
    let mut config = config.clone();
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .large_file(true);
    let binary = std::fs::read(exe).map_err(|e| format!("cannot read {}: {e}", exe.display()))?;
    writer
        .start_file("cnn-workbench", options.unix_permissions(0o755))
        .and_then(|()| writer.write_all(&binary).map_err(Into::into))
        .map_err(|e| format!("cannot pack the program: {e}"))?;
    if let DatasetSource::Folder { path } = &config.dataset.source
        && dataset_travels(path)
    {
        {
            for (file, _) in &folder_files(path) {
                let relative = file.strip_prefix(path).map_err(|e| e.to_string())?;
                let name = Path::new("data").join(relative);
                let bytes = std::fs::read(file)
                    .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
                writer
                    .start_file(name.to_string_lossy(), options)
                    .and_then(|()| writer.write_all(&bytes).map_err(Into::into))
                    .map_err(|e| format!("cannot pack {}: {e}", file.display()))?;
            }
            config.dataset.source = DatasetSource::Folder {
                path: PathBuf::from("data"),
            };
        }
    }
    let zip = writer
        .finish()
        .map_err(|e| format!("cannot finish the package: {e}"))?
        .into_inner();
    Ok((zip, config))
}

/// Whether an image folder goes into the job's package: it exists here and holds at most
/// [`MAX_DATASET_BYTES`]. Otherwise its path must exist on the cluster.
pub fn dataset_travels(path: &Path) -> bool {
    let files = folder_files(path);
    !files.is_empty() && files.iter().map(|(_, len)| len).sum::<u64>() <= MAX_DATASET_BYTES
}

/// Every file under a folder (not following links), with its length; empty when it is missing.
fn folder_files(root: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                out.push((entry.path(), entry.metadata().map_or(0, |m| m.len())));
            }
        }
    }
    out.sort();
    out
}

/// The job's command: the configuration written into a fresh folder, then the run.
pub fn entrypoint(config: &ExperimentConfig) -> Result<String, String> {
    let text = config
        .to_toml()
        .map_err(|e| format!("cannot write the configuration: {e}"))?;
    Ok(format!(
        "d=$(mktemp -d) && echo {} | base64 -d > \"$d/config.toml\" && chmod +x ./cnn-workbench && \
         ./cnn-workbench train --config \"$d/config.toml\" --out \"$d/run\" --progress jsonl \
         --emit-files",
        transfer::encode(text.as_bytes())
    ))
}

/// A run on the cluster, followed into its local folder.
pub struct RemoteRun {
    /// The job's submission id.
    pub id: String,
    /// The local run folder.
    pub dir: PathBuf,
    config: ExperimentConfig,
    read: usize,
    recorder: Option<RunRecorder>,
    /// Epochs received so far.
    pub epochs: Vec<EpochMetrics>,
    /// How the run ended, as its `finished` line said.
    pub finished: Option<(RunStatus, String)>,
    /// The job's `started` line, once it came.
    pub started: Option<Value>,
    /// The job's state when last asked.
    pub state: JobState,
}

impl RemoteRun {
    /// Submits `config` as a job using an uploaded `package`; its folder will be `dir`.
    pub fn submit(
        cluster: &Cluster,
        package: &str,
        job_config: &ExperimentConfig,
        local_config: &ExperimentConfig,
        dir: &Path,
        metadata: &Value,
    ) -> Result<Self, String> {
        let id = cluster.submit(&entrypoint(job_config)?, package, metadata)?;
        Ok(Self {
            id,
            dir: dir.to_owned(),
            config: local_config.clone(),
            read: 0,
            recorder: None,
            epochs: Vec::new(),
            finished: None,
            started: None,
            state: JobState {
                status: "PENDING".to_owned(),
                message: String::new(),
            },
        })
    }

    /// Reads what the job logged since the last call into the run folder; returns the new
    /// epochs. Ends (with `is_done`) when the job has ended and its log is read whole.
    pub fn poll(&mut self, cluster: &Cluster) -> Result<Vec<EpochMetrics>, String> {
        let state = cluster.state(&self.id)?;
        let log = cluster.logs(&self.id)?;
        let mut fresh = Vec::new();
        // Whole lines only; a line still being written is read next time.
        let complete = log[self.read.min(log.len())..]
            .rfind('\n')
            .map_or(self.read, |end| self.read + end + 1);
        for line in log[self.read.min(complete)..complete].lines() {
            let Ok(event) = serde_json::from_str::<Value>(line.trim()) else {
                continue; // Ray's own lines, or the program's messages
            };
            if let Some(m) = self.take(&event)? {
                fresh.push(m);
            }
        }
        self.read = complete;
        if state.is_terminal() {
            std::fs::create_dir_all(&self.dir)
                .and_then(|()| std::fs::write(self.dir.join("cluster.log"), &log))
                .map_err(|e| format!("cannot write {}: {e}", self.dir.display()))?;
            if let (Some((status, message)), None) = (self.finished.clone(), &self.recorder) {
                // It ended before it started (a dataset it could not load): its folder still
                // says how.
                self.end_locally(status, &message)?;
            } else if self.finished.is_none() {
                let tail: Vec<&str> = log
                    .lines()
                    .filter(|l| !l.trim_start().starts_with('{'))
                    .collect();
                let tail = tail[tail.len().saturating_sub(5)..].join("\n");
                let status = if state.status == "STOPPED" {
                    RunStatus::Stopped
                } else {
                    RunStatus::Failed
                };
                let message = format!(
                    "the Ray job {} ended {}{}{}",
                    self.id,
                    state.status,
                    if state.message.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", state.message)
                    },
                    if tail.trim().is_empty() {
                        String::new()
                    } else {
                        format!("\n{tail}")
                    }
                );
                self.end_locally(status, &message)?;
            }
        }
        self.state = state;
        Ok(fresh)
    }

    /// Whether the job has ended and everything it logged is in the folder.
    pub fn is_done(&self) -> bool {
        self.state.is_terminal()
    }

    /// Records a run that ended without its own last word (stopped or failed on the cluster).
    fn end_locally(&mut self, status: RunStatus, message: &str) -> Result<(), String> {
        let recorder = match self.recorder.as_mut() {
            Some(r) => r,
            None => {
                let summary = RunSummary::starting(&self.config, 0, 0, "Ray cluster");
                self.recorder = Some(
                    RunRecorder::create(&self.dir, &self.config, summary)
                        .map_err(|e| e.to_string())?,
                );
                self.recorder.as_mut().ok_or("no recorder")?
            }
        };
        recorder
            .finish(status, Some(message.to_owned()))
            .map_err(|e| e.to_string())?;
        self.finished = Some((status, message.to_owned()));
        Ok(())
    }

    /// One JSON line of the job: the run folder follows it.
    fn take(&mut self, event: &Value) -> Result<Option<EpochMetrics>, String> {
        match event["event"].as_str() {
            Some("started") => {
                self.started = Some(event.clone());
                let count = |k: &str| event[k].as_u64().unwrap_or(0) as usize;
                let device = format!(
                    "{} (Ray job {})",
                    event["device"].as_str().unwrap_or("?"),
                    self.id
                );
                let summary = RunSummary::starting(
                    &self.config,
                    count("train_samples"),
                    count("val_samples"),
                    &device,
                );
                self.recorder = Some(
                    RunRecorder::create(&self.dir, &self.config, summary)
                        .map_err(|e| e.to_string())?,
                );
                Ok(None)
            }
            Some("epoch") => {
                let m: EpochMetrics = serde_json::from_value(event.clone())
                    .map_err(|e| format!("a bad epoch line from job {}: {e}", self.id))?;
                if let Some(recorder) = self.recorder.as_mut() {
                    recorder.record_epoch(&m).map_err(|e| e.to_string())?;
                }
                self.epochs.push(m);
                Ok(Some(m))
            }
            Some("finished") => {
                let status: RunStatus =
                    serde_json::from_value(event["status"].clone()).unwrap_or(RunStatus::Failed);
                let message = event["message"].as_str().unwrap_or("").to_owned();
                self.finished = Some((status, message));
                Ok(None)
            }
            Some("file") => {
                std::fs::create_dir_all(&self.dir)
                    .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
                transfer::write_file_event(&self.dir, event)?;
                Ok(None)
            }
            _ => Ok(None),
        }
    }
}

/// Runs `request` on its cluster from the training worker, reporting it with the events of a
/// local run: `Started` when the job's run starts, `Epoch` as each arrives, `Finished` at the
/// end. The stop flag stops the job through Ray.
pub(crate) fn follow(
    request: &super::control::RemoteRequest,
    stop: &std::sync::atomic::AtomicBool,
    events: &super::control::EventSink,
) {
    use super::message::{Event, RunInfo};
    use std::sync::atomic::Ordering;
    let fail = |message: String| events.send(Event::Failed { message });
    let cluster = match Cluster::new(&request.address, request.header.as_deref()) {
        Ok(cluster) => cluster,
        Err(e) => return fail(e),
    };
    let prepared = cluster.version().and_then(|_| {
        let exe = match &request.program {
            Some(program) => program.clone(),
            None => {
                std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?
            }
        };
        let (zip, job_config) = package(&exe, &request.config)?;
        let uri = cluster.upload(&zip)?;
        let metadata = json!({"cnn_workbench_run": request.run_dir.display().to_string()});
        RemoteRun::submit(
            &cluster,
            &uri,
            &job_config,
            &request.config,
            &request.run_dir,
            &metadata,
        )
    });
    let mut run = match prepared {
        Ok(run) => run,
        Err(e) => return fail(e),
    };
    let mut announced = false;
    let mut stopping = false;
    loop {
        if stop.load(Ordering::SeqCst) && !stopping {
            stopping = true;
            if let Err(e) = cluster.stop(&run.id) {
                return fail(e);
            }
        }
        let fresh = match run.poll(&cluster) {
            Ok(fresh) => fresh,
            Err(e) => return fail(e),
        };
        if !announced && let Some(started) = &run.started {
            announced = true;
            let count = |k: &str| started[k].as_u64().unwrap_or(0) as usize;
            events.send(Event::Started(RunInfo {
                epochs: count("epochs"),
                steps_per_epoch: count("steps_per_epoch"),
                train_samples: count("train_samples"),
                val_samples: count("val_samples"),
                num_params: count("params"),
                device: format!(
                    "{} on the Ray cluster at {}",
                    started["device"].as_str().unwrap_or("?"),
                    cluster.address()
                ),
                run_dir: Some(request.run_dir.clone()),
                class_names: started["classes"]
                    .as_array()
                    .map(|names| {
                        names
                            .iter()
                            .map(|n| n.as_str().unwrap_or("").to_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
                compiling: false,
            }));
        }
        for m in fresh {
            events.send(Event::Epoch(m));
        }
        if run.is_done() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    match run.finished.clone() {
        Some((status, message)) if announced => events.send(Event::Finished {
            status,
            message,
            restored: None,
        }),
        Some((_, message)) => fail(message),
        None => fail("the job ended without a result".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_headers_are_read_or_refused_with_the_form_to_use() {
        let c = Cluster::new("ray://10.0.0.5:8265", None).unwrap();
        assert_eq!(c.address(), "http://10.0.0.5:8265");
        assert_eq!(
            Cluster::new("head", None).unwrap().address(),
            "http://head:8265"
        );
        let c = Cluster::new("http://127.0.0.1:9000/", Some("Authorization: Bearer x y")).unwrap();
        assert_eq!(
            c.header,
            Some(("Authorization".into(), "Bearer x y".into()))
        );
        assert!(
            Cluster::new("https://h:8265", None)
                .unwrap_err()
                .contains("https")
        );
        assert!(
            Cluster::new("h:port", None)
                .unwrap_err()
                .contains("port number")
        );
        assert!(
            Cluster::new("http://h/api", None)
                .unwrap_err()
                .contains("ray://HOST")
        );
        assert!(
            Cluster::new("h", Some("no colon"))
                .unwrap_err()
                .contains("Name: value")
        );
    }

    #[test]
    fn chunked_answers_are_joined() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n").unwrap(),
            b"Wikipedia"
        );
        assert!(dechunk(b"9\r\nshort\r\n").is_none());
    }

    #[test]
    fn an_unreachable_cluster_is_a_message() {
        // A port nobody listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Cluster::new(&format!("http://127.0.0.1:{port}"), None).unwrap();
        let err = c.version().unwrap_err();
        assert!(err.contains("cannot reach the Ray cluster"), "{err}");
    }
}
