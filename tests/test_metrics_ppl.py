"""PPL on linear generators, where the answer is known in closed form (identity-like distance)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch import Tensor

from genae.config import ModelConfig
from genae.interfaces import Decoder, Encoder, GenerativeAutoencoder
from genae.metrics.ppl import face_crop, interpolation_rule, perceptual_path_length, trimmed_mean
from genae.priors import GaussianPrior, SpherePrior

SCALE = 0.01  # keeps decoded values inside [-1, 1], so decode's clamp leaves the generator linear


@dataclasses.dataclass
class LinearConfig(ModelConfig):
    resolution: int = 4
    channels_in: int = 1
    latent_dim: int = 4
    spherical: bool = False


class _Flatten(Encoder):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.latent_dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1)


class _Linear(Decoder):
    """G(z) = SCALE * z written into the first d pixels of a 1 x 4 x 4 image (d <= 16), zeros elsewhere."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.latent_dim = dim

    def forward(self, z: Tensor) -> Tensor:
        return SCALE * torch.nn.functional.pad(z, (0, 16 - z.shape[1])).view(-1, 1, 4, 4)


class LinearModel(GenerativeAutoencoder):
    config_class = LinearConfig

    def __init__(self, config: LinearConfig) -> None:
        super().__init__(config)
        self.encoder, self.decoder = _Flatten(config.latent_dim), _Linear(config.latent_dim)
        self.prior = SpherePrior(config.latent_dim) if config.spherical else GaussianPrior(config.latent_dim)


def squared_distance(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distance in latent units: d(G(z), G(z')) = |z - z'|^2."""
    return (a - b).double().square().flatten(1).sum(1) / SCALE**2


def test_trimmed_mean_drops_extremes() -> None:
    values = np.concatenate([np.full(990, 1.0), np.full(5, -1000.0), np.full(5, 1000.0)])
    assert trimmed_mean(values) == pytest.approx(1.0)


def test_ppl_lerp_gaussian_matches_trimmed_chi_square() -> None:
    # Linear G with lerp: each value is |z2 - z1|^2 = 2 * chi^2_d exactly (eps cancels).
    d = 4
    model = LinearModel(LinearConfig(latent_dim=d))
    result = perceptual_path_length(model, 20000, squared_distance, batch_size=5000, seed=0)
    lo, hi = stats.chi2.ppf([0.01, 0.99], d)
    expected = 2 * integrate.quad(lambda x: x * stats.chi2.pdf(x, d), lo, hi)[0] / 0.98
    assert result["n"] == 20000
    assert result["ppl"] == pytest.approx(expected, rel=0.03)


def test_ppl_slerp_on_circle_is_angle_squared() -> None:
    # On the unit circle the path is an arc: each value is omega^2, omega ~ U(0, pi) the angle between ends.
    model = LinearModel(LinearConfig(latent_dim=2, spherical=True))
    result = perceptual_path_length(model, 20000, squared_distance, batch_size=5000, seed=1)
    a, b = 0.01 * math.pi, 0.99 * math.pi
    expected = (b**3 - a**3) / 3 / (b - a)
    assert result["ppl"] == pytest.approx(expected, rel=0.03)


def test_ppl_is_seeded_and_checks_inputs() -> None:
    model = LinearModel(LinearConfig())
    first = perceptual_path_length(model, 50, squared_distance, seed=3)
    assert perceptual_path_length(model, 50, squared_distance, seed=3) == first
    with pytest.raises(ValueError, match="at least 2"):
        perceptual_path_length(model, 1, squared_distance)
    with pytest.raises(ValueError, match="space"):
        perceptual_path_length(model, 10, squared_distance, space="x")
    with pytest.raises(TypeError, match="w space"):
        perceptual_path_length(model, 10, squared_distance, space="w")
    with pytest.raises(ValueError, match="variant"):
        perceptual_path_length(model, 10, squared_distance, variant="nvidia")
    with pytest.raises(TypeError, match="style-based"):
        perceptual_path_length(model, 10, squared_distance, space="styles")


def test_ppl_styles_space_on_a_style_decoder() -> None:
    from genae.testing.toy import ToyAutoencoder, ToyConfig

    torch.manual_seed(0)
    model = ToyAutoencoder(ToyConfig(resolution=8, latent_dim=4, width=4)).eval()

    def pixel_distance(a: Tensor, b: Tensor) -> Tensor:
        return (a - b).double().square().flatten(1).sum(1)

    z_space = perceptual_path_length(model, 64, pixel_distance, space="z", seed=0)
    styles = perceptual_path_length(model, 64, pixel_distance, space="styles", crop=(0, 0, 4, 4), seed=0)
    assert z_space["ppl"] > 0 and styles["ppl"] > 0 and z_space["ppl"] != styles["ppl"]


def test_stylegan_variant_slerps_a_gaussian_prior_at_its_typical_norm() -> None:
    # d = 2: the angle between two Gaussian draws is U(0, pi); StyleGAN's slerp keeps the arc, rescaled to
    # norm sqrt(2), so each value is 2 * omega^2 (genae's default would lerp: a different number).
    model = LinearModel(LinearConfig(latent_dim=2))
    assert interpolation_rule(model, "z", "stylegan") == "slerp" and interpolation_rule(model, "z", "genae") == "lerp"
    result = perceptual_path_length(model, 20000, squared_distance, batch_size=5000, seed=1, variant="stylegan")
    a, b = 0.01 * math.pi, 0.99 * math.pi
    assert result["ppl"] == pytest.approx(2 * (b**3 - a**3) / 3 / (b - a), rel=0.03)


def test_face_crop_is_stylegans_window() -> None:
    assert face_crop(256) == (96, 64, 128, 128)  # rows 96:224, columns 64:192, as c*3:c*7, c*2:c*6 with c = 32


class _DoublingMappedPrior(GaussianPrior):
    """A StyleGAN2-like prior: z ~ N(0, I) through a mapping (here w = 2 z); samples are w."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.calls = {"mapping": 0}

    def draw_z(self, n: int, generator=None, device=None) -> Tensor:
        return super().sample(n, generator=generator, device=device)

    def mapping(self, z: Tensor) -> Tensor:
        self.calls["mapping"] += 1
        return 2 * z

    def sample(self, n: int, generator=None, device=None) -> Tensor:
        return self.mapping(self.draw_z(n, generator, device))


def test_mapped_prior_moves_z_before_the_mapping_and_w_after_it() -> None:
    from genae.metrics.ppl import has_w_space

    model = LinearModel(LinearConfig(latent_dim=4))
    plain = perceptual_path_length(model, 2000, squared_distance, batch_size=500, seed=0)["ppl"]
    assert not has_w_space(model)
    model.prior = _DoublingMappedPrior(4)
    assert has_w_space(model)
    in_z = perceptual_path_length(model, 2000, squared_distance, batch_size=500, seed=0, space="z")
    assert model.prior.calls["mapping"] == 2 * 4  # both path points of each of the 4 batches are mapped
    assert in_z["ppl"] == pytest.approx(4 * plain, rel=1e-6)  # the same z draws, mapped: distances x 2^2
    before = model.prior.calls["mapping"]
    in_w = perceptual_path_length(model, 2000, squared_distance, batch_size=500, seed=0, space="w")
    assert model.prior.calls["mapping"] - before == 2 * 4  # only the endpoints' sampling maps
    assert in_w["ppl"] == pytest.approx(in_z["ppl"], rel=1e-6)  # a linear mapping: lerp commutes with it
