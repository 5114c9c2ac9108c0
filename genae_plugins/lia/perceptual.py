"""Perceptual feature networks for LIA's stage-2 loss ``β₁·‖ε(x) − ε(x̃)‖²``, chosen by name.

- ``"vgg16"`` (the paper): VGG-16 up to conv4_3 (after its ReLU, as Keras' ``block4_conv3`` the authors
  used), torchvision's ImageNet weights, downloaded on first use with their sha256 checked
  (``genae.metrics._files``; a ``weights_dir`` holding ``vgg16-397923af.pth`` overrides).
- ``"fashion-mnist"``: the last conv block (128×4×4) of genae's shipped Fashion-MNIST classifier, a
  perceptual space for Fashion-MNIST-like grey images only.

Each network is frozen and maps images in ``[-1, 1]`` to feature maps with gradients to the input.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

#: How a user names a folder holding the VGG file: a recipe option (``genae train`` has no ``--weights-dir``).
WEIGHTS_DIR_SPELLING = "--option weights_dir=FOLDER to genae train, or weights_dir= to the lia recipe in Python"
#: torchvision's ``vgg16().features[:23]`` ends with the ReLU after conv4_3.
VGG16_CONV4_3_END = 23
#: Default β₁ per network. VGG: the paper's 5e-5 (for the authors' feature scale). Fashion-MNIST: 1.0, so the
#: term is about half the pixel MSE (measured on 64 test images: feature MSE 0.26 between unrelated images,
#: pixel MSE 0.50).
DEFAULT_WEIGHTS = {"vgg16": 5e-5, "fashion-mnist": 1.0}


class VGG16Conv43(nn.Module):
    def __init__(self, weights_dir: str | Path | None = None) -> None:
        super().__init__()
        from torchvision.models import vgg16

        from genae.metrics._files import weights_file

        path = weights_file("vgg16", weights_dir, "LIA's perceptual loss (perceptual='vgg16')",
                            pointer=WEIGHTS_DIR_SPELLING)
        self.features = vgg16(weights=None).features[:VGG16_CONV4_3_END]
        state = torch.load(path, map_location="cpu", weights_only=True)
        self.features.load_state_dict({k[len("features."):]: v for k, v in state.items() if k.startswith("features.")
                                       and int(k.split(".")[1]) < VGG16_CONV4_3_END})
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.features(((images + 1) / 2 - self.mean) / self.std)


class FashionConvFeatures(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        from genae.metrics import get_extractor

        self.network = get_extractor("fashion-mnist-features").network

    def forward(self, images: Tensor) -> Tensor:
        from genae.metrics.fashion_cnn import to_network_input

        # float32 resize: the antialiased bilinear kernel has no bf16 implementation (bf16 autocast runs)
        return self.network.body[:-1](to_network_input(images.float()))  # body ends with Flatten


def build_perceptual(name: str, device: torch.device | str = "cpu", weights_dir: str | Path | None = None) -> nn.Module:
    """The frozen feature network ``name`` (one of :data:`DEFAULT_WEIGHTS`) on ``device``."""
    if name == "vgg16":
        network: nn.Module = VGG16Conv43(weights_dir)
    elif name == "fashion-mnist":
        network = FashionConvFeatures()
    else:
        raise ValueError(f"perceptual: expected one of {sorted(DEFAULT_WEIGHTS)}, got {name!r}")
    return network.to(device).eval().requires_grad_(False)
