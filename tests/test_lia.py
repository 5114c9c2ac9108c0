"""LIA: the model's contracts, the flow wiring, both training stages, refinement and the CLI path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from click.testing import CliRunner

import genae
from genae.data import open_dataset
from genae.metrics._files import MissingWeightsError
from genae.testing import check_model
from genae.testing.step import DirectStep
from genae.training import Trainer
from genae_plugins.lia.model import LIA
from genae_plugins.lia.perceptual import build_perceptual
from genae_plugins.lia.recipe import LIARecipe

TINY = dict(resolution=16, channels_in=1, latent_dim=8, channels=[16, 8, 8])


def tiny(**overrides: Any) -> LIA:
    torch.manual_seed(0)
    return genae.create("lia", **{**TINY, **overrides})  # type: ignore[return-value]


@pytest.fixture(scope="module")
def mini() -> Any:
    return open_dataset("fashion-mnist-mini", split="test", resolution=16)


def images(dataset: Any, n: int = 8) -> torch.Tensor:
    return torch.stack([dataset[i][0] for i in range(n)])


def test_check_model_passes_on_the_default_32px_model() -> None:
    report = check_model(genae.create("lia", resolution=32))
    assert not report.failed and not report.skipped, report


def test_flow_is_one_module_shared_by_encoder_and_decoder(mini: Any) -> None:
    model = tiny().eval()
    assert model.encoder.flow is model.flow and model.decoder.flow is model.flow
    keys = list(model.state_dict())
    assert sum(k.startswith("flow.") for k in keys) == len(list(model.flow.state_dict()))
    assert not any(".flow." in k for k in keys)  # stored once
    x = images(mini)
    w = model.encode_w(x)
    torch.testing.assert_close(model.encode(x), model.flow(w))
    z = model.prior.sample(4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model.decode(z), model.decode_w(model.flow.inverse(z)))
    torch.testing.assert_close(model.flow.inverse(model.flow(w)), w, atol=1e-5, rtol=0)


def test_style_space_view_shares_modules_and_has_the_exact_flow_density() -> None:
    model = tiny().eval()
    view = model.style_space()
    assert view.decoder is model.decoder.synthesis
    assert {id(p) for p in view.parameters()} <= {id(p) for p in model.parameters()}
    w = view.prior.sample(5, generator=torch.Generator().manual_seed(1))
    z = model.flow(w)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    torch.testing.assert_close(view.prior.log_prob(w), expected, atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(view.decode(w), model.decode(z), atol=1e-5, rtol=0)
    assert model.mean_w(100).shape == (1, 8)


def test_style_mixing_works_per_layer_in_w() -> None:
    model = tiny().eval()
    a, b = (model.prior.sample(2, generator=torch.Generator().manual_seed(s)) for s in (0, 1))
    mixed = model.mix([a, b], [(0, 1), None])
    ws = [model.flow.inverse(a)] + [model.flow.inverse(b)] * 2
    torch.testing.assert_close(mixed, model.decoder.forward_w(ws).clamp(-1, 1))
    assert not torch.equal(mixed, model.decode(a))


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="channels"):
        genae.create("lia", resolution=16, channels=[8, 8])
    with pytest.raises(ValueError, match="flow_steps"):
        genae.create("lia", resolution=16, flow_steps=0)
    with pytest.raises(ValueError, match="latent_dim"):
        genae.create("lia", resolution=16, latent_dim=1)


def test_stage1_step_trains_generator_flow_and_discriminator_not_the_encoder(mini: Any) -> None:
    model = tiny()
    recipe = LIARecipe(model, stage=1, grow=False, batch_size=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    log = recipe.train_step(images(mini), DirectStep(recipe.build_optimizers(), resolution=16))
    assert {"dis/logistic", "dis/r1", "gen/logistic"} <= set(log)
    after = model.state_dict()
    changed = {k.split(".")[0] for k in after if not torch.equal(before[k], after[k])}
    assert changed == {"flow", "decoder", "discriminator"}
    assert set(recipe.ema_modules()) == {"decoder", "flow"}


@pytest.mark.parametrize("probability", [0.0, 1.0])
def test_stage1_style_mixing_probability(probability: float) -> None:
    model = tiny()
    recipe = LIARecipe(model, stage=1, style_mixing=probability, grow=False, batch_size=8)
    seen: list[list[torch.Tensor]] = []
    model.decoder.forward_w = lambda ws, *a, **k: seen.append(ws) or torch.zeros(1)  # type: ignore[method-assign]
    recipe.generate(16, DirectStep(recipe.build_optimizers(), resolution=16))
    first, last = seen[0][0], seen[0][-1]
    differs = [not torch.equal(a, b) for a, b in zip(first, last)]
    # the crossover is in 1..S-1, so a mixed image's first and last slots always hold different w
    assert all(differs) if probability == 1.0 else not any(differs)


def test_stage2_refuses_an_untrained_generator() -> None:
    with pytest.raises(ValueError, match="train stage 1 first"):
        LIARecipe(tiny(), stage=2, perceptual=None)


def test_recipe_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="unknown option"):
        LIARecipe(tiny(), stag=2)
    with pytest.raises(ValueError, match="stage"):
        LIARecipe(tiny(), stage=3)
    with pytest.raises(ValueError, match="perceptual"):
        LIARecipe(tiny(), perceptual="vgg19")
    with pytest.raises(TypeError, match="LIA"):
        LIARecipe(genae.create("vae", resolution=16, channels_in=1, latent_dim=8, channels=[8, 8, 8],
                               encoder_channels=[8, 8, 8]))


def test_vgg16_perceptual_network_loads_its_file_or_says_where_to_get_it(tmp_path, monkeypatch) -> None:
    import torchvision

    from genae.metrics._files import PUBLISHED_WEIGHTS

    vgg16 = PUBLISHED_WEIGHTS["vgg16"]
    monkeypatch.setenv("GENAE_OFFLINE", "1")
    with pytest.raises(MissingWeightsError, match=f"{vgg16.url}.*{vgg16.file}"):
        build_perceptual("vgg16", weights_dir=tmp_path)
    features = torchvision.models.vgg16(weights=None).features.state_dict()
    torch.save({f"features.{k}": v for k, v in features.items()}, tmp_path / vgg16.file)  # the part that is read
    network = build_perceptual("vgg16", weights_dir=tmp_path)
    assert network(torch.zeros(2, 1, 32, 32)).shape == (2, 512, 4, 4)


def _trainer(model: LIA, out: Path, data: Any, steps: int, **options: Any) -> Trainer:
    recipe = LIARecipe(model, batch_size=8, **options)
    return Trainer(model, recipe, data, out_dir=out, steps=steps, log_every=1, grid_every=None,
                   checkpoint_every=2, progress=False)


@pytest.fixture(scope="module")
def stage1_model(tmp_path_factory: pytest.TempPathFactory, mini: Any) -> Path:
    out = tmp_path_factory.mktemp("lia-stage1")
    return _trainer(tiny(), out, mini, 3, stage=1, images_per_phase=8, fade_images=4).fit().model_dir  # type: ignore[return-value]


def test_stage2_trains_only_the_encoder_and_discriminator(stage1_model: Path, mini: Any, tmp_path: Path) -> None:
    model = genae.load(stage1_model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = _trainer(model, tmp_path, mini, 2, stage=2, perceptual="fashion-mnist").fit()
    assert {"enc/pixel", "enc/perceptual", "enc/adversarial", "dis/r1"} <= set(result.losses)
    after = genae.load(result.model_dir).state_dict()
    changed = {k.split(".")[0] for k in after if not torch.equal(before[k], after[k])}
    assert changed == {"encoder", "discriminator"}


def test_stage1_resumes_exactly(mini: Any, tmp_path: Path) -> None:
    options = dict(stage=1, images_per_phase=16, fade_images=8)
    straight = _trainer(tiny(), tmp_path / "a", mini, 4, **options)
    straight.fit()
    _trainer(tiny(), tmp_path / "b", mini, 2, **options).fit()
    resumed = _trainer(tiny(), tmp_path / "b", mini, 4, **options)
    resumed.fit(resume=True)
    a, b = straight.state_dict(), resumed.state_dict()
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    for module in ("decoder", "flow"):
        for name, tensor in a["ema"]["shadow"][module].items():
            assert torch.equal(tensor, b["ema"]["shadow"][module][name]), name


@pytest.mark.parametrize("stage", [1, 2])
def test_bf16_autocast_step_stays_close_to_float32(stage: int, stage1_model: Path, mini: Any) -> None:
    logs = {}
    for bf16 in (False, True):
        model = genae.load(stage1_model) if stage == 2 else tiny()
        recipe = LIARecipe(model, stage=stage, grow=False, perceptual="fashion-mnist")
        logs[bf16] = recipe.train_step(images(mini), DirectStep(recipe.build_optimizers(), resolution=16, bf16=bf16))
    key = "gen/logistic" if stage == 1 else "enc/pixel"
    assert logs[True][key] == pytest.approx(logs[False][key], rel=0.05)


def test_refine_starts_from_the_encoder_and_lowers_the_loss(stage1_model: Path, mini: Any) -> None:
    model = genae.load(stage1_model).eval()
    x = images(mini, 4)
    result = model.refine(x, steps=20, space="w+")
    torch.testing.assert_close(result.initial_reconstructions, model.decode_w(model.encode_w(x)))
    assert result.latents.shape == (4, model.decoder.num_styles, model.latent_dim)
    assert float(result.losses[-1].mean()) < float(result.losses[0].mean())
    assert all(p.requires_grad for p in model.parameters())  # unfrozen afterwards


def test_cli_trains_stage2_from_a_stage1_model(stage1_model: Path, tmp_path: Path) -> None:
    from genae.cli import cli

    out = tmp_path / "s2"
    args = ["train", "lia", "--data", "fashion-mnist-mini", "--stage", "2", "--init", str(stage1_model),
            "--option", "perceptual=fashion-mnist", "--option", "batch_size=4", "--steps", "1", "--out", str(out),
            "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    card = json.loads((out / "model" / "config.json").read_text())["card"]
    assert card["recipe_options"]["stage"] == 2
    clash = CliRunner().invoke(cli, [*args[:-3], "--set", "latent_dim=4", "--out", str(tmp_path / "x")])
    assert clash.exit_code != 0 and "--init" in clash.output


def test_stage2_without_vgg_names_the_option_that_works(stage1_model: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22: the missing-VGG error spells the folder option as `genae train` accepts it, and that option works."""
    import torchvision

    from genae.cli import main
    from genae.metrics._files import PUBLISHED_WEIGHTS

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty hub cache
    monkeypatch.setenv("GENAE_OFFLINE", "1")  # the file cannot be downloaded
    args = ["train", "lia", "--data", "fashion-mnist-mini", "--stage", "2", "--init", str(stage1_model),
            "--option", "perceptual=vgg16", "--option", "batch_size=4", "--steps", "1", "--no-progress"]
    code = main([*args, "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err.strip()
    assert code != 0 and len(error.splitlines()) == 1, error
    assert PUBLISHED_WEIGHTS["vgg16"].file in error
    assert "--option weights_dir=FOLDER" in error and "--weights-dir" not in error
    folder = tmp_path / "weights"
    folder.mkdir()
    features = torchvision.models.vgg16(weights=None).features.state_dict()  # the part of the file that is read
    torch.save({f"features.{k}": v for k, v in features.items()}, folder / PUBLISHED_WEIGHTS["vgg16"].file)
    assert main([*args, "--option", f"weights_dir={folder}", "--out", str(tmp_path / "run2")]) == 0
