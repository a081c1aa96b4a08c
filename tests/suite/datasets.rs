//! Loaders on fixtures written by the tests themselves: image folders of real encoded images in
//! several formats, sizes and colour modes (plus broken files), IDX and CIFAR files in their
//! documented byte layouts. And a short training run on an image folder.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cnn_workbench::data::loader::PendingLoad;
use cnn_workbench::data::{
    self, CifarLabels, DataError, Dataset, DatasetConfig, DatasetSource, InputFormat, LoadProgress,
    Part, ShapesConfig, TrainSize, Validation,
};
use cnn_workbench::experiment::ExperimentConfig;
use cnn_workbench::experiment::record::RunSummary;
use cnn_workbench::train::message::RunStatus;
use image::{DynamicImage, GrayImage, ImageBuffer, ImageFormat, Luma, Rgb, RgbImage};

fn load(source: &DatasetSource, input: InputFormat) -> Result<std::sync::Arc<Dataset>, DataError> {
    data::load(source, input)
}

fn folder(path: &Path) -> DatasetSource {
    DatasetSource::Folder {
        path: path.to_owned(),
    }
}

fn err_text(result: Result<std::sync::Arc<Dataset>, DataError>) -> String {
    result.expect_err("loading should fail").to_string()
}

/// A gray gradient image, brighter for higher `seed`.
fn gray(w: u32, h: u32, seed: u8) -> GrayImage {
    ImageBuffer::from_fn(w, h, |x, y| {
        Luma([seed.wrapping_add((x * 7 + y * 3) as u8)])
    })
}

fn rgb(w: u32, h: u32, seed: u8) -> RgbImage {
    ImageBuffer::from_fn(w, h, |x, y| Rgb([seed, (x * 9) as u8, (y * 5) as u8]))
}

fn save(image: impl Into<DynamicImage>, path: &Path, format: ImageFormat) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let image = image.into();
    // The GIF encoder takes RGBA only.
    let image = if format == ImageFormat::Gif {
        DynamicImage::ImageRgba8(image.to_rgba8())
    } else {
        image
    };
    image.save_with_format(path, format).unwrap();
}

/// A PNG chunk: length, type, data, CRC-32 of type and data.
fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = flate2::Crc::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_be_bytes());
}

/// A PNG written byte by byte: `color_type` 0 (gray) or 3 (palette), 8-bit, `rows` of pixel
/// bytes each preceded by filter byte 0 (filled with zeros if `rows` is empty).
fn handmade_png(w: u32, h: u32, color_type: u8, palette: &[u8], rows: &[u8]) -> Vec<u8> {
    let mut out = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, color_type, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    if !palette.is_empty() {
        chunk(&mut out, b"PLTE", palette);
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(if rows.is_empty() { &[0; 64] } else { rows })
        .unwrap();
    chunk(&mut out, b"IDAT", &z.finish().unwrap());
    chunk(&mut out, b"IEND", &[]);
    out
}

/// A folder of two classes in six formats, several sizes and colour modes, with broken files.
/// Returns the number of good images per class.
fn mixed_folder(root: &Path) -> usize {
    let a = root.join("apples");
    let b = root.join("bänanas"); // non-ASCII class name
    let formats = [
        (ImageFormat::Png, "png"),
        (ImageFormat::Jpeg, "jpg"),
        (ImageFormat::Bmp, "bmp"),
        (ImageFormat::Gif, "gif"),
        (ImageFormat::WebP, "webp"),
        (ImageFormat::Tiff, "tiff"),
    ];
    for (k, (format, ext)) in formats.iter().enumerate() {
        save(
            gray(16, 16, 10 * k as u8),
            &a.join(format!("g{k}.{ext}")),
            *format,
        );
        save(
            rgb(16, 16, 200 - 10 * k as u8),
            &b.join(format!("c{k}.{ext}")),
            *format,
        );
    }
    // Other sizes: scaled to the most common one (16×16).
    save(gray(20, 12, 1), &a.join("wide.png"), ImageFormat::Png);
    save(rgb(1, 1, 99), &b.join("dot.png"), ImageFormat::Png);
    save(rgb(16, 16, 3), &b.join("extra.png"), ImageFormat::Png);
    // 16-bit grayscale and paletted PNGs.
    let deep: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_fn(16, 16, |x, _| Luma([x as u16 * 4000]));
    save(
        DynamicImage::ImageLuma16(deep),
        &a.join("deep.png"),
        ImageFormat::Png,
    );
    let palette = [255, 0, 0, 0, 0, 255];
    let rows: Vec<u8> = (0..16)
        .flat_map(|_| std::iter::once(0).chain((0..16).map(|x| (x % 2) as u8)))
        .collect();
    std::fs::write(
        b.join("palette.png"),
        handmade_png(16, 16, 3, &palette, &rows),
    )
    .unwrap();
    // A non-UTF-8 file name.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"odd-\xff\xfe.png");
        save(gray(16, 16, 77), &a.join(name), ImageFormat::Png);
    }
    #[cfg(not(unix))]
    save(gray(16, 16, 77), &a.join("odd.png"), ImageFormat::Png);
    // Broken files: skipped, listed with a reason.
    std::fs::write(a.join("empty.png"), b"").unwrap();
    let mut good = Vec::new();
    rgb(16, 16, 5)
        .write_to(&mut std::io::Cursor::new(&mut good), ImageFormat::Png)
        .unwrap();
    std::fs::write(b.join("truncated.png"), &good[..good.len() / 2]).unwrap();
    std::fs::write(b.join("garbage.jpg"), b"this is not a jpeg at all").unwrap();
    std::fs::write(a.join("notes.txt"), b"labels are folder names").unwrap();
    std::fs::write(a.join(".hidden.png"), b"ignored").unwrap();
    std::fs::write(
        b.join("bomb.png"),
        handmade_png(20_000, 20_000, 0, &[], &[]),
    )
    .unwrap();
    9
}

