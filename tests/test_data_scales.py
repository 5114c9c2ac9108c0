"""The synthetic scales dataset: factors are exact, deterministic, and act at the scales they claim."""

from __future__ import annotations

import pytest
import torch

from genae.data import DataError, open_dataset, render_scales
from genae.data.scales import BACKGROUND, FACTOR_NAMES, FACTOR_SIZES, ScalesDataset

BACKGROUND_VALUE = BACKGROUND * 2 - 1


def batch(**factors: list[int]) -> dict[str, torch.Tensor]:
    """Factor tensors; factors not given are 0, broadcast to the longest list given."""
    length = max(len(v) for v in factors.values())
    return {name: torch.tensor(factors.get(name, [0] * length)) for name in FACTOR_NAMES}


def silhouette(images: torch.Tensor) -> torch.Tensor:
    """Pixels the object covers at all: anything brighter than the background in some channel."""
    return images.amax(1) > BACKGROUND_VALUE + 1e-5


def test_metadata():
    ds = open_dataset("scales", size=10)
    assert ds.factor_names == ("shape", "position", "size", "colour", "texture")
    assert ds.coarse_factors == ("shape", "position", "size") and ds.fine_factors == ("colour", "texture")
    assert ds.factor_sizes == {"shape": 4, "position": 9, "size": 3, "colour": 6, "texture": 4}
    assert len(ds) == 10 and ds.channels == 3 and ds.resolution == 32
    assert "scales" in ds.description and "coarse" in ds.description
    assert len(open_dataset("scales")) == 20000 and len(open_dataset("scales", split="test")) == 2000


def test_items_match_their_factors_and_labels():
    ds = open_dataset("scales", size=50, seed=5)
    for i in (0, 17, 49):
        image, label = ds[i]
        factors = ds.factors(i)
        assert label == factors["shape"] and image.shape == (3, 32, 32)
        assert image.min() >= -1 and image.max() <= 1
        drawn = render_scales({k: torch.tensor([v]) for k, v in factors.items()}, 32)[0]
        assert torch.equal(image, drawn)
    assert torch.equal(ds.render([3, 4]), torch.stack([ds[3][0], ds[4][0]]))


def test_rendering_is_deterministic():
    factors = batch(
        shape=[0, 1, 2, 3], position=[0, 4, 8, 2], size=[0, 1, 2, 1], colour=[1, 2, 3, 5], texture=[0, 1, 2, 3]
    )
    assert torch.equal(render_scales(factors, 32), render_scales(factors, 32))


def test_factors_depend_only_on_seed_split_and_index():
    small = open_dataset("scales", size=100, seed=1).all_factors()
    large = open_dataset("scales", size=1000, seed=1).all_factors()
    assert all(torch.equal(small[n], large[n][:100]) for n in FACTOR_NAMES)
    other_seed = open_dataset("scales", size=100, seed=2).all_factors()
    test = open_dataset("scales", split="test", size=100, seed=1).all_factors()
    assert not torch.equal(small["position"], other_seed["position"])
    assert not torch.equal(small["position"], test["position"])
    hashes = {open_dataset("scales", size=100, seed=seed).content_hash() for seed in (1, 1, 2)}
    assert len(hashes) == 2


def test_every_factor_value_is_drawn_about_evenly():
    factors = open_dataset("scales").all_factors()
    for name, count in FACTOR_SIZES.items():
        histogram = torch.bincount(factors[name], minlength=count).float()
        expected = len(factors[name]) / count
        assert len(histogram) == count and (histogram - expected).abs().max() < 0.1 * expected, name


@pytest.mark.parametrize("coarse", ["shape", "position", "size"])
def test_coarse_factors_change_the_silhouette(coarse):
    values = list(range(FACTOR_SIZES[coarse]))
    centred = {"position": [4] * len(values), coarse: values}
    shapes = silhouette(render_scales(batch(**centred), 32))
    for a in range(len(values)):
        for b in range(a + 1, len(values)):
            assert not torch.equal(shapes[a], shapes[b]), (coarse, a, b)


@pytest.mark.parametrize("resolution", [32, 64])
def test_fine_factors_keep_the_silhouette_and_change_the_pixels(resolution):
    colours, textures = zip(*[(c, t) for c in range(6) for t in range(4)])
    factors = batch(colour=list(colours), texture=list(textures), position=[4] * 24, size=[2] * 24)
    images = render_scales(factors, resolution)
    shapes = silhouette(images)
    assert all(torch.equal(shapes[0], s) for s in shapes)
    assert len({tuple(image.flatten().tolist()) for image in images}) == 24


def test_textures_share_the_mean_brightness_of_plain():
    factors = batch(shape=[1] * 4, position=[4] * 4, size=[2] * 4, texture=[0, 1, 2, 3])
    images = render_scales(factors, 64)
    inner = images[:, 0, 24:40, 24:40]  # well inside the centred square, 2 texture periods wide
    means = inner.mean((1, 2))
    assert (means - means[0]).abs().max() < 0.05
    assert inner[0].std() < 1e-6 and all(inner[t].std() > 0.2 for t in (1, 2, 3))


def test_channels_resolution_and_flip_pairs():
    grey = open_dataset("scales", size=4, channels=1, resolution=64)
    assert grey[0][0].shape == (1, 64, 64) and "grey" in grey.description
    (image, mirrored), label = open_dataset("scales", size=4, flip_pairs=True)[2]
    assert torch.equal(mirrored, image.flip(-1))
    assert len(open_dataset("scales", split="all", size=5)) == 10
    assert len(open_dataset("scales", size=50, limit=7)) == 7


def test_bad_factors_and_options():
    with pytest.raises(DataError, match="keys"):
        render_scales({"shape": torch.tensor([0])}, 32)
    bad = batch(shape=[4])
    with pytest.raises(DataError, match=r"factors\['shape'\].*\[0, 3\]"):
        render_scales(bad, 32)
    with pytest.raises(DataError, match="power of two"):
        render_scales(batch(shape=[0]), 48)
    with pytest.raises(DataError, match="does not take fit"):
        open_dataset("scales", fit="crop")
    with pytest.raises(DataError, match="size"):
        ScalesDataset(size=0)
    empty = {name: torch.zeros(0, dtype=torch.long) for name in FACTOR_NAMES}
    assert render_scales(empty, 32).shape == (0, 3, 32, 32)


def test_dataloader_batches_match_single_items():
    from torch.utils.data import DataLoader

    ds = open_dataset("scales", size=12, flip_pairs=True)
    (left, right), labels = next(iter(DataLoader(ds, batch_size=5)))
    assert left.shape == (5, 3, 32, 32) and torch.equal(right, left.flip(-1))
    assert torch.equal(left[3], ds[3][0][0]) and labels.tolist() == [ds[i][1] for i in range(5)]
    assert ds.labels.tolist() == [ds.factors(i)["shape"] for i in range(12)]
    with pytest.raises(IndexError):
        ds.__getitems__([12])
