"""Loss arithmetic in at least float32, whatever precision the networks ran in.

Under bfloat16/float16 autocast the networks' outputs are half-width floats. Batch statistics, logs of
variances and means over many elements lose most of their digits at 8 (bf16) or 11 (fp16) mantissa bits,
so every genae loss upcasts its inputs first; float32 and float64 inputs pass through unchanged.
"""

from __future__ import annotations

import torch
from torch import Tensor

HALF_DTYPES = (torch.float16, torch.bfloat16)


def full_precision(tensor: Tensor) -> Tensor:
    """``tensor`` as float32 if it is a half-width float, else unchanged (differentiable)."""
    return tensor.float() if tensor.dtype in HALF_DTYPES else tensor
