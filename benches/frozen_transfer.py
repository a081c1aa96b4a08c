#!/usr/bin/env python3
"""The classic transfer recipe end to end: a frozen ResNet-18 with a new 10-class head, in
PyTorch as a user typically writes it and in CNN Workbench's `train` command, on the same images.

    python3 benches/frozen_transfer.py                      # 50 epochs each side
    python3 benches/frozen_transfer.py --torch-epochs 5     # PyTorch's time extrapolated to 50
    python3 benches/frozen_transfer.py --no-torch           # CNN Workbench alone

Data: 100 training and 100 validation images of Gaussian noise, 224x224 RGB, 10 balanced random
classes, written once as PNG files (an image folder with train/ and val/), which both sides
read. Model: torchvision's ResNet-18 layout at full width, random initialisation (the speed does
not depend on the weights), every parameter frozen but a new 512 -> 10 classifier; batch 10,
Adam (lr 1e-3), 50 epochs, validation after every epoch.

PyTorch: `requires_grad = False` on the backbone, a new `fc`, `model.train()` for the training
loop and `model.eval()` with `torch.no_grad()` for validation: the full forward pass on every
step, as such a script runs it. CNN Workbench: `train --freeze backbone --augment none`, so
the backbone's features are computed once per image in the first epoch and cached
(`--cache-features off` runs the backbone every step instead: `--ours-off`).

Both sides are timed end to end as wall-clock seconds: model construction, loading the images,
every training and validation epoch. The table also shows each side's first-epoch validation
accuracy (chance is 10 %: the images are noise).
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAIN, VAL, CLASSES, SIZE, BATCH, LR = 100, 100, 10, 224, 10, 1e-3


def write_images(folder):
    """The noise images as PNG files in folder/train/cNN and folder/val/cNN."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for part, count in (("train", TRAIN), ("val", VAL)):
        labels = rng.permutation(np.arange(count) % CLASSES)
        for i, label in enumerate(labels):
            pixels = np.clip(rng.normal(128, 40, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
            path = folder / part / f"c{label:02d}"
            path.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path / f"{i:03d}.png")


def read_part(folder, part):
    import numpy as np
    from PIL import Image

    images, labels = [], []
    classes = sorted(p.name for p in (folder / part).iterdir())
    for k, name in enumerate(classes):
        for f in sorted((folder / part / name).iterdir()):
            images.append(np.asarray(Image.open(f).convert("RGB")))
            labels.append(k)
    return np.stack(images), np.array(labels)


def torch_side(folder, epochs):
    """Seconds for `epochs` epochs (data reading and model construction included), and the
    first epoch's validation accuracy."""
    import torch
    import torch.nn as nn
    import torchvision

    torch.manual_seed(0)
    t0 = time.perf_counter()
    x_train, y_train = read_part(folder, "train")
    x_val, y_val = read_part(folder, "val")
    mean = x_train.reshape(-1, 3).mean(0) / 255.0
    std = x_train.reshape(-1, 3).std(0) / 255.0

    def tensor(x):
        t = torch.tensor(x, dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
        return (t - torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)) / torch.tensor(
            std, dtype=torch.float32
        ).view(1, 3, 1, 1)

    train_x, train_y = tensor(x_train), torch.tensor(y_train)
    val_x, val_y = tensor(x_val), torch.tensor(y_val)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(train_x, train_y), batch_size=BATCH, shuffle=True
    )
    model = torchvision.models.resnet18(weights=None)
    for p in model.parameters():
        p.requires_grad = False
    model.fc = nn.Linear(model.fc.in_features, CLASSES)
    optimizer = torch.optim.Adam(model.fc.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    first_acc = None
    epoch_secs = []
    for epoch in range(epochs):
        e0 = time.perf_counter()
        model.train()
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for i in range(0, VAL, BATCH):
                correct += (model(val_x[i : i + BATCH]).argmax(1) == val_y[i : i + BATCH]).sum().item()
        if first_acc is None:
            first_acc = correct / VAL
        epoch_secs.append(time.perf_counter() - e0)
        print(f"  torch epoch {epoch + 1}: {epoch_secs[-1]:.1f} s", file=sys.stderr)
    return time.perf_counter() - t0, first_acc, epoch_secs


def ours(folder, epochs, cache, out):
    binary = ROOT / "target" / "release" / "cnn-workbench"
    if "CARGO_TARGET_DIR" in os.environ:
        binary = Path(os.environ["CARGO_TARGET_DIR"]) / "release" / "cnn-workbench"
    cmd = [
        str(binary), "train", "--dataset", f"folder:{folder}", "--val-fraction", "source",
        "--channels", "3", "--input-size", str(SIZE), "--model", "resnet18",
        "--freeze", "backbone", "--augment", "none", "--cache-features", cache,
        "--epochs", str(epochs), "--batch-size", str(BATCH), "--optimizer", "adam",
        "--lr", str(LR), "--seed", "0", "--out", str(out), "--quiet",
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    secs = time.perf_counter() - t0
    run = out  # --out is the run's own folder
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    summary = json.loads((run / "run.json").read_text())
    return secs, float(rows[0]["val_acc"]), rows, summary.get("feature_cache")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--torch-epochs", type=int, default=None,
                        help="run PyTorch this many epochs and scale its time to --epochs")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--ours-off", type=int, default=0, metavar="N",
                        help="also run CNN Workbench N epochs with --cache-features off")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "noise224"
        write_images(folder)
        out = Path(tmp) / "runs"
        out.mkdir()
        secs, acc, rows, cache = ours(folder, args.epochs, "auto", out)
        first = float(rows[0]["train_secs"]) + float(rows[0]["val_secs"])
        later = sum(float(r["train_secs"]) + float(r["val_secs"]) for r in rows[1:])
        print(f"CNN Workbench, cached: {secs:.1f} s end to end for {args.epochs} epochs "
              f"(first epoch {first:.1f} s, the other {len(rows) - 1} together {later:.2f} s), "
              f"first-epoch val acc {acc:.2f}; run.json: {cache}")
        if args.ours_off:
            out_off = Path(tmp) / "runs-off"
            out_off.mkdir()
            secs_off, acc_off, rows_off, _ = ours(folder, args.ours_off, "off", out_off)
            per = [float(r["train_secs"]) + float(r["val_secs"]) for r in rows_off]
            print(f"CNN Workbench, --cache-features off: {secs_off:.1f} s for {args.ours_off} "
                  f"epochs ({', '.join(f'{p:.1f}' for p in per)} s each), first-epoch val acc "
                  f"{acc_off:.2f}")
        if not args.no_torch:
            n = args.torch_epochs or args.epochs
            t_secs, t_acc, t_epochs = torch_side(folder, n)
            if n != args.epochs:
                setup = t_secs - sum(t_epochs)
                t_full = setup + sum(t_epochs) / n * args.epochs
                note = f"({n} epochs took {t_secs:.1f} s; scaled to {args.epochs})"
            else:
                t_full, note = t_secs, ""
            print(f"PyTorch {__import__('torch').__version__}: {t_full:.1f} s end to end {note}, "
                  f"first-epoch val acc {t_acc:.2f}")
            print(f"Ratio (PyTorch / CNN Workbench, end to end): {t_full / secs:.1f}x")


if __name__ == "__main__":
    main()
