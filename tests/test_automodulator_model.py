"""The automodulator's networks, layers, config and editing API (issue 3)."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch.nn import functional as F

import genae
from genae.layers import AdaIN, Blur, EqualizedConv2d, EqualizedLinear, NoiseInjection
from genae.nets.progressive import ProgressiveEncoder, ProgressiveStyleDecoder
from genae.priors import slerp
from genae.testing import check_model
from genae_plugins.automodulator.config import AutomodulatorConfig
from genae_plugins.automodulator.model import Automodulator

TINY = {"resolution": 16, "channels": [16, 12, 8], "encoder_channels": [16, 12, 8], "latent_dim": 12}


def tiny(**overrides) -> Automodulator:
    torch.manual_seed(0)
    model = genae.create("automodulator", **{**TINY, **overrides})
    # Non-zero noise scales, so tests can tell when noise is (not) applied.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("noise.scale"):
                parameter.fill_(0.5)
    return model.eval()


def images(n: int = 3, side: int = 16, channels: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def codes(model: Automodulator, n: int = 3, seed: int = 1) -> torch.Tensor:
    return model.prior.sample(n, generator=torch.Generator().manual_seed(seed))


# -- conformance ------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides", [
    {},
    {"resolution": 8, "channels_in": 1, "channels": [8, 8], "encoder_channels": [8, 8], "latent_dim": 8},
    {"resolution": 32, "channels": [16, 16, 8, 8], "encoder_channels": [16, 16, 8, 8], "encoder_final_channels": 6,
     "use_noise": False},
    {"resolution": 4, "channels": [8], "encoder_channels": [8], "latent_dim": 4},
    {"support_block": 1},
])
def test_check_model_passes(overrides):
    report = check_model(tiny(**overrides))
    assert not report.failed and "style_capabilities" in report.passed


def test_alias_and_style_based():
    model = genae.create("automod", **TINY)
    assert isinstance(model, Automodulator) and model.architecture == "automodulator" and model.is_style_based
    assert model.decoder.num_styles == 3 and model.prior.is_spherical


def test_authors_large_architecture_parameter_counts():
    """The issue's record: ~20.7M encoder and ~20.2M decoder parameters at 32 px, 512 wide, 512-d latent."""
    model = Automodulator(AutomodulatorConfig(resolution=32, channels="large"))
    encoder = sum(p.numel() for p in model.encoder.parameters())
    decoder = sum(p.numel() for p in model.decoder.parameters())
    # 3 blocks of two 512x512 3x3 convs + (3x3 512x512, 4x4 512x512) + 1x1 from_rgb at 4 resolutions
    assert encoder == 3 * 2 * (512 * 512 * 9 + 512) + (512 * 512 * 9 + 512) + (512 * 512 * 16 + 512) + 4 * (3 * 512 + 512)
    assert round(encoder / 1e6, 1) == 20.7 and round(decoder / 1e6, 1) == 20.2


# -- config ---------------------------------------------------------------------------------------
def test_presets_are_truncated_to_the_resolution():
    large = AutomodulatorConfig(resolution=256, channels="large")
    small = AutomodulatorConfig(resolution=256, channels="small")
    assert large.decoder_widths == [512, 512, 512, 512, 512, 256, 128]
    assert small.decoder_widths == [512, 512, 512, 512, 256, 128, 64]
    assert large.encoder_widths == small.encoder_widths == [512, 512, 512, 512, 256, 128, 64]
    assert AutomodulatorConfig(resolution=32, channels="large").decoder_widths == [512] * 4


@pytest.mark.parametrize(("overrides", "field"), [
    ({"channels": [8, 8]}, "channels"),
    ({"channels": "medium"}, "channels"),
    ({"encoder_channels": [8, 8, 8, 0]}, "encoder_channels"),
    ({"encoder_final_channels": 0}, "encoder_final_channels"),
    ({"resolution": 2048, "channels": "large"}, "channels"),
    ({"resolution": 24}, "resolution"),
    ({"resolution": 16, "support_block": 3}, "support_block"),
    ({"support_block": True}, "support_block"),
])
def test_bad_config_names_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        AutomodulatorConfig(**overrides)


def test_config_json_round_trip_with_tuples():
    config = AutomodulatorConfig(resolution=16, channels=(8, 8, 4), encoder_channels=(8, 8, 4))
    again = AutomodulatorConfig.from_dict(json.loads(config.to_json()))
    assert again == config and again.channels == [8, 8, 4]


