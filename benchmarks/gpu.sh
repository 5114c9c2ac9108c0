#!/usr/bin/env bash
# One command on a CUDA machine: automodulator train + encode/decode at 64/256 px in fp32/bf16 (+ compile),
# bench FID on 10k samples, a 2-GPU DDP step when there are 2 GPUs -> benchmarks/results/gpu.{md,json}.
# Exits 2 with one line on stderr when there is no CUDA device. Options: see benchmarks/gpu/run.py --help.
# Interpreter: $PYTHON, else the repository's .venv, else python on PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python}
if [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ]; then python=.venv/bin/python; fi
exec "$python" benchmarks/gpu/run.py "$@"
