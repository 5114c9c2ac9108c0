"""Feature extractors for FID/KID, looked up by name.

Every extractor reports what it is (``info()``: name, feature dim, weights file hash, whether its
weights are random), so a score can never be shown without the network that produced it. Random
weights exist only to exercise code paths in tests; reports mark them loudly.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from genae.metrics._files import sha256_file, weights_file

FASHION_WEIGHTS = "fashion_mnist_features.safetensors"


class FeatureExtractor(abc.ABC):
    """A frozen network mapping images in ``[-1, 1]`` to ``(B, dim)`` float features."""

    name: str
    dim: int
    input_rule: str = ""
    #: True when the weights ship inside genae (always available, so never replaced by random ones).
    shipped_weights: bool = False

    def __init__(self, network: nn.Module, weights_path: Path | None, device: torch.device | str) -> None:
        self.network = network.to(device).eval().requires_grad_(False)
        self.device = torch.device(device)
        self.weights_path = weights_path

    @property
    def random_init(self) -> bool:
        return self.weights_path is None

    @property
    def label(self) -> str:
        """How scores computed with this extractor are named in reports, e.g. ``fashion-mnist-features``."""
        return self.name + (" RANDOM-INIT" if self.random_init else "")

    def info(self) -> dict[str, Any]:
        return {
            "extractor": self.name,
            "feature_dim": self.dim,
            "weights_file": self.weights_path.name if self.weights_path else None,
            "weights_sha256": sha256_file(self.weights_path) if self.weights_path else None,
            "random_init": self.random_init,
            "input_rule": self.input_rule,
        }

    def check_images(self, images: Tensor) -> None:
        if not isinstance(images, Tensor) or images.dim() != 4 or images.shape[1] not in (1, 3):
            shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
            raise ValueError(f"images: expected a (B, 1 or 3, H, W) tensor in [-1, 1], got {shape}")
        if not images.is_floating_point():
            raise TypeError(f"images: expected floating point values in [-1, 1], got {images.dtype}")

    @torch.no_grad()
    def __call__(self, images: Tensor) -> Tensor:
        self.check_images(images)
        return self._features(images.to(self.device)).float()

    @abc.abstractmethod
    def _features(self, images: Tensor) -> Tensor:
        """Features ``(B, dim)`` of a checked batch already on ``self.device``."""

    @torch.no_grad()
    def extract(self, batches: Iterable[Tensor]) -> Tensor:
        """Concatenate features of an iterable of image batches (kept on CPU)."""
        return torch.cat([self(batch).cpu() for batch in batches])


class FashionMNISTFeatures(FeatureExtractor):
    """Penultimate layer of genae's Fashion-MNIST classifier: a *domain* feature space, never "Inception"."""

    name = "fashion-mnist-features"
    dim = 256
    input_rule = "grey (RGB averaged), bilinear antialiased resize to 32x32, [-1, 1]"
    shipped_weights = True

    def __init__(self, device: torch.device | str = "cpu", random_init: bool = False) -> None:
        from genae.metrics.fashion_cnn import FashionMNISTClassifier, load_classifier

        if random_init:
            super().__init__(FashionMNISTClassifier(), None, device)
            return
        path = Path(str(resources.files("genae.metrics").joinpath("weights", FASHION_WEIGHTS)))
        if not path.is_file():
            raise FileNotFoundError(
                f"the packaged extractor weights {path} are missing; rebuild them with "
                "benchmarks/fashion_mnist_features/train.py"
            )
        super().__init__(load_classifier(str(path), device), path, device)

    def _features(self, images: Tensor) -> Tensor:
        from genae.metrics.fashion_cnn import to_network_input

        return self.network.features(to_network_input(images))


class InceptionV3Compat(FeatureExtractor):
    """The TF Inception of the original FID code (:mod:`genae.metrics.inception`), 2048-d pool features.

    Its weights (torch-fidelity's published file) are downloaded on first use; see ``docs/metrics.md``.
    Images are quantised to uint8 as the reference code reads them; grey images are repeated to RGB.
    """

    name = "inception-v3-compat"
    dim = 2048
    input_rule = "uint8 RGB (grey repeated), TF1 bilinear resize to 299 without antialias, (x-128)/128"

    def __init__(
        self, device: torch.device | str = "cpu", weights_dir: str | Path | None = None, random_init: bool = False
    ) -> None:
        from genae.metrics.inception import FIDInceptionV3, load_fid_inception

        if random_init:
            super().__init__(FIDInceptionV3(), None, device)
            return
        path = weights_file("inception-v3-compat", weights_dir, "FID/KID with inception-v3-compat")
        super().__init__(load_fid_inception(path), path, device)

    def _features(self, images: Tensor) -> Tensor:
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.network(((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8))


EXTRACTORS: dict[str, type[FeatureExtractor]] = {cls.name: cls for cls in (FashionMNISTFeatures, InceptionV3Compat)}


def get_extractor(
    name: str, device: torch.device | str = "cpu", weights_dir: str | Path | None = None, random_init: bool = False
) -> FeatureExtractor:
    """Build a registered extractor; ``random_init=True`` is for tests and is reported in every label."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown feature extractor {name!r}; known: {', '.join(sorted(EXTRACTORS))}")
    cls = EXTRACTORS[name]
    located = {} if cls.shipped_weights else {"weights_dir": weights_dir}  # shipped weights need no folder
    return cls(device=device, random_init=random_init, **located)
