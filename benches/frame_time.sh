#!/usr/bin/env bash
# Frame time of the window while a run trains, measured rather than eyeballed: the release build
# opens under Xvfb with the built-in Fashion-MNIST and the Augmentation preview open; Space starts
# a run (plot, preview, run bar and evaluation all updating); `--frame-log` records the CPU
# time eframe measured for every frame (UI, tessellation and rendering, without vsync waits) and
# the delay from Start to the first plotted loss. Prints percentiles over the training frames.
#
#   benches/frame_time.sh                  # 30 s from Start
#   SECS=120 benches/frame_time.sh
#   (needs xvfb, xauth, xdotool and mesa-vulkan-drivers; screenshots/take.sh names the apt line)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS="${SECS:-30}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cnn-workbench-target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/cnn-workbench"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
LOG="$scratch/frames.csv"
# The window settles first (dataset loaded, thumbnails drawn); then a click on Start begins the run, as a
# user would, and the frames of the next SECS seconds are recorded.
XDG_DATA_HOME="$scratch" XDG_CONFIG_HOME="$scratch" \
  xvfb-run -a -s "-screen 0 1280x800x24" bash -c "
    '$BIN' --dataset embedded --augment seed2 --frame-log '$LOG' & pid=\$!
    sleep 6
    xdotool mousemove 184 12 click 1 sleep 0.2 mousemove 1279 799
    sleep $SECS
    kill \$pid; wait \$pid || true" || true
[ -z "${KEEP:-}" ] || cp "$LOG" "$KEEP"   # KEEP=frames.csv keeps the raw log
python3 - "$LOG" "$SECS" <<'PY'
import sys
rows = [line.split(",") for line in open(sys.argv[1]).read().splitlines()[1:]]
frames = sorted(float(r[2]) for r in rows if r[0] == "frame" and r[3] == "1")
first = [float(r[2]) for r in rows if r[0] == "first_point"]
if not frames:
    sys.exit("no frame was recorded while training")
def pct(p):
    return frames[min(len(frames) - 1, int(p / 100 * len(frames)))]
print(f"{len(frames)} frames while training (of {sys.argv[2]} s recorded after Start)")
print(f"frame CPU time: p50 {pct(50):.2f} ms, p95 {pct(95):.2f} ms, p99 {pct(99):.2f} ms, max {frames[-1]:.2f} ms")
print("Start to first plotted loss: " + (f"{first[0]:.0f} ms" if first else "never"))
PY
