//! Image folders: one subfolder per class (the ImageFolder / DIGITS convention).
//!
//! ```text
//! PATH/cat/001.png            PATH/train/cat/001.png     PATH/val/cat/101.png
//! PATH/dog/002.jpg     or     PATH/train/dog/002.jpg     PATH/val/dog/102.jpg
//! ```
//!
//! With `train/` beside `val/` (or `valid/`, `validation/`, `test/`), the second tree becomes the
//! source's own test split. Class folders are searched recursively; hidden entries (names
//! starting with `.`) are ignored. PNG, JPEG, BMP, GIF (first frame), WebP and TIFF are decoded
//! in parallel, converted to one channel count, resized to one size and written straight into
//! the dataset's single pixel array. A file that cannot be decoded is skipped and listed in
//! [`Dataset::skipped`] with the reason; problems with the folders themselves are errors.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::BufReader;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use image::{ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use rayon::prelude::*;

use super::convert::{InputFormat, alloc_pixels, centre_to_aspect, write_chw};
use super::disk::{DEFAULT_CACHE_MB, DiskFile, DiskImages, IN_MEMORY_BUDGET, InMemory, Stamp};
use super::progress::LoadProgress;
use super::{DataError, Dataset, DatasetSource, ImageSet, SkippedFile, SourceFormat};

/// File extensions tried as images (compared without case).
const EXTENSIONS: [&str; 11] = [
    "png", "jpg", "jpeg", "jpe", "jfif", "bmp", "dib", "gif", "webp", "tif", "tiff",
];
/// Names (without case) of the training tree in a split layout.
const TRAIN_DIRS: [&str; 2] = ["train", "training"];
/// Names (without case) of the validation tree in a split layout, in order of preference.
const VAL_DIRS: [&str; 5] = ["val", "valid", "validation", "test", "testing"];
/// Largest width or height decoded: guards against decompression bombs.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Most memory one image may take while it is decoded.
pub const MAX_DECODE_BYTES: u64 = 256 << 20;
/// Largest image file read.
const MAX_FILE_BYTES: u64 = 256 << 20;
/// How deep class folders are searched.
const MAX_DEPTH: usize = 16;
/// When the most common image size is over this many pixels on a side, the default input is
/// [`LARGE_DEFAULT_SIDE`] square instead.
pub const LARGE_SIDE: u32 = 128;
/// Default input side for folders of large images.
pub const LARGE_DEFAULT_SIDE: u32 = 64;
/// Smallest default input side (tiny images are scaled up to this).
pub const MIN_DEFAULT_SIDE: u32 = 8;

/// A class folder and the image files found in it.
struct ClassDir {
    key: OsString,
    name: String,
    path: PathBuf,
    files: Vec<PathBuf>,
}

/// What a successfully read image was before conversion: width, height, grayscale.
type Native = (u32, u32, bool);

