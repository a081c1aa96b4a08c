//! Run bundles: one run directory as a zip file, to hand a run to someone else or keep it, and
//! back again. Importing never writes outside the runs folder: entries with absolute paths, `..`
//! or subfolders are refused, as are archives that would unpack to more than a size limit.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Largest total unpacked size accepted on import (guards against zip bombs).
pub const MAX_UNPACKED_BYTES: u64 = 4 << 30;
/// Most entries accepted on import.
pub const MAX_ENTRIES: usize = 10_000;
/// Files every run directory has; a bundle without them is not a run.
const REQUIRED: [&str; 3] = ["config.toml", "metrics.csv", "run.json"];

/// A bundle that cannot be written or read, naming the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// Reading or writing a file failed.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The archive is not an acceptable run bundle.
    #[error("{path} is not a usable run bundle: {message}")]
    Refused {
        /// The archive.
        path: String,
        /// Why.
        message: String,
    },
}

fn io(path: &Path, e: impl std::fmt::Display) -> BundleError {
    BundleError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn refused(path: &Path, message: impl Into<String>) -> BundleError {
    BundleError::Refused {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Zips the run directory `dir` into `out` (written atomically); returns the number of files.
/// Entries are `RUN_NAME/FILE`, the run's files only (no subfolders, no temporary files).
pub fn export(dir: &Path, out: &Path) -> Result<usize, BundleError> {
    for name in REQUIRED {
        if !dir.join(name).is_file() {
            return Err(refused(
                dir,
                format!("it has no {name}; is it a run directory?"),
            ));
        }
    }
    let run_name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| refused(dir, "it has no folder name"))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "tmp"))
        .collect();
    files.sort();
    let tmp = out.with_extension("zip.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut buffer = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        buffer.clear();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut buffer))
            .map_err(|e| io(path, e))?;
        zip.start_file(format!("{run_name}/{name}"), options)
            .map_err(|e| io(&tmp, e))?;
        zip.write_all(&buffer).map_err(|e| io(&tmp, e))?;
    }
    let mut writer = zip.finish().map_err(|e| io(&tmp, e))?;
    writer.flush().map_err(|e| io(&tmp, e))?;
    drop(writer);
    std::fs::rename(&tmp, out).map_err(|e| io(out, e))?;
    Ok(files.len())
}

/// Unpacks a bundle into a new run directory under `root` (named after the run, with a suffix
/// if that name is taken) and returns it. Nothing is written unless the whole bundle is valid.
pub fn import(bundle: &Path, root: &Path) -> Result<PathBuf, BundleError> {
    let file = std::fs::File::open(bundle).map_err(|e| io(bundle, e))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| refused(bundle, format!("not a zip archive ({e})")))?;
    if archive.len() > MAX_ENTRIES {
        return Err(refused(bundle, format!("it has {} entries", archive.len())));
    }
    // Check every entry before writing anything.
    let mut run_name: Option<String> = None;
    let mut entries = Vec::new();
    let mut total = 0u64;
    for i in 0..archive.len() {
        let entry = archive
            .by_index(i)
            .map_err(|e| refused(bundle, format!("entry {i} is unreadable ({e})")))?;
        let raw = entry
            .name()
            .map(std::borrow::Cow::into_owned)
            .map_err(|e| refused(bundle, format!("entry {i} has an unreadable name ({e})")))?;
        if entry.is_dir() {
            continue;
        }
        // An absolute name is refused outright, even where the zip reader would make it
        // relative by dropping its root.
        let absolute = raw.starts_with(['/', '\\']) || raw.as_bytes().get(1) == Some(&b':');
        let safe = entry
            .enclosed_name()
            .filter(|_| !absolute)
            .ok_or_else(|| refused(bundle, format!("entry {raw:?} points outside its folder")))?;
        let parts: Vec<String> = safe
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let [folder, name] = &parts[..] else {
            return Err(refused(
                bundle,
                format!("entry {raw:?} is not RUN/FILE (a run bundle holds one flat folder)"),
            ));
        };
        match &run_name {
            None => run_name = Some(folder.clone()),
            Some(existing) if existing != folder => {
                return Err(refused(bundle, "it holds more than one run folder"));
            }
            Some(_) => {}
        }
        total = total.saturating_add(entry.size());
        if total > MAX_UNPACKED_BYTES {
            return Err(refused(bundle, "it would unpack to more than 4 GiB"));
        }
        entries.push((i, name.clone()));
    }
    let run_name = run_name.ok_or_else(|| refused(bundle, "it is empty"))?;
    for required in REQUIRED {
        if !entries.iter().any(|(_, n)| n == required) {
            return Err(refused(bundle, format!("it has no {required}")));
        }
    }
    std::fs::create_dir_all(root).map_err(|e| io(root, e))?;
    let target = free_name(root, &run_name);
    let staging = root.join(format!(".importing-{run_name}-{}", std::process::id()));
    std::fs::create_dir_all(&staging).map_err(|e| io(&staging, e))?;
    let unpacked = (|| {
        for (index, name) in &entries {
            let mut entry = archive
                .by_index(*index)
                .map_err(|e| refused(bundle, format!("entry {name} is unreadable ({e})")))?;
            let path = staging.join(name);
            let mut out = std::fs::File::create(&path).map_err(|e| io(&path, e))?;
            // The declared size is checked above; `take` also bounds what a lying header yields.
            std::io::copy(&mut (&mut entry).take(MAX_UNPACKED_BYTES), &mut out)
                .map_err(|e| refused(bundle, format!("entry {name} is damaged ({e})")))?;
        }
        std::fs::rename(&staging, &target).map_err(|e| io(&target, e))
    })();
    if let Err(e) = unpacked {
        std::fs::remove_dir_all(&staging).ok();
        return Err(e);
    }
    Ok(target)
}

