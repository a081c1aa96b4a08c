//! Image folders left on disk: files indexed once (headers only), decoded when a sample is
//! needed, and kept in a memory-budgeted cache of decoded images.
//!
//! A folder whose decoded images would not fit the in-memory budget (or one the user asks to
//! keep on disk) becomes a [`Dataset`](super::Dataset) whose pixel arrays are empty and whose
//! [`DiskImages`] reads each image on demand, through the same decode and conversion as the
//! in-memory path, so a run gives the same numbers either way. The prefetch threads call it, so
//! decoding overlaps training. A file that fails to decode mid-run (deleted, truncated, replaced
//! by garbage) is left out of every later batch and listed in the run's `run.json`; a file
//! whose size or time stamp changed since indexing is used as it is now and listed too.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Part, SkippedFile};

/// Whether a dataset's decoded images are held in memory (`--data-in-memory`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InMemory {
    /// In memory when the decoded images fit [`IN_MEMORY_BUDGET`], else on disk.
    #[default]
    Auto,
    /// Always in memory (refused with a message when they cannot be allocated).
    Yes,
    /// Image folders stay on disk, decoded per sample through the cache.
    No,
}

impl InMemory {
    /// The command-line spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Yes => "yes",
            Self::No => "no",
        }
    }
}

impl std::str::FromStr for InMemory {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "yes" => Ok(Self::Yes),
            "no" => Ok(Self::No),
            _ => Err(format!("'{s}' is not a memory choice: use auto, yes or no")),
        }
    }
}

/// Decoded images larger than this stay on disk when the choice is automatic.
pub const IN_MEMORY_BUDGET: u64 = 2 << 30;
/// The decoded-image cache's default size, in MB (`--data-cache-mb`).
pub const DEFAULT_CACHE_MB: u32 = 512;

/// What a file was when it was indexed: its length and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    pub(crate) fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok()?;
        Some(Self {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// An indexed image file.
#[derive(Debug, Clone)]
pub(crate) struct DiskFile {
    pub(crate) path: PathBuf,
    pub(crate) stamp: Option<Stamp>,
}

/// How one image is decoded into a stored one: (path, (width, height, channels), keep aspect,
/// output slot) to the native (width, height, grayscale) or why not.
pub(crate) type Decode =
    fn(&Path, (u32, u32, usize), bool, &mut [u8]) -> Result<(u32, u32, bool), String>;

/// An image as the dataset holds it: borrowed from the in-memory array, or shared from the
/// decoded-image cache. Dereferences to the CHW bytes.
#[derive(Debug, Clone)]
pub enum ImageRef<'a> {
    /// Part of the in-memory pixel array.
    Borrowed(&'a [u8]),
    /// A decoded image (also held by the cache while it fits).
    Shared(Arc<[u8]>),
}

impl std::ops::Deref for ImageRef<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Borrowed(slice) => slice,
            Self::Shared(shared) => shared,
        }
    }
}

impl AsRef<[u8]> for ImageRef<'_> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// Decoded images, least recently used first, within a byte budget.
#[derive(Default)]
struct Lru {
    images: HashMap<(Part, u32), Arc<[u8]>>,
    order: VecDeque<(Part, u32)>,
    bytes: usize,
    hits: u64,
    misses: u64,
}

/// What happened to files read during a run (both lists sorted by path).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadProblems {
    /// Files that could not be decoded when needed: left out of every batch from then on.
    pub failed: Vec<SkippedFile>,
    /// Files whose size or time stamp changed after indexing: used as they are now.
    pub changed: Vec<SkippedFile>,
}

#[derive(Default)]
struct Problems {
    /// Samples that failed, and the reason (a failed sample is not read again).
    failed: HashMap<(Part, u32), String>,
    /// Changed files by path, and what changed.
    changed: BTreeMap<PathBuf, String>,
}

/// The files of an image folder kept on disk, and the decoded-image cache.
pub struct DiskImages {
    train: Vec<DiskFile>,
    test: Vec<DiskFile>,
    shape: (u32, u32, usize),
    keep_aspect: bool,
    decode: Decode,
    budget: usize,
    cache: Mutex<Lru>,
    problems: Mutex<Problems>,
    /// Seconds the folder took to index (listing and headers).
    indexed_secs: f64,
}

