#!/usr/bin/env python3
"""Training throughput of CNN Workbench against PyTorch on the same machine, side by side.

    python3 benches/compare.py                 # every workload, prints a Markdown table
    python3 benches/compare.py --workloads 2,4 --epochs 4
    python3 benches/compare.py --rounds 3     # both sides three times, alternating, best of each
    python3 benches/compare.py --device gpu --no-torch   # CNN Workbench's wgpu path alone
    python3 benches/compare.py --device gpu --torch-device cuda --workloads 2,4   # both on a GPU
    python3 benches/compare.py --workloads 6 --epochs 3   # the GAN step alone

Each workload trains the same architecture with Adam (lr 1e-3), batch 64, on data held in memory:
PyTorch in this process (torch.set_num_threads = the machine's cores), CNN Workbench through its
release binary's `train` command, the same code the window runs (batch assembly, prefetching and
augmentation included). Both run --epochs epochs of the same number of samples; the first is a
warm-up and the best later epoch counts on each side (CNN Workbench's epoch time is `train_secs`
of metrics.csv: validation is not in it, as it is not in PyTorch's loop). PyTorch is optional:
`pip install torch torchvision`; without it only CNN Workbench's column is filled.

Workloads (28x28x1 unless said):
  1r SimpleCNN on random tensors          1f SimpleCNN on Fashion-MNIST
  2  conv 32, conv 32, pool, conv 64, conv 64, pool, linear 128, linear 10 on Fashion-MNIST
  3  the seed's snippet 2 end to end: per-sample horizontal flip + affine (10 deg, translate 0.1,
     scale 0.9-1.1), SimpleCNN, shuffled epochs; PyTorch as the seed writes it (PIL images,
     torchvision transforms, DataLoader with num_workers=0)
  4  ResNet-small (ResNet-20) on 32x32x3 random tensors
  5  the seed's third example: torchvision's ResNet-18 at 224x224x3 (random tensors) with its
     backbone frozen and a new 10-class head trained; the backbone runs on every step on both
     sides (CNN Workbench's `--freeze backbone --cache-features off`; PyTorch: requires_grad
     False on the backbone, model.train(), as such a script is written). CNN Workbench's
     default caches a frozen backbone's features instead: benches/frozen_transfer.py measures
     that end to end.
  6  one GAN training step of the class-conditional DCGAN on Fashion-MNIST (see below)

Workload 6 counts real training images per second through CNN Workbench's `gan train` step:
per batch of 64 real images (scaled to [-1, 1]) and their labels, one discriminator update
(hinge loss, one forward pass over the real images and the detached generated ones together)
and one generator update, each with Adam (lr 2e-4, betas 0.5 and 0.999), no augmentation
(`--diff-augment off`). The generator: noise (64) and one-hot class (10) -> linear to 128x7x7,
batch norm, ReLU, two stages of x2 nearest upsampling + 3x3 conv + batch norm + ReLU (64, 32
channels), 3x3 conv to 1 channel, tanh. The discriminator: spectrally normalised convolutions
(one power iteration per forward pass) 3x3 to 32, then 4x4 stride 2 to 64 and 128, leaky ReLU
0.2 after each, summed over the pixels; a linear output whose weight is divided by its length,
plus the inner product of a class embedding with those features (projection). CNN Workbench's
epoch time is `secs` of metrics.csv, which also holds drawing the 80-image sample grid at the
end of each epoch (PyTorch's loop has no such extra).
"""

import argparse
import gzip
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_FMNIST = Path("/usr/share/datasets/fashion-mnist")
BATCH = 64

# name, samples per epoch, description
WORKLOADS = {
    "1r": (6400, "SimpleCNN, random 28x28x1"),
    "1f": (6400, "SimpleCNN, Fashion-MNIST"),
    "2": (1920, "Deeper CNN, Fashion-MNIST"),
    "3": (6400, "Snippet 2: flip + affine + SimpleCNN"),
    "4": (1280, "ResNet-small, 32x32x3"),
    "5": (192, "ResNet-18 frozen backbone + new head, 224x224x3"),
    "6": (1280, "GAN step: class-conditional DCGAN, Fashion-MNIST 28x28"),
}

# Workload 6: the GAN's sizes (CNN Workbench's defaults) and optimiser.
GAN_Z, GAN_WIDTH, GAN_CLASSES = 64, 64, 10
GAN_LR, GAN_BETAS = 2e-4, (0.5, 0.999)

