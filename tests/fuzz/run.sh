#!/usr/bin/env bash
# Runs every fuzz target in turn for SECS seconds each (default 600), from the seed corpora in
# tests/fuzz/corpus/<target>. New interesting inputs go to a scratch copy, so the committed seeds
# stay small; a crash leaves its input in tests/fuzz/artifacts/<target>/ and stops the script.
#
#   cargo install cargo-fuzz            # once; needs the nightly toolchain (rustup)
#   tests/fuzz/run.sh                   # all five, 10 minutes each
#   SECS=60 JOBS=2 tests/fuzz/run.sh idx cifar
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS="${SECS:-600}"
JOBS="${JOBS:-1}"
parallel=""
[ "$JOBS" -le 1 ] || parallel="-fork=$JOBS"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(idx cifar config weights folder)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/cnn-workbench-fuzz-target}"
cargo +nightly fuzz build --fuzz-dir tests/fuzz -s none -O
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target" "tests/fuzz/artifacts/$target"
  echo "fuzzing $target for $SECS s"
  cargo +nightly fuzz run --fuzz-dir tests/fuzz -s none -O "$target" \
    "$scratch/$target" "tests/fuzz/corpus/$target" -- \
    -max_total_time="$SECS" -timeout=10 -rss_limit_mb=4096 $parallel \
    -artifact_prefix="tests/fuzz/artifacts/$target/" -print_final_stats=1 2>&1 |
    grep -E "^(#[0-9]+ +DONE|stat::|==|Done|INFO: -max_total_time|SUMMARY|thread)" || true
  if ls "tests/fuzz/artifacts/$target"/crash-* "tests/fuzz/artifacts/$target"/timeout-* \
       "tests/fuzz/artifacts/$target"/oom-* >/dev/null 2>&1; then
    echo "$target: found a failing input, see tests/fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