# -- layers -----------------------------------------------------------------------------------------
def test_equalized_layers_scale_at_run_time():
    conv = EqualizedConv2d(4, 5, 3, padding=1)
    x = torch.randn(2, 4, 6, 6)
    expected = F.conv2d(x, conv.weight * math.sqrt(2 / 36), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected)
    linear = EqualizedLinear(8, 3, gain=0.01, bias_init=1.0)
    z = torch.randn(5, 8)
    torch.testing.assert_close(linear(z), z @ (linear.weight * 0.01 * math.sqrt(2 / 8)).t() + 1.0)


def test_blur_is_the_normalised_binomial_filter():
    blur = Blur(2)
    x = torch.zeros(1, 2, 5, 5)
    x[0, 1, 2, 2] = 16.0
    out = blur(x)
    assert out[0, 0].abs().sum() == 0
    torch.testing.assert_close(out[0, 1, 1:4, 1:4], torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]))
    assert "kernel" not in blur.state_dict()  # architecture, not weights


def test_adain_sets_per_channel_statistics_unbiased():
    adain = AdaIN(6, 3)
    x, z = torch.randn(2, 3, 4, 4) * 5 + 2, torch.randn(2, 6)
    out = adain(x, z)
    style = adain.affine(z)
    torch.testing.assert_close(out.mean(dim=(2, 3)), style[:, 3:], atol=1e-5, rtol=0)
    torch.testing.assert_close(out.flatten(2).std(dim=2, unbiased=True), style[:, :3].abs(), atol=1e-5, rtol=1e-5)
    assert torch.equal(adain.affine.bias, torch.ones(6))
    constant = adain(torch.ones(1, 3, 4, 4), z[:1])  # an exactly constant channel gives the shift, not NaN
    torch.testing.assert_close(constant, style[:1, 3:, None, None].expand(1, 3, 4, 4))


def test_noise_injection_is_identity_at_init_and_seeded():
    noise = NoiseInjection(3)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(noise(x), x)
    with torch.no_grad():
        noise.scale.fill_(1.0)
    a = noise(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, noise(x, torch.Generator().manual_seed(3)))
    assert not torch.equal(a, noise(x, torch.Generator().manual_seed(4)))


def test_noise_is_one_draw_per_pixel_scaled_per_channel():
    noise = NoiseInjection(3)
    with torch.no_grad():
        noise.scale.copy_(torch.tensor([0.0, 1.0, 2.0]))
    x = torch.zeros(2, 3, 4, 4)
    added = noise(x, torch.Generator().manual_seed(0))
    assert torch.equal(added[:, 0], x[:, 0])
    torch.testing.assert_close(added[:, 2], 2 * added[:, 1])
    assert not torch.equal(added[0, 1], added[1, 1])  # independent per sample


# -- networks ----------------------------------------------------------------------------------------
def test_decoder_shapes_per_phase_and_styles_beyond_phase_ignored():
    model = tiny()
    z, other = codes(model), codes(model, seed=2)
    for phase in range(3):
        out = model.decode_styles_at([z] * 3, phase)
        assert out.shape == (3, 3, 4 * 2**phase, 4 * 2**phase)
    assert torch.equal(model.decode_styles_at([z, z, z], 1), model.decode_styles_at([z, z, other], 1))


def test_growing_preserves_the_function_at_alpha_zero():
    """At α=0 the new block is faded out: phase p equals phase p−1 (upsampled / on pooled images)."""
    model = tiny()
    z, x = codes(model), images()
    for phase in (1, 2):
        new = model.decode_styles_at([z] * 3, phase, alpha=0.0)
        old = model.decode_styles_at([z] * 3, phase - 1, alpha=1.0)
        torch.testing.assert_close(new, F.interpolate(old, scale_factor=2.0, mode="nearest"))
        side = 4 * 2**phase
        x_p = F.adaptive_avg_pool2d(x, side)
        torch.testing.assert_close(model.encode_at(x_p, phase, alpha=0.0), model.encode_at(F.avg_pool2d(x_p, 2), phase - 1))
    half = model.decode_styles_at([z] * 3, 2, alpha=0.5)
    full, faded = model.decode_styles_at([z] * 3, 2), model.decode_styles_at([z] * 3, 2, alpha=0.0)
    torch.testing.assert_close(half, 0.5 * faded + 0.5 * full)


