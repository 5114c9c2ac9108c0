#!/bin/sh
# genae bench over the five bundled baselines and the bundled automodulator, on the Fashion-MNIST test split.
# LPIPS and PPL need torchvision's AlexNet/VGG weights, which this machine cannot download; the scale
# disentanglement metric is left out for time (it trains a factor classifier). Copies the report to
# benchmarks/results/baselines-bench.{md,json}.
set -eu
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/baselines-bench}
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} .venv/bin/genae bench \
  --models vae,vae-adain,wae,wae-adain,pioneer,automodulator --data fashion-mnist -n "${N:-1000}" \
  --metrics fid,kid,swd,mse,psnr,ssim,mix-fid,speed --quiet --out "$OUT"
cp "$OUT/results.md" benchmarks/results/baselines-bench.md
cp "$OUT/results.json" benchmarks/results/baselines-bench.json
