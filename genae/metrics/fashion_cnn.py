"""The small Fashion-MNIST classifier whose penultimate layer is the ``fashion-mnist-features`` extractor.

Inception features mean little on 28-px grey clothing and its weights cannot always be had offline, so
Fashion-MNIST-scale data gets a domain network instead. Scores computed with it are *domain* FID/KID and
are always labelled with this extractor's name. Training script: ``benchmarks/fashion_mnist_features/``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: The side length every input is resized to before the network sees it.
INPUT_SIZE = 32
FEATURE_DIM = 256
NUM_CLASSES = 10


def to_network_input(images: Tensor) -> Tensor:
    """Float images in ``[-1, 1]`` of any size and 1 or 3 channels -> ``(B, 1, 32, 32)``.

    RGB is averaged to grey (the network was trained on grey clothing); other sizes are resized
    bilinearly with antialiasing, the same rule used on the 28-px training images.
    """
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images: expected (B, 1 or 3, H, W), got {tuple(images.shape)}")
    if images.shape[1] == 3:
        images = images.mean(dim=1, keepdim=True)
    if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        images = F.interpolate(images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                               antialias=True)
    return images


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class FashionMNISTClassifier(nn.Module):
    """Three conv blocks (32 -> 16 -> 8 -> 4 px) and a 256-unit hidden layer that serves as the features."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_block(1, 32), _conv_block(32, 64), _conv_block(64, 128), nn.Flatten())
        self.hidden = nn.Linear(128 * 4 * 4, FEATURE_DIM)
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def features(self, x: Tensor) -> Tensor:
        """``(B, 256)`` non-negative features of images already passed through :func:`to_network_input`."""
        return F.relu(self.hidden(self.body(x)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.features(x)))


def load_classifier(path: str, device: torch.device | str = "cpu") -> FashionMNISTClassifier:
    """Build the network and load a safetensors state dict, in eval mode."""
    from safetensors.torch import load_file

    model = FashionMNISTClassifier()
    model.load_state_dict(load_file(path, device=str(device)))
    return model.to(device).eval()