/// Loads an image folder at `input` (size and channels, each defaulted from the data).
pub(crate) fn load(
    root: &Path,
    input: InputFormat,
    source: DatasetSource,
    progress: &LoadProgress,
) -> Result<Dataset, DataError> {
    input.validate()?;
    let started = std::time::Instant::now();
    progress.begin("Listing files", 0);
    let (train_root, test_root) = layout(root)?;
    let mut skipped = Vec::new();
    let classes = scan_tree(&train_root, &mut skipped, progress)?;
    check_classes(&train_root, &classes)?;
    let mut train = Files::default();
    for (label, class) in classes.iter().enumerate() {
        train.push_class(class, label as u16);
    }
    let mut test = Files::default();
    if let Some(test_root) = &test_root {
        for class in scan_tree(test_root, &mut skipped, progress)? {
            let Some(label) = classes.iter().position(|c| c.key == class.key) else {
                return Err(DataError::Invalid(format!(
                    "{}: class '{}' has no folder in {}; the validation classes must be among \
                     the training classes",
                    class.path.display(),
                    class.name,
                    train_root.display()
                )));
            };
            test.push_class(&class, label as u16);
        }
    }

    // Headers only: sizes and colour modes, and the files whose header cannot be read.
    let mut probe_headers =
        |train: &mut Files, test: &mut Files| -> Result<Vec<Native>, DataError> {
            let total = train.paths.len() + test.paths.len();
            progress.begin("Reading image headers", total as u64);
            let probed_train = probe_all(&train.paths, progress)?;
            let probed_test = probe_all(&test.paths, progress)?;
            train.drop_failed(&probed_train, &mut skipped);
            test.drop_failed(&probed_test, &mut skipped);
            Ok(probed_train
                .into_iter()
                .chain(probed_test)
                .filter_map(Result::ok)
                .collect())
        };
    let mut probed = None;
    let (width, height, channels) = match (input.size, input.channels) {
        (Some(size), Some(channels)) => (size, size, usize::from(channels)),
        _ => {
            let natives = probe_headers(&mut train, &mut test)?;
            let (w, h) = if input.native {
                native_size(&natives)
            } else {
                default_size(&natives)
            };
            let gray = natives.iter().all(|n| n.2);
            let (w, h) = input.size.map_or((w, h), |s| (s, s));
            let channels = input.channels.map_or(if gray { 1 } else { 3 }, usize::from);
            probed = Some(natives);
            (w, h, channels)
        }
    };
    let shape = (width, height, channels);
    let decoded = (train.paths.len() + test.paths.len()) as u64
        * u64::from(width)
        * u64::from(height)
        * channels as u64;
    let on_disk = match input.in_memory {
        InMemory::Yes => false,
        InMemory::No => true,
        InMemory::Auto => decoded > IN_MEMORY_BUDGET,
    };
    if on_disk {
        let natives = match probed {
            Some(natives) => natives,
            None => probe_headers(&mut train, &mut test)?,
        };
        return on_disk_dataset(
            root,
            input,
            source,
            &classes,
            (train, test),
            shape,
            &natives,
            skipped,
            started,
        );
    }

    let total = train.paths.len() + test.paths.len();
    progress.begin("Decoding images", total as u64);
    let mut natives = Vec::with_capacity(total);
    let keep = input.keep_aspect;
    let train_set = decode_set(&train, shape, keep, progress, &mut skipped, &mut natives)?;
    let test_set = decode_set(&test, shape, keep, progress, &mut skipped, &mut natives)?;
    check_readable(&classes, &train_set.labels, &skipped)?;
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    let converted = natives
        .iter()
        .filter(|&&(w, h, gray)| (w, h) != (width, height) || (gray != (channels == 1)))
        .count();
    Ok(Dataset {
        source,
        width: width as usize,
        height: height as usize,
        channels,
        class_names: classes.iter().map(|c| c.name.clone()).collect(),
        train: train_set,
        test: (!test_set.is_empty()).then_some(test_set),
        fixed_norm: None,
        skipped,
        source_format: SourceFormat::from_natives(&natives, converted),
        disk: None,
    })
}

/// Every class has at least one image that could be read.
fn check_readable(
    classes: &[ClassDir],
    labels: &[u16],
    skipped: &[SkippedFile],
) -> Result<(), DataError> {
    for (label, class) in classes.iter().enumerate() {
        if !labels.contains(&(label as u16)) {
            let reasons: Vec<String> = skipped
                .iter()
                .filter(|s| Path::new(&s.path).starts_with(&class.path))
                .take(1)
                .map(|s| format!("{}: {}", s.path, s.reason))
                .collect();
            return Err(DataError::Invalid(format!(
                "none of the {} image files in {} could be read (first problem: {})",
                class.files.len(),
                class.path.display(),
                reasons.first().map_or("unknown", String::as_str)
            )));
        }
    }
    Ok(())
}

