#!/usr/bin/env bash
# How long a GPU run takes from Start to its first plotted loss and to its first epoch's
# validation point, as a user meets it: the release window opens under Xvfb with the built-in
# Fashion-MNIST and the GPU chosen (`--device gpu`), waits, and a click on Start begins a
# SimpleCNN run; `--frame-log` records both delays. Three cases, each a new program:
#   cold, Start at once     empty caches (CubeCL's and the driver's, under a fresh
#                           XDG_CACHE_HOME/HOME), Start as soon as the data is there
#   cold, window open WAIT  empty caches, Start after WAIT seconds (the window compiles the
#                           model's kernels in the background meanwhile)
#   later start             the caches the first cases left, Start as soon as the data is there
#
#   benches/gpu_start.sh                 # WAIT=60
#   WAIT=120 MODEL=resnet-small benches/gpu_start.sh
#   (needs xvfb, xauth, xdotool and a Vulkan driver: mesa-vulkan-drivers gives lavapipe)
set -euo pipefail
cd "$(dirname "$0")/.."
WAIT="${WAIT:-60}"
MODEL="${MODEL:-simple-cnn}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cnn-workbench-target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/cnn-workbench"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# start_case NAME CACHE_DIR SECONDS_BEFORE_START: prints the delays from Start to the first loss
# and to the first epoch.
start_case() {
  local name=$1 cache=$2 before=$3 log="$scratch/$1.csv" home="$scratch/home-$1"
  mkdir -p "$cache" "$home"
  HOME="$home" XDG_CACHE_HOME="$cache" XDG_DATA_HOME="$home" XDG_CONFIG_HOME="$home" \
    xvfb-run -a -s "-screen 0 1280x800x24" bash -c "
      '$BIN' --dataset embedded --model $MODEL --device gpu --frame-log '$log' & pid=\$!
      sleep $before
      xdotool mousemove 184 12 click 1 sleep 0.2 mousemove 1279 799
      for _ in \$(seq 900); do grep -q '^first_epoch' '$log' 2>/dev/null && break; sleep 1; done
      sleep 1
      kill \$pid; wait \$pid || true" >/dev/null 2>&1 || true
  python3 - "$log" "$name" "$before" <<'PY'
import sys
rows = [line.split(",") for line in open(sys.argv[1]).read().splitlines()[1:]]
def delay(kind):
    first = [float(r[2]) for r in rows if r[0] == kind]
    return f"{first[0] / 1000:.1f} s" if first else "never (15 min)"
print(f"| {sys.argv[2]} | {sys.argv[3]} s | {delay('first_point')} | {delay('first_epoch')} |")
PY
}

echo "| Case | Window open before Start | Start to first plotted loss | Start to first epoch |"
echo "|---|---:|---:|---:|"
start_case "cold, Start at once" "$scratch/cache-a" 3
start_case "cold, window open ${WAIT} s" "$scratch/cache-b" "$WAIT"
start_case "later start (caches of the case above)" "$scratch/cache-b" 8
