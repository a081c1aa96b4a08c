//! Reader for the IDX format used by MNIST-family datasets (raw or gzip-compressed).
//!
//! Layout: a big-endian magic number `0x00 0x00 TYPE NDIM`, then `NDIM` big-endian `u32` dimensions,
//! then the payload. Only unsigned-byte payloads (`TYPE = 0x08`) are accepted, which is what every
//! image and label file of MNIST, Fashion-MNIST, KMNIST and EMNIST uses.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::progress::LoadProgress;
use super::{
    DataError, Dataset, DatasetSource, FASHION_CLASSES, ImageSet, KMNIST_CLASSES, SourceFormat,
};

/// Upper bound on the payload size we accept (1 GiB): guards against a header that claims absurd
/// dimensions.
const MAX_PAYLOAD_BYTES: u64 = 1 << 30;

/// A decoded IDX file: its dimensions and its `u8` payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions from the header, outermost first (e.g. `[count, rows, cols]`).
    pub dims: Vec<usize>,
    /// Row-major payload, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

/// Decodes IDX bytes, inflating them first when they start with the gzip magic number.
///
/// `name` only labels error messages.
pub fn parse(bytes: &[u8], name: &str) -> Result<IdxArray, DataError> {
    if is_gzip(bytes) {
        return parse_vec(inflate(bytes, name)?, name);
    }
    let (dims, header_len) = check(bytes, name)?;
    Ok(IdxArray {
        dims,
        data: bytes[header_len..].to_vec(),
    })
}

/// Like [`parse`], but takes the bytes by value so that a raw file's payload is kept in place
/// rather than copied.
pub fn parse_vec(mut bytes: Vec<u8>, name: &str) -> Result<IdxArray, DataError> {
    if is_gzip(&bytes) {
        bytes = inflate(&bytes, name)?;
    }
    let (dims, header_len) = check(&bytes, name)?;
    bytes.drain(..header_len);
    Ok(IdxArray { dims, data: bytes })
}