#[test]
fn a_folder_of_mixed_formats_sizes_and_modes_loads_with_defaults_and_lists_what_it_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let per_class = mixed_folder(tmp.path());
    let data = load(&folder(tmp.path()), InputFormat::default()).unwrap();
    assert_eq!(data.class_names, ["apples", "bänanas"]);
    assert_eq!((data.width, data.height), (16, 16), "the most common size");
    assert_eq!(data.channels, 3, "some images are in colour");
    assert_eq!(data.train.len(), 2 * per_class);
    assert_eq!(data.class_counts(Part::Train), vec![per_class, per_class]);
    assert_eq!(data.train.pixels.len(), 2 * per_class * 16 * 16 * 3);
    assert!(data.test.is_none());
    assert_eq!(data.source_format.sizes[0], (16, 16, 2 * per_class - 2));
    assert!(!data.source_format.grayscale);

    let reasons: Vec<(String, String)> = data
        .skipped
        .iter()
        .map(|s| (s.path.clone(), s.reason.clone()))
        .collect();
    let reason = |file: &str| {
        reasons
            .iter()
            .find(|(p, _)| p.ends_with(file))
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{file} is not listed as skipped: {reasons:?}"))
    };
    assert!(reason("empty.png").contains("empty file"));
    assert!(!reason("truncated.png").is_empty());
    assert!(!reason("garbage.jpg").is_empty());
    assert!(reason("notes.txt").contains("not an image"));
    assert!(
        reason("bomb.png").contains("too large"),
        "{}",
        reason("bomb.png")
    );
    assert_eq!(reasons.len(), 5, "{reasons:?}");
    assert!(!reasons.iter().any(|(p, _)| p.contains(".hidden")));

    // Grayscale images were replicated into three equal planes; the paletted image has its
    // palette colours (red and blue) in the right planes.
    let plane = 16 * 16;
    let first = data.image(Part::Train, 0);
    assert_eq!(first[..plane], first[plane..2 * plane]);
    // palette.png sorts last among the good images of the second class.
    let palette_index = data.train.labels.iter().rposition(|&l| l == 1).unwrap();
    let img = data.image(Part::Train, palette_index);
    let colours: Vec<(u8, u8, u8)> = (0..2)
        .map(|p| (img[p], img[plane + p], img[2 * plane + p]))
        .collect();
    assert_eq!(colours, [(255, 0, 0), (0, 0, 255)], "palette.png decoded");
}

