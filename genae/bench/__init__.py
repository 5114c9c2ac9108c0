"""The benchmark runner: ``run_bench`` (Python) and ``bench_command`` (mounted as ``genae bench``)."""

from __future__ import annotations

from genae.bench.runner import METRICS, parse_metrics, resolve_model_name, run_bench

__all__ = ["METRICS", "parse_metrics", "resolve_model_name", "run_bench"]
