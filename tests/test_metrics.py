"""Closed-form checks of the metric formulas (no pretrained networks involved)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.linalg
import torch

from genae.metrics import (
    FeatureStats,
    frechet_distance,
    frechet_distance_from_stats,
    kernel_distance,
    mse,
    psnr,
    ssim,
)
from genae.metrics.reconstruction import gaussian_window
from genae.metrics.swd import laplacian_pyramid, level_resolutions, swd


def _gaussian(n: int, mean: torch.Tensor, cov: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    root = torch.linalg.cholesky(cov)
    return torch.randn(n, len(mean), generator=g, dtype=torch.float64) @ root.T + mean


def _random_spd(d: int, seed: int) -> torch.Tensor:
    a = torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return a @ a.T / d + 0.1 * torch.eye(d, dtype=torch.float64)


def test_fid_of_exact_gaussian_stats_matches_closed_form() -> None:
    d = 6
    m1, m2 = torch.zeros(d, dtype=torch.float64), torch.linspace(-1, 1, d, dtype=torch.float64)
    s1, s2 = _random_spd(d, 1), _random_spd(d, 2)
    expected = float((m1 - m2).square().sum() + s1.trace() + s2.trace()
                     - 2 * np.trace(scipy.linalg.sqrtm(s1.numpy() @ s2.numpy())).real)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        got = frechet_distance_from_stats(FeatureStats(m1, s1, 5000), FeatureStats(m2, s2, 5000))
    assert got.value == pytest.approx(expected, rel=1e-9)


def test_fid_of_diagonal_gaussians_from_samples() -> None:
    mean_a, mean_b = torch.tensor([0.0, 0.0, 0.0]), torch.tensor([1.0, 0.0, -2.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([1.0, 1.0, 1.0])
    expected = float((mean_a - mean_b).square().sum() + (var_a + var_b - 2 * (var_a * var_b).sqrt()).sum())
    a = _gaussian(200_000, mean_a.double(), torch.diag(var_a).double(), seed=0)
    b = _gaussian(200_000, mean_b.double(), torch.diag(var_b).double(), seed=1)
    assert frechet_distance(a, b).value == pytest.approx(expected, rel=0.02)  # expected = 6.25


def test_fid_of_identical_sets_is_zero_and_reports_n() -> None:
    feats = torch.randn(3000, 16, generator=torch.Generator().manual_seed(0))
    score = frechet_distance(feats, feats.clone())
    assert abs(score.value) < 1e-8
    assert (score.n_a, score.n_b) == (3000, 3000)


def test_fid_refuses_too_few_and_warns_under_2048() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(torch.randn(1, 4), torch.randn(10, 4))
    with pytest.warns(UserWarning, match="2048"):
        frechet_distance(torch.randn(100, 4), torch.randn(100, 4))
    with pytest.raises(ValueError, match="shape"):
        frechet_distance(torch.randn(100), torch.randn(100, 4))


def test_feature_stats_round_trip(tmp_path) -> None:
    stats = FeatureStats.from_features(torch.randn(50, 5))
    stats.save(tmp_path / "s.safetensors")
    loaded = FeatureStats.load(tmp_path / "s.safetensors")
    assert loaded.n == 50 and torch.equal(loaded.mean, stats.mean) and torch.equal(loaded.cov, stats.cov)


def test_kid_is_unbiased_on_identical_distributions() -> None:
    # Independent pairs of sets from one distribution: the unbiased MMD^2 estimate averages to zero, whereas
    # a biased (V-statistic) estimate would sit near +2 (E k(x,x) - E k(x,y)) / m, about +0.2 here.
    values = []
    for seed in range(60):
        g = torch.Generator().manual_seed(seed)
        a, b = torch.randn(100, 4, generator=g), torch.randn(100, 4, generator=g)
        values.append(kernel_distance(a, b, subsets=1, subset_size=100, seed=seed).value)
    values = np.array(values)
    assert abs(values.mean()) < 3 * values.std() / math.sqrt(len(values))


def test_kid_detects_a_shift_and_is_seeded() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 4, generator=g), torch.randn(400, 4, generator=g) + 0.5
    first = kernel_distance(a, b, subsets=20, subset_size=200, seed=3)
    assert first.value > 10 * first.std / math.sqrt(20) > 0
    assert kernel_distance(a, b, subsets=20, subset_size=200, seed=3) == first
    assert first.n_a == 400


def test_psnr_and_mse_by_hand() -> None:
    a = torch.zeros(2, 1, 8, 8)
    b = torch.full((2, 1, 8, 8), 0.1)
    assert mse(a, b).tolist() == pytest.approx([0.01, 0.01])
    assert psnr(a, b).tolist() == pytest.approx([10 * math.log10(4 / 0.01)] * 2)  # 26.02 dB, range 2
    assert psnr(a, b, data_range=1.0)[0].item() == pytest.approx(20.0)
    assert math.isinf(psnr(a, a)[0].item())
    with pytest.raises(ValueError, match="same shape"):
        psnr(a, b[:1])


def test_ssim_of_constant_images_matches_formula() -> None:
    x, y = 0.2, -0.3
    a, b = torch.full((1, 1, 16, 16), x, dtype=torch.float64), torch.full((1, 1, 16, 16), y, dtype=torch.float64)
    c1 = (0.01 * 2) ** 2
    assert ssim(a, b).item() == pytest.approx((2 * x * y + c1) / (x * x + y * y + c1), rel=1e-9)
    assert ssim(a, a).item() == pytest.approx(1.0)


def test_ssim_on_one_window_by_hand() -> None:
    g = torch.Generator().manual_seed(0)
    a = torch.rand(1, 1, 11, 11, generator=g, dtype=torch.float64) * 2 - 1
    b = (a + 0.3 * torch.randn(1, 1, 11, 11, generator=g, dtype=torch.float64)).clamp(-1, 1)
    w = gaussian_window().numpy()
    x, y = a[0, 0].numpy(), b[0, 0].numpy()
    mx, my = (w * x).sum(), (w * y).sum()
    vx, vy = (w * (x - mx) ** 2).sum(), (w * (y - my) ** 2).sum()
    cxy = (w * (x - mx) * (y - my)).sum()
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    expected = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    assert ssim(a, b).item() == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ValueError, match="smaller than"):
        ssim(a[..., :8, :8], b[..., :8, :8])


def test_ssim_is_per_image_across_chunks() -> None:
    """More images than one convolution chunk: every image's value is what it gets on its own."""
    from genae.metrics.reconstruction import SSIM_CHUNK

    g = torch.Generator().manual_seed(3)
    a = torch.rand(SSIM_CHUNK + 5, 2, 16, 16, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(a.shape, generator=g)).clamp(-1, 1)
    together = ssim(a, b)
    alone = torch.cat([ssim(a[i:i + 1], b[i:i + 1]) for i in (0, SSIM_CHUNK - 1, SSIM_CHUNK, len(a) - 1)])
    assert together.shape == (len(a),)
    torch.testing.assert_close(together[[0, SSIM_CHUNK - 1, SSIM_CHUNK, len(a) - 1]], alone, rtol=0, atol=1e-6)