#[test]
fn input_format_overrides_the_defaults_and_an_all_gray_folder_is_one_channel() {
    let tmp = tempfile::tempdir().unwrap();
    for class in ["zero", "one"] {
        for k in 0..3u8 {
            save(
                gray(30, 30, k * 40),
                &tmp.path().join(class).join(format!("{k}.png")),
                ImageFormat::Png,
            );
        }
    }
    save(
        gray(300, 200, 1),
        &tmp.path().join("one/big.png"),
        ImageFormat::Png,
    );
    let data = load(&folder(tmp.path()), InputFormat::default()).unwrap();
    assert_eq!((data.width, data.height, data.channels), (30, 30, 1));
    assert_eq!(data.source_format.converted, 1);
    let custom = load(
        &folder(tmp.path()),
        InputFormat {
            size: Some(12),
            channels: Some(3),
            ..InputFormat::default()
        },
    )
    .unwrap();
    assert_eq!((custom.width, custom.height, custom.channels), (12, 12, 3));
    assert_eq!(custom.train.pixels.len(), 7 * 12 * 12 * 3);

    // Mostly large images: 64×64 by default.
    let big = tempfile::tempdir().unwrap();
    for class in ["a", "b"] {
        save(
            rgb(200, 150, 3),
            &big.path().join(class).join("x.jpg"),
            ImageFormat::Jpeg,
        );
    }
    let data = load(&folder(big.path()), InputFormat::default()).unwrap();
    assert_eq!((data.width, data.height, data.channels), (64, 64, 3));
}

#[test]
fn train_and_val_trees_give_the_source_its_own_split() {
    let tmp = tempfile::tempdir().unwrap();
    for (tree, n) in [("train", 4u8), ("val", 2)] {
        for class in ["cat", "dog"] {
            for k in 0..n {
                save(
                    gray(8, 8, k),
                    &tmp.path().join(tree).join(class).join(format!("{k}.png")),
                    ImageFormat::Png,
                );
            }
        }
    }
    let data = load(&folder(tmp.path()), InputFormat::default()).unwrap();
    assert_eq!(data.train.len(), 8);
    assert_eq!(data.test.as_ref().unwrap().len(), 4);
    let config = DatasetConfig {
        source: folder(tmp.path()),
        validation: Validation::SourceTest,
        ..DatasetConfig::default()
    };
    let split = data::split(&data, &config, 0).unwrap();
    assert_eq!((split.train.len(), split.val.len()), (8, 4));
    assert_eq!(split.val.part, Part::Test);

    // A validation class that training does not have is named.
    save(
        gray(8, 8, 0),
        &tmp.path().join("val/eel/0.png"),
        ImageFormat::Png,
    );
    data::evict(&folder(tmp.path()));
    let err = err_text(load(&folder(tmp.path()), InputFormat::default()));
    assert!(err.contains("eel"), "{err}");
}

#[test]
fn bad_folders_are_errors_that_name_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let case = |name: &str, build: &dyn Fn(&Path)| -> (PathBuf, String) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        build(&dir);
        let err = err_text(load(&folder(&dir), InputFormat::default()));
        (dir, err)
    };
    let (dir, err) = case("empty", &|_| {});
    assert!(
        err.contains("contains no images") && err.contains(&dir.display().to_string()),
        "{err}"
    );
    let (dir, err) = case("loose", &|d| {
        save(gray(4, 4, 0), &d.join("a.png"), ImageFormat::Png);
    });
    assert!(
        err.contains("no class folders") && err.contains(&dir.display().to_string()),
        "{err}"
    );
    let (_, err) = case("one-class", &|d| {
        save(gray(4, 4, 0), &d.join("only/a.png"), ImageFormat::Png);
    });
    assert!(
        err.contains("only one class") && err.contains("only"),
        "{err}"
    );
    let (dir, err) = case("empty-class", &|d| {
        save(gray(4, 4, 0), &d.join("full/a.png"), ImageFormat::Png);
        std::fs::create_dir_all(d.join("void")).unwrap();
    });
    assert!(
        err.contains(&dir.join("void").display().to_string()) && err.contains("no image files"),
        "{err}"
    );
    let (dir, err) = case("all-broken", &|d| {
        save(gray(4, 4, 0), &d.join("fine/a.png"), ImageFormat::Png);
        std::fs::create_dir_all(d.join("broken")).unwrap();
        std::fs::write(d.join("broken/x.png"), b"\x89PNG nope").unwrap();
    });
    assert!(
        err.contains(&dir.join("broken").display().to_string()) && err.contains("could be read"),
        "{err}"
    );
    let missing = root.join("does-not-exist");
    let err = err_text(load(&folder(&missing), InputFormat::default()));
    assert!(err.contains(&missing.display().to_string()), "{err}");
    let file = root.join("file.png");
    save(gray(4, 4, 0), &file, ImageFormat::Png);
    let err = err_text(load(&folder(&file), InputFormat::default()));
    assert!(err.contains("is not a folder"), "{err}");
    let err = err_text(load(
        &folder(root),
        InputFormat {
            size: Some(100_000),
            channels: None,
            ..InputFormat::default()
        },
    ));
    assert!(err.contains("input size"), "{err}");
}

