"""FID's Inception network: the TensorFlow 2015-12-05 Inception v3 graph in PyTorch, as FID's reference runs it.

FID/KID are comparable across papers only when computed with this exact network and input path, which
differs from torchvision's Inception v3: images are uint8 RGB resized to 299x299 with TensorFlow 1's
bilinear rule (no antialias, no half-pixel offset) and scaled with (x - 128) / 128; batch norm uses
eps 1e-3; average pools ignore the zero padding; the last block pools its side branch with a max. The
module names match the published PyTorch port of the weights (torch-fidelity's and pytorch-fid's file),
which therefore loads as it is; with the same weights the features equal torch-fidelity's bit for bit on
CPU (tests/test_metrics_inception.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

SIZE = 299
#: Branches of a block: (pool applied first or None, conv names in sequence, conv names applied side by side
#: to the sequence's output and concatenated).
Branch = tuple[str | None, tuple[str, ...], tuple[str, ...]]
POOLS: dict[str, Callable[[Tensor], Tensor]] = {
    "avg": lambda x: F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False),
    "max": lambda x: F.max_pool2d(x, 3, stride=1, padding=1),
    "max/2": lambda x: F.max_pool2d(x, 3, stride=2),
}


class ConvBN(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), ReLU: the graph's only layer type."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


class Mixed(nn.Module):
    """An Inception block: parallel branches of named :class:`ConvBN` layers, concatenated along channels."""

    def __init__(self, layers: dict[str, tuple], branches: list[Branch]) -> None:
        super().__init__()
        for name, args in layers.items():
            self.add_module(name, ConvBN(*args))
        self.branches = branches

    def forward(self, x: Tensor) -> Tensor:
        outputs = []
        for pool, sequence, side_by_side in self.branches:
            y = POOLS[pool](x) if pool else x
            for name in sequence:
                y = self.get_submodule(name)(y)
            outputs.append(torch.cat([self.get_submodule(n)(y) for n in side_by_side], 1) if side_by_side else y)
        return torch.cat(outputs, 1)


def block_a(cin: int, pool_features: int) -> Mixed:
    return Mixed({"branch1x1": (cin, 64, 1), "branch5x5_1": (cin, 48, 1), "branch5x5_2": (48, 64, 5, 1, 2),
                  "branch3x3dbl_1": (cin, 64, 1), "branch3x3dbl_2": (64, 96, 3, 1, 1),
                  "branch3x3dbl_3": (96, 96, 3, 1, 1), "branch_pool": (cin, pool_features, 1)},
                 [(None, ("branch1x1",), ()), (None, ("branch5x5_1", "branch5x5_2"), ()),
                  (None, ("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"), ()), ("avg", ("branch_pool",), ())])


def block_b(cin: int) -> Mixed:
    return Mixed({"branch3x3": (cin, 384, 3, 2), "branch3x3dbl_1": (cin, 64, 1),
                  "branch3x3dbl_2": (64, 96, 3, 1, 1), "branch3x3dbl_3": (96, 96, 3, 2)},
                 [(None, ("branch3x3",), ()), (None, ("branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"), ()),
                  ("max/2", (), ())])


def block_c(cin: int, c7: int) -> Mixed:
    row, col = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))
    return Mixed({"branch1x1": (cin, 192, 1), "branch7x7_1": (cin, c7, 1), "branch7x7_2": (c7, c7, *row),
                  "branch7x7_3": (c7, 192, *col), "branch7x7dbl_1": (cin, c7, 1), "branch7x7dbl_2": (c7, c7, *col),
                  "branch7x7dbl_3": (c7, c7, *row), "branch7x7dbl_4": (c7, c7, *col),
                  "branch7x7dbl_5": (c7, 192, *row), "branch_pool": (cin, 192, 1)},
                 [(None, ("branch1x1",), ()), (None, ("branch7x7_1", "branch7x7_2", "branch7x7_3"), ()),
                  (None, tuple(f"branch7x7dbl_{i}" for i in range(1, 6)), ()), ("avg", ("branch_pool",), ())])


def block_d(cin: int) -> Mixed:
    return Mixed({"branch3x3_1": (cin, 192, 1), "branch3x3_2": (192, 320, 3, 2), "branch7x7x3_1": (cin, 192, 1),
                  "branch7x7x3_2": (192, 192, (1, 7), 1, (0, 3)), "branch7x7x3_3": (192, 192, (7, 1), 1, (3, 0)),
                  "branch7x7x3_4": (192, 192, 3, 2)},
                 [(None, ("branch3x3_1", "branch3x3_2"), ()),
                  (None, tuple(f"branch7x7x3_{i}" for i in range(1, 5)), ()), ("max/2", (), ())])


def block_e(cin: int, pool: str) -> Mixed:
    row, col = ((1, 3), 1, (0, 1)), ((3, 1), 1, (1, 0))
    return Mixed({"branch1x1": (cin, 320, 1), "branch3x3_1": (cin, 384, 1), "branch3x3_2a": (384, 384, *row),
                  "branch3x3_2b": (384, 384, *col), "branch3x3dbl_1": (cin, 448, 1),
                  "branch3x3dbl_2": (448, 384, 3, 1, 1), "branch3x3dbl_3a": (384, 384, *row),
                  "branch3x3dbl_3b": (384, 384, *col), "branch_pool": (cin, 192, 1)},
                 [(None, ("branch1x1",), ()), (None, ("branch3x3_1",), ("branch3x3_2a", "branch3x3_2b")),
                  (None, ("branch3x3dbl_1", "branch3x3dbl_2"), ("branch3x3dbl_3a", "branch3x3dbl_3b")),
                  (pool, ("branch_pool",), ())])


def resize_like_tf1(images: Tensor, size: int) -> Tensor:
    """TensorFlow 1's ``resize_bilinear`` (align_corners=False): source = destination * (in / out), no offset."""

    def axis(length: int) -> tuple[Tensor, Tensor, Tensor]:
        source = torch.arange(size, dtype=images.dtype, device=images.device) * torch.tensor(length / size)
        low = source.long()
        return low, (low + 1).clamp_max(length - 1), source - low.to(source.dtype)

    (y0, y1, dy), (x0, x1, dx) = axis(images.shape[-2]), axis(images.shape[-1])
    rows0, rows1 = images[:, :, y0], images[:, :, y1]
    top = rows0[..., x0] + (rows0[..., x1] - rows0[..., x0]) * dx
    bottom = rows1[..., x0] + (rows1[..., x1] - rows1[..., x0]) * dx
    return top + (bottom - top) * dy[:, None]


