"""check_model passes a correct model and catches each deliberately wrong one, naming the contract and method."""

import re

import pytest
import torch
from torch import nn

import genae
from genae.registry import REGISTRY, ModelSpec
from genae.testing import CONTRACTS, ConformanceError, check_model
from genae.testing.toy import ToyAutoencoder, ToyEncoder, ToyStyleDecoder


def test_toy_model_conforms(toy_name):
    report = check_model(genae.create(toy_name))
    assert not report.failed, str(report)
    assert {"save_load_bit_exact", "style_capabilities", "decoder_output_range", "encoder_uses_input",
            "decoder_uses_latent"} <= set(report.passed)


# -- the wrong models: each breaks exactly one contract --------------------------------------------------------
class ConstantEncoder(ToyEncoder):
    """Returns a learned constant: trains (gradients reach it) but every image gets the same code."""

    def __init__(self, config):
        super().__init__(config)
        self.code = nn.Parameter(torch.randn(config.latent_dim))

    def forward(self, x):
        return self.code.expand(x.shape[0], -1) + 0 * self.body(x)


class InputIgnoringEncoder(ToyEncoder):
    def forward(self, x):
        return self.body(torch.zeros_like(x))


class FirstCoordinateDecoder(ToyStyleDecoder):
    """Reads only z[:, 0] of every style."""

    def forward_styles(self, styles):
        return super().forward_styles([z[:, :1].expand_as(z) for z in styles])


class SigmoidDecoder(ToyStyleDecoder):
    """Images in [0, 1] instead of [-1, 1]."""

    def forward_styles(self, styles):
        return (super().forward_styles(styles) + 1) / 2


class NonPersistentGainDecoder(ToyStyleDecoder):
    """A random gain kept in a non-persistent buffer: model.safetensors never holds it."""

    def __init__(self, config):
        super().__init__(config)
        self.register_buffer("gain", torch.rand(1) + 0.5, persistent=False)

    def forward_styles(self, styles):
        return super().forward_styles(styles) * self.gain


class PlainTensorOffsetDecoder(ToyStyleDecoder):
    """A random offset held as a plain tensor attribute: not in state_dict, lost by save/load."""

    def __init__(self, config):
        super().__init__(config)
        self.offset = torch.randn(1) * 0.1

    def forward_styles(self, styles):
        return (super().forward_styles(styles) + self.offset).clamp(-1, 1)


def _with(encoder=ToyEncoder, decoder=ToyStyleDecoder):
    class Wrong(ToyAutoencoder):
        def __init__(self, config):
            super().__init__(config)
            self.encoder, self.decoder = encoder(config), decoder(config)

    return Wrong


class LeakyBatchModel(ToyAutoencoder):
    """Encodes with batch statistics even in eval mode."""

    def encode(self, x):
        z = super().encode(x)
        return z - z.mean(0, keepdim=True)


class IgnoresStyles(ToyAutoencoder):
    def __init__(self, config):
        super().__init__(config)
        for affine in self.decoder.styles:
            nn.init.zeros_(affine.weight)


class NoRangeCheck(ToyAutoencoder):
    def decode(self, z):
        return self.decoder(z)


WRONG = {
    "constant-encoder": (_with(encoder=ConstantEncoder), "encoder_uses_input", "ConstantEncoder.forward"),
    "input-ignoring-encoder": (_with(encoder=InputIgnoringEncoder), "encoder_uses_input",
                               "InputIgnoringEncoder.forward"),
    "first-coordinate-decoder": (_with(decoder=FirstCoordinateDecoder), "decoder_uses_latent",
                                 "FirstCoordinateDecoder.forward ignores latent dimension(s) 1, 2, 3 of 4"),
    "sigmoid-decoder": (_with(decoder=SigmoidDecoder), "decoder_output_range", "SigmoidDecoder.forward"),
    "non-persistent-buffer": (_with(decoder=NonPersistentGainDecoder), "save_load_bit_exact",
                              "decoder.gain (a non-persistent buffer of NonPersistentGainDecoder)"),
    "plain-tensor-attribute": (_with(decoder=PlainTensorOffsetDecoder), "save_load_bit_exact",
                               "decoder.offset (a plain tensor attribute of PlainTensorOffsetDecoder)"),
    "leaky-batch": (LeakyBatchModel, "batch_independence", "encoding a batch differs"),
    "ignores-styles": (IgnoresStyles, "style_capabilities", "forward_styles ignores its styles"),  # + below
    "no-range-check": (NoRangeCheck, "bad_inputs_refused", "decode of latents one too wide"),
}
#: A decoder whose style affines are zero ignores its latent altogether, which more checks see.
ALSO_FAILS = {"ignores-styles": ("decoder_uses_latent", "seeded_sampling", "gradients_flow")}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_each_wrong_model_fails_exactly_its_contract(name):
    cls, contract, blame = WRONG[name]
    key = f"wrong-{name}"
    if key not in REGISTRY.models:
        REGISTRY.add_model(ModelSpec(key, cls, plugin="tests", defaults={"latent_dim": 4}))
    torch.manual_seed(0)
    report = check_model(genae.create(key), raise_on_failure=False)
    assert set(report.failed) == {contract, *ALSO_FAILS.get(name, ())}, str(report)
    assert blame in report.failed[contract], report.failed[contract]
    assert "__init__.py:" not in report.failed[contract]  # not the suite's own line
    with pytest.raises(ConformanceError, match=re.escape(f"FAILED {contract} [contract: {CONTRACTS[contract]}]")):
        check_model(genae.create(key))


def test_model_built_directly_fails_save_load_instead_of_skipping():
    report = check_model(ToyAutoencoder(ToyAutoencoder.config_class()), raise_on_failure=False)
    assert set(report.failed) == {"save_load_bit_exact"}, str(report)
    assert "built directly (ToyAutoencoder(config)), not with genae.create(name)" in report.failed["save_load_bit_exact"]


def test_model_code_errors_point_at_the_model_line(toy_name):
    class Crashes(ToyStyleDecoder):
        def forward_styles(self, styles):
            raise RuntimeError("bad reshape")

    key = "wrong-crashing-decoder"
    if key not in REGISTRY.models:
        REGISTRY.add_model(ModelSpec(key, _with(decoder=Crashes), plugin="tests"))
    report = check_model(genae.create(key), raise_on_failure=False)
    assert "RuntimeError: bad reshape (raised at test_conformance.py:" in report.failed["shapes"]
    assert "in forward_styles)" in report.failed["shapes"]


def test_check_model_rejects_non_models():
    with pytest.raises(TypeError, match="GenerativeAutoencoder"):
        check_model(torch.nn.Linear(2, 2))
