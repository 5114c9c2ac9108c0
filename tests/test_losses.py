"""Each loss term against values computed by hand on tiny inputs."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genae.losses import (
    AdaptiveRobustLoss,
    cosine_distance,
    empirical_kl,
    l1_loss,
    l2_loss,
    log_partition,
    robust_nll,
    robust_rho,
)

K1_AT_1 = 0.6019072301972346  # modified Bessel function K_1(1), as scipy.special.k1(1.0) gives it


def test_rho_matches_formula_and_known_special_cases() -> None:
    x = torch.tensor([1.0, 2.0, -3.0], dtype=torch.float64)
    # alpha = 1 is pseudo-Huber: sqrt((x/c)^2 + 1) - 1
    assert torch.allclose(robust_rho(x, 1.0, 1.0), torch.sqrt(x**2 + 1) - 1)
    # alpha = 0.5, c = 2 at x = 2: |a-2|/a * ((1/1.5 + 1)^(0.25) - 1)
    expected = 1.5 / 0.5 * ((1 / 1.5 + 1) ** 0.25 - 1)
    assert robust_rho(torch.tensor(2.0, dtype=torch.float64), 0.5, 2.0).item() == pytest.approx(expected, rel=1e-12)
    # near the ends it tends to Cauchy (alpha -> 0) and to x^2/2 (alpha -> 2)
    assert torch.allclose(robust_rho(x, 1e-6, 1.0), torch.log1p(x**2 / 2), rtol=1e-5)
    assert torch.allclose(robust_rho(x, 2 - 1e-7, 1.0), x**2 / 2, rtol=1e-5)


def test_rho_is_accurate_in_float32_for_tiny_alpha() -> None:
    x = torch.tensor([0.01, 0.5, 4.0])
    exact = robust_rho(x.double(), 0.001, 1.0)
    assert torch.allclose(robust_rho(x, 0.001, 1.0).double(), exact, rtol=1e-5)


@pytest.mark.parametrize(
    ("alpha", "z"),
    [
        (0.0, math.pi * math.sqrt(2)),  # Cauchy: integral of 1/(x^2/2 + 1)
        (1.0, 2 * math.e * K1_AT_1),  # integral of exp(1 - sqrt(x^2 + 1)) = 2e K1(1)
        (2.0, math.sqrt(2 * math.pi)),  # Gaussian
    ],
)
def test_log_partition_known_values(alpha: float, z: float) -> None:
    assert log_partition(torch.tensor(alpha, dtype=torch.float64)).item() == pytest.approx(math.log(z), abs=1e-6)


def test_bessel_constant_is_scipys() -> None:
    assert pytest.importorskip("scipy.special", reason="the peer scipy is not installed (the lower-bound venv checks genae without it)").k1(1.0) == pytest.approx(K1_AT_1, rel=1e-15)


def test_log_partition_table_equals_scipy_quadrature() -> None:
    """genae integrates without scipy; scipy's adaptive quadrature at tight tolerance must agree."""
    integrate = pytest.importorskip("scipy.integrate", reason="the peer scipy is not installed (the lower-bound venv checks genae without it)")
    import numpy as np

    from genae.losses.robust import _log_partition_table, _rho_numpy

    values, _ = _log_partition_table()
    alphas = np.linspace(0.0, 2.0, len(values))
    for i in range(0, len(values), 8):
        half = integrate.quad(lambda x, a=alphas[i]: math.exp(-_rho_numpy(np.float64(x), a)), 0, math.inf,
                              epsabs=1e-13, epsrel=1e-13, limit=500)[0]
        assert values[i] == pytest.approx(math.log(2 * half), abs=1e-11), alphas[i]


def test_log_partition_between_knots_and_its_gradient() -> None:
    integrate = pytest.importorskip("scipy.integrate", reason="the peer scipy is not installed (the lower-bound venv checks genae without it)")

    alpha = 0.7310  # not a grid knot
    b = abs(alpha - 2)
    half = integrate.quad(lambda x: math.exp(-b / alpha * math.expm1(alpha / 2 * math.log1p(x * x / b))), 0, math.inf)[0]
    a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
    value = log_partition(a)
    assert value.item() == pytest.approx(math.log(2 * half), abs=1e-6)
    value.backward()
    h = 1e-4
    numeric = (log_partition(torch.tensor(alpha + h, dtype=torch.float64)) - log_partition(
        torch.tensor(alpha - h, dtype=torch.float64))) / (2 * h)
    assert a.grad.item() == pytest.approx(numeric.item(), rel=1e-4)
    assert a.grad.item() < 0  # heavier tails (smaller alpha) need a larger normaliser


def test_nll_adds_log_scale_and_log_partition() -> None:
    x = torch.tensor(1.0, dtype=torch.float64)
    expected = (math.sqrt(0.25 + 1) - 1) + math.log(2.0) + log_partition(x).item()  # log Z: tested above
    assert robust_nll(x, 1.0, 2.0).item() == pytest.approx(expected, abs=1e-6)


def test_rho_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="alpha"):
        robust_rho(torch.ones(2), 2.0, 1.0)
    with pytest.raises(ValueError, match="scale"):
        robust_rho(torch.ones(2), 1.0, 0.0)
    with pytest.raises(ValueError, match="alpha"):
        log_partition(torch.tensor(2.5))


def test_adaptive_loss_initial_value() -> None:
    loss = AdaptiveRobustLoss(channels=2, resolution=4)
    assert torch.allclose(loss.alpha(), torch.ones(2, 4, 4), atol=1e-6)
    assert torch.allclose(loss.scale(), torch.ones(2, 4, 4), atol=1e-6)
    residual = torch.tensor([0.0, 1.0]).repeat(16).reshape(1, 2, 4, 4)
    # half the elements at 0 (rho 0), half at 1 (rho sqrt(2) - 1); log c = 0; log Z(1) everywhere
    expected = (math.sqrt(2) - 1) / 2 + math.log(2 * math.e * K1_AT_1)
    assert loss(residual).item() == pytest.approx(expected, abs=1e-5)


