"""Style-mixing metrics: mixed samples for FID (mix) and the scale-disentanglement score.

The score is checked against a stand-in model that is perfectly disentangled by construction (its
coarse slot carries shape/position/size, its fine slot colour/texture, and it decodes by rendering) and
an oracle classifier that reads factors back by exact lookup, so the expected answers are exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest
import torch
from torch import Tensor, nn

from genae.config import ModelConfig
from genae.data import open_dataset
from genae.data.scales import render_scales
from genae.interfaces import Encoder, GenerativeAutoencoder, StyleDecoder
from genae.metrics import mixing
from genae.priors import GaussianPrior
from genae.testing.toy import ToyAutoencoder, ToyConfig

RES = 8


def _scales(split: str, size: int = 120):
    return open_dataset("scales", split=split, resolution=RES, size=size)


class _Lookup:
    """Exact image -> factors table for every image a test can produce."""

    def __init__(self, dataset) -> None:
        self.names = list(dataset.factor_sizes)
        grids = torch.meshgrid(*[torch.arange(s) for s in dataset.factor_sizes.values()], indexing="ij")
        factors = {name: g.flatten() for name, g in zip(self.names, grids)}
        images = render_scales(factors, RES)
        self.table = {img.numpy().tobytes(): torch.stack([factors[n][i] for n in self.names])
                      for i, img in enumerate(images)}

    def __call__(self, images: Tensor) -> Tensor:
        return torch.stack([self.table[img.contiguous().numpy().tobytes()] for img in images.float()])


@dataclasses.dataclass
class _Config(ModelConfig):
    resolution: int = RES
    channels_in: int = 3
    latent_dim: int = 5


class _FactorEncoder(Encoder):
    def __init__(self, lookup: _Lookup) -> None:
        super().__init__()
        self.latent_dim, self.lookup = 5, lookup

    def forward(self, x: Tensor) -> Tensor:
        return self.lookup(x).float()


class _RenderingDecoder(StyleDecoder):
    """Slot 0 sets shape, position, size; slot 1 sets colour, texture."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.latent_dim, self.names = 5, names

    @property
    def num_styles(self) -> int:
        return 2

    @property
    def style_ranges(self) -> dict[str, tuple[int, int]]:
        return {"coarse": (0, 1), "fine": (1, 2), "all": (0, 2)}

    def forward_styles(self, styles: Sequence[Tensor]) -> Tensor:
        coarse, fine = styles
        source = {"shape": coarse, "position": coarse, "size": coarse, "colour": fine, "texture": fine}
        factors = {n: source[n][:, i].round().long() for i, n in enumerate(self.names)}
        return render_scales(factors, RES)


class _Disentangled(GenerativeAutoencoder):
    config_class = _Config

    def __init__(self, config: _Config, lookup: _Lookup) -> None:
        super().__init__(config)
        self.encoder, self.decoder = _FactorEncoder(lookup), _RenderingDecoder(lookup.names)
        self.prior = GaussianPrior(5)


class _OracleClassifier(nn.Module):
    def __init__(self, lookup: _Lookup, sizes: dict[str, int]) -> None:
        super().__init__()
        self.lookup, self.sizes, self.factor_names = lookup, sizes, list(sizes)
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the classifier a device

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        factors = self.lookup(x)
        return {n: nn.functional.one_hot(factors[:, i], self.sizes[n]).float() for i, n in enumerate(self.factor_names)}


def test_perfectly_disentangled_model_scores_one_and_a_copying_model_does_not() -> None:
    test_set = _scales("test")
    lookup = _Lookup(test_set)
    model = _Disentangled(_Config(), lookup).eval()
    oracle = _OracleClassifier(lookup, dict(test_set.factor_sizes))
    result = mixing.scale_disentanglement(model, test_set, oracle, n=100, batch_size=32)
    assert result["score"] == 1.0 and result["all_factors"] == 1.0
    assert set(result["per_factor"]) == set(test_set.factor_sizes)
    assert all(v == 1.0 for v in result["reconstruction"].values())
    assert result["coarse_slots"] == [0, 1]

    # Coarse range covering both slots: the output is A's image, so fine factors match B only by chance.
    copying = mixing.scale_disentanglement(model, test_set, oracle, n=100, coarse_range=(0, 2), batch_size=32)
    assert all(copying["per_factor"][n] == 1.0 for n in test_set.coarse_factors)
    assert all(copying["per_factor"][n] < 0.6 for n in test_set.fine_factors)
    assert copying["score"] < 1.0
    with pytest.raises(ValueError, match="only 120"):
        mixing.scale_disentanglement(model, test_set, oracle, n=121)


def test_factor_classifier_trains_and_is_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(mixing, "CLASSIFIER_STEPS", 40)
    first, card = mixing.load_or_train_classifier(_scales, tmp_path, seed=0)
    assert set(card["test_accuracy"]) == {"shape", "position", "size", "colour", "texture"}
    assert card["steps"] == 40 and card["test_n"] == 120
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    again, card_again = mixing.load_or_train_classifier(_scales, tmp_path, seed=0)
    assert card_again == card
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))


def test_mixed_samples_are_seeded_and_need_a_style_decoder() -> None:
    torch.manual_seed(0)
    model = ToyAutoencoder(ToyConfig(resolution=8, latent_dim=4, width=4)).eval()
    batches = list(mixing.mixed_samples(model, 10, batch_size=4, seed=1))
    assert [b.shape[0] for b in batches] == [4, 4, 2]
    assert torch.equal(torch.cat(batches), torch.cat(list(mixing.mixed_samples(model, 10, batch_size=4, seed=1))))
    assert torch.cat(batches).abs().max() <= 1

    class _Plain:
        is_style_based = False
        architecture = "plain"

    with pytest.raises(TypeError, match="not mix styles|cannot mix styles"):
        next(mixing.mixed_samples(_Plain(), 2))