/// The dataset of a folder kept on disk: files indexed (their headers already read), nothing
/// decoded; [`DiskImages`] decodes each image when a batch needs it.
#[allow(clippy::too_many_arguments)]
fn on_disk_dataset(
    root: &Path,
    input: InputFormat,
    source: DatasetSource,
    classes: &[ClassDir],
    (train, test): (Files, Files),
    (w, h, c): (u32, u32, usize),
    natives: &[Native],
    mut skipped: Vec<SkippedFile>,
    started: std::time::Instant,
) -> Result<Dataset, DataError> {
    check_readable(classes, &train.labels, &skipped)?;
    let cache_mb = input.cache_mb.unwrap_or(DEFAULT_CACHE_MB);
    let image_bytes = w as usize * h as usize * c;
    if (cache_mb as usize) * 1_000_000 < image_bytes {
        return Err(DataError::Invalid(format!(
            "the decoded-image cache ({cache_mb} MB) cannot hold one image of {} ({w}×{h}, {}              channel{}, {:.1} MB decoded): set --data-cache-mb to at least {}",
            root.display(),
            c,
            if c == 1 { "" } else { "s" },
            image_bytes as f64 / 1e6,
            image_bytes.div_ceil(1_000_000)
        )));
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    let converted = natives
        .iter()
        .filter(|&&(nw, nh, gray)| (nw, nh) != (w, h) || (gray != (c == 1)))
        .count();
    let index = |files: &Files| -> Vec<DiskFile> {
        files
            .paths
            .iter()
            .map(|path| DiskFile {
                stamp: Stamp::of(path),
                path: path.clone(),
            })
            .collect()
    };
    let disk = DiskImages::new(
        index(&train),
        index(&test),
        (w, h, c),
        input.keep_aspect,
        decode_into,
        cache_mb,
    )
    .with_index_time(started.elapsed().as_secs_f64());
    let set = |files: Files| ImageSet {
        pixels: Vec::new(),
        labels: files.labels,
    };
    let test = (!test.labels.is_empty()).then(|| set(test));
    Ok(Dataset {
        source,
        width: w as usize,
        height: h as usize,
        channels: c,
        class_names: classes.iter().map(|c| c.name.clone()).collect(),
        train: set(train),
        test,
        fixed_norm: None,
        skipped,
        source_format: SourceFormat::from_natives(natives, converted),
        disk: Some(std::sync::Arc::new(disk)),
    })
}

/// Image files of one tree with their labels.
#[derive(Default)]
struct Files {
    paths: Vec<PathBuf>,
    labels: Vec<u16>,
}

impl Files {
    fn push_class(&mut self, class: &ClassDir, label: u16) {
        self.paths.extend(class.files.iter().cloned());
        self.labels
            .extend(std::iter::repeat_n(label, class.files.len()));
    }

    /// Removes the files whose header could not be read, listing them as skipped.
    fn drop_failed(&mut self, probed: &[Result<Native, String>], skipped: &mut Vec<SkippedFile>) {
        let paths = std::mem::take(&mut self.paths);
        let labels = std::mem::take(&mut self.labels);
        for ((path, label), outcome) in paths.into_iter().zip(labels).zip(probed) {
            match outcome {
                Ok(_) => {
                    self.paths.push(path);
                    self.labels.push(label);
                }
                Err(reason) => skipped.push(SkippedFile::new(&path, reason.clone())),
            }
        }
    }
}

/// The training tree and, in a `train/` + `val/` layout, the validation tree.
fn layout(root: &Path) -> Result<(PathBuf, Option<PathBuf>), DataError> {
    let meta = std::fs::metadata(root).map_err(|source| DataError::Io {
        path: root.display().to_string(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(DataError::Invalid(format!(
            "{} is not a folder: an image dataset is a folder with one subfolder per class",
            root.display()
        )));
    }
    let entries = read_dir_sorted(root).map_err(|source| DataError::Io {
        path: root.display().to_string(),
        source,
    })?;
    let find = |names: &[&str]| {
        names.iter().find_map(|want| {
            entries
                .iter()
                .find(|(name, path)| {
                    name.to_string_lossy().eq_ignore_ascii_case(want) && path.is_dir()
                })
                .map(|(_, path)| path.clone())
        })
    };
    match find(&TRAIN_DIRS) {
        Some(train) => Ok((train, find(&VAL_DIRS))),
        None => Ok((root.to_owned(), None)),
    }
}

/// A folder's entries, sorted by name.
fn read_dir_sorted(dir: &Path) -> std::io::Result<Vec<(OsString, PathBuf)>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        entries.push((entry.file_name(), entry.path()));
    }
    entries.sort();
    Ok(entries)
}

fn is_hidden(name: &OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| EXTENSIONS.contains(&e.as_str()))
}

