#!/usr/bin/env bash
# Frame time of the window while a run trains, measured rather than eyeballed: the release build
# opens under Xvfb with the built-in Fashion-MNIST, the Augmentation preview open, and starts a
# run at once (plot, preview, run bar and evaluation all updating); `--frame-log` records the CPU
# time eframe measured for every frame (UI, tessellation and rendering, without vsync waits) and
# the delay from Start to the first plotted loss. Prints percentiles over the training frames.
#
#   benches/frame_time.sh                  # 40 s of training
#   SECS=120 benches/frame_time.sh
#   (needs xvfb, xauth and mesa-vulkan-drivers; screenshots/take.sh names the apt line)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${SECS:-40}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cnn-workbench-target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/cnn-workbench"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
LOG="$scratch/frames.csv"
XDG_DATA_HOME="$scratch" XDG_CONFIG_HOME="$scratch" \
  xvfb-run -a -s "-screen 0 1280x800x24" \
  timeout -s TERM "$SECS" "$BIN" --dataset embedded --augment seed2 --start --frame-log "$LOG" || true
python3 - "$LOG" "$SECS" <<'PY'
import sys
rows = [line.split(",") for line in open(sys.argv[1]).read().splitlines()[1:]]
frames = sorted(float(r[2]) for r in rows if r[0] == "frame" and r[3] == "1")
first = [float(r[2]) for r in rows if r[0] == "first_point"]
if not frames:
    sys.exit("no frame was recorded while training")
def pct(p):
    return frames[min(len(frames) - 1, int(p / 100 * len(frames)))]
print(f"{len(frames)} frames while training over {sys.argv[2]} s")
print(f"frame CPU time: p50 {pct(50):.2f} ms, p95 {pct(95):.2f} ms, p99 {pct(99):.2f} ms, max {frames[-1]:.2f} ms")
print("Start to first plotted loss: " + (f"{first[0]:.0f} ms" if first else "never"))
PY
