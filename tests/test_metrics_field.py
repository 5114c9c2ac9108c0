"""The field's feature-set metrics: checked by hand, against their reference packages on identical features
(skipped only where the package is absent), and FID's trace term against a 50-digit reference."""

from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest
import scipy.linalg
import torch

from genae.metrics.fid_infinity import fid_infinity
from genae.metrics.frechet import FeatureStats, frechet_distance, frechet_distance_from_stats, kernel_distance
from genae.metrics.inception_score import inception_score
from genae.metrics.manifold import density_coverage, knn_radii, precision_recall
from genae.metrics.reference import load_reference, save_reference


def _features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


def test_precision_recall_by_hand() -> None:
    # Real points on a line 0..4 (k=1 radius 1 each); fakes at 4.5 (inside the ball of 4) and 10 (outside).
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0]])
    fake = torch.tensor([[4.5], [10.0], [11.0]])
    result = precision_recall(real, fake, k=1)
    assert result["precision"] == pytest.approx(1 / 3)
    # Fake radii (k=1): 4.5 -> 5.5, 10 -> 1, 11 -> 1; the 5.5 ball around 4.5 covers every real point.
    assert result["recall"] == 1.0
    assert knn_radii(real, 2).tolist() == [2.0, 1.0, 1.0, 1.0, 2.0]


def test_density_coverage_by_hand() -> None:
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0], [4.0]])  # k=1 radii: 1 each
    fake = torch.tensor([[0.5], [0.6], [10.0]])  # both near fakes sit strictly inside the balls of 0 and 1
    result = density_coverage(real, fake, k=1)
    assert result["density"] == pytest.approx(4 / 3) and result["coverage"] == pytest.approx(2 / 5)


def test_manifold_metrics_are_the_same_in_any_block_size_and_check_inputs() -> None:
    real, fake = _features(300, 8, 0), _features(250, 8, 1, shift=0.3)
    assert precision_recall(real, fake, block=7) == precision_recall(real, fake, block=4096)
    assert density_coverage(real, fake, block=13) == density_coverage(real, fake)
    with pytest.raises(ValueError, match="k: expected a positive int"):
        precision_recall(real, fake, k=0)
    with pytest.raises(ValueError, match="feature dimensions differ"):
        density_coverage(real, fake[:, :4])
    with pytest.raises(ValueError, match="real: needs at least 4 samples"):
        precision_recall(real[:3], fake)


@pytest.mark.numerics
def test_precision_recall_agree_with_torch_fidelity() -> None:
    prc = pytest.importorskip("torch_fidelity.metric_prc", reason="the peer torch-fidelity is not installed (the lower-bound venv checks genae without it)")
    real, fake = _features(1500, 64, 2), _features(1200, 64, 3, shift=0.2)
    ours = precision_recall(real, fake, k=3, block=500)
    theirs = prc.calculate_precision_recall_full(fake, real, neighborhood=3, batch_size=700)
    # torch-fidelity averages in float32: the same counts, within float32 rounding of the share.
    assert (ours["precision"], ours["recall"]) == pytest.approx(theirs, abs=1e-6)
    assert 0.05 < ours["precision"] < 0.95 and 0.05 < ours["recall"] < 0.95  # neither trivially 0 nor 1