/// The class folders of a tree with their image files. Files and subfolders that cannot be read
/// are listed in `skipped`; a tree that cannot be listed at all is an error.
fn scan_tree(
    root: &Path,
    skipped: &mut Vec<SkippedFile>,
    progress: &LoadProgress,
) -> Result<Vec<ClassDir>, DataError> {
    let entries = read_dir_sorted(root).map_err(|source| DataError::Io {
        path: root.display().to_string(),
        source,
    })?;
    let mut classes = Vec::new();
    let mut loose = 0usize;
    for (name, path) in entries {
        if is_hidden(&name) {
            continue;
        }
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => classes.push(ClassDir {
                name: name.to_string_lossy().into_owned(),
                key: name,
                path,
                files: Vec::new(),
            }),
            Ok(_) => loose += usize::from(has_image_extension(&path)),
            Err(e) => skipped.push(SkippedFile::new(&path, format!("cannot read: {e}"))),
        }
    }
    if classes.is_empty() {
        return Err(DataError::Invalid(if loose > 0 {
            format!(
                "{} holds {loose} images but no class folders: put each class's images in a \
                 subfolder named after the class (e.g. {}/cat/1.png, {}/dog/2.png)",
                root.display(),
                root.display(),
                root.display()
            )
        } else {
            format!(
                "{} contains no images: expected one subfolder per class (e.g. {}/cat/1.png)",
                root.display(),
                root.display()
            )
        }));
    }
    // Symbolic links may bring in folders from elsewhere, but not the tree's own root (or a
    // folder above it) nor another class's folder: those would loop or relabel images.
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    let tree_root = canonical(root);
    let class_roots: Vec<PathBuf> = classes.iter().map(|c| canonical(&c.path)).collect();
    for (i, class) in classes.iter_mut().enumerate() {
        let mut visited = HashSet::new();
        let mut walk = Walk {
            files: &mut class.files,
            skipped,
            visited: &mut visited,
            fence: Fence {
                tree_root: &tree_root,
                other_classes: class_roots
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, p)| p.as_path())
                    .collect(),
            },
            progress,
        };
        walk.collect(&class.path, 0)?;
    }
    Ok(classes)
}

/// Folders a class's search must not enter through a symbolic link.
struct Fence<'a> {
    tree_root: &'a Path,
    other_classes: Vec<&'a Path>,
}

impl Fence<'_> {
    /// Why `canonical` may not be searched, if it may not.
    fn refuses(&self, canonical: &Path) -> Option<&'static str> {
        if self.tree_root.starts_with(canonical) {
            Some("a link back to the dataset's folder (or above it); not followed")
        } else if self.other_classes.iter().any(|c| canonical.starts_with(c)) {
            Some("a link into another class's folder; not followed, so no image changes class")
        } else {
            None
        }
    }
}

/// A recursive search for image files.
struct Walk<'a> {
    files: &'a mut Vec<PathBuf>,
    skipped: &'a mut Vec<SkippedFile>,
    /// Folders already searched (canonical paths), so that symbolic links cannot loop.
    visited: &'a mut HashSet<PathBuf>,
    fence: Fence<'a>,
    progress: &'a LoadProgress,
}

impl Walk<'_> {
    fn collect(&mut self, dir: &Path, depth: usize) -> Result<(), DataError> {
        self.progress.check()?;
        if let Ok(canonical) = std::fs::canonicalize(dir) {
            if depth > 0
                && let Some(reason) = self.fence.refuses(&canonical)
            {
                self.skipped.push(SkippedFile::new(dir, reason));
                return Ok(());
            }
            if !self.visited.insert(canonical) {
                return Ok(());
            }
        }
        let entries = match read_dir_sorted(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.skipped
                    .push(SkippedFile::new(dir, format!("cannot list folder: {e}")));
                return Ok(());
            }
        };
        for (name, path) in entries {
            if is_hidden(&name) {
                continue;
            }
            let meta = match std::fs::metadata(&path) {
                Ok(meta) => meta,
                Err(e) => {
                    self.skipped
                        .push(SkippedFile::new(&path, format!("cannot read: {e}")));
                    continue;
                }
            };
            if meta.is_dir() {
                if depth < MAX_DEPTH {
                    self.collect(&path, depth + 1)?;
                } else {
                    self.skipped.push(SkippedFile::new(
                        &path,
                        format!("folder nested more than {MAX_DEPTH} levels deep"),
                    ));
                }
            } else if has_image_extension(&path) {
                self.files.push(path);
                self.progress.add(1);
            } else {
                self.skipped.push(SkippedFile::new(
                    &path,
                    "not an image file (PNG, JPEG, BMP, GIF, WebP or TIFF by extension)",
                ));
            }
        }
        Ok(())
    }
}