def test_features_and_forward_from_features_compose():
    model = tiny()
    styles = [codes(model, seed=s) for s in range(3)]
    for start in (1, 2):
        features = model.decoder.features(styles, start - 1)
        assert features.shape == (3, TINY["channels"][start - 1], 4 * 2 ** (start - 1), 4 * 2 ** (start - 1))
        for alpha in (1.0, 0.3):
            torch.testing.assert_close(model.decoder.forward_from_features(features, styles, start, alpha=alpha),
                                       model.decoder.forward_styles(styles, alpha=alpha))
    with pytest.raises(ValueError, match="output of block 0"):
        model.decoder.forward_from_features(torch.zeros(3, 5, 4, 4), styles, 1)


def test_noise_only_in_training_mode_and_seedable():
    model = tiny()
    z = codes(model)
    plain = model.decoder(z)
    model.train()
    noisy = model.decoder.forward_styles([z] * 3, noise_generator=torch.Generator().manual_seed(0))
    again = model.decoder.forward_styles([z] * 3, noise_generator=torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again) and not torch.equal(noisy, plain)
    model.eval()
    assert torch.equal(model.decoder(z), plain)
    quiet = tiny(use_noise=False).train()
    assert torch.equal(quiet.decoder(z), quiet.decoder(z))


def test_encoder_codes_are_unit_and_final_width_configurable():
    model = tiny(encoder_final_channels=5)
    assert model.encoder.blocks[0].conv1.weight.shape[0] == 5
    z = model.encode(images())
    torch.testing.assert_close(z.norm(dim=1), torch.ones(3))
    raw = ProgressiveEncoder(7, [8, 8], normalize=False)(images(side=8))
    assert raw.shape == (3, 7) and not torch.allclose(raw.norm(dim=1), torch.ones(3))


def test_spectral_norm_is_per_model_and_iterates_only_in_training():
    a, b = tiny(), tiny()
    u_of = lambda m: m.encoder.blocks[1].conv1.parametrizations.weight[0]._u.clone()  # noqa: E731
    before_a, before_b = u_of(a), u_of(b)
    a.encode(images())
    assert torch.equal(u_of(a), before_a)  # eval: cached u
    a.train()
    a.encoder(images())
    assert not torch.equal(u_of(a), before_a) and torch.equal(u_of(b), before_b)
    with torch.no_grad():
        for _ in range(20):  # power iterations converge: the effective weight has spectral norm 1
            a.encoder(images())
        weight = a.encoder.blocks[1].conv1.weight
    assert float(torch.linalg.matrix_norm(weight.flatten(1), ord=2)) == pytest.approx(1.0, rel=1e-3)


def test_decoder_and_encoder_work_on_their_own():
    decoder = ProgressiveStyleDecoder(6, [8, 4], out_channels=1, use_noise=False)
    assert decoder(torch.randn(2, 6)).shape == (2, 1, 8, 8) and decoder.resolution == 8
    assert ProgressiveEncoder(6, [8, 4], in_channels=1)(torch.randn(2, 1, 8, 8)).shape == (2, 6)


# -- style ranges and editing -----------------------------------------------------------------------
@pytest.mark.parametrize(("side", "expected"), [
    (4, {"coarse": (0, 1)}),
    (8, {"coarse": (0, 1), "fine": (1, 2)}),
    (16, {"coarse": (0, 1), "intermediate": (1, 2), "fine": (2, 3)}),
    (32, {"coarse": (0, 2), "intermediate": (2, 3), "fine": (3, 4)}),
    (64, {"coarse": (0, 2), "intermediate": (2, 4), "fine": (4, 5)}),
    (1024, {"coarse": (0, 2), "intermediate": (2, 4), "fine": (4, 9)}),
])
def test_named_style_ranges_follow_the_paper(side, expected):
    n = side.bit_length() - 2
    ranges = ProgressiveStyleDecoder(4, [4] * n).style_ranges
    assert ranges == {**expected, "all": (0, n)}


