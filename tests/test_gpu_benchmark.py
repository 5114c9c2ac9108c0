"""``benchmarks/gpu.sh`` cannot run here (no GPU); what can be tested is that it stops loudly without CUDA."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_gpu_benchmark_exits_with_one_line_when_cuda_is_missing(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable}
    # The timeout only guards against a hang (the failure mode the script must not have).
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu.sh"), "--out", str(tmp_path / "gpu")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("gpu.sh: no CUDA device") and lines[0].endswith("nothing was measured")
    assert list(tmp_path.iterdir()) == []


def test_bf16_peaks_match_the_device_names_cuda_reports():
    spec = importlib.util.spec_from_file_location("gpu_run", REPO / "benchmarks" / "gpu" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    assert run.bf16_peak_tflops("NVIDIA H200", None) == 989.0
    assert run.bf16_peak_tflops("NVIDIA H100 PCIe", None) == 756.0
    assert run.bf16_peak_tflops("NVIDIA H100 80GB HBM3", None) == 989.0
    assert run.bf16_peak_tflops("NVIDIA A100-SXM4-80GB", None) == 312.0
    assert run.bf16_peak_tflops("NVIDIA L40", None) == 181.0
    assert run.bf16_peak_tflops("Tesla T4", None) is None
    assert run.bf16_peak_tflops("Tesla T4", 65.0) == 65.0