DEEPER_JSON = json.dumps(
    {
        "kind": "cnn",
        "channels": [32, 32, 64, 64],
        "pool_every": 2,
        "batch_norm": False,
        "hidden": 128,
        "kernel_size": 3,
        "pooling": "max",
        "global_pool": False,
        "dropout": 0.0,
    }
)


def read_idx(path):
    with (gzip.open if str(path).endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return data[4 + 4 * ndim :], dims


def fashion_mnist():
    """Training images (uint8, N x 28 x 28) and labels of the full set if installed, else the
    subset that CNN Workbench embeds."""
    folder = SYSTEM_FMNIST if SYSTEM_FMNIST.is_dir() else ROOT / "assets/fashion-mnist-subset"
    import numpy as np

    images, dims = read_idx(next(folder.glob("train-images-idx3-ubyte*")))
    labels, _ = read_idx(next(folder.glob("train-labels-idx1-ubyte*")))
    images = np.frombuffer(images, dtype=np.uint8).reshape(dims)
    labels = np.frombuffer(labels, dtype=np.uint8).astype(np.int64)
    return images, labels, SYSTEM_FMNIST.is_dir()


# ---------------------------------------------------------------------------------------------
# PyTorch side


def torch_models():
    import torch.nn as nn
    import torch.nn.functional as F

    class SimpleCNN(nn.Module):
        # The seed's model with the flatten sized for one 2x2 pool (16*14*14), as CNN Workbench
        # builds it.
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 16, 3, padding=1)
            self.pool = nn.MaxPool2d(2, 2)
            self.fc = nn.Linear(16 * 14 * 14, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv(x)))
            return self.fc(torch_flatten(x))

    def torch_flatten(x):
        return x.reshape(x.shape[0], -1)

    def deeper():
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
        )

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            skip = x if self.downsample is None else self.downsample(x)
            return F.relu(out + skip)

    class ResNetSmall(nn.Module):
        # ResNet-20 with 1x1 projection shortcuts, as CNN Workbench's resnet-small.
        def __init__(self, cin=3, classes=10, width=16, blocks=3):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, width, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            layers, c = [], width
            for stage, w in enumerate([width, 2 * width, 4 * width]):
                for b in range(blocks):
                    layers.append(Block(c, w, 2 if (stage > 0 and b == 0) else 1))
                    c = w
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(c, classes)

        def forward(self, x):
            x = self.layers(F.relu(self.bn1(self.conv1(x))))
            return self.fc(x.mean(dim=(2, 3)))

    return SimpleCNN, deeper, ResNetSmall


