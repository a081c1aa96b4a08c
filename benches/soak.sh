#!/usr/bin/env bash
# Soak run: trains for many epochs with the release build and samples the process's resident
# memory and open file handles after every epoch, then reports the growth between the first
# sampled epoch and the last.
#
#   benches/soak.sh                      # 100 epochs on the full Fashion-MNIST (if installed)
#   EPOCHS=20 DATASET=embedded benches/soak.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS="${EPOCHS:-100}"
DATASET="${DATASET:-}"
if [ -z "$DATASET" ]; then
  if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    DATASET=fashion-mnist
  else
    DATASET=embedded
  fi
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cnn-workbench-target}"
cargo build --release --quiet
BIN="$CARGO_TARGET_DIR/release/cnn-workbench"
OUT="$(mktemp -d)/soak"
"$BIN" train --dataset "$DATASET" --epochs "$EPOCHS" --quiet --out "$OUT" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
echo "soak: $EPOCHS epochs on $DATASET, pid $PID, run in $OUT"
printf '%6s %10s %6s\n' epoch rss_MiB fds
seen=0
first_rss=""
first_fds=""
while kill -0 "$PID" 2>/dev/null; do
  done_epochs=$(( $( { wc -l < "$OUT/metrics.csv"; } 2>/dev/null || echo 1) - 1 ))
  if [ "$done_epochs" -gt "$seen" ]; then
    seen=$done_epochs
    rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$PID/status" 2>/dev/null || echo 0)
    fds=$(ls "/proc/$PID/fd" 2>/dev/null | wc -l)
    printf '%6d %10.1f %6d\n' "$seen" "$(awk -v k="$rss_kb" 'BEGIN { print k / 1024 }')" "$fds"
    # The first epochs warm up caches and allocator pools; growth is measured from epoch 3.
    if [ "$seen" -ge 3 ] && [ -z "$first_rss" ]; then
      first_rss=$rss_kb
      first_fds=$fds
    fi
    last_rss=$rss_kb
    last_fds=$fds
  fi
  sleep 0.2
done
wait "$PID"
trap - EXIT
if [ -n "$first_rss" ]; then
  echo "growth from epoch 3 to $seen: $(( (last_rss - first_rss) / 1024 )) MiB resident, $(( last_fds - first_fds )) file handles"
fi