/// A training tree needs two or more classes, each with at least one image file.
fn check_classes(root: &Path, classes: &[ClassDir]) -> Result<(), DataError> {
    if let Some(empty) = classes.iter().find(|c| c.files.is_empty()) {
        return Err(DataError::Invalid(format!(
            "class folder {} has no image files: add images or remove the folder",
            empty.path.display()
        )));
    }
    if classes.len() < 2 {
        return Err(DataError::Invalid(format!(
            "{} has only one class folder ('{}'): a classifier needs at least two classes",
            root.display(),
            classes.first().map_or("", |c| c.name.as_str())
        )));
    }
    Ok(())
}

/// The decoding limits for one image.
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// Opens an image file with its format (from the content, else the extension) and the limits.
fn open(path: &Path) -> Result<ImageReader<BufReader<File>>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if len == 0 {
        return Err("empty file (0 bytes)".to_owned());
    }
    if len > MAX_FILE_BYTES {
        return Err(format!(
            "file is {} MiB, over the {} MiB limit",
            len >> 20,
            MAX_FILE_BYTES >> 20
        ));
    }
    let mut reader = ImageReader::new(BufReader::new(file))
        .with_guessed_format()
        .map_err(|e| format!("cannot read: {e}"))?;
    if reader.format().is_none() {
        match ImageFormat::from_path(path) {
            Ok(format) => reader.set_format(format),
            Err(_) => return Err("not a recognised image format".to_owned()),
        }
    }
    reader.limits(limits());
    Ok(reader)
}

/// Why an image could not be decoded, in words.
fn describe(error: ImageError) -> String {
    match error {
        ImageError::Limits(e) => format!(
            "too large to decode safely (limit {MAX_IMAGE_SIDE}×{MAX_IMAGE_SIDE} pixels, {} MiB \
             decoded): {e}",
            MAX_DECODE_BYTES >> 20
        ),
        ImageError::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "truncated file (it ends in the middle of the image)".to_owned()
        }
        ImageError::IoError(e) => format!("cannot read: {e}"),
        ImageError::Unsupported(e) => format!("unsupported image: {e}"),
        other => format!("corrupt image: {other}"),
    }
}

/// Runs a decoder step, turning a decoder panic into a reason to skip the file.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err("the image decoder failed on this file".to_owned()))
}

/// Size and colour mode from an image's header (no pixels decoded for most formats).
fn probe(path: &Path) -> Result<Native, String> {
    guarded(|| {
        let decoder = open(path)?.into_decoder().map_err(describe)?;
        let (w, h) = decoder.dimensions();
        Ok((w, h, !decoder.color_type().has_color()))
    })
}

fn probe_all(
    paths: &[PathBuf],
    progress: &LoadProgress,
) -> Result<Vec<Result<Native, String>>, DataError> {
    let probed = paths
        .par_iter()
        .map(|path| {
            if progress.is_cancelled() {
                return Err(String::new());
            }
            let outcome = probe(path);
            progress.add(1);
            outcome
        })
        .collect();
    progress.check()?;
    Ok(probed)
}

/// The most common image size (the largest among equally common ones; 64×64 for none).
fn most_common_size(natives: &[Native]) -> (u32, u32) {
    let mut counts: HashMap<(u32, u32), usize> = HashMap::new();
    for &(w, h, _) in natives {
        *counts.entry((w, h)).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&((w, h), n)| (n, w, h))
        .map_or((LARGE_DEFAULT_SIDE, LARGE_DEFAULT_SIDE), |(size, _)| size)
}

