"""``Trainer(compile=True)``: the model's compile targets are compiled, training is what eager mode computes."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.data import TensorDataset

import genae
from genae.registry import REGISTRY, import_object
from genae.training import Trainer
from genae.training.compilation import compile_model
from genae_plugins.baselines.recipe import VAERecipe

WIDTHS = [16, 8, 8]  # 16 px: three blocks


def _fit(architecture: str, out_dir, compile: bool) -> tuple[genae.GenerativeAutoencoder, list[dict]]:
    torch.manual_seed(0)
    model = genae.create(architecture, resolution=16, channels_in=1, latent_dim=8, channels=WIDTHS,
                         encoder_channels=WIDTHS)
    recipe = import_object(REGISTRY.model_spec(architecture).recipe)(model, batch_size=8)
    images = torch.rand(32, 1, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
    trainer = Trainer(model, recipe, TensorDataset(images), out_dir=out_dir, steps=3,
                      log_every=1, grid_every=None, checkpoint_every=None, progress=False, compile=compile)
    trainer.fit()
    return model, [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["vae", "wae"])
def test_compiled_training_matches_eager_and_keeps_the_checkpoint_format(architecture, tmp_path, monkeypatch):
    # A cache of its own: inductor's shared cache can hand back kernels compiled under another
    # ATEN_CPU_CAPABILITY (torch 2.14.1 then crashed in them), and the test should compile, not look up.
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    eager_model, eager = _fit(architecture, tmp_path / "eager", compile=False)
    compiled_model, compiled = _fit(architecture, tmp_path / "compiled", compile=True)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 2  # encoder body and decoder

    # Step 1 starts from identical weights and data, so its losses differ only by the compiled kernels'
    # rounding. Later steps follow Adam, whose first updates amplify rounding in near-zero gradients, so
    # the trajectory itself is not compared.
    first_eager, first_compiled = eager[0]["losses"], compiled[0]["losses"]
    assert first_eager.keys() == first_compiled.keys()
    for name, value in first_eager.items():
        assert first_compiled[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    assert [r["step"] for r in compiled] == [1, 2, 3]

    # Compiling in place leaves parameter names alone: the export loads into a fresh eager model.
    assert compiled_model.state_dict().keys() == eager_model.state_dict().keys()
    reloaded = genae.load(tmp_path / "compiled" / "model")
    for name, tensor in reloaded.state_dict().items():
        torch.testing.assert_close(tensor, compiled_model.state_dict()[name], msg=name)


def test_compile_names_what_it_compiles_and_refuses_models_without_targets():
    vae = genae.create("vae", resolution=16, channels_in=1, latent_dim=8, channels=WIDTHS, encoder_channels=WIDTHS)
    assert sorted(vae.compile_targets()) == ["decoder", "encoder"]
    # The AdaIN decoder draws noise from a torch.Generator (a graph break): only the encoder is a target.
    adain = genae.create("vae-adain", resolution=16, channels_in=1, latent_dim=8, channels=WIDTHS,
                         encoder_channels=WIDTHS)
    assert list(adain.compile_targets()) == ["encoder"]
    automodulator = genae.create("automodulator", resolution=16, channels_in=1, latent_dim=8, channels=WIDTHS)
    with pytest.raises(ValueError, match="names no compile targets"):
        compile_model(automodulator)
    vae.compile_targets = lambda: {"stranger": torch.nn.Linear(1, 1)}
    with pytest.raises(ValueError, match="'stranger' is not a submodule"):
        compile_model(vae)


def test_trainer_compile_must_be_a_bool(tmp_path):
    model = genae.create("vae", resolution=16, channels_in=1, latent_dim=8, channels=WIDTHS, encoder_channels=WIDTHS)
    with pytest.raises(ValueError, match="compile: expected a bool"):
        Trainer(model, VAERecipe(model), TensorDataset(torch.zeros(8, 1, 16, 16)), out_dir=tmp_path, steps=1,
                compile="yes")
