"""The NICE flow layer, the minibatch-stddev layer and the GAN losses LIA trains with."""

from __future__ import annotations

import math

import pytest
import torch

from genae.layers import MinibatchStdDev, NICEFlow
from genae.losses import discriminator_logistic_loss, generator_logistic_loss, r1_penalty


def _trained_looking_flow(dim: int, seed: int = 0) -> NICEFlow:
    """A flow whose couplings are far from the identity (He-scaled random weights, random biases)."""
    torch.manual_seed(seed)
    flow = NICEFlow(dim, steps=4)
    with torch.no_grad():
        for parameter in flow.parameters():
            if parameter.dim() == 1:
                parameter.normal_(0, 0.5)
    return flow


@pytest.mark.numerics
@pytest.mark.parametrize("dim", [2, 7, 64])
def test_inverse_undoes_forward(dim: int) -> None:
    flow = _trained_looking_flow(dim)
    # Latents at the prior's scale; float32 round-off is relative, so far larger values round further.
    w = torch.randn(16, dim, generator=torch.Generator().manual_seed(1))
    z = flow(w)
    assert not torch.allclose(z, w, atol=1e-2)  # the map is not the identity
    torch.testing.assert_close(flow.inverse(z), w, atol=1e-5, rtol=0)
    torch.testing.assert_close(flow(flow.inverse(w)), w, atol=1e-5, rtol=0)


@pytest.mark.numerics
def test_log_prob_is_standard_normal_density_of_the_image() -> None:
    flow = _trained_looking_flow(6)
    w = torch.randn(5, 6, generator=torch.Generator().manual_seed(2))
    z = flow(w)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    torch.testing.assert_close(flow.log_prob(w), expected, atol=1e-5, rtol=1e-6)


def test_volume_preserving() -> None:
    flow = _trained_looking_flow(5).double()
    w = torch.randn(5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    jacobian = torch.autograd.functional.jacobian(lambda v: flow(v[None])[0], w)
    assert not torch.allclose(jacobian, torch.eye(5, dtype=torch.float64))
    assert math.isclose(float(torch.linalg.det(jacobian)), 1.0, abs_tol=1e-9)


def test_flow_shares_parameters_and_learns_slowly() -> None:
    flow = NICEFlow(8, steps=4)
    assert len(flow.steps) == 4
    w = torch.randn(4, 8)
    flow(w).sum().backward()
    grads = [p.grad for p in flow.parameters()]
    assert all(g is not None for g in grads)
    assert flow.steps[0].f.hidden.scale == pytest.approx(math.sqrt(2 / 4) * 0.01)


@pytest.mark.parametrize("bad", [torch.zeros(3, 5), torch.zeros(6), "w"])
def test_flow_rejects_bad_latents(bad: object) -> None:
    flow = NICEFlow(6)
    with pytest.raises(ValueError, match="w: expected shape"):
        flow(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="z: expected shape"):
        flow.inverse(bad)  # type: ignore[arg-type]


def test_flow_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="dim"):
        NICEFlow(1)
    with pytest.raises(ValueError, match="steps"):
        NICEFlow(4, steps=0)


def test_minibatch_std_matches_group_statistics() -> None:
    x = torch.randn(8, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    out = MinibatchStdDev(group_size=4)(x)
    assert out.shape == (8, 4, 4, 4)
    # sample i sits in group i % 2: samples 0, 2, 4, 6 and 1, 3, 5, 7
    group = x[0::2]
    expected = torch.sqrt(group.var(dim=0, correction=0) + 1e-8).mean()
    torch.testing.assert_close(out[0, 3], torch.full((4, 4), float(expected)))
    torch.testing.assert_close(out[6, 3], out[0, 3])
    assert MinibatchStdDev(4)(torch.randn(3, 2, 4, 4)).shape == (3, 3, 4, 4)  # group shrinks to 3


def test_gan_losses() -> None:
    logits = torch.tensor([0.0, 2.0])
    assert float(generator_logistic_loss(logits)) == pytest.approx((math.log(2) + math.log1p(math.exp(-2))) / 2)
    assert float(discriminator_logistic_loss(logits, -logits)) == pytest.approx(
        2 * float(generator_logistic_loss(logits)))
    x = torch.randn(4, 1, 2, 2, requires_grad=True)
    penalty = r1_penalty((3 * x).flatten(1).sum(1), x)  # gradient 3 everywhere, 4 pixels: |g|^2 = 36
    assert float(penalty) == pytest.approx(36.0)
    with pytest.raises(ValueError, match="requires_grad"):
        r1_penalty(x.detach().sum((1, 2, 3)), x.detach())