def torch_gan_models():
    """Workload 6's generator and discriminator, laid out as CNN Workbench's `gan` builds them
    for 28x28x1 images."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.nn.utils.parametrizations import spectral_norm

    class Generator(nn.Module):
        def __init__(self, z_dim=GAN_Z, classes=GAN_CLASSES, width=GAN_WIDTH):
            super().__init__()
            # Two doublings reach 28 from a 7x7 grid; the first grid has twice the width.
            self.first, self.classes = 2 * width, classes
            self.fc = nn.Linear(z_dim + classes, self.first * 7 * 7)
            self.bn0 = nn.BatchNorm2d(self.first)
            stages, cin = [], self.first
            for cout in (width, width // 2):
                stages += [
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(cin, cout, 3, padding=1),
                    nn.BatchNorm2d(cout),
                    nn.ReLU(),
                ]
                cin = cout
            self.stages = nn.Sequential(*stages)
            self.out = nn.Conv2d(cin, 1, 3, padding=1)

        def forward(self, z, y):
            onehot = F.one_hot(y, self.classes).to(z.dtype)
            x = self.fc(torch.cat([z, onehot], dim=1)).view(-1, self.first, 7, 7)
            x = self.stages(F.relu(self.bn0(x)))
            return torch.tanh(self.out(x))

    class Discriminator(nn.Module):
        def __init__(self, classes=GAN_CLASSES, width=GAN_WIDTH):
            super().__init__()
            # spectral_norm's default: one power iteration per forward pass in training mode.
            self.convs = nn.ModuleList([
                spectral_norm(nn.Conv2d(1, width // 2, 3, 1, 1)),
                spectral_norm(nn.Conv2d(width // 2, width, 4, 2, 1)),
                spectral_norm(nn.Conv2d(width, 2 * width, 4, 2, 1)),
            ])
            self.fc = nn.Linear(2 * width, 1)
            self.embed = nn.Embedding(classes, 2 * width)

        def forward(self, x, y):
            for conv in self.convs:
                x = F.leaky_relu(conv(x), 0.2)
            features = x.sum(dim=(2, 3))
            # A one-row weight's spectral norm is its length.
            weight = self.fc.weight / self.fc.weight.norm()
            linear = F.linear(features, weight, self.fc.bias).squeeze(1)
            return linear + (self.embed(y) * features).sum(dim=1)

    return Generator, Discriminator


def torch_gan_rate(samples, epochs, device="cpu"):
    """Workload 6: real images per second through one discriminator and one generator update
    per batch, the best epoch after the first."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    Generator, Discriminator = torch_gan_models()
    gen, disc = Generator().to(device), Discriminator().to(device)
    gen.train()
    disc.train()
    opt_g = torch.optim.Adam(gen.parameters(), lr=GAN_LR, betas=GAN_BETAS)
    opt_d = torch.optim.Adam(disc.parameters(), lr=GAN_LR, betas=GAN_BETAS)

    images, labels, _ = fashion_mnist()
    x_all = torch.from_numpy(images[:samples].astype(np.float32) / 127.5 - 1.0).unsqueeze(1)
    y_all = torch.from_numpy(labels[:samples])
    x_all, y_all = x_all.to(device), y_all.to(device)
    steps = samples // BATCH

    def step(real, y):
        z = torch.randn(real.shape[0], GAN_Z, device=device)
        fake = gen(z, y)
        # Discriminator: hinge loss, real and generated images in one forward pass.
        opt_d.zero_grad()
        scores = disc(torch.cat([real, fake.detach()]), torch.cat([y, y]))
        real_scores, fake_scores = scores.chunk(2)
        d_loss = F.relu(1.0 - real_scores).mean() + F.relu(1.0 + fake_scores).mean()
        d_loss.backward()
        opt_d.step()
        # Generator: the updated discriminator's score of its images, up.
        opt_g.zero_grad()
        g_loss = -disc(fake, y).mean()
        g_loss.backward()
        opt_g.step()

    best = 0.0
    for epoch in range(epochs):
        order = torch.randperm(len(y_all), device=device)
        start = time.perf_counter()
        for i in range(steps):
            idx = order[i * BATCH : (i + 1) * BATCH]
            step(x_all[idx], y_all[idx])
        if device != "cpu":
            torch.cuda.synchronize()
        rate = steps * BATCH / (time.perf_counter() - start)
        if epoch > 0 or epochs == 1:
            best = max(best, rate)
    return best


def torch_rate(workload, samples, epochs, threads, device="cpu"):
    import numpy as np
    import torch
    import torch.nn as nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if workload == "6":
        return torch_gan_rate(samples, epochs, device)
    SimpleCNN, deeper, ResNetSmall = torch_models()
    if workload == "5":
        import torchvision

        model = torchvision.models.resnet18(weights=None)
        for p in model.parameters():
            p.requires_grad = False
        model.fc = nn.Linear(model.fc.in_features, 10)
        model = model.to(device)
    else:
        model = {"1r": SimpleCNN, "1f": SimpleCNN, "2": deeper, "3": SimpleCNN,
                 "4": ResNetSmall}[workload]().to(device)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    best = 0.0
    if workload == "3":
        from PIL import Image
        from torch.utils.data import DataLoader, Dataset
        from torchvision import transforms

        images, labels, _ = fashion_mnist()
        images, labels = images[:samples], labels[:samples]

        class Fashion(Dataset):
            # As torchvision.datasets.FashionMNIST hands out its images: PIL, mode L.
            def __init__(self, transform):
                self.transform = transform

            def __len__(self):
                return len(labels)

            def __getitem__(self, i):
                return self.transform(Image.fromarray(images[i], mode="L")), int(labels[i])

        transform = transforms.Compose(
            [
                transforms.RandomHorizontalFlip(),
                transforms.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                transforms.ToTensor(),
            ]
        )
        loader = DataLoader(Fashion(transform), batch_size=BATCH, shuffle=True, num_workers=0)
        for _ in range(epochs):
            start = time.perf_counter()
            n = 0
            for x, y in loader:
                step(x.to(device), y.to(device))
                n += len(y)
            if device != "cpu":
                torch.cuda.synchronize()
            best = max(best, n / (time.perf_counter() - start)) if _ > 0 else best
        return best

    if workload in ("1f", "2"):
        images, labels, _ = fashion_mnist()
        x_all = torch.from_numpy(images[:samples].astype(np.float32) / 255.0).unsqueeze(1)
        x_all = (x_all - 0.286) / 0.353
        y_all = torch.from_numpy(labels[:samples])
    else:
        shape = {"4": (samples, 3, 32, 32), "5": (samples, 3, 224, 224)}.get(
            workload, (samples, 1, 28, 28))
        x_all = torch.randn(shape)
        y_all = torch.randint(0, 10, (samples,))
    # On a GPU the data lives there, as CNN Workbench's prefetched batches do.
    x_all, y_all = x_all.to(device), y_all.to(device)
    for epoch in range(epochs):
        order = torch.randperm(samples, device=device)
        start = time.perf_counter()
        for i in range(0, samples, BATCH):
            idx = order[i : i + BATCH]
            step(x_all[idx], y_all[idx])
        if device != "cpu":
            torch.cuda.synchronize()
        rate = samples / (time.perf_counter() - start)
        if epoch > 0:
            best = max(best, rate)
    return best


