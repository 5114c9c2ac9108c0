"""LPIPS v0.1 (Zhang et al. 2018): an ImageNet backbone's normalised features, weighted by learned 1x1 heads.

genae holds the small network itself; the weights are the published ones: torchvision's AlexNet/VGG-16
backbones and the authors' linear heads, downloaded on first use with their sha256 checked (table in
:mod:`genae.metrics._files`, docs/metrics.md). ``random_backbone=True`` (tests) downloads nothing: an
untrained backbone and heads that weight every channel equally, marked in the label and ``info()``.
Distances match the ``lpips`` package's with the same weights (tests/test_metrics_networks.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genae.metrics._files import sha256_file, weights_file

#: Backbone key in the weights table, and the indices in its ``features`` whose outputs (ReLUs) are compared.
BACKBONES = {"alex": ("alexnet", (1, 4, 7, 9, 11)), "vgg": ("vgg16", (3, 8, 15, 22, 29))}
#: The input normalisation LPIPS v0.1 was trained with (applied to images in [-1, 1]).
SHIFT, SCALE = (-0.030, -0.088, -0.188), (0.458, 0.448, 0.450)
#: AlexNet's stride-4 stem needs about 31 px; smaller images are upsampled to this size first.
MIN_SIZE = 32

Crop = tuple[int, int, int, int]  # top, left, height, width


def crop_images(images: Tensor, crop: Crop | None) -> Tensor:
    """Cut ``(top, left, height, width)`` out of a batch (the paper's face crop, for instance)."""
    if crop is None:
        return images
    if len(crop) != 4 or any(not isinstance(v, int) or v < 0 for v in crop):
        raise ValueError(f"crop: expected (top, left, height, width) non-negative ints, got {crop!r}")
    top, left, height, width = crop
    if height < 1 or width < 1 or top + height > images.shape[-2] or left + width > images.shape[-1]:
        raise ValueError(f"crop {crop!r} does not fit images of size {tuple(images.shape[-2:])}")
    return images[..., top : top + height, left : left + width]


class LPIPSNetwork(nn.Module):
    """Backbone taps -> unit-normalised channels -> squared difference -> 1x1 head -> spatial mean, summed."""

    def __init__(self, net: str) -> None:
        super().__init__()
        import torchvision

        backbone, self.taps = BACKBONES[net][0], BACKBONES[net][1]
        self.features = getattr(torchvision.models, backbone)(weights=None).features[: self.taps[-1] + 1]
        channels = [self.features[i - 1].out_channels for i in self.taps]
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in channels)
        for head, c in zip(self.heads, channels):
            nn.init.constant_(head.weight, 1.0 / c)  # until learned heads are loaded: every channel alike
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1), persistent=False)

    def tapped(self, images: Tensor) -> list[Tensor]:
        x, outputs = (images - self.shift) / self.scale, []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x / (x.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return outputs

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        pairs = zip(self.tapped(a), self.tapped(b))
        return sum(head((fa - fb) ** 2).mean((2, 3)) for head, (fa, fb) in zip(self.heads, pairs)).flatten()

    def load_published(self, backbone: Path, heads: Path) -> None:
        """torchvision's ``features.*`` tensors and the authors' ``lin<i>.model.1.weight`` heads."""
        for path, load in ((backbone, self._load_backbone), (heads, self._load_heads)):
            try:
                load(torch.load(path, map_location="cpu", weights_only=True))
            except (KeyError, RuntimeError, ValueError) as error:
                first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                raise ValueError(f"{path}: does not fit this LPIPS network ({first})") from error

    def _load_backbone(self, state: dict[str, Tensor]) -> None:
        self.features.load_state_dict({k[len("features."):]: v for k, v in state.items()
                                       if k.startswith("features.") and int(k.split(".")[1]) <= self.taps[-1]})

    def _load_heads(self, state: dict[str, Tensor]) -> None:
        self.heads.load_state_dict({f"{i}.weight": state[f"lin{i}.model.1.weight"] for i in range(len(self.heads))})


class LPIPS:
    """Learned perceptual distance between image batches in ``[-1, 1]`` (``net="alex"`` or ``"vgg"``)."""

    def __init__(
        self,
        net: str = "alex",
        device: torch.device | str = "cpu",
        weights_dir: str | Path | None = None,
        random_backbone: bool = False,
    ) -> None:
        if net not in BACKBONES:
            raise ValueError(f"net: expected one of {sorted(BACKBONES)}, got {net!r}")
        self.net_name = net
        self.model = LPIPSNetwork(net)
        self.backbone_path = self.heads_path = None
        if not random_backbone:
            purpose = f"LPIPS ({net})"
            self.backbone_path = weights_file(BACKBONES[net][0], weights_dir, purpose)
            self.heads_path = weights_file(f"lpips-{net}-v0.1", weights_dir, purpose)
            self.model.load_published(self.backbone_path, self.heads_path)
        self.model = self.model.to(device).eval().requires_grad_(False)
        self.device = torch.device(device)

    @property
    def label(self) -> str:
        return f"lpips-{self.net_name}-v0.1" + (" RANDOM-BACKBONE" if self.backbone_path is None else "")

    def info(self) -> dict[str, Any]:
        return {
            "lpips": self.label,
            "backbone_file": self.backbone_path.name if self.backbone_path else None,
            "backbone_sha256": sha256_file(self.backbone_path) if self.backbone_path else None,
            "heads_sha256": sha256_file(self.heads_path) if self.heads_path else None,
            "random_backbone": self.backbone_path is None,
            "input_rule": f"[-1, 1], grey repeated to RGB, bilinear upsample to {MIN_SIZE} px if smaller",
        }

    def __call__(self, a: Tensor, b: Tensor, crop: Crop | None = None) -> Tensor:
        """Per-pair distances ``(B,)`` in float32; gradients flow when the inputs require them."""
        for images, name in ((a, "a"), (b, "b")):
            if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] not in (1, 3):
                raise ValueError(f"{name}: expected a (B, 1 or 3, H, W) tensor in [-1, 1]")
        if a.shape != b.shape:
            raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
        a, b = (self._prepare(crop_images(x, crop)) for x in (a, b))
        return self.model(a, b)

    def _prepare(self, images: Tensor) -> Tensor:
        images = images.to(self.device, torch.float32)
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if min(images.shape[-2:]) < MIN_SIZE:
            scale = MIN_SIZE / min(images.shape[-2:])
            size = (round(images.shape[-2] * scale), round(images.shape[-1] * scale))
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
        return images

