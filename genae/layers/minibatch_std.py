"""Minibatch standard deviation (Karras et al., PGGAN/StyleGAN): lets a discriminator see sample diversity."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MinibatchStdDev(nn.Module):
    """Append one feature map: the std over groups of ``group_size`` samples, averaged over C×H×W.

    Groups are formed as in StyleGAN (sample ``i`` is in group ``i % (B / G)``); the group shrinks to the
    largest divisor of the batch that is at most ``group_size``, so any batch size works.
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        if not isinstance(group_size, int) or isinstance(group_size, bool) or group_size < 1:
            raise ValueError(f"group_size: expected a positive int, got {group_size!r}")
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        g = next(size for size in range(min(self.group_size, b), 0, -1) if b % size == 0)
        y = x.float().reshape(g, b // g, c, h, w)
        std = torch.sqrt(y.var(dim=0, correction=0) + 1e-8).mean(dim=(1, 2, 3))  # (B / G,)
        feature = std.to(x.dtype).repeat(g)[:, None, None, None].expand(b, 1, h, w)
        return torch.cat([x, feature], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}"
