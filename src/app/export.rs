//! Saving and opening files the user asks for: a native dialog on a [`Background`] thread, so
//! the window keeps drawing while the dialog is open.

use super::background::{Background, SpawnError};

/// Asks where to save (suggesting `file_name`), then produces the contents (on the dialog's
/// thread, so rendering a picture never stalls the window) and writes them there. The result is
/// the message to show.
pub fn save(
    ctx: &egui::Context,
    file_name: String,
    contents: impl FnOnce() -> Result<Vec<u8>, String> + Send + 'static,
) -> Result<Background<String>, SpawnError> {
    Background::spawn("export", ctx, move || {
        match rfd::FileDialog::new().set_file_name(&file_name).save_file() {
            None => "Export cancelled".to_owned(),
            Some(path) => match contents() {
                Err(e) => format!("Cannot export: {e}"),
                Ok(bytes) => match std::fs::write(&path, &bytes) {
                    Ok(()) => format!("Saved {}", path.display()),
                    Err(e) => format!("Cannot write {}: {e}", path.display()),
                },
            },
        }
    })
}

/// Asks for a file of the given kind and runs `action` on it (on the dialog's thread).
pub fn open<T: Send + 'static>(
    ctx: &egui::Context,
    filter: (&'static str, &'static [&'static str]),
    action: impl FnOnce(std::path::PathBuf) -> Result<T, String> + Send + 'static,
) -> Result<Background<Result<T, String>>, SpawnError> {
    Background::spawn("open-file", ctx, move || {
        let picked = rfd::FileDialog::new()
            .add_filter(filter.0, filter.1)
            .pick_file();
        match picked {
            None => Err("Open cancelled".to_owned()),
            Some(path) => action(path),
        }
    })
}