/// `root/name`, or `root/name-2`, `-3`… if taken.
fn free_name(root: &Path, name: &str) -> PathBuf {
    let first = root.join(name);
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| root.join(format!("{name}-{n}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_run(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, content) in [
            ("config.toml", "seed = 1\n"),
            ("metrics.csv", "epoch\n1\n"),
            ("run.json", "{}"),
            ("best-e1.bpk", "\u{0}\u{1}weights"),
        ] {
            std::fs::write(dir.join(name), content).unwrap();
        }
    }

    fn write_zip(path: &Path, entries: &[(&str, &[u8])]) {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
        for (name, bytes) in entries {
            zip.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap();
    }

    #[test]
    fn export_then_import_gives_the_same_files() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("runs/20260101-noise");
        fake_run(&run);
        let zip = tmp.path().join("run.zip");
        assert_eq!(export(&run, &zip).unwrap(), 4);
        let other = tmp.path().join("elsewhere");
        let first = import(&zip, &other).unwrap();
        assert_eq!(first, other.join("20260101-noise"));
        for name in ["config.toml", "metrics.csv", "run.json", "best-e1.bpk"] {
            assert_eq!(
                std::fs::read(first.join(name)).unwrap(),
                std::fs::read(run.join(name)).unwrap()
            );
        }
        // Importing again does not overwrite the first copy.
        assert_eq!(
            import(&zip, &other).unwrap(),
            other.join("20260101-noise-2")
        );
    }

    #[test]
    fn hostile_or_incomplete_bundles_are_refused_and_write_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("runs");
        type Entries<'a> = Vec<(&'a str, &'a [u8])>;
        let cases: [(&str, Entries<'_>, &str); 5] = [
            ("escape", vec![("run/../../evil.txt", b"x")], "outside"),
            ("absolute", vec![("/etc/evil", b"x")], "outside"),
            ("nested", vec![("run/sub/config.toml", b"x")], "RUN/FILE"),
            ("partial", vec![("run/config.toml", b"x")], "no metrics.csv"),
            (
                "two-runs",
                vec![("a/config.toml", b"x"), ("b/metrics.csv", b"x")],
                "more than one",
            ),
        ];
        for (name, entries, expected) in cases {
            let path = tmp.path().join(format!("{name}.zip"));
            write_zip(&path, &entries);
            let err = import(&path, &root).unwrap_err().to_string();
            assert!(err.contains(expected), "{name}: {err}");
        }
        let garbage = tmp.path().join("garbage.zip");
        std::fs::write(&garbage, b"PK not really").unwrap();
        let err = import(&garbage, &root).unwrap_err().to_string();
        assert!(err.contains("not a zip archive"), "{err}");
        assert!(!root.exists() || std::fs::read_dir(&root).unwrap().next().is_none());
        assert!(!tmp.path().join("evil.txt").exists());

        let err = export(&tmp.path().join("nothing"), &tmp.path().join("x.zip"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no config.toml"), "{err}");
    }
}
