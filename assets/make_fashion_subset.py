#!/usr/bin/env python3
"""Regenerate the embedded Fashion-MNIST subset from Debian's dataset-fashion-mnist package.

Takes the first 600 training and the first 100 test images of each class (in file order), so the
subset is balanced: 6,000 training and 1,000 test images. Writes IDX files gzip-compressed with a
fixed timestamp, so running it twice gives byte-identical files.

    sudo apt-get install dataset-fashion-mnist
    python3 assets/make_fashion_subset.py [SOURCE_DIR] [OUT_DIR]
"""
import gzip
import struct
import sys
from pathlib import Path

SRC = Path(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist")
OUT = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).parent / "fashion-mnist-subset")
CLASSES = 10


def read_idx(path):
    data = gzip.open(path, "rb").read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return dims, data[4 + 4 * ndim :]


def write_idx(path, dims, payload):
    header = struct.pack(">I", 0x0800 | len(dims)) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            gz.write(header + payload)


def subset(prefix, per_class):
    (n, rows, cols), images = read_idx(SRC / f"{prefix}-images-idx3-ubyte.gz")
    (n_labels,), labels = read_idx(SRC / f"{prefix}-labels-idx1-ubyte.gz")
    assert n == n_labels, "image and label counts differ"
    size = rows * cols
    taken = [0] * CLASSES
    keep = []
    for i, label in enumerate(labels):
        if taken[label] < per_class:
            taken[label] += 1
            keep.append(i)
    out_images = b"".join(images[i * size : (i + 1) * size] for i in keep)
    out_labels = bytes(labels[i] for i in keep)
    write_idx(OUT / f"{prefix}-images-idx3-ubyte.gz", (len(keep), rows, cols), out_images)
    write_idx(OUT / f"{prefix}-labels-idx1-ubyte.gz", (len(keep),), out_labels)
    print(f"{prefix}: {len(keep)} images of {rows}x{cols}")


OUT.mkdir(parents=True, exist_ok=True)
subset("train", 600)
subset("t10k", 100)
