"""The dataset type every ``open_dataset`` call returns, and the seeded split all sources share."""

from __future__ import annotations

import abc
import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from genae.data.errors import DataError
from genae.data.transforms import convert_channels, fit_spatial, to_float

SPLITS = ("train", "test", "all")


class GenaeDataset(Dataset, abc.ABC):
    """``(image, label)`` items: float images in ``[-1, 1]`` of shape ``(channels, resolution, resolution)``.

    ``label`` is an int, ``-1`` where the source has none. With ``flip_pairs`` an item is
    ``((image, image_flipped_left_right), label)``. ``description`` says where the data came from and how
    it was resized, so a model card can record how its inputs were made.
    """

    channels: int
    resolution: int
    description: str
    flip_pairs: bool = False
    fit: str | None = None  # the resize rule applied; None where images are made at the resolution
    classes: tuple[str, ...] = ()
    labels: np.ndarray  # int64 (N,), -1 where the source has no labels

    def __init__(self) -> None:
        self._hash: str | None = None

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def load(self, index: int) -> tuple[Tensor, int]:
        """Item ``index`` (already range-checked) without flip pairing."""

    @abc.abstractmethod
    def hash_parts(self) -> Sequence[bytes | str]:
        """What :meth:`content_hash` digests: the source bytes and every setting that changes an image."""

    def __getitem__(self, index: int) -> tuple[Any, int]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset index: expected an int, got {type(index).__name__}")
        size = len(self)
        if not -size <= index < size:
            raise IndexError(f"dataset index {index} out of range for {size} items")
        image, label = self.load(int(index) % size)
        if self.flip_pairs:
            return (image, image.flip(-1)), label
        return image, label

    def content_hash(self) -> str:
        """A stable hex digest of the images this dataset serves; keys caches of feature statistics."""
        if self._hash is None:
            digest = hashlib.sha256()
            for part in (type(self).__name__, str(self.channels), str(self.resolution), *self.hash_parts()):
                digest.update(part.encode() if isinstance(part, str) else part)
                digest.update(b"\x00")
            self._hash = digest.hexdigest()[:32]
        return self._hash

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


def split_indices(labels: np.ndarray, split: str, seed: int, test_fraction: float) -> np.ndarray:
    """Sorted indices of ``split``: per label value, a ``seed``-shuffled ``test_fraction`` goes to test.

    Stratifying by label keeps class balance in both parts; sorting keeps the source's own order.
    """
    if split not in SPLITS:
        raise DataError(f"split: expected one of {', '.join(SPLITS)}, got {split!r}")
    if split == "all":
        return np.arange(len(labels))
    if not 0.0 < test_fraction < 1.0:
        raise DataError(f"test_fraction: expected a number strictly between 0 and 1, got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    test = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        test.append(rng.permutation(members)[: round(len(members) * test_fraction)])
    in_test = np.zeros(len(labels), dtype=bool)
    in_test[np.concatenate(test)] = True
    chosen = np.flatnonzero(in_test if split == "test" else ~in_test)
    if len(chosen) == 0:
        raise DataError(
            f"split {split!r} of {len(labels)} items with test_fraction={test_fraction} is empty; "
            "use split='all' or another test_fraction"
        )
    return chosen


def split_note(split: str, seed: int, test_fraction: float, total: int) -> str:
    if split == "all":
        return f"all {total} items"
    return f"{split} part of a seeded split (seed {seed}, test fraction {test_fraction}, stratified by label) of {total} items"


class ArrayDataset(GenaeDataset):
    """Images held in memory as uint8 ``(N, H, W[, C])`` (IDX files, the shipped subset), fitted per item."""

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        channels: int,
        resolution: int,
        fit: str,
        description: str,
        flip_pairs: bool = False,
        classes: Sequence[str] = (),
    ) -> None:
        super().__init__()
        if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) != len(labels):
            raise DataError(f"ArrayDataset: expected uint8 (N, H, W[, C]) and N labels, got {images.shape}")
        self.images = images if images.ndim == 4 else images[..., None]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.channels, self.resolution, self.fit = channels, resolution, fit
        self.description, self.flip_pairs, self.classes = description, flip_pairs, tuple(classes)

    def __len__(self) -> int:
        return len(self.images)

    def load(self, index: int) -> tuple[Tensor, int]:
        image = to_float(torch.from_numpy(self.images[index]).permute(2, 0, 1)[None])
        image, _ = convert_channels(image, self.channels)
        image, _ = fit_spatial(image, self.resolution, self.fit)
        return image[0].contiguous(), int(self.labels[index])

    def hash_parts(self) -> Sequence[bytes | str]:
        return (self.fit, np.ascontiguousarray(self.images).tobytes())
