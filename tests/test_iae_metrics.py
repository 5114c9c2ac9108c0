"""Clustering and semi-supervised metrics (genae/metrics/clustering.py) and their place in `genae bench`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genae
from genae.bench.runner import run_bench
from genae.metrics.clustering import (
    balanced_subset,
    cluster_error,
    kmeans,
    logistic_probe,
    majority_label_error,
    pixel_cluster_error,
    semisupervised_error,
)


def test_balanced_subset_is_seeded_balanced_and_skips_unlabelled() -> None:
    labels = np.array([0, 1, 2] * 20 + [-1] * 10)
    a = balanced_subset(labels, 9, seed=3)
    assert np.array_equal(a, balanced_subset(labels, 9, seed=3))
    assert not np.array_equal(a, balanced_subset(labels, 9, seed=4))
    assert sorted(labels[a].tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    with pytest.raises(ValueError, match="evenly"):
        balanced_subset(labels, 10, seed=0)
    with pytest.raises(ValueError, match="count"):
        balanced_subset(labels, 0, seed=0)


def test_majority_label_error_by_hand() -> None:
    # cluster 0 holds labels 1,1,2 -> predicts 1 (one error); cluster 5 holds 3,3 -> no error
    error, mapping = majority_label_error([0, 0, 0, 5, 5], [1, 1, 2, 3, 3])
    assert error == pytest.approx(1 / 5) and mapping == {0: 1, 5: 3}
    with pytest.raises(ValueError, match="lengths"):
        majority_label_error([0, 1], [0])


def test_kmeans_recovers_separated_blobs() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    truth = torch.arange(3).repeat_interleave(50)
    points = centres[truth] + 0.5 * torch.randn(150, 2, generator=g)
    assignments, found = kmeans(points, 3, seed=0)
    assert majority_label_error(assignments, truth)[0] == 0.0
    assert torch.allclose(found.sort(0).values, centres.sort(0).values, atol=0.3)
    with pytest.raises(ValueError, match="k"):
        kmeans(points, 0, seed=0)


def test_logistic_probe_separates_linear_classes() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 5, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    predict = logistic_probe(x[:100], y[:100])
    assert float((predict(x[100:]) != y[100:]).float().mean()) < 0.1


class _Categorical(torch.nn.Module):
    """A stand-in model whose categorical code is the image's mean brightness bucket."""

    num_categories = 4
    resolution, channels = 8, 1
    card: dict = {}

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        bucket = ((x.mean((1, 2, 3)) + 1) * 2).clamp(0, 3.999).long()
        return torch.nn.functional.one_hot(bucket, 4).float()


def test_cluster_error_uses_the_categorical_argmax() -> None:
    levels = torch.tensor([-0.75, -0.25, 0.25, 0.75])
    images = levels.repeat(10)[:, None, None, None].expand(40, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 2] * 10)  # buckets 2 and 3 share label 2: no error
    result = cluster_error(_Categorical(), images, labels)
    assert result["value"] == 0.0 and result["K"] == 4 and "argmax" in result["method"]
    assert pixel_cluster_error(images, labels, k=4)["value"] == 0.0


def test_semisup_error_uses_own_prediction_only_when_trained_with_labels() -> None:
    model = _Categorical()
    levels = torch.tensor([-0.75, -0.25, 0.25, 0.75])
    images = levels.repeat(5)[:, None, None, None].expand(20, 1, 8, 8).contiguous()
    labels = torch.tensor([0, 1, 2, 3] * 5)
    model.card = {"labelled_subset": {"count": 4, "seed": 0}}
    own = semisupervised_error(model, images, labels, data="unused", seed=0)
    assert own["value"] == 0.0 and "own class prediction" in own["method"] and own["labels"] == 4


def test_bench_reports_both_metrics_on_any_model(tmp_path) -> None:
    torch.manual_seed(0)
    model = genae.create("iae", resolution=32, channels_in=1, latent_dim=4, encoder_widths=[16], decoder_hidden=16,
                         decoder_channels=[4, 4], disc_channels=[4], disc_hidden=8, condition_hidden=8,
                         code_disc_widths=[8])
    model.save_pretrained(tmp_path / "model")
    records = run_bench(str(tmp_path / "model"), data="fashion-mnist-mini", metrics="cluster-error,semisup-error",
                        n=60, progress=False, no_cache=True)
    figures = {f["name"]: f for f in records[0]["figures"]}
    cluster, semisup = figures["cluster_error"], figures["semisup_error"]
    assert cluster["status"] == "ok" and semisup["status"] == "ok", records[0]
    assert cluster["settings"]["K"] == 10 and "k-means" in cluster["settings"]["method"]
    assert semisup["settings"]["labels"] == 100 and "probe" in semisup["settings"]["method"]
    assert 0.0 <= cluster["value"] <= 0.9 and 0.0 <= semisup["value"] <= 1.0
