"""LPIPS through the ``lpips`` package, with its backbone weights found offline.

The package ships only its small linear heads; the AlexNet/VGG backbones come from torchvision's
download cache. Here they are read from ``weights_dir`` or ``$TORCH_HOME/hub/checkpoints`` (never
downloaded) with a weights-only load. ``random_backbone=True`` (tests) keeps untrained backbones and is
marked in ``info()``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from genae.metrics._files import find_weights_file, sha256_file

#: torchvision's file names for the ImageNet backbones LPIPS v0.1 was calibrated on.
BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}
BACKBONE_URL = "https://download.pytorch.org/models/"
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


class LPIPS:
    """Learned perceptual distance between image batches in ``[-1, 1]`` (``net="alex"`` or ``"vgg"``)."""

    def __init__(
        self,
        net: str = "alex",
        device: torch.device | str = "cpu",
        weights_dir: str | Path | None = None,
        random_backbone: bool = False,
    ) -> None:
        if net not in BACKBONE_FILES:
            raise ValueError(f"net: expected one of {sorted(BACKBONE_FILES)}, got {net!r}")
        import lpips

        self.net_name = net
        self.backbone_path = None if random_backbone else find_weights_file(
            BACKBONE_FILES[net], weights_dir, f"LPIPS ({net})", BACKBONE_URL + BACKBONE_FILES[net]
        )
        with warnings.catch_warnings():  # torchvision's deprecation note about `pretrained=False`
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False)
        if self.backbone_path is not None:
            _load_backbone(model.net, torch.load(self.backbone_path, map_location="cpu", weights_only=True))
        self.model = model.to(device).eval().requires_grad_(False)
        self.device = torch.device(device)

    @property
    def label(self) -> str:
        return f"lpips-{self.net_name}-v0.1" + (" RANDOM-BACKBONE" if self.backbone_path is None else "")

    def info(self) -> dict[str, Any]:
        return {
            "lpips": self.label,
            "backbone_file": self.backbone_path.name if self.backbone_path else None,
            "backbone_sha256": sha256_file(self.backbone_path) if self.backbone_path else None,
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
        return self.model(a, b, normalize=False).flatten()

    def _prepare(self, images: Tensor) -> Tensor:
        images = images.to(self.device, torch.float32)
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        if min(images.shape[-2:]) < MIN_SIZE:
            scale = MIN_SIZE / min(images.shape[-2:])
            size = (round(images.shape[-2] * scale), round(images.shape[-1] * scale))
            images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
        return images


def _load_backbone(network: torch.nn.Module, state: dict[str, Tensor]) -> None:
    """Copy torchvision's ``features.<i>.*`` tensors into lpips' slices, which hold those same layers."""
    slice_of = {
        index: slice_name for slice_name, part in network.named_children() for index, _ in part.named_children()
    }
    mapped = {}
    for key, tensor in state.items():
        prefix, index, param = (key.split(".", 2) + ["", ""])[:3]
        if prefix == "features" and index in slice_of:
            mapped[f"{slice_of[index]}.{index}.{param}"] = tensor
    missing, unexpected = network.load_state_dict(mapped, strict=False)
    if missing or unexpected:
        raise ValueError(f"backbone weights do not fit the LPIPS network: missing {missing}, unexpected {unexpected}")
