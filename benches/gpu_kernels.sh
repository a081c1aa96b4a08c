#!/usr/bin/env bash
# Which GPU kernels one training step launches, and how long they take: trains on the GPU
# (`train --device gpu`) with CubeCL's profiling log on (a cubecl.toml in a scratch folder, the
# program's working folder) and summarises one steady-state step by kernel kind.
#
#   benches/gpu_kernels.sh                    # compare.py's workload 2 (the deeper CNN)
#   MODEL=resnet-small benches/gpu_kernels.sh # workload 4 (random 32x32x3 images)
#   MODEL=simple-cnn benches/gpu_kernels.sh
#   LEVEL=basic benches/gpu_kernels.sh        # with each kernel's time on the device
#
# LEVEL=minimal (the default) only names the kernels as they are launched and leaves the step's
# timing alone; LEVEL=basic times every kernel, which waits for each one, so the step's wall time
# then counts the waits too. A first run of the same model compiles and tunes the kernels into
# the user's caches before the logged run.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${MODEL:-deeper}"
LEVEL="${LEVEL:-minimal}"
SAMPLES="${SAMPLES:-640}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cnn-workbench-target}"
BIN="${BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --release --quiet
  BIN="$CARGO_TARGET_DIR/release/cnn-workbench"
fi
BIN=$(realpath "$BIN")
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The deeper CNN as compare.py defines it (DEEPER_JSON, workload 2).
deeper='{"kind": "cnn", "channels": [32, 32, 64, 64], "pool_every": 2, "batch_norm": false, "hidden": 128, "kernel_size": 3, "pooling": "max", "global_pool": false, "dropout": 0.0}'
case "$MODEL" in
  deeper) data=(--dataset embedded --train-size "$SAMPLES" --val-fraction 0.02 --model-json "$deeper") ;;
  simple-cnn) data=(--dataset embedded --train-size "$SAMPLES" --val-fraction 0.02 --model simple-cnn) ;;
  *)
    printf '[dataset.source]\nkind = "noise"\ntrain_samples = %d\nval_samples = 64\nclasses = 10\nsize = 32\n' \
      "$SAMPLES" >"$scratch/noise.toml"
    data=(--config "$scratch/noise.toml" --channels 3 --model "$MODEL") ;;
esac
train() { # OUT EPOCHS
  (cd "$scratch" && "$BIN" train --epochs "$2" --batch-size 64 --optimizer adam --lr 0.001 \
    --seed 1 --quiet --device gpu --out "$1" "${data[@]}")
}

train "$scratch/warm" 1
printf '[profiling.logger]\nlevel = "%s"\nfile = "%s"\nappend = false\n' \
  "$LEVEL" "$scratch/kernels.log" >"$scratch/cubecl.toml"
train "$scratch/run" 3
rm "$scratch/cubecl.toml"

python3 - "$scratch/kernels.log" "$scratch/run/metrics.csv" "$MODEL" "$LEVEL" "$scratch/run/run.json" <<'PY'
import json, re, sys
from collections import defaultdict

log, metrics, model, level = sys.argv[1:5]
UNITS = {"ns": 1e-9, "µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}
# Autotune's own probes, which a warm cache should not run at all.
PROBES = ("LaunchOverhead", "MemoryDirectThroughput", "ComputeDirectThroughput", "PrimeBuffer")

kernels = []  # (name, seconds or None)
for line in open(log, encoding="utf-8", errors="replace"):
    line = line.strip()
    if line.startswith("Executing "):
        kernels.append((line[len("Executing "):], None))
    elif line.startswith("|"):
        parts = [p.strip() for p in line.strip("|").split("|", 1)]
        if len(parts) == 2:
            m = re.fullmatch(r"([0-9.]+)\s*(ns|µs|us|ms|s)", parts[0])
            kernels.append((parts[1], float(m[1]) * UNITS[m[2]] if m else None))
kernels = [k for k in kernels if not k[0].startswith(PROBES)]
names = [k[0] for k in kernels]

def kind(name):
    # "DirectConv2dKernel_76a766c1" -> "DirectConv2dKernel"; "MatmulEntry | TensorArgs | ..." -> "MatmulEntry"
    return re.sub(r"_[0-9a-f]{6,}$", "", name.split(" | ")[0])

# A step is the shortest period that repeats four times in a row and launches several kinds of
# kernel (a run of identical copies repeats too, and a ResNet stage's three alike blocks).
n, step, start = len(names), None, None
for p in range(8, n // 4 + 1):
    run = 0
    for i in range(n - p):
        run = run + 1 if names[i] == names[i + p] else 0
        if run >= 3 * p:
            first = i - 3 * p + 1
            if len({kind(x) for x in names[first:first + p]}) >= 6:
                step, start = p, first
                break
            run = 0
    if step:
        break
if not step:
    sys.exit(f"no repeating step found among {n} kernel launches")

per_kind = defaultdict(lambda: [0, 0.0])
timed = 0
for name, secs in kernels[start:start + step]:
    k = per_kind[kind(name)]
    k[0] += 1
    if secs is not None:
        k[1] += secs
        timed += 1

rows = [line.split(",") for line in open(metrics).read().splitlines()]
col = rows[0].index("train_secs")
epoch_secs = min(float(r[col]) for r in rows[2:])
run = json.load(open(sys.argv[5]))
per_epoch = -(-run["train_samples"] // 64)
total = sum(v[1] for v in per_kind.values())
print(f"{model} on {run['device']}: {step} kernel launches per training step "
      f"(batch 64, CubeCL level {level})")
print(f"wall time per step: {epoch_secs / per_epoch * 1e3:.1f} ms "
      f"(best epoch after the first: {epoch_secs:.3f} s for {per_epoch} steps)")
if timed:
    print(f"kernel time per step: {total * 1e3:.3f} ms over {timed} timed launches")
print()
print("| Kernel kind | Launches per step |" + (" Time per step (ms) |" if timed else ""))
print("|---|---:|" + ("---:|" if timed else ""))
for name, (count, secs) in sorted(per_kind.items(), key=lambda kv: (-kv[1][1], -kv[1][0])):
    print(f"| {name} | {count} |" + (f" {secs * 1e3:.3f} |" if timed else ""))
PY
