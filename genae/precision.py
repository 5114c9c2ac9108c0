"""Precision: which autocast dtype a device runs natively, and loss arithmetic in at least float32.

**Native bf16.** bfloat16 autocast halves the time of convolutions only where the hardware has bf16 units:
CPUs with AVX-512-BF16 or AMX-BF16 (oneDNN's bf16 kernels), CUDA GPUs of compute capability 8.0 and up.
Elsewhere PyTorch still runs it, emulated: on an AVX2-only CPU one 512→512 3×3 convolution took 3.5 s under
bf16 autocast against 0.14 s in float32 (25×). So :func:`resolve_precision` refuses ``"bf16"`` where it is
not native and ``"auto"`` falls back to float32 there, each with one line saying why.

**Loss arithmetic.** Under bfloat16/float16 autocast the networks' outputs are half-width floats. Batch
statistics, logs of variances and means over many elements lose most of their digits at 8 (bf16) or 11
(fp16) mantissa bits, so every genae loss upcasts its inputs first (:func:`full_precision`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

HALF_DTYPES = (torch.float16, torch.bfloat16)
#: ``precision`` names and their autocast dtype (None: plain float32).
PRECISIONS: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
#: What callers may ask for: a precision or ``"auto"`` (the fastest that keeps quality on the device).
PRECISION_CHOICES = ("auto", *PRECISIONS)
#: CPU flags (``/proc/cpuinfo``) of bf16 arithmetic units.
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CUDA_BF16_CAPABILITY = (8, 0)  # Ampere: bf16 tensor cores


def full_precision(tensor: Tensor) -> Tensor:
    """``tensor`` as float32 if it is a half-width float, else unchanged (differentiable)."""
    return tensor.float() if tensor.dtype in HALF_DTYPES else tensor


@dataclass(frozen=True)
class Bf16Support:
    """Whether ``device`` runs bf16 natively, and the facts that decided it (one line)."""

    native: bool
    reason: str


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` (empty where there is none, e.g. macOS)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def onednn_bf16_supported() -> bool:
    """oneDNN's own answer (it honours ``ONEDNN_MAX_CPU_ISA``, which can forbid its bf16 kernels)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def bf16_support(device: torch.device | str) -> Bf16Support:
    """Does ``device`` have bf16 arithmetic units that PyTorch's kernels use?

    CPU: a bf16 flag in ``/proc/cpuinfo`` *and* oneDNN allowed to use it (``ONEDNN_MAX_CPU_ISA=AVX2``, as
    in genae's emulated-AVX2 test pass, turns it off). ATen's own vector level
    (``torch.backends.cpu.get_cpu_capability()``, ``ATEN_CPU_CAPABILITY``) is reported but does not decide:
    convolutions and matmuls, where bf16 pays, run in oneDNN. CUDA: compute capability >= 8.0.
    """
    device = torch.device(device)
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        name = torch.cuda.get_device_name(device)
        if (major, minor) >= CUDA_BF16_CAPABILITY:
            return Bf16Support(True, f"{name} (compute capability {major}.{minor}) has bf16 tensor cores")
        return Bf16Support(False, f"{name} has compute capability {major}.{minor}; bf16 tensor cores need 8.0+")
    if device.type != "cpu":
        return Bf16Support(False, f"genae knows no bf16 units on {device.type} devices")
    flags = sorted(CPU_BF16_FLAGS & cpu_flags())
    aten = torch.backends.cpu.get_cpu_capability()
    if not flags:
        return Bf16Support(False, f"this CPU has no bf16 units (no {' or '.join(sorted(CPU_BF16_FLAGS))} flag; ATen {aten})")
    if not onednn_bf16_supported():
        isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "unset")
        return Bf16Support(False, f"the CPU has {'/'.join(flags)} but oneDNN may not use it (ONEDNN_MAX_CPU_ISA={isa})")
    return Bf16Support(True, f"the CPU has {'/'.join(flags)} and oneDNN uses it (ATen {aten})")


def resolve_precision(precision: str, device: torch.device | str) -> tuple[str, str]:
    """``(precision to run, one line why)`` for a requested ``precision`` on ``device``.

    ``"auto"``: bf16 where it is native, else fp32 (fp16 is never chosen: it needs loss scaling and can
    overflow). ``"bf16"`` where it is not native and ``"fp16"`` off CUDA raise ``ValueError`` with the reason.
    """
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision: expected one of {list(PRECISION_CHOICES)}, got {precision!r}")
    device = torch.device(device)
    if precision == "fp32":
        return "fp32", "requested"
    if precision == "fp16":
        if device.type != "cuda":
            raise ValueError(f"precision='fp16' needs a CUDA device (use 'bf16' or 'auto' on CPU), got device {device}")
        return "fp16", "requested"
    support = bf16_support(device)
    if precision == "auto":
        chosen = "bf16" if support.native else "fp32"
        return chosen, f"auto chose {chosen} on {device.type}: {support.reason}"
    if not support.native:
        raise ValueError(
            f"precision='bf16' refused on {device}: {support.reason}, so bf16 would be emulated "
            "(measured up to 25x slower than fp32); use 'fp32', or 'auto' to pick bf16 only where it is native"
        )
    return "bf16", support.reason
