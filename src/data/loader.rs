//! Loading datasets off the UI thread, with progress and Cancel.

use std::sync::Arc;

use crossbeam_channel::{Receiver, bounded};

use super::{DataError, Dataset, DatasetSource, InputFormat, LoadProgress};

/// A dataset being loaded on the `dataset-loader` thread.
///
/// Each frame the UI reads [`fraction`](Self::fraction) and [`phase`](Self::phase) for a
/// progress bar and calls [`poll`](Self::poll); a Cancel button calls [`cancel`](Self::cancel),
/// after which `poll` soon yields [`DataError::Cancelled`]. Dropping a `PendingLoad` cancels it.
pub struct PendingLoad {
    /// What is being loaded.
    pub source: DatasetSource,
    /// At which input format.
    pub input: InputFormat,
    progress: Arc<LoadProgress>,
    rx: Receiver<Result<Arc<Dataset>, DataError>>,
}

impl PendingLoad {
    /// Starts loading `source` at `input` in the background; `waker` is called when it is done.
    pub fn spawn(
        source: DatasetSource,
        input: InputFormat,
        waker: impl Fn() + Send + 'static,
    ) -> Self {
        let (tx, rx) = bounded(1);
        let progress = Arc::new(LoadProgress::new());
        let job = (source.clone(), Arc::clone(&progress));
        let spawned = std::thread::Builder::new()
            .name("dataset-loader".to_owned())
            .spawn(move || {
                let (source, progress) = job;
                let result = super::load_with_progress(&source, input, &progress);
                // The receiver may be gone (another dataset was chosen meanwhile): nothing to do then.
                tx.send(result).ok();
                waker();
            });
        if let Err(e) = spawned {
            let (tx, rx_err) = bounded(1);
            tx.send(Err(DataError::Invalid(format!(
                "cannot start the loading thread: {e}"
            ))))
            .ok();
            return Self {
                source,
                input,
                progress,
                rx: rx_err,
            };
        }
        Self {
            source,
            input,
            progress,
            rx,
        }
    }

    /// The result, once it is there (never blocks).
    pub fn poll(&self) -> Option<Result<Arc<Dataset>, DataError>> {
        self.rx.try_recv().ok()
    }

    /// Share of the current phase done (0..=1), `None` while its size is unknown.
    pub fn fraction(&self) -> Option<f32> {
        self.progress.fraction()
    }

    /// What the loader is doing, e.g. "Decoding images".
    pub fn phase(&self) -> String {
        self.progress.phase()
    }

    /// The shared progress (items done and total, the cancel flag).
    pub fn progress(&self) -> &LoadProgress {
        &self.progress
    }

    /// Asks the loader to stop; [`poll`](Self::poll) then yields [`DataError::Cancelled`].
    pub fn cancel(&self) {
        self.progress.cancel();
    }
}

impl Drop for PendingLoad {
    fn drop(&mut self) {
        self.progress.cancel();
    }
}
