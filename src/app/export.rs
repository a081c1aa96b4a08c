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

/// A file being chosen and read, for "Open config…": a native open dialog on its own thread.
pub struct PendingOpen {
    rx: Receiver<Result<(std::path::PathBuf, String), String>>,
}

impl PendingOpen {
    /// Asks for a TOML file and reads it.
    pub fn spawn(ctx: egui::Context) -> Result<Self, String> {
        let (tx, rx) = bounded(1);
        std::thread::Builder::new()
            .name("open-config".to_owned())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .add_filter("Experiment (TOML)", &["toml"])
                    .pick_file();
                let result = match picked {
                    None => Err("Open cancelled".to_owned()),
                    Some(path) => std::fs::read_to_string(&path)
                        .map(|text| (path.clone(), text))
                        .map_err(|e| format!("cannot read {}: {e}", path.display())),
                };
                tx.send(result).ok();
                ctx.request_repaint();
            })
            .map_err(|e| format!("cannot open the file dialog: {e}"))?;
        Ok(Self { rx })
    }

    /// The file's path and text once chosen, or why not.
    pub fn poll(&self) -> Option<Result<(std::path::PathBuf, String), String>> {
        self.rx.try_recv().ok()
    }
}
