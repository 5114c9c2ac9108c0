"""Throughput (images/s) and peak memory of encoding and decoding.

Peak memory is the rise above the memory in use when the measurement starts: on CUDA from
``torch.cuda.max_memory_allocated``; on CPU from the process's peak resident set (Linux ``VmHWM``, reset
through ``/proc/self/clear_refs`` after handing freed heap pages back with glibc's ``malloc_trim``; elsewhere
``ru_maxrss``, which only shows a rise above earlier peaks).
"""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genae.precision import PRECISIONS, resolve_precision

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakMemory:
    """Context manager measuring the peak memory rise (bytes) of the block on ``device``."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.peak_bytes = 0
        self.method = ""

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            self.method = "torch.cuda.max_memory_allocated"
        elif _reset_peak_rss():
            self._start = (_status_kib("VmRSS") or 0) * 1024
            self.method = "peak RSS (VmHWM after clear_refs)"
        else:
            self._start = _maxrss_bytes()
            self.method = "ru_maxrss rise (a lower bound)"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self.method.startswith("peak RSS"):
            peak = (_status_kib("VmHWM") or 0) * 1024
        else:
            peak = _maxrss_bytes()
        self.peak_bytes = max(0, peak - self._start)


def _release_free_heap() -> None:
    """Return freed heap pages to the OS so that new allocations show up in the resident set again."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: measure without trimming
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_peak_rss() -> bool:
    _release_free_heap()
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _maxrss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def _timed(fn: Callable[[Tensor], Tensor], inputs: list[Tensor], device: torch.device) -> tuple[float, int, str]:
    fn(inputs[0])  # warm-up: lazy initialisation and allocator growth are not throughput
    with PeakMemory(device) as memory:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for batch in inputs:
            fn(batch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    return sum(b.shape[0] for b in inputs) / seconds, memory.peak_bytes, memory.method


@torch.no_grad()
def measure_speed(model: Any, images: Tensor, batch_size: int = 64, precision: str = "fp32") -> dict[str, Any]:
    """Encode and decode ``images`` (on the model's device) in batches; images/s and peak memory rise.

    ``precision`` is the autocast dtype (see :func:`genae.precision.resolve_precision`): ``"bf16"`` is
    refused where the device has no bf16 units (it would measure an emulation), ``"auto"`` picks it only
    where it is native.
    """
    if images.dim() != 4 or images.shape[0] < 1:
        raise ValueError(f"images: expected a non-empty (N, C, H, W) batch, got {tuple(images.shape)}")
    device = model.device
    precision, reason = resolve_precision(precision, device)
    dtype = PRECISIONS[precision]
    batches = [b.to(device) for b in images.split(batch_size)]
    with contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype):
        latents = [model.encode(b) for b in batches]
        encode_rate, encode_peak, method = _timed(model.encode, batches, device)
        decode_rate, decode_peak, _ = _timed(model.decode, latents, device)
    return {
        "encode_images_per_s": encode_rate,
        "decode_images_per_s": decode_rate,
        "encode_peak_memory_mb": encode_peak / 2**20,
        "decode_peak_memory_mb": decode_peak / 2**20,
        "memory_method": method,
        "batch_size": batch_size,
        "n": int(images.shape[0]),
        "device": str(device),
        "precision": precision,
        "precision_reason": reason,
    }