class FIDInceptionV3(nn.Module):
    """uint8 RGB images ``(B, 3, H, W)`` of any size -> the 2048-d pool features FID and KID use."""

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = block_a(192, 32), block_a(256, 64), block_a(288, 64)
        self.Mixed_6a = block_b(288)
        self.Mixed_6b, self.Mixed_6c = block_c(768, 128), block_c(768, 160)
        self.Mixed_6d, self.Mixed_6e = block_c(768, 160), block_c(768, 192)
        self.Mixed_7a = block_d(768)
        self.Mixed_7b, self.Mixed_7c = block_e(1280, "avg"), block_e(2048, "max")

    def forward(self, images: Tensor) -> Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images: expected uint8 (B, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        x = (resize_like_tf1(images.float(), SIZE) - 128) / 128
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(F.max_pool2d(x, 3, stride=2)))
        x = F.max_pool2d(x, 3, stride=2)
        for block in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = self.get_submodule(f"Mixed_{block}")(x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def load_fid_inception(path: str | Path) -> FIDInceptionV3:
    """The network with the published weights file at ``path`` (tensors only; its 1008-way classifier unused)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    network = FIDInceptionV3()
    features = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = network.load_state_dict(features, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: not FID Inception weights (missing {missing[:3]}, unexpected {unexpected[:3]})")
    return network
