#!/usr/bin/env python3
"""Tiled evaluation of large images: seconds per 2048x2048 image with ResNet-small at 96 px.

    python3 benches/high_res.py               # 2 classes x (4 training + 8 validation) images
    python3 benches/high_res.py --side 1024   # another image size

Writes an image folder of smooth random RGB images (train/ and val/), then runs
`cnn-workbench train --model resnet-small --input-size 96 --train-crop random --eval-crop tiles
--epochs 1` on it and reads the validation time from the run's metrics.csv: every validation
image is covered by 96 px tiles (22 x 22 = 484 for 2048 px) whose logits are averaged. Needs
numpy and Pillow; the binary is target/release/cnn-workbench (or under $CARGO_TARGET_DIR).
"""

import argparse
import csv
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def write_images(folder, side, train, val):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for part, count in (("train", train), ("val", val)):
        for c in range(2):
            path = folder / part / f"c{c}"
            path.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                small = rng.integers(0, 256, (side // 64, side // 64, 3), dtype=np.uint8)
                image = Image.fromarray(small).resize((side, side), Image.BILINEAR)
                image.save(path / f"{i:03d}.png")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=2048)
    parser.add_argument("--train", type=int, default=4, help="training images per class")
    parser.add_argument("--val", type=int, default=8, help="validation images per class")
    parser.add_argument("--input", type=int, default=96)
    args = parser.parse_args()
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "release" / "cnn-workbench"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        t0 = time.time()
        write_images(folder, args.side, args.train, args.val)
        print(f"wrote {2 * (args.train + args.val)} images of {args.side} px in {time.time() - t0:.1f} s")
        out = Path(tmp) / "run"
        t0 = time.time()
        subprocess.run(
            [str(binary), "train", "--dataset", f"folder:{folder}", "--val-fraction", "source",
             "--model", "resnet-small", "--input-size", str(args.input), "--train-crop", "random",
             "--eval-crop", "tiles", "--augment", "none", "--epochs", "1", "--batch-size", "8",
             "--quiet", "--out", str(out)],
            check=True,
        )
        total = time.time() - t0
        with open(out / "metrics.csv") as f:
            row = next(csv.DictReader(f))
        run = json.loads((out / "run.json").read_text())
        tiles = run["input"]["eval_views"]
        images = 2 * args.val
        val_secs = float(row["val_secs"])
        print(f"stored {run['input']['stored']}, input {run['input']['network']}, {tiles} tiles per image")
        print(f"tiled validation: {val_secs:.2f} s for {images} images = {val_secs / images:.3f} s per image "
              f"({val_secs / images / tiles * 1000:.2f} ms per tile); whole run {total:.1f} s")


if __name__ == "__main__":
    main()