#[test]
fn unreadable_entries_are_skipped_with_the_reason_and_links_cannot_loop() {
    let tmp = tempfile::tempdir().unwrap();
    for class in ["a", "b"] {
        for k in 0..2u8 {
            save(
                gray(8, 8, k),
                &tmp.path().join(class).join(format!("{k}.png")),
                ImageFormat::Png,
            );
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A link back up the tree must not make the search loop or list files twice.
        std::os::unix::fs::symlink(tmp.path().join("a"), tmp.path().join("a/again")).unwrap();
        std::os::unix::fs::symlink(
            tmp.path().join("nowhere.png"),
            tmp.path().join("a/dangling.png"),
        )
        .unwrap();
        let locked = tmp.path().join("b/locked.png");
        save(gray(8, 8, 9), &locked, ImageFormat::Png);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
        let readable_anyway = std::fs::File::open(&locked).is_ok(); // root ignores permissions
        let data = load(&folder(tmp.path()), InputFormat::default()).unwrap();
        let dangling = data
            .skipped
            .iter()
            .find(|s| s.path.ends_with("dangling.png"))
            .unwrap();
        assert!(dangling.reason.contains("cannot read"), "{dangling:?}");
        let locked_skip = data.skipped.iter().find(|s| s.path.ends_with("locked.png"));
        if readable_anyway {
            assert!(locked_skip.is_none());
            assert_eq!(data.train.len(), 5);
        } else {
            assert!(
                locked_skip.unwrap().reason.contains("ermission"),
                "{locked_skip:?}"
            );
            assert_eq!(data.train.len(), 4);
        }
    }
}

#[cfg(unix)]
#[test]
fn links_to_the_root_or_into_another_class_are_not_followed() {
    // Found by the folder fuzz target's seeds: a link from class a to the dataset's root made
    // class a take b's images, and b then counted as empty.
    let tmp = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    for (class, count) in [("a", 2u8), ("b", 3)] {
        for k in 0..count {
            let path = tmp.path().join(class).join(format!("{k}.png"));
            save(gray(8, 8, k), &path, ImageFormat::Png);
        }
    }
    save(
        gray(8, 8, 7),
        &outside.path().join("extra.png"),
        ImageFormat::Png,
    );
    let link = |target: &Path, at: &str| {
        std::os::unix::fs::symlink(target, tmp.path().join(at)).unwrap();
    };
    link(tmp.path(), "a/root");
    link(&tmp.path().join("b"), "a/to-b");
    link(tmp.path().parent().unwrap(), "b/above");
    // A folder from elsewhere is welcome, in both classes.
    link(outside.path(), "a/extra");
    link(outside.path(), "b/extra");
    let data = load(&folder(tmp.path()), InputFormat::default()).unwrap();
    assert_eq!(
        data.class_counts(Part::Train),
        vec![3, 4],
        "own images plus extra.png"
    );
    for (name, why) in [
        ("root", "back to the dataset"),
        ("to-b", "another class"),
        ("above", "back to the dataset"),
    ] {
        let skip = data.skipped.iter().find(|s| s.path.ends_with(name));
        assert!(
            skip.is_some_and(|s| s.reason.contains(why)),
            "{name}: {skip:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// IDX

fn idx_bytes(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// `n` images of `side`² pixels whose pixels equal their label, labels cycling through `classes`.
fn idx_pair(n: u32, side: u32, classes: u8) -> (Vec<u8>, Vec<u8>) {
    let labels: Vec<u8> = (0..n).map(|i| (i % u32::from(classes)) as u8).collect();
    let pixels: Vec<u8> = labels
        .iter()
        .flat_map(|&l| std::iter::repeat_n(l * 20, (side * side) as usize))
        .collect();
    (
        idx_bytes(&[n, side, side], &pixels),
        idx_bytes(&[n], &labels),
    )
}

fn write_mnist(dir: &Path, prefix: &str, gzip: bool, classes: u8) {
    std::fs::create_dir_all(dir).unwrap();
    let ext = if gzip { ".gz" } else { "" };
    for (part, n) in [("train", 30), ("t10k", 10)] {
        let (images, labels) = idx_pair(n, 6, classes);
        let (images, labels) = if gzip {
            (gz(&images), gz(&labels))
        } else {
            (images, labels)
        };
        std::fs::write(
            dir.join(format!("{prefix}{part}-images-idx3-ubyte{ext}")),
            images,
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}{part}-labels-idx1-ubyte{ext}")),
            labels,
        )
        .unwrap();
    }
}

fn idx(path: &Path) -> DatasetSource {
    DatasetSource::Idx {
        path: path.to_owned(),
    }
}

#[test]
fn idx_folders_and_files_load_raw_or_gzipped_with_fitting_class_names() {
    let tmp = tempfile::tempdir().unwrap();
    let mnist = tmp.path().join("mnist");
    write_mnist(&mnist, "", true, 10);
    let data = load(&idx(&mnist), InputFormat::default()).unwrap();
    assert_eq!((data.width, data.height, data.channels), (6, 6, 1));
    assert_eq!(
        (data.train.len(), data.test.as_ref().unwrap().len()),
        (30, 10)
    );
    assert_eq!(data.class_names[3], "3");
    assert_eq!(data.image(Part::Train, 3)[0], 60);

    let fashion = tmp.path().join("Fashion-MNIST");
    write_mnist(&fashion, "", false, 10);
    let data = load(&idx(&fashion), InputFormat::default()).unwrap();
    assert_eq!(data.class_names[0], "T-shirt/top");

    // Given as the training-images file; the other files are found beside it.
    let file = mnist.join("train-images-idx3-ubyte.gz");
    let data = load(&idx(&file), InputFormat::default()).unwrap();
    assert_eq!(data.train.len(), 30);

    // Raw and gzipped copies of the same files are one dataset, not an ambiguity.
    write_mnist(&mnist, "", false, 10);
    data::evict(&idx(&mnist));
    assert_eq!(
        load(&idx(&mnist), InputFormat::default())
            .unwrap()
            .train
            .len(),
        30
    );

    // Resized on request.
    let big = load(
        &idx(&mnist),
        InputFormat {
            size: Some(12),
            channels: None,
            ..InputFormat::default()
        },
    )
    .unwrap();
    assert_eq!((big.width, big.channels), (12, 1));
}

#[test]
fn emnist_files_use_the_mapping_and_are_transposed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_mnist(dir, "emnist-letters-", false, 3);
    // An image with one bright pixel in the first row, stored transposed (first column).
    let mut pixels = vec![0u8; 36];
    pixels[6] = 255;
    std::fs::write(
        dir.join("emnist-letters-train-images-idx3-ubyte"),
        idx_bytes(&[1, 6, 6], &pixels),
    )
    .unwrap();
    std::fs::write(
        dir.join("emnist-letters-train-labels-idx1-ubyte"),
        idx_bytes(&[1], &[2]),
    )
    .unwrap();
    std::fs::write(dir.join("emnist-letters-mapping.txt"), "1 65 97\n2 66 98\n").unwrap();
    write_mnist(dir, "emnist-digits-", false, 10);
    // Two datasets in one folder: the error lists them.
    let err = err_text(load(&idx(dir), InputFormat::default()));
    assert!(
        err.contains("several IDX datasets") && err.contains("emnist-digits-train-images"),
        "{err}"
    );
    let data = load(
        &idx(&dir.join("emnist-letters-train-images-idx3-ubyte")),
        InputFormat::default(),
    )
    .unwrap();
    assert_eq!(data.class_names, ["class 0", "A/a", "B/b"]);
    assert_eq!(data.image(Part::Train, 0)[1], 255, "transposed back");
    assert_eq!(data.train.labels, vec![2]);
}

#[test]
fn broken_idx_files_name_the_file_and_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (images, labels) = idx_pair(4, 3, 2);
    let images_path = dir.join("train-images-idx3-ubyte");
    let labels_path = dir.join("train-labels-idx1-ubyte");
    std::fs::write(&labels_path, &labels).unwrap();
    // Every truncation of the images file, raw and gzipped, is an error naming it.
    let gzipped = gz(&images);
    for (bytes, path) in [
        (&images, images_path.clone()),
        (&gzipped, dir.join("train-images-idx3-ubyte.gz")),
    ] {
        for len in 0..bytes.len() {
            std::fs::write(&path, &bytes[..len]).unwrap();
            let err = err_text(load(&idx(&path), InputFormat::default()));
            assert!(err.contains(&path.display().to_string()), "{len}: {err}");
        }
        std::fs::remove_file(&path).unwrap();
    }
    let check = |images: &[u8], labels: &[u8], want: &str| {
        std::fs::write(&images_path, images).unwrap();
        std::fs::write(&labels_path, labels).unwrap();
        let err = err_text(load(&idx(&images_path), InputFormat::default()));
        assert!(err.contains(want), "{err}");
    };
    let mut bad_magic = images.clone();
    bad_magic[0] = 0x1f;
    bad_magic[1] = 0x00;
    check(&bad_magic, &labels, "not an IDX file");
    check(&idx_bytes(&[4, 3, 3], &[0; 35]), &labels, "need 36 bytes");
    check(&images, &idx_bytes(&[3], &[0, 1, 0]), "has 3 labels but");
    check(
        &idx_bytes(&[4, 9], &[0; 36]),
        &labels,
        "expected 3 dimensions",
    );
    check(&images, &idx_bytes(&[4], &[0; 4]), "two classes");
    std::fs::remove_file(&labels_path).unwrap();
    std::fs::write(&images_path, &images).unwrap();
    let err = err_text(load(&idx(&images_path), InputFormat::default()));
    assert!(err.contains("training labels"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// CIFAR

/// Records of `label_bytes` labels + 3,072 pixels; image `i` has all pixels `i`, labels from `label`.
fn cifar_records(n: usize, label_bytes: usize, label: impl Fn(usize) -> [u8; 2]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(&label(i)[..label_bytes]);
        out.extend(std::iter::repeat_n(i as u8, 3072));
    }
    out
}

#[test]
fn cifar10_batches_load_straight_into_chw_with_names_from_the_meta_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cifar-10-batches-bin");
    std::fs::create_dir_all(&dir).unwrap();
    for k in 1..=2 {
        std::fs::write(
            dir.join(format!("data_batch_{k}.bin")),
            cifar_records(5, 1, |i| [(i % 10) as u8, 0]),
        )
        .unwrap();
    }
    std::fs::write(dir.join("test_batch.bin"), cifar_records(3, 1, |_| [9, 0])).unwrap();
    let source = DatasetSource::Cifar10 {
        path: tmp.path().to_owned(), // the parent: the standard subfolder is found
    };
    let data = load(&source, InputFormat::default()).unwrap();
    assert_eq!((data.width, data.height, data.channels), (32, 32, 3));
    assert_eq!(
        (data.train.len(), data.test.as_ref().unwrap().len()),
        (10, 3)
    );
    assert_eq!(data.class_names[9], "truck");
    assert_eq!(
        data.image(Part::Train, 7)[3071],
        2,
        "second batch, third record"
    );
    assert_eq!(data.train.labels[7], 2);

    let names: Vec<String> = (0..10).map(|c| format!("kind{c}")).collect();
    std::fs::write(dir.join("batches.meta.txt"), names.join("\n") + "\n\n").unwrap();
    let nested = DatasetSource::Cifar10 { path: dir.clone() };
    assert_eq!(
        load(&nested, InputFormat::default()).unwrap().class_names,
        names
    );
}

#[test]
fn cifar100_uses_fine_or_coarse_labels() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("train.bin"),
        cifar_records(4, 2, |i| [i as u8, 90 + i as u8]),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("test.bin"),
        cifar_records(2, 2, |_| [19, 99]),
    )
    .unwrap();
    let source = |labels| DatasetSource::Cifar100 {
        path: tmp.path().to_owned(),
        labels,
    };
    let fine = load(&source(CifarLabels::Fine), InputFormat::default()).unwrap();
    assert_eq!(fine.num_classes(), 100);
    assert_eq!(fine.train.labels, vec![90, 91, 92, 93]);
    assert_eq!(fine.class_names[99], "worm");
    let coarse = load(&source(CifarLabels::Coarse), InputFormat::default()).unwrap();
    assert_eq!(coarse.num_classes(), 20);
    assert_eq!(coarse.train.labels, vec![0, 1, 2, 3]);
    assert_eq!(coarse.class_names[19], "vehicles_2");
}

#[test]
fn broken_cifar_files_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("data_batch_1.bin");
    let good = cifar_records(2, 1, |i| [i as u8, 0]);
    let source = DatasetSource::Cifar10 { path: path.clone() };
    for len in 0..good.len() {
        std::fs::write(&path, &good[..len]).unwrap();
        data::evict(&source);
        if len == 3073 {
            assert_eq!(
                load(&source, InputFormat::default()).unwrap().train.len(),
                1
            );
            continue;
        }
        let err = err_text(load(&source, InputFormat::default()));
        assert!(err.contains(&path.display().to_string()), "{len}: {err}");
    }
    std::fs::write(&path, cifar_records(2, 1, |_| [10, 0])).unwrap();
    data::evict(&source);
    let err = err_text(load(&source, InputFormat::default()));
    assert!(err.contains("label 10"), "{err}");
    let err = err_text(load(
        &DatasetSource::Cifar100 {
            path: tmp.path().join("nothing-here"),
            labels: CifarLabels::Fine,
        },
        InputFormat::default(),
    ));
    assert!(err.contains("nothing-here"), "{err}");
    let empty = tempfile::tempdir().unwrap();
    let err = err_text(load(
        &DatasetSource::Cifar10 {
            path: empty.path().to_owned(),
        },
        InputFormat::default(),
    ));
    assert!(err.contains("no CIFAR-10 training batches"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Progress and cancel

fn many_images(root: &Path, per_class: usize) {
    for class in ["a", "b"] {
        for k in 0..per_class {
            save(
                gray(12, 12, k as u8),
                &root.join(class).join(format!("{k:04}.png")),
                ImageFormat::Png,
            );
        }
    }
}

#[test]
fn a_pending_load_reports_progress_and_cancel_ends_it_with_cancelled() {
    let tmp = tempfile::tempdir().unwrap();
    many_images(tmp.path(), 150);
    let pending = PendingLoad::spawn(folder(tmp.path()), InputFormat::default(), || {});
    let data =
        common::wait_for_value("the load", Duration::from_secs(60), || pending.poll()).unwrap();
    assert_eq!(data.train.len(), 300);
    assert_eq!(pending.fraction(), Some(1.0));
    assert_eq!(pending.phase(), "Decoding images");

    let other = tempfile::tempdir().unwrap();
    many_images(other.path(), 150);
    let pending = PendingLoad::spawn(folder(other.path()), InputFormat::default(), || {});
    pending.cancel();
    let result =
        common::wait_for_value("the cancelled load to end", Duration::from_secs(60), || {
            pending.poll()
        });
    assert!(matches!(result, Err(DataError::Cancelled)), "{result:?}");
    // Nothing was cached by the cancelled load; a cancelled progress stops any source at once.
    let progress = LoadProgress::new();
    progress.cancel();
    for source in [
        folder(other.path()),
        DatasetSource::Shapes(ShapesConfig::default()),
    ] {
        let result = data::load_with_progress(&source, InputFormat::default(), &progress);
        assert!(
            matches!(result, Err(DataError::Cancelled)),
            "{source}: {result:?}"
        );
    }
}

#[test]
fn a_folder_that_disappears_while_loading_ends_in_a_message_not_a_panic() {
    for delay_ms in [0u64, 2, 10, 40] {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("vanishing");
        many_images(&root, 300);
        let pending = PendingLoad::spawn(folder(&root), InputFormat::default(), || {});
        std::thread::sleep(Duration::from_millis(delay_ms));
        std::fs::remove_dir_all(&root).unwrap();
        let result = common::wait_for_value("the load to end", Duration::from_secs(60), || {
            pending.poll()
        });
        // Depending on how far it got: a message naming the folder, or the images read before
        // the folder went with the rest listed as skipped (files removed before the scan
        // listed them are neither: the loader never knew of them).
        match result {
            Err(e) => assert!(e.to_string().contains("vanishing"), "{e}"),
            Ok(data) => {
                let known = data.train.len() + data.skipped.len();
                assert!(known <= 600 && !data.train.is_empty(), "{known} of 600");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Training on a folder

/// Writes `per_class` easy shapes of each of three classes as PNG files, plus one corrupt file.
fn shapes_folder(root: &Path, per_class: usize) {
    let shapes = ShapesConfig {
        classes: 3,
        train_samples: 3 * per_class,
        test_samples: 3,
        size: 16,
        difficulty: 0.0,
        seed: 5,
        ..ShapesConfig::default()
    };
    let data = load(&DatasetSource::Shapes(shapes), InputFormat::default()).unwrap();
    let plane = 16 * 16;
    for i in 0..data.train.len() {
        let chw = data.image(Part::Train, i);
        let image = RgbImage::from_fn(16, 16, |x, y| {
            let p = (y * 16 + x) as usize;
            Rgb([chw[p], chw[plane + p], chw[2 * plane + p]])
        });
        let class = &data.class_names[usize::from(data.train.labels[i])];
        save(
            image,
            &root.join(class).join(format!("{i:04}.png")),
            ImageFormat::Png,
        );
    }
    std::fs::write(root.join("circle/broken.png"), b"\x89PNG\r\n\x1a\n").unwrap();
}

#[test]
fn training_on_an_image_folder_converges_and_run_json_lists_skipped_files() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    shapes_folder(&images, 70);
    let mut config = ExperimentConfig::for_source(folder(&images));
    config.train.epochs = 10;
    config.train.batch_size = 16;
    let run_dir = tmp.path().join("run");
    let outcome = common::train(config, Some(run_dir.clone()));
    assert_eq!(outcome.status, RunStatus::Completed, "{}", outcome.message);
    let info = outcome.info.as_ref().unwrap();
    assert_eq!(info.train_samples + info.val_samples, 210);
    let first = &outcome.epochs[0];
    let last = outcome.epochs.last().unwrap();
    assert!(
        last.train_loss < first.train_loss * 0.7,
        "{:?}",
        outcome.epochs
    );
    assert!(
        last.val_acc >= 0.9,
        "validation accuracy {:?}",
        outcome.epochs
    );
    let summary: RunSummary =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(summary.skipped.len(), 1, "{:?}", summary.skipped);
    assert!(summary.skipped[0].path.ends_with("broken.png"));
    assert!(!summary.skipped[0].reason.is_empty());
    let config = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(config.contains("kind = \"folder\""), "{config}");
}

#[test]
fn the_cli_takes_dataset_specs_and_data_knobs() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    shapes_folder(&images, 10);
    let out = tmp.path().join("run");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cnn-workbench"))
        .args(["train", "--dataset"])
        .arg(format!("folder:{}", images.display()))
        .args([
            "--train-size",
            "4/class",
            "--label-noise",
            "0.25",
            "--input-size",
            "12",
        ])
        .args([
            "--channels",
            "1",
            "--val-fraction",
            "0.3",
            "--classes",
            "0,2",
        ])
        .args(["--epochs", "1", "--quiet", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let config =
        ExperimentConfig::from_toml(&std::fs::read_to_string(out.join("config.toml")).unwrap())
            .unwrap();
    assert_eq!(config.dataset.train_size, TrainSize::PerClass { count: 4 });
    assert_eq!(config.dataset.label_noise, 0.25);
    assert_eq!(config.dataset.classes, Some(vec![0, 2]));
    assert_eq!(
        config.dataset.input,
        InputFormat {
            size: Some(12),
            channels: Some(1),
            ..InputFormat::default()
        }
    );
    let summary: RunSummary =
        serde_json::from_str(&std::fs::read_to_string(out.join("run.json")).unwrap()).unwrap();
    assert_eq!((summary.train_samples, summary.val_samples), (8, 6));
    assert_eq!(summary.skipped.len(), 1);

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cnn-workbench"))
        .args(["train", "--dataset", "pictures:/x", "--out"])
        .arg(tmp.path().join("never"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown dataset") && stderr.contains("folder:PATH"),
        "{stderr}"
    );
}
