//! Loading datasets off the UI thread.

use std::sync::Arc;

use crossbeam_channel::{Receiver, bounded};

use super::{Dataset, DatasetSource};

/// A dataset being loaded on the `dataset-loader` thread. Poll it with [`PendingLoad::poll`].
pub struct PendingLoad {
    /// What is being loaded.
    pub source: DatasetSource,
    rx: Receiver<Result<Arc<Dataset>, String>>,
}

impl PendingLoad {
    /// Starts loading `source` in the background; `waker` is called when it is done.
    pub fn spawn(source: DatasetSource, waker: impl Fn() + Send + 'static) -> Self {
        let (tx, rx) = bounded(1);
        let job = source.clone();
        let spawned = std::thread::Builder::new()
            .name("dataset-loader".to_owned())
            .spawn(move || {
                let result = super::load(&job).map_err(|e| e.to_string());
                // The receiver may be gone (another dataset was chosen meanwhile): nothing to do then.
                tx.send(result).ok();
                waker();
            });
        if let Err(e) = spawned {
            let (tx, rx_err) = bounded(1);
            tx.send(Err(format!("cannot start the loading thread: {e}")))
                .ok();
            return Self { source, rx: rx_err };
        }
        Self { source, rx }
    }

    /// The result, once it is there (never blocks).
    pub fn poll(&self) -> Option<Result<Arc<Dataset>, String>> {
        self.rx.try_recv().ok()
    }
}