/// Reads and decodes an IDX file (raw or `.gz`). A gzipped file is inflated as it is read, into
/// a buffer of the size its trailer announces, so the compressed bytes are never held in memory.
pub fn read(path: &Path) -> Result<IdxArray, DataError> {
    let name = path.display().to_string();
    let io = |source| DataError::Io {
        path: name.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut magic = [0u8; 2];
    let gzipped = len >= 2 && file.read_exact(&mut magic).is_ok() && is_gzip(&magic);
    if !gzipped {
        return parse_vec(std::fs::read(path).map_err(io)?, &name);
    }
    let mut trailer = [0u8; 4];
    file.seek(SeekFrom::Start(len.saturating_sub(4)))
        .and_then(|_| file.read_exact(&mut trailer))
        .map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    let hint = u64::from(u32::from_le_bytes(trailer)).min(len.saturating_mul(1100));
    let inflated = inflate_from(std::io::BufReader::new(file), hint, &name)?;
    parse_vec(inflated, &name)
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Inflates gzip data held in memory.
fn inflate(bytes: &[u8], name: &str) -> Result<Vec<u8>, DataError> {
    let announced = bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes.get(at..))
        .map_or(0, |t| {
            u64::from(u32::from_le_bytes([t[0], t[1], t[2], t[3]]))
        });
    inflate_from(bytes, announced.min(bytes.len() as u64 * 1100), name)
}

/// Inflates a gzip stream, reserving `hint` bytes first (the size the trailer announces; only a
/// hint, a lying one costs a reallocation).
fn inflate_from(reader: impl Read, hint: u64, name: &str) -> Result<Vec<u8>, DataError> {
    let mut inflated = Vec::new();
    if inflated
        .try_reserve_exact(hint.min(MAX_PAYLOAD_BYTES) as usize)
        .is_err()
    {
        inflated = Vec::new();
    }
    flate2::read::GzDecoder::new(reader)
        .take(MAX_PAYLOAD_BYTES + 1024)
        .read_to_end(&mut inflated)
        .map_err(|e| DataError::format(name, format!("gzip data is corrupt or truncated ({e})")))?;
    inflated.shrink_to_fit();
    Ok(inflated)
}

/// Validates the header and the payload length; returns the dimensions and the header length.
fn check(bytes: &[u8], name: &str) -> Result<(Vec<usize>, usize), DataError> {
    if bytes.len() < 4 {
        return Err(DataError::format(
            name,
            format!(
                "file is {} bytes long, too short for an IDX header",
                bytes.len()
            ),
        ));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::format(
            name,
            format!(
                "not an IDX file (magic number starts with {:#04x} {:#04x}, expected 0x00 0x00)",
                bytes[0], bytes[1]
            ),
        ));
    }
    if bytes[2] != 0x08 {
        return Err(DataError::format(
            name,
            format!(
                "IDX element type {:#04x} is not supported (only unsigned bytes, 0x08)",
                bytes[2]
            ),
        ));
    }
    let ndim = usize::from(bytes[3]);
    if ndim == 0 {
        return Err(DataError::format(
            name,
            "IDX header declares zero dimensions",
        ));
    }
    let header_len = 4 + 4 * ndim;
    if bytes.len() < header_len {
        return Err(DataError::format(
            name,
            format!(
                "header declares {ndim} dimensions but the file ends after {} bytes",
                bytes.len()
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let expected = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&n| n <= MAX_PAYLOAD_BYTES)
        .ok_or_else(|| DataError::format(name, format!("dimensions {dims:?} are too large")))?;
    let payload = bytes.len() - header_len;
    if payload as u64 != expected {
        return Err(DataError::format(
            name,
            format!(
                "dimensions {dims:?} need {expected} bytes of data but the file has {payload}{}",
                if (payload as u64) < expected {
                    " (truncated?)"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok((dims, header_len))
}

/// Images (`[n, rows, cols]`) and labels (`[n]`) of one part, checked against each other.
pub(crate) struct IdxImages {
    pub rows: usize,
    pub cols: usize,
    pub set: ImageSet,
}

/// Checks that an images array and a labels array belong together.
pub(crate) fn pair(
    images: IdxArray,
    images_name: &str,
    labels: IdxArray,
    labels_name: &str,
) -> Result<IdxImages, DataError> {
    let [n, rows, cols] = images.dims[..] else {
        return Err(DataError::format(
            images_name,
            format!(
                "expected 3 dimensions (count, rows, cols), found {:?}",
                images.dims
            ),
        ));
    };
    if labels.dims.len() != 1 {
        return Err(DataError::format(
            labels_name,
            format!("expected 1 dimension (count), found {:?}", labels.dims),
        ));
    }
    if labels.dims[0] != n {
        return Err(DataError::format(
            labels_name,
            format!(
                "has {} labels but {images_name} has {n} images",
                labels.dims[0]
            ),
        ));
    }
    if n == 0 || rows == 0 || cols == 0 {
        return Err(DataError::format(images_name, "holds no image"));
    }
    Ok(IdxImages {
        rows,
        cols,
        set: ImageSet {
            pixels: images.data,
            labels: labels.data.into_iter().map(u16::from).collect(),
        },
    })
}

/// The files of an IDX dataset: training images and labels, optionally test images and labels,
/// and EMNIST's label-to-character mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxFiles {
    /// Training images and labels.
    pub train: (PathBuf, PathBuf),
    /// Test images and labels, if present.
    pub test: Option<(PathBuf, PathBuf)>,
    /// EMNIST's `*-mapping.txt`, if present.
    pub mapping: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Images,
    Labels,
}

/// Role, part (test or not) and family key of an IDX file name: files of one dataset share the
/// key (`emnist-balanced-train-images-idx3-ubyte.gz` and `emnist-balanced-test-labels-idx1-ubyte`
/// both become `emnist-balanced-@-*-#-ubyte`).
fn classify(name: &str) -> Option<(Role, bool, String)> {
    let lower = name.to_lowercase();
    let stem = lower.strip_suffix(".gz").unwrap_or(&lower);
    let role = if stem.contains("idx3") || stem.contains("images") {
        Role::Images
    } else if stem.contains("idx1") || stem.contains("labels") {
        Role::Labels
    } else {
        return None;
    };
    let test = stem.contains("t10k") || stem.contains("test");
    if !test && !stem.contains("train") {
        return None;
    }
    let key = stem
        .replace("images", "*")
        .replace("labels", "*")
        .replace("idx3", "#")
        .replace("idx1", "#")
        .replace("t10k", "@")
        .replace("test", "@")
        .replace("train", "@");
    Some((role, test, key))
}

/// Finds the files of an IDX dataset from a folder or from its training-images file.
pub fn find_files(path: &Path) -> Result<IdxFiles, DataError> {
    let meta = std::fs::metadata(path).map_err(|source| DataError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let dir = if meta.is_dir() {
        path.to_owned()
    } else {
        path.parent()
            .map_or_else(|| PathBuf::from("."), Path::to_owned)
    };
    let mut files = Vec::new();
    let entries = std::fs::read_dir(&dir).map_err(|source| DataError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| DataError::Io {
            path: dir.display().to_string(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        if let Some((role, test, key)) = classify(&name) {
            files.push((key, role, test, entry.path()));
        }
    }
    files.sort();
    let family = if meta.is_dir() {
        let mut keys: Vec<&String> = files
            .iter()
            .filter(|(_, role, test, _)| *role == Role::Images && !test)
            .map(|(key, ..)| key)
            .collect();
        keys.dedup();
        match keys[..] {
            [] => {
                return Err(DataError::Invalid(format!(
                    "{} has no IDX training images (a file like train-images-idx3-ubyte or                      train-images-idx3-ubyte.gz)",
                    dir.display()
                )));
            }
            [key] => key.clone(),
            _ => {
                let examples: Vec<String> = files
                    .iter()
                    .filter(|(_, role, test, _)| *role == Role::Images && !test)
                    .map(|(.., p)| p.display().to_string())
                    .collect();
                return Err(DataError::Invalid(format!(
                    "{} holds several IDX datasets; give the training-images file instead, one of: \
                     {}",
                    dir.display(),
                    examples.join(", ")
                )));
            }
        }
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match classify(&name) {
            Some((Role::Images, false, key)) => key,
            _ => {
                return Err(DataError::Invalid(format!(
                    "{}: expected an IDX training-images file (its name containing 'train' and \
                     'images' or 'idx3', like train-images-idx3-ubyte.gz) or a folder",
                    path.display()
                )));
            }
        }
    };
    let pick = |role: Role, test: bool| -> Result<Option<PathBuf>, DataError> {
        let found: Vec<&PathBuf> = files
            .iter()
            .filter(|(k, r, t, _)| *k == family && *r == role && *t == test)
            .map(|(.., p)| p)
            .collect();
        match found[..] {
            [] => Ok(None),
            [one] => Ok(Some(one.clone())),
            // The same file raw and gzipped: the raw one reads faster.
            [a, b] if gz_twin(a, b) => Ok(Some(a.clone())),
            [a, b] if gz_twin(b, a) => Ok(Some(b.clone())),
            _ => Err(DataError::Invalid(format!(
                "{} holds several candidate files for the same part: {}",
                dir.display(),
                found
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    };
    let missing = |what: &str| {
        DataError::Invalid(format!(
            "{} has no IDX {what} file matching the training images",
            dir.display()
        ))
    };
    let train_images = pick(Role::Images, false)?.ok_or_else(|| missing("training images"))?;
    let train_labels = pick(Role::Labels, false)?.ok_or_else(|| missing("training labels"))?;
    let test = match (pick(Role::Images, true)?, pick(Role::Labels, true)?) {
        (Some(images), Some(labels)) => Some((images, labels)),
        (None, None) => None,
        (Some(_), None) => return Err(missing("test labels")),
        (None, Some(_)) => return Err(missing("test images")),
    };
    let prefix = family
        .split('@')
        .next()
        .unwrap_or("")
        .trim_end_matches(['-', '_', '.'])
        .to_owned();
    let mapping = if prefix.is_empty() {
        None
    } else {
        std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy().to_lowercase();
                    n.starts_with(&prefix) && n.ends_with("mapping.txt")
                })
            })
    };
    Ok(IdxFiles {
        train: (train_images, train_labels),
        test,
        mapping,
    })
}

/// Loads an IDX dataset. `names` forces the class names (the full Fashion-MNIST); otherwise they
/// come from EMNIST's mapping file or are guessed from the path (Fashion-MNIST, KMNIST, digits).
pub(crate) fn load(
    files: &IdxFiles,
    source: DatasetSource,
    names: Option<&[&str]>,
    progress: &LoadProgress,
) -> Result<Dataset, DataError> {
    let count = if files.test.is_some() { 4 } else { 2 };
    progress.begin("Reading IDX files", count);
    let read_pair = |(images, labels): &(PathBuf, PathBuf)| -> Result<IdxImages, DataError> {
        let (img, lab) = rayon::join(|| read(images), || read(labels));
        progress.add(2);
        progress.check()?;
        pair(
            img?,
            &images.display().to_string(),
            lab?,
            &labels.display().to_string(),
        )
    };
    let (train, test) = rayon::join(
        || read_pair(&files.train),
        || files.test.as_ref().map(&read_pair).transpose(),
    );
    let (mut train, mut test) = (train?, test?);
    if let Some(test) = &test
        && (test.rows, test.cols) != (train.rows, train.cols)
    {
        return Err(DataError::Invalid(format!(
            "training images are {}×{} but test images are {}×{}",
            train.rows, train.cols, test.rows, test.cols
        )));
    }
    let family = files.train.0.to_string_lossy().to_lowercase();
    // EMNIST stores its images transposed.
    if family.contains("emnist") && train.rows == train.cols {
        transpose(&mut train);
        if let Some(test) = &mut test {
            transpose(test);
        }
    }
    let max_label = train
        .set
        .labels
        .iter()
        .chain(test.iter().flat_map(|t| &t.set.labels))
        .copied()
        .max()
        .unwrap_or(0);
    let class_names = match names {
        Some(names) => {
            if usize::from(max_label) >= names.len() {
                return Err(DataError::Invalid(format!(
                    "{}: a label is {max_label}, but the dataset has only {} classes",
                    files.train.1.display(),
                    names.len()
                )));
            }
            names.iter().map(|&s| s.to_owned()).collect()
        }
        None => guess_names(files, &family, usize::from(max_label) + 1)?,
    };
    if class_names.len() < 2 {
        return Err(DataError::Invalid(format!(
            "{}: every label is 0, but a classifier needs at least two classes",
            files.train.1.display()
        )));
    }
    let n = train.set.len() + test.as_ref().map_or(0, |t| t.set.len());
    Ok(Dataset {
        source,
        width: train.cols,
        height: train.rows,
        channels: 1,
        class_names,
        train: train.set,
        test: test.map(|t| t.set),
        fixed_norm: None,
        skipped: Vec::new(),
        source_format: SourceFormat::uniform(train.cols, train.rows, true, n),
        disk: None,
    })
}

/// Whether `gz` is `raw` with `.gz` appended.
fn gz_twin(raw: &Path, gz: &Path) -> bool {
    let mut name = raw.as_os_str().to_owned();
    name.push(".gz");
    name == gz.as_os_str()
}

fn transpose(images: &mut IdxImages) {
    let side = images.rows;
    images
        .set
        .pixels
        .par_chunks_mut((side * side).max(1))
        .for_each(|image| {
            for r in 0..side {
                for c in r + 1..side {
                    image.swap(r * side + c, c * side + r);
                }
            }
        });
}

/// Class names: EMNIST's mapping file, else Fashion-MNIST's or KMNIST's names when the path says
/// so, else digits for 10 classes and "class N" otherwise.
fn guess_names(files: &IdxFiles, family: &str, classes: usize) -> Result<Vec<String>, DataError> {
    if let Some(mapping) = &files.mapping {
        let text = std::fs::read_to_string(mapping).map_err(|source| DataError::Io {
            path: mapping.display().to_string(),
            source,
        })?;
        let mut names: Vec<Option<String>> = Vec::new();
        for line in text.lines() {
            let mut fields = line.split_whitespace().map(str::parse::<u32>);
            let (Some(Ok(label)), chars) = (fields.next(), fields) else {
                continue;
            };
            let name: String = chars
                .filter_map(|code| code.ok().and_then(char::from_u32))
                .map(String::from)
                .collect::<Vec<_>>()
                .join("/");
            let label = label as usize;
            if label < 65_536 {
                if names.len() <= label {
                    names.resize(label + 1, None);
                }
                names[label] = Some(name);
            }
        }
        let n = names.len().max(classes);
        return Ok((0..n)
            .map(|c| {
                names
                    .get(c)
                    .cloned()
                    .flatten()
                    .unwrap_or_else(|| format!("class {c}"))
            })
            .collect());
    }
    let path = files.train.0.to_string_lossy().to_lowercase();
    Ok(if classes == 10 && path.contains("fashion") {
        FASHION_CLASSES.iter().map(|&s| s.to_owned()).collect()
    } else if classes == 10 && path.contains("kmnist") && !family.contains("emnist") {
        KMNIST_CLASSES.iter().map(|&s| s.to_owned()).collect()
    } else if classes == 10 {
        (0..10).map(|d| d.to_string()).collect()
    } else {
        (0..classes).map(|c| format!("class {c}")).collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_bytes(dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0, 0, 0x08, dims.len() as u8];
        for d in dims {
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn parses_raw_and_gzip() {
        let raw = idx_bytes(&[2, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let parsed = parse(&raw, "raw").unwrap();
        assert_eq!(parsed.dims, vec![2, 2, 2]);
        assert_eq!(parsed.data, vec![1, 2, 3, 4, 5, 6, 7, 8]);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &raw).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(parse(&gz, "gz").unwrap(), parsed);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let raw = idx_bytes(&[3, 2], &[9; 6]);
        for len in 0..raw.len() {
            let err = parse(&raw[..len], "t.idx").unwrap_err();
            assert!(err.to_string().contains("t.idx"), "{err}");
        }
    }

    #[test]
    fn rejects_bad_magic_and_type() {
        let mut raw = idx_bytes(&[1], &[0]);
        raw[0] = 0x50;
        assert!(
            parse(&raw, "x")
                .unwrap_err()
                .to_string()
                .contains("not an IDX file")
        );
        let mut raw = idx_bytes(&[1], &[0]);
        raw[2] = 0x0D;
        assert!(
            parse(&raw, "x")
                .unwrap_err()
                .to_string()
                .contains("element type")
        );
    }

    #[test]
    fn rejects_extra_bytes_and_huge_dims() {
        let raw = idx_bytes(&[2], &[1, 2, 3]);
        assert!(
            parse(&raw, "x")
                .unwrap_err()
                .to_string()
                .contains("need 2 bytes")
        );
        let raw = idx_bytes(&[u32::MAX, u32::MAX, u32::MAX], &[]);
        assert!(
            parse(&raw, "x")
                .unwrap_err()
                .to_string()
                .contains("too large")
        );
    }
}