@pytest.mark.numerics
def test_density_coverage_agree_with_prdc() -> None:
    prdc = pytest.importorskip("prdc", reason="the peer prdc is not installed (the lower-bound venv checks genae without it)")
    real, fake = _features(1500, 64, 4), _features(1200, 64, 5, shift=0.2)
    ours = density_coverage(real, fake, k=5, block=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = prdc.compute_prdc(real.double().numpy(), fake.double().numpy(), nearest_k=5)
    assert ours["density"] == pytest.approx(theirs["density"], abs=1e-12)
    assert ours["coverage"] == pytest.approx(theirs["coverage"], abs=1e-12)


def test_inception_score_by_hand_and_checks() -> None:
    # Confident and uniform over 4 classes: IS = 4; all one class: IS = 1.
    confident = torch.eye(4).repeat(25, 1) * 50
    assert inception_score(confident, splits=1)["mean"] == pytest.approx(4.0, rel=1e-6)
    assert inception_score(torch.zeros(100, 4), splits=10) == {"mean": 1.0, "std": 0.0, "splits": 10, "n": 100}
    with pytest.raises(ValueError, match="splits"):
        inception_score(confident, splits=0)


@pytest.mark.numerics
def test_inception_score_agrees_with_torch_fidelity() -> None:
    isc = pytest.importorskip("torch_fidelity.metric_isc", reason="the peer torch-fidelity is not installed (the lower-bound venv checks genae without it)")
    logits = _features(1000, 1008, 6) * 3
    ours = inception_score(logits, splits=10)
    theirs = isc.isc_features_to_metric(logits, splits=10, shuffle=False)
    assert ours["mean"] == pytest.approx(theirs["inception_score_mean"], rel=1e-12)
    assert ours["std"] == pytest.approx(theirs["inception_score_std"], rel=1e-9)


def test_kid_claims_no_spread_for_one_subset() -> None:
    a, b = _features(300, 4, 7), _features(300, 4, 8)
    single = kernel_distance(a, b, subsets=100, subset_size=1000)  # every subset would be all 300 samples
    assert single.std is None
    assert kernel_distance(a, b, subsets=1, subset_size=100).std is None
    assert kernel_distance(a, b, subsets=10, subset_size=100).std > 0


def _exact_fid(x: torch.Tensor, y: torch.Tensor) -> float:
    """FID of two float64 feature sets in 50-digit arithmetic (eigen route on the symmetric form)."""
    mpmath.mp.dps = 50

    def stats(rows: list[list[float]]) -> tuple[list, mpmath.matrix]:
        n, d = len(rows), len(rows[0])
        data = [[mpmath.mpf(v) for v in row] for row in rows]
        mean = [mpmath.fsum(r[j] for r in data) / n for j in range(d)]
        cov = mpmath.matrix(d, d)
        for i in range(d):
            for j in range(i, d):
                cov[i, j] = cov[j, i] = mpmath.fsum((r[i] - mean[i]) * (r[j] - mean[j]) for r in data) / (n - 1)
        return mean, cov

    (mean_a, cov_a), (mean_b, cov_b) = stats(x.tolist()), stats(y.tolist())
    values, vectors = mpmath.eigsy(cov_a)
    root = vectors * mpmath.diag([mpmath.sqrt(max(v, 0)) for v in values]) * vectors.T
    middle, _ = mpmath.eigsy(root * cov_b * root)
    d = len(mean_a)
    total = mpmath.fsum((mean_a[i] - mean_b[i]) ** 2 + cov_a[i, i] + cov_b[i, i] for i in range(d))
    return float(total - 2 * mpmath.fsum(mpmath.sqrt(max(v, 0)) for v in middle))


@pytest.mark.numerics
@pytest.mark.parametrize(("n", "d"), [(200, 16), (6, 24)], ids=["full-rank", "rank-deficient"])
def test_fid_near_zero_matches_a_50_digit_reference(n: int, d: int) -> None:
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) * 3
    y = x + 1e-6 * torch.randn(n, d, generator=g, dtype=torch.float64)  # FID ~ 1e-12 .. 1e-10
    exact = _exact_fid(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ours = frechet_distance(x, y).value
        a, b = FeatureStats.from_features(x), FeatureStats.from_features(y)
    assert abs(ours - exact) < 1e-13 and abs(ours - exact) < 0.1 * exact
    # scipy's sqrtm on the float64 product, the usual peer route, for the record (its error is larger here).
    root = scipy.linalg.sqrtm(a.cov.numpy() @ b.cov.numpy()).real
    peer = float((a.mean - b.mean).square().sum() + a.cov.trace() + b.cov.trace() - 2 * np.trace(root))
    assert abs(ours - exact) <= abs(peer - exact)


def test_fid_of_identical_rank_deficient_sets_is_zero_to_rounding() -> None:
    x = torch.randn(10, 64, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    stats = FeatureStats.from_features(x)
    assert stats.factor.shape == (10, 64)
    torch.testing.assert_close(stats.factor.T @ stats.factor, stats.cov, rtol=0, atol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert frechet_distance_from_stats(stats, FeatureStats.from_features(x.clone())).value < 1e-12


def test_fid_infinity_removes_the_small_sample_bias() -> None:
    # Same distribution: FID_N is pure 1/N bias and FID-inf extrapolates it away.
    # (d = 32, so the bias, ~d^2 / N, dominates the subsets' noise; the real set is large to keep its share small.)
    real = _features(100_000, 32, 10).double()
    fake = _features(5000, 32, 11).double()
    at_n = frechet_distance(real, fake).value
    result = fid_infinity(real, fake, seed=0)
    assert len(result["sizes"]) == 15 and result["sizes"][0] == 500 and result["sizes"][-1] == 5000
    assert result["slope"] > 0 and abs(result["fid_inf"]) < at_n / 10
    with pytest.raises(ValueError, match="points"):
        fid_infinity(real, fake, points=1)


def test_reference_file_round_trip_and_errors(tmp_path) -> None:
    feats = _features(50, 6, 12)
    path = save_reference(tmp_path / "ref.npz", feats, {"dataset": "toy", "extractor": {"extractor": "x"}},
                          indices=np.arange(50))
    loaded = load_reference(path)
    assert loaded.meta["n"] == 50 and loaded.meta["format"] == "genae-reference/1" and loaded.meta["dataset"] == "toy"
    torch.testing.assert_close(loaded.features, feats)
    assert loaded.stats.factor is not None and loaded.indices.tolist() == list(range(50))
    info = {"extractor": "y", "feature_dim": 6, "weights_sha256": None}
    with pytest.raises(ValueError, match="ref.npz: computed with extractor 'x', this run uses 'y'"):
        loaded.check_extractor(info, f"reference {path}")
    with pytest.raises(ValueError, match="holds 6-d features but y gives 8-d"):
        loaded.check_extractor({**info, "feature_dim": 8}, "reference")
    stats_only = tmp_path / "mu_sigma.npz"  # clean-fid / pytorch-fid layout, plus the sample count
    np.savez(stats_only, mu=np.zeros(6), sigma=np.eye(6), n=np.array(5000))
    only = load_reference(stats_only)
    assert only.features is None and only.stats.n == 5000
    np.savez(tmp_path / "no_n.npz", mu=np.zeros(6), sigma=np.eye(6))
    with pytest.raises(ValueError, match="no_n.npz: has mu/sigma but no sample count"):
        load_reference(tmp_path / "no_n.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="junk.npz: not a readable .npz"):
        load_reference(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="missing.npz: no such file"):
        load_reference(tmp_path / "missing.npz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert not math.isnan(frechet_distance_from_stats(only.stats, loaded.stats).value)


def test_logits_from_features_are_the_networks_own_logits(tmp_path) -> None:
    from genae.metrics._files import PUBLISHED_WEIGHTS
    from genae.metrics.extractors import get_extractor
    from genae.metrics.inception import FIDInceptionV3
    from genae.metrics.inception_score import logits_from_features

    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3", reason="the peer torch-fidelity is not installed (the lower-bound venv checks genae without it)")
    torch.manual_seed(13)
    file = tmp_path / PUBLISHED_WEIGHTS["inception-v3-compat"].file
    torch.save(FIDInceptionV3().state_dict() | {"fc.weight": torch.randn(1008, 2048) / 40,
                                                 "fc.bias": torch.randn(1008)}, file)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    inception = get_extractor("inception-v3-compat", weights_dir=tmp_path)
    reference = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["logits_unbiased"],
                                                     feature_extractor_weights_path=str(file))
    with torch.no_grad():
        unbiased = reference(((images + 1) * 127.5).round().to(torch.uint8))[0]
    ours = logits_from_features(inception, inception(images))
    torch.testing.assert_close(ours.float(), unbiased, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="RANDOM-INIT extractor has none"):
        logits_from_features(get_extractor("inception-v3-compat", random_init=True), inception(images))
    fashion = get_extractor("fashion-mnist-features")
    expected = fashion.network(images.mean(1, keepdim=True))  # 32 px grey: the network's own input
    torch.testing.assert_close(logits_from_features(fashion, fashion(images)).float(), expected, rtol=1e-4, atol=1e-4)
