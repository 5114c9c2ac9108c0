"""genae.data: conversions, image folders, IDX files, splits, the entry point and its error paths."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from genae.data import DataError, fit_images, load_image_files, open_dataset, read_idx, read_image_file


# -- helpers ----------------------------------------------------------------------------------------------
def write_idx(path: Path, array: np.ndarray, compress: bool = False, magic: bytes | None = None) -> Path:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    header = magic or bytes([0, 0, codes[array.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(payload) if compress else payload)
    return path


def rgb_image(seed: int, size: tuple[int, int] = (20, 24)) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


def grey_image(seed: int, size: tuple[int, int] = (16, 16)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8), "L")


def truncated_png(path: Path) -> Path:
    rgb_image(99, (40, 40)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def mixed_folder(tmp_path: Path) -> Path:
    """Class sub-folders 'cats' and 'dogs', nested deeper, five formats, colour and grey."""
    root = tmp_path / "imgs"
    (root / "cats" / "deep").mkdir(parents=True)
    (root / "dogs").mkdir()
    rgb_image(0).save(root / "cats" / "a.png")
    rgb_image(1).save(root / "cats" / "deep" / "b.jpg", quality=95)
    rgb_image(2).convert("RGBA").save(root / "cats" / "c.webp")
    grey_image(3).save(root / "dogs" / "d.bmp")
    grey_image(4).save(root / "dogs" / "e.JPEG")
    (root / "dogs" / "notes.txt").write_text("not an image")
    return root


# -- fit_images -------------------------------------------------------------------------------------------
def test_fit_images_pads_28_to_32_with_background_and_says_so():
    x = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    y, notice = fit_images(x, channels=1, resolution=32)
    assert y.shape == (2, 1, 32, 32) and y.dtype == torch.float32
    assert torch.equal(y[..., 2:30, 2:30], x.float() / 127.5 - 1)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert (y[..., border] == -1).all()
    assert "padded 28x28 to 32x32" in notice


def test_fit_images_unchanged_batch_has_no_notice():
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    y, notice = fit_images(x, channels=3, resolution=16)
    assert notice is None and torch.equal(x, y)


def test_fit_images_channel_conversions():
    red = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    red[:, 0] = 255
    grey, notice = fit_images(red, channels=1, resolution=8)
    assert grey.shape == (1, 1, 8, 8) and "luminance" in notice
    assert torch.allclose(grey, torch.full_like(grey, 0.299 * 2 - 1))
    back, notice = fit_images(grey, channels=3, resolution=8)
    assert back.shape == (1, 3, 8, 8) and torch.equal(back[:, 0], back[:, 2]) and "repeated" in notice


@pytest.mark.parametrize("fit", ["resize", "crop", "pad"])
def test_fit_images_non_square_inputs(fit):
    x = torch.rand(2, 3, 40, 64) * 2 - 1
    y, notice = fit_images(x, channels=3, resolution=32, fit=fit)
    assert y.shape == (2, 3, 32, 32) and y.min() >= -1 and y.max() <= 1
    assert notice
    if fit == "crop":
        assert torch.equal(y, x[..., 4:36, 16:48])


def test_fit_images_rejects_bad_input():
    with pytest.raises(DataError, match="power of two"):
        fit_images(torch.zeros(1, 1, 28, 28), channels=1, resolution=30)
    with pytest.raises(DataError, match=r"\[-1, 1\]"):
        fit_images(torch.full((1, 1, 8, 8), 3.0), channels=1, resolution=8)
    with pytest.raises(DataError, match=r"\(B, C, H, W\)"):
        fit_images(torch.zeros(1, 8, 8), channels=1, resolution=8)
    with pytest.raises(DataError, match="channels"):
        fit_images(torch.zeros(1, 1, 8, 8), channels=2, resolution=8)
    with pytest.raises(DataError, match="fit='crop' needs"):
        fit_images(torch.zeros(1, 1, 28, 28), channels=1, resolution=32, fit="crop")


# -- image files ------------------------------------------------------------------------------------------
def test_read_image_file_conversions(tmp_path):
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 255, 128  # half-transparent red over black → half red
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    x = read_image_file(tmp_path / "a.png", channels=3)
    assert x.shape == (3, 4, 4) and x.dtype == torch.uint8 and int(x[0, 0, 0]) == 128 and int(x[1, 0, 0]) == 0
    wide = np.full((4, 4), 65535, dtype=np.uint16)
    Image.fromarray(wide).save(tmp_path / "wide.png")
    assert int(read_image_file(tmp_path / "wide.png", channels=1).max()) == 255


def test_load_image_files_fits_and_notifies(tmp_path):
    rgb_image(0, (48, 64)).save(tmp_path / "a.png")
    grey_image(1, (32, 32)).save(tmp_path / "b.png")
    notices: list[str] = []
    x = load_image_files([tmp_path / "a.png", tmp_path / "b.png"], 3, 32, notify=notices.append)
    assert x.shape == (2, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert len(notices) == 2 and "a.png" in notices[0] and "resized 48x64" in notices[0]
    assert "b.png: grey to RGB" in notices[1]
    with pytest.raises(DataError, match="missing.png"):
        load_image_files([tmp_path / "missing.png"], 3, 32)


# -- image folders ----------------------------------------------------------------------------------------
def test_image_folder_recursive_mixed_modes_and_class_labels(mixed_folder):
    ds = open_dataset(mixed_folder, split="all", resolution=16)
    assert len(ds) == 5 and ds.channels == 3 and ds.classes == ("cats", "dogs")
    items = [ds[i] for i in range(len(ds))]
    assert [label for _, label in items] == [0, 0, 0, 1, 1]
    for image, _ in items:
        assert image.shape == (3, 16, 16) and image.dtype == torch.float32
        assert image.min() >= -1 and image.max() <= 1
    grey_item = items[3][0]
    assert torch.equal(grey_item[0], grey_item[1])  # grey files are repeated, not tinted
    assert "resized" in ds.description and "16" in ds.description and str(mixed_folder) in ds.description


def test_image_folder_all_grey_defaults_to_one_channel_and_no_labels(tmp_path):
    for i in range(4):
        grey_image(i).save(tmp_path / f"{i}.png")
    ds = open_dataset(tmp_path, split="all", resolution=8)
    assert ds.channels == 1 and ds[0][0].shape == (1, 8, 8) and {ds[i][1] for i in range(4)} == {-1}
    assert open_dataset(tmp_path, split="all", resolution=8, channels=3)[0][0].shape == (3, 8, 8)


def test_seeded_split_is_disjoint_complete_and_deterministic(tmp_path):
    for i in range(30):
        grey_image(i, (8, 8)).save(tmp_path / f"{i:02d}.png")
    names = lambda ds: {p.name for p in ds.files}  # noqa: E731
    train, test = (open_dataset(tmp_path, split=s, resolution=8, seed=3, test_fraction=0.2) for s in ("train", "test"))
    assert len(train) == 24 and len(test) == 6
    assert names(train) | names(test) == {f"{i:02d}.png" for i in range(30)} and not names(train) & names(test)
    assert names(open_dataset(tmp_path, split="test", resolution=8, seed=3, test_fraction=0.2)) == names(test)
    assert names(open_dataset(tmp_path, split="test", resolution=8, seed=4, test_fraction=0.2)) != names(test)
    assert "seed 3" in test.description


def test_folder_with_train_and_test_subfolders_uses_them(tmp_path):
    for part, count in (("train", 3), ("test", 2)):
        (tmp_path / part / "x").mkdir(parents=True)
        for i in range(count):
            grey_image(i).save(tmp_path / part / "x" / f"{i}.png")
    assert len(open_dataset(tmp_path, split="train", resolution=16)) == 3
    test = open_dataset(tmp_path, split="test", resolution=16)
    assert len(test) == 2 and test.classes == ("x",) and test[0][1] == 0
    assert len(open_dataset(tmp_path, split="all", resolution=16)) == 5


def test_corrupt_image_raises_naming_the_file(mixed_folder):
    (mixed_folder / "cats" / "broken.png").write_bytes(b"this is not a png at all")
    with pytest.raises(DataError, match="broken.png"):
        open_dataset(mixed_folder, split="all", resolution=16)


def test_truncated_image_raises_naming_the_file_when_loaded(tmp_path):
    truncated_png(tmp_path / "cut.png")
    ds = open_dataset(tmp_path, split="all", resolution=16)
    with pytest.raises(DataError, match="cut.png"):
        ds[0]


def test_on_error_skip_counts_bad_files(mixed_folder):
    (mixed_folder / "cats" / "broken.png").write_bytes(b"garbage")
    truncated_png(mixed_folder / "dogs" / "cut.png")
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        ds = open_dataset(mixed_folder, split="all", resolution=16, on_error="skip")
    assert len(ds) == 5 and len(ds.skipped) == 2
    assert {path.name for path, _ in ds.skipped} == {"broken.png", "cut.png"}
    assert "skipped 2 unreadable" in ds.description
    assert all(ds[i][0].shape == (3, 16, 16) for i in range(len(ds)))


def test_empty_or_all_bad_folder_is_an_error(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    with pytest.raises(DataError, match="no image files"):
        open_dataset(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    with pytest.raises(DataError, match="all 1 image files.*x.png"):
        open_dataset(tmp_path / "bad", on_error="skip")


# -- IDX --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("compress", [False, True])
def test_idx_file_with_labels_round_trips(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    labels = np.arange(20, dtype=np.uint8) % 4
    suffix = ".gz" if compress else ""
    path = write_idx(tmp_path / f"foo-images-idx3-ubyte{suffix}", images, compress)
    write_idx(tmp_path / f"foo-labels-idx1-ubyte{suffix}", labels, compress)
    assert np.array_equal(read_idx(path), images)
    ds = open_dataset(path, split="all", resolution=32)
    assert len(ds) == 20 and ds.channels == 1 and ds.fit == "pad"
    image, label = ds[5]
    assert label == 5 % 4 and torch.equal(image[0, 2:30, 2:30], torch.from_numpy(images[5]).float() / 127.5 - 1)
    assert "IDX file" in ds.description and "padded" in ds.description


def test_idx_without_labels_file_gives_minus_one(tmp_path):
    path = write_idx(tmp_path / "digits.idx", np.zeros((3, 8, 8), dtype=np.uint8))
    ds = open_dataset(path, split="all", resolution=8)
    assert [ds[i][1] for i in range(3)] == [-1, -1, -1]


def test_idx_folder_uses_train_and_t10k_files(tmp_path):
    for prefix, count in (("train", 6), ("t10k", 4)):
        write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", np.full((count, 8, 8), count, np.uint8), True)
        write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.zeros(count, np.uint8), True)
    assert len(open_dataset(tmp_path, split="train", resolution=8)) == 6
    assert len(open_dataset(tmp_path, split="test", resolution=8)) == 4
    assert len(open_dataset(tmp_path, split="all", resolution=8)) == 10


def test_idx_wrong_magic_truncation_and_trailing_bytes(tmp_path):
    images = np.zeros((5, 4, 4), dtype=np.uint8)
    bad = write_idx(tmp_path / "bad-images-idx3-ubyte", images, magic=b"\x08\x03\x00\x00")
    with pytest.raises(DataError, match="bad-images-idx3-ubyte: wrong magic number 08030000"):
        open_dataset(bad, split="all")
    full = write_idx(tmp_path / "cut-images-idx3-ubyte", images).read_bytes()
    (tmp_path / "cut-images-idx3-ubyte").write_bytes(full[:-7])
    with pytest.raises(DataError, match="truncated.*needs 80 data bytes, found 73"):
        read_idx(tmp_path / "cut-images-idx3-ubyte")
    (tmp_path / "long-images-idx3-ubyte").write_bytes(full + b"\x00\x00")
    with pytest.raises(DataError, match="2 unexpected bytes"):
        read_idx(tmp_path / "long-images-idx3-ubyte")
    zipped = write_idx(tmp_path / "z-images-idx3-ubyte.gz", images, compress=True)
    zipped.write_bytes(zipped.read_bytes()[:-10])
    with pytest.raises(DataError, match="z-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        read_idx(zipped)
    (tmp_path / "empty.idx").write_bytes(b"")
    with pytest.raises(DataError, match="empty file"):
        read_idx(tmp_path / "empty.idx")


def test_idx_label_count_mismatch(tmp_path):
    path = write_idx(tmp_path / "a-images-idx3-ubyte", np.zeros((5, 4, 4), np.uint8))
    write_idx(tmp_path / "a-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DataError, match="4 labels for 5 images"):
        open_dataset(path, split="all")


# -- the entry point --------------------------------------------------------------------------------------
def test_unknown_name_suggests_close_matches():
    with pytest.raises(DataError, match="unknown dataset 'fashion-mnst'.*Did you mean 'fashion-mnist'"):
        open_dataset("fashion-mnst")
    with pytest.raises(DataError, match="unknown dataset 'zzzz'"):
        open_dataset("zzzz")


def test_options_that_do_not_apply_are_errors(tmp_path):
    with pytest.raises(DataError, match="'fashion-mnist-mini' does not take size"):
        open_dataset("fashion-mnist-mini", size=5)
    with pytest.raises(DataError, match="does not take download"):
        open_dataset("scales", download=True)
    with pytest.raises(DataError, match="split"):
        open_dataset("fashion-mnist-mini", split="validation")
    with pytest.raises(DataError, match="on_error"):
        open_dataset("fashion-mnist-mini", on_error="ignore")
    with pytest.raises(DataError, match="limit"):
        open_dataset("fashion-mnist-mini", limit=0)


def test_flip_pairs_and_dataloader(mixed_folder):
    ds = open_dataset(mixed_folder, split="all", resolution=8, flip_pairs=True)
    (image, mirrored), label = ds[1]
    assert torch.equal(mirrored, image.flip(-1)) and label == 0
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[1][0][0], image)
    (left, right), labels = next(iter(DataLoader(ds, batch_size=4)))
    assert left.shape == right.shape == (4, 3, 8, 8) and labels.tolist() == [0, 0, 0, 1]


def test_limit_and_negative_index(mixed_folder):
    ds = open_dataset(mixed_folder, split="all", resolution=8, limit=2)
    assert len(ds) == 2 and torch.equal(ds[-1][0], ds[1][0])
    with pytest.raises(IndexError):
        ds[2]


def test_content_hash_is_stable_and_tracks_data_and_settings(mixed_folder):
    first = open_dataset(mixed_folder, split="all", resolution=16).content_hash()
    assert open_dataset(mixed_folder, split="all", resolution=16).content_hash() == first
    assert open_dataset(mixed_folder, split="all", resolution=8).content_hash() != first
    rgb_image(7).save(mixed_folder / "cats" / "a.png")
    assert open_dataset(mixed_folder, split="all", resolution=16).content_hash() != first


def test_path_options_and_name_shadowing(tmp_path, monkeypatch):
    grey_image(0).save(tmp_path / "a.png")
    with pytest.raises(DataError, match="a path does not take size"):
        open_dataset(tmp_path, size=3)
    (tmp_path / "scales").mkdir()
    grey_image(1).save(tmp_path / "scales" / "b.png")
    monkeypatch.chdir(tmp_path)
    assert "synthetic scales" in open_dataset("Scales", size=2).description
    assert "image folder" in open_dataset("./scales", split="all", resolution=16).description


def test_idx_folder_missing_split_is_named(tmp_path):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 8, 8), np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, np.uint8))
    assert len(open_dataset(tmp_path, resolution=8)) == 3
    with pytest.raises(DataError, match="no t10k-images-idx3-ubyte.*split 'test'"):
        open_dataset(tmp_path, split="test", resolution=8)
