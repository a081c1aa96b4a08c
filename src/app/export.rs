//! Saving files the user asks for: a native save dialog on its own thread, so the window keeps
//! drawing while the dialog is open.

use crossbeam_channel::{Receiver, bounded};

/// A save in progress; poll it for the message to show when it is done.
pub struct PendingSave {
    rx: Receiver<String>,
}

impl PendingSave {
    /// Asks where to save (suggesting `file_name`), then produces the contents (on this thread,
    /// so rendering a picture never stalls the window) and writes them there.
    pub fn spawn(
        file_name: String,
        contents: impl FnOnce() -> Result<Vec<u8>, String> + Send + 'static,
        ctx: egui::Context,
    ) -> Result<Self, String> {
        let (tx, rx) = bounded(1);
        std::thread::Builder::new()
            .name("export".to_owned())
            .spawn(move || {
                let message = match rfd::FileDialog::new().set_file_name(&file_name).save_file() {
                    None => "Export cancelled".to_owned(),
                    Some(path) => match contents() {
                        Err(e) => format!("Cannot export: {e}"),
                        Ok(bytes) => match std::fs::write(&path, &bytes) {
                            Ok(()) => format!("Saved {}", path.display()),
                            Err(e) => format!("Cannot write {}: {e}", path.display()),
                        },
                    },
                };
                // The app may have closed meanwhile; then nobody needs the message.
                tx.send(message).ok();
                ctx.request_repaint();
            })
            .map_err(|e| format!("cannot open the save dialog: {e}"))?;
        Ok(Self { rx })
    }

    /// The outcome, once the dialog is closed.
    pub fn poll(&self) -> Option<String> {
        self.rx.try_recv().ok()
    }
}

/// A file being chosen and used (read, imported) on its own thread behind a native open dialog.
pub struct PendingOpen<T> {
    rx: Receiver<Result<T, String>>,
}

impl<T: Send + 'static> PendingOpen<T> {
    /// Asks for a file of the given kind and runs `action` on it (on the dialog's thread).
    pub fn spawn(
        ctx: egui::Context,
        filter: (&'static str, &'static [&'static str]),
        action: impl FnOnce(std::path::PathBuf) -> Result<T, String> + Send + 'static,
    ) -> Result<Self, String> {
        let (tx, rx) = bounded(1);
        std::thread::Builder::new()
            .name("open-file".to_owned())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .add_filter(filter.0, filter.1)
                    .pick_file();
                let result = match picked {
                    None => Err("Open cancelled".to_owned()),
                    Some(path) => action(path),
                };
                tx.send(result).ok();
                ctx.request_repaint();
            })
            .map_err(|e| format!("cannot open the file dialog: {e}"))?;
        Ok(Self { rx })
    }

    /// The outcome, once the dialog is closed.
    pub fn poll(&self) -> Option<Result<T, String>> {
        self.rx.try_recv().ok()
    }
}