# ---------------------------------------------------------------------------------------------
# CNN Workbench side


def workbench_binary(args):
    if args.bin:
        return Path(args.bin)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return target / "release" / "cnn-workbench"


def workbench_gan_rate(binary, samples, epochs, device, has_system_fmnist):
    """Workload 6 through `gan train`: (steps x 64) / secs of the best epoch after the first."""
    work = Path(tempfile.mkdtemp(prefix="cw-compare-gan-"))
    try:
        cmd = [
            str(binary), "gan", "train", "--epochs", str(epochs), "--batch-size", str(BATCH),
            "--dataset", "fashion-mnist" if has_system_fmnist else "embedded",
            "--train-size", str(samples), "--diff-augment", "off", "--tstr-every", "0",
            "--z-dim", str(GAN_Z), "--width", str(GAN_WIDTH), "--lr", str(GAN_LR),
            "--seed", "1", "--device", device, "--out", str(work / "run"), "--quiet",
        ]
        subprocess.run(cmd, check=True)
        run = json.loads((work / "run" / "run.json").read_text())
        steps = run["train_samples"] // BATCH
        if steps * BATCH != samples:
            sys.exit(f"gan train used {run['train_samples']} training images, not {samples}: "
                     "lower --scale")
        lines = (work / "run" / "metrics.csv").read_text().splitlines()
        secs = lines[0].split(",").index("secs")
        times = [float(line.split(",")[secs]) for line in lines[1:]]
        timed = times[1:] if len(times) > 1 else times
        return steps * BATCH / min(timed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def workbench_rate(binary, workload, samples, epochs, device, has_system_fmnist):
    if workload == "6":
        return workbench_gan_rate(binary, samples, epochs, device, has_system_fmnist)
    work = Path(tempfile.mkdtemp(prefix="cw-compare-"))
    try:
        cmd = [
            str(binary), "train", "--epochs", str(epochs), "--batch-size", str(BATCH),
            "--optimizer", "adam", "--lr", "0.001", "--seed", "1", "--quiet",
            "--out", str(work / "run"), "--device", device,
        ]
        fmnist = "fashion-mnist" if has_system_fmnist else "embedded"
        if workload in ("1r", "4", "5"):
            size = {"4": 32, "5": 224}.get(workload, 28)
            config = work / "noise.toml"
            config.write_text(
                "[dataset.source]\nkind = \"noise\"\n"
                f"train_samples = {samples}\nval_samples = 64\nclasses = 10\nsize = {size}\n"
            )
            cmd += ["--config", str(config)]
            if workload == "4":
                cmd += ["--channels", "3", "--model", "resnet-small"]
            elif workload == "5":
                cmd += ["--channels", "3", "--model", "resnet18", "--freeze", "backbone",
                        "--cache-features", "off", "--augment", "none"]
            else:
                cmd += ["--model", "simple-cnn"]
        else:
            cmd += ["--dataset", fmnist, "--train-size", str(samples), "--val-fraction", "0.02"]
            if workload == "2":
                cmd += ["--model-json", DEEPER_JSON]
            else:
                cmd += ["--model", "simple-cnn"]
            if workload == "3":
                cmd += ["--augment", "seed2"]
        subprocess.run(cmd, check=True)
        lines = (work / "run" / "metrics.csv").read_text().splitlines()
        header = lines[0].split(",")
        secs = header.index("train_secs")
        times = [float(line.split(",")[secs]) for line in lines[1:]]
        timed = times[1:] if len(times) > 1 else times
        return samples / min(timed)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def gpu_name():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode == 0 and out.stdout.strip():
            return "GPU " + out.stdout.strip().splitlines()[0].replace(", ", ", driver ")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return "GPU through wgpu's default adapter"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--epochs", type=int, default=3, help="per side; the first is warm-up")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply samples per epoch")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run both sides this many times, alternating; each keeps its best")
    parser.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--bin", help="CNN Workbench binary (default: cargo build --release)")
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--torch-device", default="cpu", choices=["cpu", "cuda"],
                        help="where PyTorch trains (cuda: beside --device gpu on a GPU machine)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.rounds < 1 or args.epochs < 1:
        parser.error("--rounds and --epochs must be at least 1")

    threads = os.cpu_count() or 1
    try:
        if args.no_torch:
            raise ImportError
        import torch

        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    binary = workbench_binary(args)
    has_system = SYSTEM_FMNIST.is_dir()

    rows = []
    for w in args.workloads.split(","):
        samples, what = WORKLOADS[w]
        samples = max(BATCH, int(samples * args.scale) // BATCH * BATCH)
        # Each round runs both sides back to back; each side keeps its best round, so a
        # minute in which the machine was busy elsewhere counts against neither.
        ours, theirs, ratios = 0.0, None, []
        for _ in range(args.rounds):
            mine = workbench_rate(binary, w, samples, args.epochs, args.device, has_system)
            ours = max(ours, mine)
            if torch_version:
                rate = torch_rate(w, samples, args.epochs, threads, args.torch_device)
                theirs = max(theirs or 0.0, rate)
                ratios.append(mine / rate)
        ratios.sort()
        rows.append({"workload": w, "what": what, "samples": samples, "workbench": ours,
                     "pytorch": theirs, "ratios": ratios})
        print(f"  {w}: CNN Workbench {ours:,.0f}/s"
              + (f", PyTorch {theirs:,.0f}/s" if theirs else ""), file=sys.stderr)

    machine = f"{cpu_name()}, {threads} threads, {platform.system()} {platform.release()}"
    if args.device == "gpu" or args.torch_device == "cuda":
        machine += f", {gpu_name()}"
    print(f"Machine: {machine}; PyTorch {torch_version or 'not installed'} on {args.torch_device}; "
          f"CNN Workbench on {args.device}; batch {BATCH}, Adam 1e-3, best of epochs 2..{args.epochs}"
          + (f", best of {args.rounds} alternating rounds" if args.rounds > 1 else ""))
    if any(r["workload"] == "6" for r in rows):
        print(f"Workload 6: real images/s through one discriminator and one generator update "
              f"per batch of {BATCH}, Adam {GAN_LR:g} (betas {GAN_BETAS[0]}, {GAN_BETAS[1]})")
    print()
    print("| Workload | Samples/epoch | PyTorch samples/s | CNN Workbench samples/s | Ratio "
          "of the bests | Median ratio of the rounds (range) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        theirs = f"{r['pytorch']:,.0f}" if r["pytorch"] else "-"
        ratio = f"{r['workbench'] / r['pytorch']:.2f}x" if r["pytorch"] else "-"
        rs = r["ratios"]
        median = (f"{rs[len(rs) // 2] if len(rs) % 2 else (rs[len(rs) // 2 - 1] + rs[len(rs) // 2]) / 2:.2f}x"
                  f" ({rs[0]:.2f}-{rs[-1]:.2f}x)" if rs else "-")
        print(f"| {r['workload']} {r['what']} | {r['samples']} | {theirs} | "
              f"{r['workbench']:,.0f} | {ratio} | {median} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "torch": torch_version,
                                               "device": args.device, "torch_device": args.torch_device,
                                               "rounds": args.rounds,
                                               "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
