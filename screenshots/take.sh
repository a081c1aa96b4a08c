#!/usr/bin/env bash
# Regenerates the screenshots in this folder: the real window under Xvfb, captured with ImageMagick.
#   sudo apt-get install xvfb xauth mesa-vulkan-drivers imagemagick xdotool
#   screenshots/take.sh            (all of them; ONLY=lesson-noise screenshots/take.sh for one)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release
bin="${CARGO_TARGET_DIR:-target}/release/cnn-workbench"
# A throw-away data directory, so screenshot runs stay out of the user's run list and settings.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

shoot() { # name, seconds before the shot, window options...
  local name=$1 secs=$2
  shift 2
  if [ -n "${ONLY:-}" ] && [ "$ONLY" != "$name" ]; then return; fi
  XDG_DATA_HOME="$scratch/$name" XDG_CONFIG_HOME="$scratch/$name" CLICK="${CLICK:-}" \
    XDO="${XDO:-}" xvfb-run -a -s "-screen 0 1280x800x24" bash -c "
      '$bin' $* & pid=\$!
      # The pointer to a corner at once and again before the shot, so no tooltip hides the plot.
      sleep 2; xdotool mousemove 1279 799 2>/dev/null || true
      # XDO: xdotool commands separated by ';', one a second, before the wait (open a window,
      # press its buttons).
      if [ -n \"\${XDO:-}\" ]; then
        IFS=';' read -ra steps <<< \"\$XDO\"
        for step in \"\${steps[@]}\"; do xdotool \$step 2>/dev/null || true; sleep 1; done
      fi
      sleep $secs
      if [ -n \"\${CLICK:-}\" ]; then
        xdotool mousemove \${CLICK} click 1 2>/dev/null || true
        sleep 1
      fi
      xdotool mousemove 1279 799 2>/dev/null || true
      sleep 0.5
      import -window root 'screenshots/$name.png'
      kill \$pid; wait \$pid || true"
  echo "wrote screenshots/$name.png"
}

shoot noise-overfitting "${NOISE_SECS:-30}" --dataset noise --start
shoot fashion-mnist "${EMBEDDED_SECS:-40}" --dataset embedded --start
# Lesson 1 on a projector: presenter mode, Space pressed at once.
shoot lesson-noise 20 --lesson noise --presenter --start
# Lesson 3: the A/B pair, the plain run overlaid while the augmented one trains.
shoot lesson-augmentation 45 --lesson augmentation --start
# The Dataset panel on the synthetic shapes, and the Augmentation panel's preview.
shoot dataset-shapes 10 --dataset shapes
shoot augmentation-preview 10 --augment seed2
# Lesson 8: squashed micrographs against random crops with tiled validation; the first mistake of
# the cropped run clicked open in the Evaluation panel, its 256 tiles outlined.
CLICK="965 490" shoot high-res-tiles 125 --lesson high-res --start
# The Generator window: a GAN trained 18 epochs on the built-in data from the command line
# (about 9 minutes on 2 cores), resumed in the window (Dataset collapsed, Open Generator, Resume)
# for 2 more, then its nearest training images shown beside the grid.
if [ -z "${ONLY:-}" ] || [ "$ONLY" = generator ]; then
  "$bin" gan train --dataset embedded --epochs 18 --tstr-every 2 --quiet \
    --out "$scratch/generator/cnn-workbench/runs/gan-fashion-mnist"
fi
XDO="sleep 5;mousemove 45 97 click 1;mousemove 82 296 click 1;mousemove 335 605 click 1" \
  CLICK="393 209" shoot generator 90 --dataset embedded
# Not a window: the "more data" lesson's runs as a sweep with one more size, drawn as sweep.png
# (about 4 minutes on 2 cores, most of it ResNet-small on 4,000 images).
if [ -z "${ONLY:-}" ] || [ "$ONLY" = sweep-learning-curve ]; then
  "$bin" train --lesson more-data --lesson-run 1 --quiet --out "$scratch/more-data-base"
  "$bin" sweep --config "$scratch/more-data-base/config.toml" \
    --grid dataset.train_size.count=60,250,1000,4000 --grid model.kind=simple-cnn,resnet-small \
    --local 2 --quiet --out "$scratch/more-data-sweep"
  cp "$scratch/more-data-sweep/sweep.png" screenshots/sweep-learning-curve.png
  echo "wrote screenshots/sweep-learning-curve.png"
fi
