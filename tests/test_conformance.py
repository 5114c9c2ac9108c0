import pytest
import torch

import genae
from genae.testing import ConformanceError, check_model
from genae.testing.toy import ToyAutoencoder


def test_toy_model_conforms(toy_name):
    report = check_model(genae.create(toy_name))
    assert not report.failed and "save_load_bit_exact" in report.passed and "style_capabilities" in report.passed


def test_unregistered_model_skips_save_load():
    report = check_model(ToyAutoencoder(ToyAutoencoder.config_class()))
    assert "save_load_bit_exact" in report.skipped


class _LeakyBatchModel(ToyAutoencoder):
    """Encodes with batch statistics even in eval mode — a classic bug check_model must catch."""

    def encode(self, x):
        z = super().encode(x)
        return z - z.mean(0, keepdim=True)


class _IgnoresStyles(ToyAutoencoder):
    def __init__(self, config):
        super().__init__(config)
        for affine in self.decoder.styles:
            torch.nn.init.zeros_(affine.weight)


class _NoRangeCheck(ToyAutoencoder):
    def decode(self, z):
        return self.decoder(z)


@pytest.mark.parametrize(
    "cls, failing",
    [
        (_LeakyBatchModel, "batch_independence"),
        (_IgnoresStyles, "style_capabilities"),
        (_NoRangeCheck, "bad_inputs_refused"),
    ],
)
def test_broken_models_are_caught(cls, failing):
    model = cls(cls.config_class())
    report = check_model(model, raise_on_failure=False)
    assert failing in report.failed, str(report)
    with pytest.raises(ConformanceError, match=failing):
        check_model(model)


def test_check_model_rejects_non_models():
    with pytest.raises(TypeError, match="GenerativeAutoencoder"):
        check_model(torch.nn.Linear(2, 2))
