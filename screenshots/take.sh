#!/usr/bin/env bash
# Regenerates the screenshots in this folder: the real window under Xvfb, captured with ImageMagick.
#   sudo apt-get install xvfb xauth mesa-vulkan-drivers imagemagick
#   screenshots/take.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
bin="${CARGO_TARGET_DIR:-target}/release/cnn-workbench"
# A throw-away data directory, so screenshot runs stay out of the user's run list and settings.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

shoot() { # dataset, seconds to train before the shot, output file
  XDG_DATA_HOME="$scratch/$1" XDG_CONFIG_HOME="$scratch/$1" \
    xvfb-run -a -s "-screen 0 1280x800x24" bash -c "
      '$bin' --dataset $1 --start & pid=\$!
      sleep $2
      import -window root '$3'
      kill \$pid; wait \$pid || true"
  echo "wrote $3"
}

shoot noise "${NOISE_SECS:-30}" screenshots/noise-overfitting.png
shoot embedded "${EMBEDDED_SECS:-40}" screenshots/fashion-mnist.png