impl std::fmt::Debug for DiskImages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskImages")
            .field("train", &self.train.len())
            .field("test", &self.test.len())
            .field("shape", &self.shape)
            .field("budget", &self.budget)
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl DiskImages {
    pub(crate) fn new(
        train: Vec<DiskFile>,
        test: Vec<DiskFile>,
        shape: (u32, u32, usize),
        keep_aspect: bool,
        decode: Decode,
        cache_mb: u32,
    ) -> Self {
        Self {
            train,
            test,
            shape,
            keep_aspect,
            decode,
            budget: cache_mb as usize * 1_000_000,
            cache: Mutex::default(),
            problems: Mutex::default(),
            indexed_secs: 0.0,
        }
    }

    /// Notes how long indexing took.
    pub(crate) fn with_index_time(self, secs: f64) -> Self {
        Self {
            indexed_secs: secs,
            ..self
        }
    }

    /// Seconds the folder took to index (listing the files and reading their headers).
    pub fn indexed_secs(&self) -> f64 {
        self.indexed_secs
    }

    fn files(&self, part: Part) -> &[DiskFile] {
        match part {
            Part::Train => &self.train,
            Part::Test if self.test.is_empty() => &self.train,
            Part::Test => &self.test,
        }
    }

    /// Bytes of one decoded image.
    pub fn image_bytes(&self) -> usize {
        self.shape.0 as usize * self.shape.1 as usize * self.shape.2
    }

    /// The decoded-image cache's budget in bytes.
    pub fn cache_budget(&self) -> usize {
        self.budget
    }

    /// How many decoded images the cache holds at most.
    pub fn cache_capacity(&self) -> usize {
        self.budget / self.image_bytes().max(1)
    }

    /// Bytes in the cache now, its hits and its misses so far.
    pub fn cache_use(&self) -> (usize, u64, u64) {
        let cache = lock(&self.cache);
        (cache.bytes, cache.hits, cache.misses)
    }

    /// The file behind an image.
    pub fn path(&self, part: Part, index: usize) -> Option<&Path> {
        self.files(part).get(index).map(|f| f.path.as_path())
    }

    /// Files that failed or changed since indexing, so far.
    pub fn problems(&self) -> ReadProblems {
        let problems = lock(&self.problems);
        let mut failed: Vec<SkippedFile> = problems
            .failed
            .iter()
            .filter_map(|(&(part, index), reason)| {
                let path = self.path(part, index as usize)?;
                Some(SkippedFile::new(path, reason.clone()))
            })
            .collect();
        failed.sort_by(|a, b| a.path.cmp(&b.path));
        failed.dedup();
        let changed = problems
            .changed
            .iter()
            .map(|(path, what)| SkippedFile::new(path, what.clone()))
            .collect();
        ReadProblems { failed, changed }
    }

    /// One image, from the cache or decoded now (then cached while it fits the budget).
    pub fn get(&self, part: Part, index: usize) -> Result<Arc<[u8]>, String> {
        let key = (part, index as u32);
        {
            let mut cache = lock(&self.cache);
            if let Some(image) = cache.images.get(&key).cloned() {
                cache.hits += 1;
                if let Some(at) = cache.order.iter().rposition(|k| *k == key) {
                    cache.order.remove(at);
                }
                cache.order.push_back(key);
                return Ok(image);
            }
            cache.misses += 1;
        }
        if let Some(reason) = lock(&self.problems).failed.get(&key) {
            return Err(reason.clone());
        }
        let file = self
            .files(part)
            .get(index)
            .ok_or_else(|| format!("no image {index} in this dataset"))?;
        let now = Stamp::of(&file.path);
        if now.is_some() && now != file.stamp {
            let what = match (file.stamp, now) {
                (Some(was), Some(is)) if was.len != is.len => format!(
                    "changed on disk during the run ({} bytes when indexed, {} now); used as it \
                     is now",
                    was.len, is.len
                ),
                _ => "changed on disk during the run (newer time stamp); used as it is now"
                    .to_owned(),
            };
            lock(&self.problems).changed.insert(file.path.clone(), what);
        }
        let mut pixels = vec![0u8; self.image_bytes()];
        match (self.decode)(&file.path, self.shape, self.keep_aspect, &mut pixels) {
            Ok(_) => {}
            Err(reason) => {
                let reason = if now.is_none() {
                    format!("{reason} (the file disappeared after indexing)")
                } else {
                    reason
                };
                lock(&self.problems).failed.insert(key, reason.clone());
                return Err(reason);
            }
        }
        let image: Arc<[u8]> = pixels.into();
        if image.len() <= self.budget {
            let mut cache = lock(&self.cache);
            if !cache.images.contains_key(&key) {
                cache.bytes += image.len();
                cache.images.insert(key, Arc::clone(&image));
                cache.order.push_back(key);
                while cache.bytes > self.budget {
                    let Some(old) = cache.order.pop_front() else {
                        break;
                    };
                    if let Some(gone) = cache.images.remove(&old) {
                        cache.bytes -= gone.len();
                    }
                }
            }
        }
        Ok(image)
    }

    /// Several images, decoded in parallel (those not cached).
    pub fn get_many(&self, part: Part, indices: &[u32]) -> Vec<Result<Arc<[u8]>, String>> {
        indices
            .par_iter()
            .map(|&i| self.get(part, i as usize))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "decoder" that writes the first byte of the file everywhere, or fails on an empty one.
    fn fake(
        path: &Path,
        _: (u32, u32, usize),
        _: bool,
        out: &mut [u8],
    ) -> Result<(u32, u32, bool), String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot open: {e}"))?;
        let first = *bytes.first().ok_or("empty file (0 bytes)")?;
        out.fill(first);
        Ok((2, 2, true))
    }

    fn files(dir: &Path, n: u8) -> Vec<DiskFile> {
        (0..n)
            .map(|i| {
                let path = dir.join(format!("{i}.bin"));
                std::fs::write(&path, [i + 1]).unwrap();
                DiskFile {
                    stamp: Stamp::of(&path),
                    path,
                }
            })
            .collect()
    }

    #[test]
    fn the_cache_keeps_the_most_recent_images_within_its_budget() {
        let dir = tempfile::tempdir().unwrap();
        // 2×2×1 = 4 bytes an image; a budget of 1 MB holds 250,000 of them, so use a tiny one.
        let mut disk = DiskImages::new(files(dir.path(), 5), Vec::new(), (2, 2, 1), false, fake, 1);
        disk.budget = 12; // three images
        for i in 0..5 {
            assert_eq!(&*disk.get(Part::Train, i).unwrap(), &[i as u8 + 1; 4]);
        }
        let (bytes, hits, misses) = disk.cache_use();
        assert_eq!((bytes, hits, misses), (12, 0, 5));
        disk.get(Part::Train, 4).unwrap();
        disk.get(Part::Train, 0).unwrap();
        assert_eq!(disk.cache_use().1, 1, "4 was cached, 0 was evicted");
        assert_eq!(disk.cache_capacity(), 3);
    }

    #[test]
    fn a_file_that_fails_is_listed_once_and_not_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskImages::new(files(dir.path(), 3), Vec::new(), (2, 2, 1), false, fake, 1);
        std::fs::remove_file(dir.path().join("1.bin")).unwrap();
        let got = disk.get_many(Part::Train, &[0, 1, 2, 1]);
        assert!(got[0].is_ok() && got[2].is_ok());
        let reason = got[1].as_ref().unwrap_err();
        assert!(reason.contains("disappeared after indexing"), "{reason}");
        // Written again: still left out, so every epoch sees the same samples.
        std::fs::write(dir.path().join("1.bin"), [9]).unwrap();
        assert!(disk.get(Part::Train, 1).is_err());
        let problems = disk.problems();
        assert_eq!(problems.failed.len(), 1);
        assert!(problems.failed[0].path.ends_with("1.bin"));
    }

    #[test]
    fn a_changed_file_is_used_as_it_is_now_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let disk = DiskImages::new(files(dir.path(), 2), Vec::new(), (2, 2, 1), false, fake, 1);
        std::fs::write(dir.path().join("0.bin"), [7, 7, 7]).unwrap();
        assert_eq!(&*disk.get(Part::Train, 0).unwrap(), &[7; 4]);
        let problems = disk.problems();
        assert!(problems.failed.is_empty());
        assert_eq!(problems.changed.len(), 1);
        assert!(
            problems.changed[0]
                .reason
                .contains("1 bytes when indexed, 3 now")
        );
    }
}
