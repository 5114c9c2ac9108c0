"""Fashion-MNIST: the shipped subset, the search order, downloading, and the installed full set."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from genae.data import DataError, fashion, open_dataset

INSTALLED = fashion.SYSTEM_DIR
needs_installed = pytest.mark.skipif(
    not all(fashion.find_idx_pair(INSTALLED, p) for p in ("train", "t10k")),
    reason=f"Fashion-MNIST is not installed in {INSTALLED} (apt-get install dataset-fashion-mnist)",
)


def write_fake_fashion(directory: Path, train: int = 6, test: int = 4) -> Path:
    """Well-formed Fashion-MNIST-shaped IDX files, tiny, every pixel equal to its split's size."""
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        images = struct.pack(">BBBBIII", 0, 0, 8, 3, count, 28, 28) + bytes([count]) * (count * 784)
        labels = struct.pack(">BBBBI", 0, 0, 8, 1, count) + bytes(i % 10 for i in range(count))
        (directory / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
        (directory / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    return directory


@pytest.fixture
def no_system_copy(monkeypatch, tmp_path):
    """Hide the installed copy and $GENAE_DATA so a test controls every place that is searched."""
    monkeypatch.setattr(fashion, "SYSTEM_DIR", tmp_path / "not-installed")
    monkeypatch.delenv("GENAE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# -- the shipped subset -----------------------------------------------------------------------------------
def test_mini_split_is_800_200_balanced_and_disjoint():
    train, test = open_dataset("fashion-mnist-mini", split="train"), open_dataset("fashion-mnist-mini", split="test")
    assert len(train) == 800 and len(test) == 200
    assert np.bincount(train.labels).tolist() == [80] * 10 and np.bincount(test.labels).tolist() == [20] * 10
    train_rows = {row.tobytes() for row in train.images}
    assert not any(row.tobytes() in train_rows for row in test.images)
    again = open_dataset("fashion-mnist-mini", split="test")
    assert np.array_equal(again.images, test.images) and again.content_hash() == test.content_hash()
    other = open_dataset("fashion-mnist-mini", split="test", seed=1)
    assert not np.array_equal(other.images, test.images)


def test_mini_items_pad_at_32_and_resize_at_64():
    ds = open_dataset("fashion-mnist-mini", split="test")
    image, label = ds[0]
    assert image.shape == (1, 32, 32) and 0 <= label < 10 and ds.classes[label]
    assert image.min() == -1 and image.max() <= 1
    assert (image[:, :2] == -1).all() and (image[:, :, -2:] == -1).all()
    assert torch.equal(image[0, 2:30, 2:30], torch.from_numpy(ds.images[0, ..., 0]).float() / 127.5 - 1)
    assert "padded with background -1" in ds.description and "fashion-mnist-mini" in ds.description
    big = open_dataset("fashion-mnist-mini", split="test", resolution=64, channels=3)
    assert big[0][0].shape == (3, 64, 64) and "resized" in big.description and "3 channel" in big.description
    assert big.content_hash() != ds.content_hash()


def test_mini_file_is_small_and_uint8():
    path = Path(fashion.__file__).parent / "builtin" / fashion.MINI_FILE
    assert path.stat().st_size < 600_000
    images, labels = fashion.read_mini()
    assert images.shape == (1000, 28, 28) and images.dtype == np.uint8 and labels.max() == 9


# -- search order and download ----------------------------------------------------------------------------
def test_search_order_root_then_genae_data(no_system_copy, tmp_path, monkeypatch):
    write_fake_fashion(tmp_path / "data" / "fashion-mnist", train=6)
    monkeypatch.setenv("GENAE_DATA", str(tmp_path / "data"))
    ds = open_dataset("fashion-mnist", resolution=32)
    assert len(ds) == 6 and str(tmp_path / "data" / "fashion-mnist") in ds.description
    write_fake_fashion(tmp_path / "explicit", train=8)
    assert len(open_dataset("fashion-mnist", root=tmp_path / "explicit")) == 8
    assert len(open_dataset("fashion-mnist", split="test", root=tmp_path / "explicit")) == 4
    assert len(open_dataset("fashion-mnist", split="all", root=tmp_path / "explicit", limit=9)) == 9


def test_missing_without_download_is_a_clear_error(no_system_copy, tmp_path):
    with pytest.raises(DataError, match="not found.*not-installed.*apt-get install dataset-fashion-mnist.*download=True"):
        open_dataset("fashion-mnist", root=tmp_path / "nowhere")


def test_download_fetches_checks_and_keeps_files(no_system_copy, tmp_path, monkeypatch):
    mirror = write_fake_fashion(tmp_path / "mirror")
    monkeypatch.setattr(fashion, "MIRRORS", (mirror.as_uri() + "/",))
    monkeypatch.setattr(fashion, "SPLIT_SIZES", {"train": 6, "test": 4})
    target = tmp_path / "downloaded"
    ds = open_dataset("fashion-mnist", root=target, download=True)
    assert len(ds) == 6 and sorted(p.name for p in target.iterdir()) == sorted(p.name for p in mirror.iterdir())
    assert ds[0][0].shape == (1, 32, 32)


def test_download_rejects_a_wrong_file(no_system_copy, tmp_path, monkeypatch):
    mirror = write_fake_fashion(tmp_path / "mirror")
    monkeypatch.setattr(fashion, "MIRRORS", (mirror.as_uri() + "/",))  # shapes (6, ...) != the real (60000, ...)
    with pytest.raises(DataError, match="expected shape"):
        open_dataset("fashion-mnist", root=tmp_path / "dl", download=True)
    assert not any((tmp_path / "dl").glob("*.gz"))  # nothing half-checked is left behind
    monkeypatch.setattr(fashion, "MIRRORS", ((tmp_path / "no-mirror").as_uri() + "/",))
    with pytest.raises(DataError, match="could not download train-images"):
        open_dataset("fashion-mnist", root=tmp_path / "dl", download=True)


# -- the installed full dataset ---------------------------------------------------------------------------
@needs_installed
def test_installed_fashion_mnist_test_split():
    ds = open_dataset("fashion-mnist", split="test")
    assert len(ds) == 10000 and ds.channels == 1 and ds.resolution == 32
    assert np.bincount(ds.labels).tolist() == [1000] * 10
    image, label = ds[123]
    assert image.shape == (1, 32, 32) and image.min() >= -1 and image.max() <= 1 and 0 <= label <= 9
    assert "official test split" in ds.description and "10000 images" in ds.description
    assert ds.content_hash() == open_dataset("fashion-mnist", split="test").content_hash()


@needs_installed
def test_installed_train_split_and_mini_provenance():
    assert len(open_dataset("fashion-mnist", split="train")) == 60000
    test = open_dataset("fashion-mnist", split="test")
    with np.load(Path(fashion.__file__).parent / "builtin" / fashion.MINI_FILE) as mini:
        rows = mini["source_indices"]
        assert np.array_equal(test.images[rows, ..., 0], mini["images"])
        assert np.array_equal(test.labels[rows], mini["labels"])
