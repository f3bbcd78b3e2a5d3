#!/usr/bin/env bash
# Trains the bundled character model course_kit/data/files/grimms_lstm128.keras: the Part 2
# reference settings (batch 64, windows of 30 characters, Adam 2e-3 decayed by 0.96 every
# 5000 steps, gradient norm clipped at 5) with 2 LSTM layers of 128 units, 6000 steps, on JAX.
# Afterwards it refreshes course_kit/data/files/SHA256SUMS.
set -euo pipefail
out="${1:-runs/grimms}"
KERAS_BACKEND="${KERAS_BACKEND:-jax}" python -m course_kit.text train --book grimms --out "$out" \
    --steps 6000 --eval-every 250 --units 128 --embedding-dim 64 --seed 0 --no-progress \
    --export course_kit/data/files/grimms_lstm128.keras
(cd course_kit/data/files && sha256sum -- *.xz *.npz *.keras > SHA256SUMS)