def _blobs(n: int, seed: int, resolution: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(n, 1, 4, 4, generator=g)
    return torch.nn.functional.interpolate(low, size=resolution, mode="bicubic", align_corners=False).tanh()


def test_laplacian_pyramid_reconstructs_the_image() -> None:
    from genae.metrics.swd import _pyramid_up

    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    levels = laplacian_pyramid(x, 3)
    assert [lv.shape[-1] for lv in levels] == [32, 16, 8]
    rebuilt = levels[-1]
    for level in levels[-2::-1]:
        rebuilt = _pyramid_up(rebuilt, level.shape[-2:]) + level
    assert torch.allclose(rebuilt, x, atol=1e-12)


def test_swd_identical_is_small_and_shifted_is_large() -> None:
    real, same_distribution = _blobs(64, 0), _blobs(64, 1)
    noise = 0.3 * torch.randn(64, 1, 32, 32, generator=torch.Generator().manual_seed(2))
    shifted = (_blobs(64, 1) + noise).clamp(-1, 1)
    identical = swd([real], [real.clone()], 32, seed=0)
    similar = swd([real], [same_distribution], 32, seed=0)
    different = swd([real], [shifted], 32, seed=0)
    assert set(identical) == {"swd_32", "swd_16", "swd"}
    assert identical["swd"] < 0.25 * different["swd"]
    assert similar["swd"] < 0.5 * different["swd"]
    assert swd([real], [shifted], 32, seed=0) == different  # seeded


def test_swd_levels_and_small_images() -> None:
    assert level_resolutions(64) == [64, 32, 16]
    assert level_resolutions(28) == [28]
    assert level_resolutions(8) == [8]  # below 16 px: one level at full resolution (documented)
    with pytest.raises(ValueError, match="smaller than"):
        level_resolutions(6)
    small = swd([_blobs(8, 0, 8)], [_blobs(8, 1, 8)], 8)
    assert set(small) == {"swd_8", "swd"}
    with pytest.raises(ValueError, match="same number"):
        swd([_blobs(8, 0)], [_blobs(4, 1)], 32)


def test_peak_memory_sees_an_allocation_and_speed_reports_both_directions() -> None:
    from genae.metrics.speed import PeakMemory, measure_speed
    from genae.testing.toy import ToyAutoencoder, ToyConfig

    with PeakMemory("cpu") as memory:
        block = torch.ones(50_000_000)  # 200 MB
        del block
    assert memory.peak_bytes > 150e6
    model = ToyAutoencoder(ToyConfig(resolution=8, width=4)).eval()
    result = measure_speed(model, torch.rand(20, 1, 8, 8) * 2 - 1, batch_size=8)
    assert result["encode_images_per_s"] > 0 and result["decode_images_per_s"] > 0 and result["n"] == 20
    with pytest.raises(ValueError, match="non-empty"):
        measure_speed(model, torch.rand(0, 1, 8, 8))
