"""The decoder step reuses the main pass's intermediate as the layer loss's target (paper eq. 5) instead of a
second partial decoder pass: the same terms and gradients as that reference computation, with less work."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from genae.losses import cosine_distance, empirical_kl, l2_loss
from genae.training.recipe import Phase
from genae_plugins.automodulator.config import AutomodulatorConfig
from genae_plugins.automodulator.losses import AutomodulatorLosses, LossWeights, mixed_styles
from genae_plugins.automodulator.model import Automodulator

pytestmark = pytest.mark.numerics  # re-run by `make test` on an emulated AVX2 CPU

N, MIX = 8, 4
WEIGHTS = LossWeights(latent=0.5, layer=2.0, fake_kl=0.1)


def noisy_model(support_block: int | None = None) -> Automodulator:
    """16 px, three resolutions; the noise scales are non-zero so that the noise the passes share matters."""
    torch.manual_seed(0)
    config = AutomodulatorConfig(resolution=16, channels_in=1, latent_dim=16, channels=[16, 12, 8],
                                 encoder_channels=[16, 12, 8], support_block=support_block)
    model = Automodulator(config)
    with torch.no_grad():
        for name, parameter in model.decoder.named_parameters():
            if name.endswith("noise.scale"):
                parameter.uniform_(0.3, 1.0)
    return model.train()


def reference_terms(model: Automodulator, phase: Phase, seed: int) -> dict[str, torch.Tensor]:
    """The decoder terms with the layer target from a *separate* partial pass over the mixed rows' code, fed
    the noise the main pass gave those rows: the computation before the reuse, on the same random draws."""
    generator = torch.Generator().manual_seed(seed)
    decoder, styles_n = model.decoder, model.decoder.num_styles
    p, a = phase.index, phase.alpha
    z = model.prior.sample(N, generator=generator)
    partner = model.prior.sample(N, generator=generator)
    split = int(torch.randint(1, decoder.active_styles(p), (1,), generator=generator))
    noise_seed = int(torch.randint(2**62, (1,), generator=generator))
    styles = mixed_styles(z, partner, split, styles_n, rows=MIX)

    def noise() -> torch.Generator:
        return torch.Generator().manual_seed(noise_seed)

    decoded = torch.cat([
        decoder.forward_styles([s[:MIX] for s in styles], p, a, noise_generator=noise()),
        decoder.forward_styles([s[MIX:] for s in styles], p, a, noise_generator=generator),
    ])
    for parameter in model.encoder.parameters():
        parameter.requires_grad_(False)
    z_hat = model.encode_at(decoded, p, a)
    target = decoder.features([z[:MIX]] * styles_n, split - 1, noise())  # the extra partial pass
    again = decoder.features([z_hat[:MIX]] * styles_n, split - 1, noise())
    terms = {
        "fake_kl": WEIGHTS.fake_kl * empirical_kl(z_hat),
        "latent": WEIGHTS.latent * cosine_distance(z_hat[MIX:], z[MIX:]),
        "layer": WEIGHTS.layer * l2_loss(again, target),
    }
    for parameter in model.encoder.parameters():
        parameter.requires_grad_(True)
    return terms


def decoder_gradients(model: Automodulator, terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    sum(terms.values()).backward()
    return {n: p.grad.clone() for n, p in model.decoder.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("support_block", [None, 1])
@pytest.mark.parametrize(("phase_index", "alpha"), [(1, 0.5), (2, 0.3), (2, 1.0)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layer_target_from_the_main_pass_matches_a_separate_pass(support_block, phase_index, alpha, seed):
    model = noisy_model(support_block)
    phase = Phase(phase_index, 4 * 2**phase_index, alpha, N, 5e-4, alpha < 1)
    losses = AutomodulatorLosses(model, WEIGHTS, lambda r: r.abs().mean())
    # The spectral-norm power iteration updates its vectors in every training forward: both computations
    # must start from the same ones.
    state = {k: v.clone() for k, v in model.state_dict().items()}
    terms, _ = losses.decoder_terms(N, MIX, phase, torch.Generator().manual_seed(seed), torch.device("cpu"))
    gradients = decoder_gradients(model, terms)
    model.load_state_dict(state)
    reference = reference_terms(model, phase, seed)
    reference_gradients = decoder_gradients(model, reference)
    assert set(terms) == set(reference) == {"fake_kl", "latent", "layer"}
    assert terms["layer"].item() > 0
    for name in terms:
        torch.testing.assert_close(terms[name], reference[name], rtol=1e-5, atol=1e-6)
    assert gradients.keys() == reference_gradients.keys()
    for name in gradients:
        torch.testing.assert_close(gradients[name], reference_gradients[name], rtol=1e-4, atol=1e-6)


def test_features_from_the_main_pass_are_those_of_a_partial_pass_with_the_same_noise():
    model = noisy_model(support_block=1)
    decoder = model.decoder
    styles = [torch.nn.functional.normalize(torch.randn(3, 16), dim=1) for _ in range(decoder.num_styles)]
    for phase, alpha in ((1, 0.4), (2, 0.7), (2, 1.0)):
        for block in range(decoder.active_styles(phase)):
            image, features = decoder.forward_styles_and_features(
                styles, block, phase, alpha, noise_generator=torch.Generator().manual_seed(7))
            torch.testing.assert_close(image, decoder.forward_styles(
                styles, phase, alpha, noise_generator=torch.Generator().manual_seed(7)), rtol=0, atol=0)
            torch.testing.assert_close(features, decoder.features(
                styles, block, noise_generator=torch.Generator().manual_seed(7)), rtol=0, atol=0)
    with pytest.raises(ValueError, match="features_at: block 3 is not active at phase 1"):
        decoder.forward_styles_and_features(styles, 3, phase=1)


def test_the_decoder_step_does_less_work_than_with_a_separate_target_pass():
    """Counted FLOPs (exact, independent of machine load): the reuse removes the partial pass and its backward."""
    model = noisy_model()
    phase = Phase(2, 16, 1.0, N, 5e-4, False)
    losses = AutomodulatorLosses(model, WEIGHTS, lambda r: r.abs().mean())

    def flops(step) -> int:
        with FlopCounterMode(display=False) as counter:
            sum(step().values()).backward()
        return counter.get_total_flops()

    seed = 2  # a draw whose split leaves blocks for the target pass to run
    reused = flops(lambda: losses.decoder_terms(N, MIX, phase, torch.Generator().manual_seed(seed),
                                                torch.device("cpu"))[0])
    separate = flops(lambda: reference_terms(model, phase, seed))
    assert reused < separate


def test_channels_last_feature_maps_change_results_by_rounding_only(monkeypatch):
    """The networks run their feature maps channels_last (faster on CPU); inputs and outputs keep the standard
    format, and outputs and loss terms match the standard-format computation to float tolerance."""
    from genae.nets import progressive

    def run() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        model = noisy_model(support_block=1)
        images = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(3)) * 2 - 1
        with torch.no_grad():
            out = model.eval().decode(model.encode(images))
        losses = AutomodulatorLosses(model.train(), WEIGHTS, lambda r: r.abs().mean())
        phase = Phase(2, 16, 0.6, N, 5e-4, True)
        terms, _ = losses.decoder_terms(N, MIX, phase, torch.Generator().manual_seed(4), torch.device("cpu"))
        return out, {k: v.detach() for k, v in terms.items()}

    assert progressive.ACTIVATIONS_FORMAT is torch.channels_last
    out, terms = run()
    assert out.is_contiguous()
    decoder = noisy_model().decoder
    inside = decoder.features([torch.randn(2, 16)] * decoder.num_styles, 1)
    assert inside.is_contiguous(memory_format=torch.channels_last)
    monkeypatch.setattr(progressive, "ACTIVATIONS_FORMAT", torch.contiguous_format)
    standard_out, standard_terms = run()
    torch.testing.assert_close(out, standard_out, rtol=1e-5, atol=1e-5)
    for name in terms:
        torch.testing.assert_close(terms[name], standard_terms[name], rtol=1e-4, atol=1e-6)