def test_adaptive_loss_growing_copies_each_pixel_to_the_2x2_it_covers() -> None:
    torch.manual_seed(0)
    loss = AdaptiveRobustLoss(channels=1, resolution=8)
    optimizer = torch.optim.Adam(loss.parameters(), lr=0.05, betas=(0.0, 0.99))
    coarse = torch.randn(16, 1, 4, 4) * torch.linspace(0.1, 2.0, 16).reshape(1, 1, 4, 4)
    for _ in range(20):  # learn at 4x4 (per-pixel shape and scale now differ)
        optimizer.zero_grad()
        loss(coarse).backward()
        optimizer.step()
    alpha4, scale4 = loss.alpha(4), loss.scale(4)
    assert alpha4.std() > 1e-3 and scale4.std() > 1e-3
    up = lambda t: F.interpolate(t[None], scale_factor=2, mode="nearest")[0]  # noqa: E731
    assert torch.allclose(loss.alpha(8), up(alpha4), atol=1e-6)
    assert torch.allclose(loss.scale(8), up(scale4), atol=1e-6)
    fine = F.interpolate(coarse, scale_factor=2, mode="nearest")
    assert loss(fine).item() == pytest.approx(loss(coarse).item(), abs=1e-5)


def test_adaptive_loss_learns_shape_from_data() -> None:
    """Gaussian residuals drive alpha up towards 2, Cauchy residuals towards 0 (needs a correct log Z)."""
    torch.manual_seed(0)
    gaussian = torch.randn(4096, 1, 1, 1) * 0.5
    cauchy = torch.distributions.Cauchy(0.0, 0.5).sample((4096, 1, 1, 1))
    fitted = {}
    for name, data in (("gaussian", gaussian), ("cauchy", cauchy)):
        loss = AdaptiveRobustLoss(channels=1, resolution=1)
        optimizer = torch.optim.Adam(loss.parameters(), lr=0.05)
        for _ in range(300):
            optimizer.zero_grad()
            loss(data).backward()
            optimizer.step()
        fitted[name] = loss.alpha().item()
    assert fitted["gaussian"] > 1.6  # still creeping up: the likelihood is flat near alpha = 2
    assert fitted["cauchy"] < 0.2


def test_adaptive_loss_rejects_bad_input() -> None:
    loss = AdaptiveRobustLoss(channels=1, resolution=8)
    with pytest.raises(ValueError, match="residual"):
        loss(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="resolution"):
        loss(torch.zeros(2, 1, 16, 16))
    with pytest.raises(ValueError, match="alpha_range"):
        AdaptiveRobustLoss(channels=1, resolution=8, alpha_range=(0.0, 2.0))


def test_empirical_kl_by_hand() -> None:
    latents = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    # mean (2, 1), population variance (1, 1): dims give (1+4)/2 - 0 - 1/2 = 2 and (1+1)/2 - 1/2 = 0.5
    assert empirical_kl(latents).item() == pytest.approx(1.25, abs=1e-6)
    standard = torch.randn(20000, 4, generator=torch.Generator().manual_seed(0))
    assert empirical_kl(standard).item() == pytest.approx(0.0, abs=1e-3)
    with pytest.raises(ValueError, match="latents"):
        empirical_kl(torch.zeros(1, 4))


def test_cosine_distance_by_hand() -> None:
    predicted = torch.tensor([[1.0, 0.0], [2.0, 0.0], [1.0, 1.0]])
    target = torch.tensor([[0.0, 1.0], [3.0, 0.0], [-1.0, -1.0]])
    assert cosine_distance(predicted, target).item() == pytest.approx((1 + 0 + 2) / 3, abs=1e-6)
    with pytest.raises(ValueError, match="shapes"):
        cosine_distance(predicted, target[:, :1])


def test_l1_and_l2_by_hand() -> None:
    output, target = torch.tensor([[1.0, -1.0], [0.5, 2.0]]), torch.tensor([[0.0, 1.0], [0.5, 0.0]])
    assert l1_loss(output, target).item() == pytest.approx((1 + 2 + 0 + 2) / 4)
    assert l2_loss(output, target).item() == pytest.approx((1 + 4 + 0 + 4) / 4)
    with pytest.raises(ValueError, match="shapes"):
        l2_loss(output, target[:1])


def test_losses_upcast_half_precision_inputs() -> None:
    """Under bf16 autocast the networks hand the losses bf16 tensors; the loss math must still be float32."""
    torch.manual_seed(0)
    latents = F.normalize(torch.randn(64, 32), dim=1)
    other = F.normalize(torch.randn(64, 32), dim=1)
    half = latents.bfloat16()
    for loss, args in ((empirical_kl, (half,)), (cosine_distance, (half, other.bfloat16())),
                       (l1_loss, (half, other.bfloat16())), (l2_loss, (half, other.bfloat16()))):
        value = loss(*args)
        assert value.dtype == torch.float32, loss.__name__
        exact = loss(*(a.float() for a in args))  # the same bf16-rounded inputs, float32 arithmetic
        assert value.item() == pytest.approx(exact.item(), rel=1e-6), loss.__name__
    robust = AdaptiveRobustLoss(1, 4)
    residual = torch.randn(8, 1, 4, 4)
    assert robust(residual.bfloat16()).dtype == torch.float32
    assert empirical_kl(latents.double()).dtype == torch.float64  # wider inputs are left alone
