#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into corpus/<target>/: small valid inputs of each format
that the fuzzer mutates. Run from anywhere; torch is used for the .pth seed when installed."""

import gzip
import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def write(target, name, data):
    folder = HERE / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def idx(type_code, dims, payload):
    head = bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)
    return head + payload


# IDX: images (3-D), labels (1-D), raw and gzip, and the other element types.
images = idx(0x08, [3, 4, 4], bytes((i * 37) % 256 for i in range(48)))
labels = idx(0x08, [3], bytes([0, 1, 2]))
write("idx", "images", images)
write("idx", "labels", labels)
write("idx", "images.gz", gzip.compress(images, mtime=0))
write("idx", "labels.gz", gzip.compress(labels, mtime=0))
write("idx", "int32", idx(0x0C, [2, 2], struct.pack(">4i", 1, -2, 3, 4)))
write("idx", "float", idx(0x0D, [2], struct.pack(">2f", 0.5, -1.0)))
write("idx", "empty", idx(0x08, [0], b""))

# CIFAR-10: whole records (label byte + 3x32x32), one and two of them, and a cut one.
record = lambda label: bytes([label]) + bytes((i * 7 + label) % 256 for i in range(3072))
write("cifar", "one", record(1))
write("cifar", "two", record(0) + record(9))
write("cifar", "cut", record(3)[:1000])

# Experiment configs: the saved form of a run and hand-written short ones.
write("config", "short.toml", b'seed = 7\n[train]\nepochs = 3\nlr = 0.01\n')
write("config", "noise.toml",
      b'[dataset.source]\nkind = "noise"\ntrain_samples = 100\nval_samples = 50\n')
write("config", "model.toml",
      b'[model]\nkind = "cnn"\nchannels = [8, 16]\npool_every = 2\n[augment.hflip]\nenabled = true\n')
write("config", "lesson.toml",
      b'[train]\nbatch_size = 8\nepochs = 60\n[train.optimizer]\nkind = "adam"\n'
      b'[dataset.train_size]\nkind = "total"\ncount = 200\n')

# Weights: a small safetensors file and a small PyTorch state dict.
tensors = {"conv.weight": ([2, 1, 3, 3], 18), "conv.bias": ([2], 2), "fc.weight": ([3, 8], 24),
           "fc.bias": ([3], 3)}
header, data, offset = {}, b"", 0
for name, (shape, n) in tensors.items():
    values = struct.pack(f"<{n}f", *[(i % 7) * 0.25 - 0.5 for i in range(n)])
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(values)]}
    data += values
    offset += len(values)
header["__metadata__"] = {"format": "pt"}
text = json.dumps(header).encode()
write("weights", "small.safetensors", struct.pack("<Q", len(text)) + text + data)
try:
    import io

    import torch

    state = {name: torch.arange(n, dtype=torch.float32).reshape(shape) / n
             for name, (shape, n) in tensors.items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write("weights", "small.pth", buffer.getvalue())
except ImportError:
    pass

# Image folders: NUL-separated records of kind, two parameters and a class/file path.
def entry(kind, a, b, path):
    # No zero byte in the header: a zero ends the record (kind counts mod 5).
    return bytes([kind + 5, a or 1, b or 1]) + path


write("folder", "two-classes", b"\0".join([
    entry(0, 5, 90, b"cat/a.png"), entry(0, 5, 200, b"cat/b.png"),
    entry(0, 0x85, 30, b"dog/a.png"), entry(0, 0x85, 60, b"dog/b.png"),
]))
write("folder", "hostile-names", b"\0".join([
    entry(0, 6, 90, b"caf\xe9/a.png"), entry(0, 6, 90, b"line\nbreak/\xff\xfe.png"),
    entry(0, 6, 90, b" spaced /.hidden.png"), entry(0, 6, 90, b" spaced /shown.png"), entry(0, 6, 90, b"x/" + b"y" * 250 + b".png"),
    entry(1, 0, 0, b"caf\xe9/junk.png"), entry(2, 0, 0, b"x/empty.png"),
]))
write("folder", "train-val", b"\0".join([
    entry(0, 8, 10, b"train/a/1.png"), entry(0, 8, 20, b"train/b/1.png"),
    entry(0, 8, 30, b"val/a/1.png"), entry(0, 8, 40, b"val/b/1.png"),
]))
write("folder", "links-and-folders", b"\0".join([
    entry(0, 3, 10, b"a/1.png"), entry(4, 0, 0, b"a/loop"), entry(3, 0, 0, b"b/sub"),
    entry(0, 3, 10, b"b/sub/2.png"), entry(0, 0x9f, 10, b"b/big.png"),
]))
