//! One mechanism for the window's slow work: a named thread computes one value, hands it over a
//! bounded channel and asks egui for a repaint; the UI polls without ever blocking.
//!
//! File dialogs, dataset splits, the augmentation preview, the run scan, the GPU probe, exports
//! and the Model panel's tasks all run as a [`Background`].

use crossbeam_channel::{Receiver, bounded};

/// A thread for background work could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the {name} thread")]
pub struct SpawnError {
    /// The thread's name, which says what it was for (e.g. `dataset-dialog`).
    pub name: &'static str,
    /// The operating system's reason.
    #[source]
    pub source: std::io::Error,
}

/// Work in progress on its own thread; [`Self::poll`] gives its result once, when it is done.
#[derive(Debug)]
pub struct Background<T> {
    name: &'static str,
    rx: Receiver<T>,
}

impl<T: Send + 'static> Background<T> {
    /// Runs `work` on a thread called `name`, then wakes the window.
    pub fn spawn(
        name: &'static str,
        ctx: &egui::Context,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Self, SpawnError> {
        let (tx, rx) = bounded(1);
        let ctx = ctx.clone();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                // The window may have closed (or dropped the task) meanwhile; then nobody needs
                // the result.
                tx.send(work()).ok();
                ctx.request_repaint();
            })
            .map_err(|source| SpawnError { name, source })?;
        Ok(Self { name, rx })
    }
}

impl<T> Background<T> {
    /// The result, the first time it is asked for after the work ended (never, if the work
    /// panicked).
    pub fn poll(&self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// The thread's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait<T>(task: &Background<T>) -> T {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(value) = task.poll() {
                return value;
            }
            assert!(std::time::Instant::now() < deadline, "no result");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    #[test]
    fn the_result_arrives_once_on_a_named_thread() {
        let ctx = egui::Context::default();
        let task = Background::spawn("test-task", &ctx, || {
            std::thread::current().name().map(str::to_owned)
        })
        .unwrap();
        assert_eq!(wait(&task).as_deref(), Some("test-task"));
        assert_eq!(task.poll(), None, "a result is given once");
        assert_eq!(task.name(), "test-task");
    }
}
