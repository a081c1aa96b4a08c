//! Progress and cancellation of a dataset load, shared between the loading thread and the UI.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::DataError;

/// How far a load has got, and a way to cancel it.
///
/// The loader reports a phase ("Decoding images") with a total and counts items as they finish;
/// the UI reads [`fraction`](Self::fraction) and [`phase`](Self::phase) each frame and may call
/// [`cancel`](Self::cancel). The loader checks the flag between items and then fails with
/// [`DataError::Cancelled`].
#[derive(Debug, Default)]
pub struct LoadProgress {
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
    phase: Mutex<String>,
}

impl LoadProgress {
    /// A fresh progress: nothing done, not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the load to stop as soon as it can.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Items done and items in the current phase (total 0 while it is not known).
    pub fn counts(&self) -> (u64, u64) {
        (
            self.done.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    /// The share of the current phase that is done, in 0..=1; `None` while the total is unknown.
    pub fn fraction(&self) -> Option<f32> {
        let (done, total) = self.counts();
        (total > 0).then(|| (done as f64 / total as f64).min(1.0) as f32)
    }

    /// What the loader is doing now, e.g. "Decoding images".
    pub fn phase(&self) -> String {
        self.phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Starts a phase of `total` items (0 if unknown).
    pub(crate) fn begin(&self, phase: &str, total: u64) {
        *self
            .phase
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = phase.to_owned();
        self.done.store(0, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
    }

    /// Counts `n` more items done.
    pub(crate) fn add(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }

    /// `Err(Cancelled)` once the load has been cancelled.
    pub(crate) fn check(&self) -> Result<(), DataError> {
        if self.is_cancelled() {
            Err(DataError::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraction_follows_the_phase_and_cancel_is_sticky() {
        let p = LoadProgress::new();
        assert_eq!(p.fraction(), None);
        p.begin("Decoding images", 4);
        p.add(1);
        assert_eq!(p.fraction(), Some(0.25));
        assert_eq!(p.phase(), "Decoding images");
        p.begin("Resizing", 2);
        assert_eq!(p.counts(), (0, 2));
        assert!(p.check().is_ok());
        p.cancel();
        assert!(matches!(p.check(), Err(DataError::Cancelled)));
        p.begin("Anything", 1);
        assert!(p.is_cancelled());
    }
}