def test_mix_named_explicit_and_many_sources():
    model = tiny()
    z = [codes(model, seed=s) for s in range(3)]
    mixed = model.mix(z, ["coarse", (1, 2), None])
    assert torch.equal(mixed, model.decoder.forward_styles([z[0], z[1], z[2]]).clamp(-1, 1))
    assert torch.equal(model.mix([z[0], z[1]], [range(0, 2), "fine"]),
                       model.decoder.forward_styles([z[0], z[0], z[1]]).clamp(-1, 1))
    with pytest.raises(ValueError, match=r"valid: named ranges .*coarse.* 0 <= start < stop <= 3"):
        model.mix([z[0], z[1]], [(0, 4), None])
    with pytest.raises(ValueError, match="unknown style range"):
        model.mix([z[0], z[1]], ["middle", None])


def test_conditional_sample_keeps_the_chosen_styles():
    model = tiny()
    x = images(2)
    gen = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    out = model.conditional_sample(x, keep="coarse", n=4, generator=gen(0))
    assert out.shape == (2, 4, 3, 16, 16)
    assert torch.equal(out, model.conditional_sample(x, keep="coarse", n=4, generator=gen(0)))
    assert not torch.equal(out, model.conditional_sample(x, keep="coarse", n=4, generator=gen(1)))
    assert not torch.equal(out[0, 0], out[0, 1])  # the free styles vary
    # by hand: input codes in the kept slots, prior draws (same generator) elsewhere
    z = model.encode(x).repeat_interleave(4, dim=0)
    draws = model.prior.sample(8, generator=gen(0))
    expected = model.decoder.forward_styles([z, draws, draws]).clamp(-1, 1)
    assert torch.equal(out.flatten(0, 1), expected)
    everything = model.conditional_sample(x, keep=["coarse", "intermediate", "fine"], n=2, generator=gen(0))
    torch.testing.assert_close(everything, model.reconstruct(x)[:, None].expand(2, 2, 3, 16, 16))
    with pytest.raises(ValueError, match="keep"):
        model.conditional_sample(x, keep=None)
    with pytest.raises(ValueError, match="n: expected a positive int"):
        model.conditional_sample(x, n=0)


def test_interpolate_is_slerp_between_the_endpoints():
    model = tiny()
    z_a, z_b = codes(model, 2, seed=1), codes(model, 2, seed=2)
    path = model.interpolate(z_a, z_b, steps=5)
    assert path.shape == (2, 5, 3, 16, 16)
    torch.testing.assert_close(path[:, 0], model.decode(z_a), atol=1e-5, rtol=0)
    torch.testing.assert_close(path[:, -1], model.decode(z_b), atol=1e-5, rtol=0)
    torch.testing.assert_close(path[:, 2], model.decode(slerp(z_a, z_b, 0.5)))
    with pytest.raises(ValueError, match="steps"):
        model.interpolate(z_a, z_b, steps=1)
    with pytest.raises(ValueError, match="z_b"):
        model.interpolate(z_a, torch.zeros(2, 5), steps=3)


def test_swap_takes_blocks_below_the_cut_from_a():
    model = tiny()
    x_a, x_b = images(2, seed=1), images(2, seed=2)
    z_a, z_b = model.encode(x_a), model.encode(x_b)
    assert torch.equal(model.swap(x_a, x_b, at_block=1), model.decoder.forward_styles([z_a, z_b, z_b]).clamp(-1, 1))
    for bad in (0, 3):
        with pytest.raises(ValueError, match=r"at_block: expected an int in \[1, 2\]"):
            model.swap(x_a, x_b, at_block=bad)


# -- bad input -------------------------------------------------------------------------------------
def test_bad_inputs_name_the_expected_shape():
    model = tiny()
    with pytest.raises(ValueError, match=r"expected shape \(B, 3, 16, 16\)"):
        model.encode(images(side=8))
    with pytest.raises(ValueError, match=r"expected shape \(B, 3, 16, 16\)"):
        model.encode(images(channels=1))
    with pytest.raises(ValueError, match=r"expected shape \(B, 3, 8, 8\) at phase 1"):
        model.encode_at(images(side=16), phase=1)
    with pytest.raises(ValueError, match=r"phase: expected an int in \[0, 2\]"):
        model.encode_at(images(side=32), phase=3)
    with pytest.raises(ValueError, match=r"expected shape \(B, 12\)"):
        model.decode(torch.zeros(2, 13))
    with pytest.raises(ValueError, match=r"styles\[1\]: expected shape \(B, 12\)"):
        model.decode_styles_at([codes(model), torch.zeros(3, 11), codes(model)], 2)
    with pytest.raises(ValueError, match="expected exactly 3 latents"):
        model.decode_styles_at([codes(model)] * 2, 1)
    with pytest.raises(ValueError, match="alpha"):
        model.decode_styles_at([codes(model)] * 3, 1, alpha=1.5)
    with pytest.raises(ValueError, match="batch size"):
        model.decoder.forward_styles([codes(model, 3), codes(model, 2), codes(model, 3)])