/// The default input size: the most common image size, 64×64 when that is over 128 px on a side,
/// and at least 8 px on a side.
fn default_size(natives: &[Native]) -> (u32, u32) {
    let (w, h) = most_common_size(natives);
    if w.max(h) > LARGE_SIDE {
        (LARGE_DEFAULT_SIDE, LARGE_DEFAULT_SIDE)
    } else {
        (w.max(MIN_DEFAULT_SIDE), h.max(MIN_DEFAULT_SIDE))
    }
}

/// The stored size of images kept at their own resolution: the most common size, its longer
/// side brought down to [`InputFormat::NATIVE_MAX_SIDE`] (aspect kept) and at least 8 px.
fn native_size(natives: &[Native]) -> (u32, u32) {
    let (w, h) = most_common_size(natives);
    let longer = w.max(h).max(1);
    let max = InputFormat::NATIVE_MAX_SIDE;
    let (w, h) = if longer > max {
        let shrink = |side: u32| (u64::from(side) * u64::from(max) / u64::from(longer)) as u32;
        (shrink(w), shrink(h))
    } else {
        (w, h)
    };
    (w.max(MIN_DEFAULT_SIDE), h.max(MIN_DEFAULT_SIDE))
}

/// Decodes one file into its slot of the pixel array.
fn decode_into(
    path: &Path,
    (w, h, c): (u32, u32, usize),
    keep_aspect: bool,
    slot: &mut [u8],
) -> Result<Native, String> {
    guarded(|| {
        let mut image = open(path)?.decode().map_err(describe)?;
        let native = (image.width(), image.height(), !image.color().has_color());
        if keep_aspect {
            image = centre_to_aspect(image, w, h);
        }
        write_chw(image, w, h, c, slot);
        Ok(native)
    })
}

/// Decodes `files` in parallel into one pixel array, drops the ones that fail (listing them in
/// `skipped`) and records the native size of the others in `natives`.
fn decode_set(
    files: &Files,
    (w, h, c): (u32, u32, usize),
    keep_aspect: bool,
    progress: &LoadProgress,
    skipped: &mut Vec<SkippedFile>,
    natives: &mut Vec<Native>,
) -> Result<ImageSet, DataError> {
    let len = w as usize * h as usize * c;
    let mut pixels = alloc_pixels(files.paths.len(), len, "the decoded images")?;
    let outcomes: Vec<Result<Native, String>> = pixels
        .par_chunks_mut(len.max(1))
        .zip(files.paths.par_iter())
        .map(|(slot, path)| {
            if progress.is_cancelled() {
                return Err(String::new());
            }
            let outcome = decode_into(path, (w, h, c), keep_aspect, slot);
            progress.add(1);
            outcome
        })
        .collect();
    progress.check()?;
    let mut labels = files.labels.clone();
    let mut kept = 0;
    for (i, (outcome, path)) in outcomes.into_iter().zip(&files.paths).enumerate() {
        match outcome {
            Ok(native) => {
                if kept != i {
                    pixels.copy_within(i * len..(i + 1) * len, kept * len);
                    labels[kept] = labels[i];
                }
                kept += 1;
                natives.push(native);
            }
            Err(reason) => skipped.push(SkippedFile::new(path, reason)),
        }
    }
    if kept < labels.len() {
        pixels.truncate(kept * len);
        pixels.shrink_to_fit();
        labels.truncate(kept);
    }
    Ok(ImageSet { pixels, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_size_is_the_most_common_within_bounds() {
        assert_eq!(
            default_size(&[(32, 24, true), (32, 24, true), (10, 10, true)]),
            (32, 24)
        );
        assert_eq!(default_size(&[(640, 480, false)]), (64, 64));
        assert_eq!(default_size(&[(1, 1, true)]), (8, 8));
        assert_eq!(default_size(&[(128, 20, true)]), (128, 20));
        assert_eq!(native_size(&[(640, 480, false)]), (640, 480));
        assert_eq!(native_size(&[(4000, 3000, false)]), (2048, 1536));
        assert_eq!(native_size(&[(3, 3000, false)]), (8, 2048));
    }

    #[test]
    fn extensions_are_matched_without_case() {
        assert!(has_image_extension(Path::new("a/B.PNG")));
        assert!(has_image_extension(Path::new("a/b.jpeg")));
        assert!(!has_image_extension(Path::new("a/readme.txt")));
        assert!(!has_image_extension(Path::new("a/png")));
    }
}