@pytest.mark.parametrize("side", [4, 16])  # both sides of FUSED_UPSAMPLE_MIN_SIDE
def test_fused_upsampling_conv_equals_upsample_then_conv(side):
    from genae.layers.equalized import upsample_conv3x3

    x, w, b = torch.randn(2, 5, side, side, dtype=torch.float64), torch.randn(4, 5, 3, 3, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    expected = F.conv2d(F.interpolate(x, scale_factor=2.0, mode="nearest"), w, b, padding=1)
    torch.testing.assert_close(upsample_conv3x3(x, w, b), expected, rtol=0, atol=1e-12)


def test_adain_statistics_are_float32_under_bf16_autocast():
    adain = AdaIN(8, 4)
    x, z = torch.randn(2, 4, 8, 8) * 3 + 1, torch.randn(2, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = adain(x.bfloat16(), z)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, adain(x.bfloat16().float(), z), rtol=2e-2, atol=2e-2)  # affine in bf16


# -- the support block (paper 4.3) ------------------------------------------------------------------
def test_support_block_adds_a_same_resolution_style_slot():
    model = tiny(support_block=1)
    decoder = model.decoder
    assert decoder.num_styles == 4 and decoder.block_phases == [0, 1, 1, 2]
    assert [decoder.active_styles(p) for p in range(3)] == [1, 3, 4]
    assert decoder.style_ranges == {"coarse": (0, 1), "intermediate": (1, 3), "fine": (3, 4), "all": (0, 4)}
    z, other = codes(model), codes(model, seed=2)
    for phase in range(3):
        assert model.decode_styles_at([z] * 4, phase).shape == (3, 3, 4 * 2**phase, 4 * 2**phase)
    # the support block's style matters at 8 px and beyond; the 16 px block's does not at 8 px
    assert not torch.equal(model.decode_styles_at([z, z, z, z], 1), model.decode_styles_at([z, z, other, z], 1))
    assert torch.equal(model.decode_styles_at([z, z, z, z], 1), model.decode_styles_at([z, z, z, other], 1))
    # growing still starts from the function of the previous phase
    new, old = model.decode_styles_at([z] * 4, 2, alpha=0.0), model.decode_styles_at([z] * 4, 1)
    torch.testing.assert_close(new, F.interpolate(old, scale_factor=2.0, mode="nearest"))
    faded = model.decode_styles_at([z] * 4, 1, alpha=0.0)
    torch.testing.assert_close(faded, F.interpolate(model.decode_styles_at([z] * 4, 0), scale_factor=2.0))


def test_support_block_features_compose_and_refuse_a_fade_without_its_input():
    model = tiny(support_block=1)
    styles = [codes(model, seed=s) for s in range(4)]
    for start in (1, 2, 3):
        features = model.decoder.features(styles, start - 1)
        for alpha in (1.0, 0.3):
            torch.testing.assert_close(model.decoder.forward_from_features(features, styles, start, alpha=alpha),
                                       model.decoder.forward_styles(styles, alpha=alpha))
    features = model.decoder.features(styles, 1)
    torch.testing.assert_close(model.decoder.forward_from_features(features, styles, 2, phase=1),
                               model.decoder.forward_styles(styles, phase=1))
    with pytest.raises(ValueError, match="support block"):
        model.decoder.forward_from_features(features, styles, 2, phase=1, alpha=0.5)


def test_named_style_ranges_with_the_papers_support_block_at_32px():
    ranges = ProgressiveStyleDecoder(4, [4] * 4, support_after=1).style_ranges
    assert ranges == {"coarse": (0, 3), "intermediate": (3, 4), "fine": (4, 5), "all": (0, 5)}
    with pytest.raises(ValueError, match="support_after"):
        ProgressiveStyleDecoder(4, [4] * 4, support_after=4)
