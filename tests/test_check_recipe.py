"""genae.testing.check_recipe: a built-in recipe passes; broken recipes fail, each bug named."""

from fractions import Fraction

import pytest
import torch

import genae
from genae.testing import ConformanceError, check_recipe
from genae.testing.recipes import RECIPE_CONTRACTS
from genae.testing.toy_recipe import ToyRecipe
from genae.training import Recipe

TINY_VAE = {"resolution": 16, "channels_in": 1, "latent_dim": 8, "channels": [16, 16, 8],
            "encoder_channels": [16, 8, 8]}


class Detached(ToyRecipe):
    """Three bugs: the encoder's output is detached, one term is log(0), the state holds a Python object."""

    def train_step(self, images, ctx):
        z = self.model.encoder(images).detach()
        rec = (self.model.decoder(z) - images).pow(2).mean()
        ctx.optimize("model", rec)
        return {"reconstruction": rec.item(), "log_gap": torch.log(rec - rec).item()}

    def state_dict(self):
        return {"weights": [Fraction(1, 3)]}


class Lazy(Recipe):
    """The decoder's optimiser only, an lr multiplier for an optimiser it lacks, no loss terms, tensor options."""

    def build_optimizers(self):
        return {"decoder": torch.optim.Adam(self.model.decoder.parameters())}

    def lr_multipliers(self):
        return {"mapping": 0.01}

    def train_step(self, images, ctx):
        loss = (self.model.decoder(self.model.encoder(images)) - images).pow(2).mean()
        ctx.optimize("decoder", loss)
        return {}


class Idle(Recipe):
    def build_optimizers(self):
        return {"model": torch.optim.SGD(self.model.parameters(), lr=0.1)}

    def train_step(self, images, ctx):
        return {"reconstruction": 0.0}


def test_builtin_recipe_passes():
    report = check_recipe("vae", model_overrides=TINY_VAE)
    assert report.passed == list(RECIPE_CONTRACTS) and not report.failed and not report.skipped


def test_broken_recipe_fails_naming_each_bug(toy_name):
    with pytest.raises(ConformanceError) as error:
        check_recipe(Detached(genae.create(toy_name)))
    message = str(error.value)
    assert message.startswith("recipe Detached failed its checks:\n4 passed, 3 failed, 0 skipped")
    assert "FAILED finite [contract: loss terms, optimised losses and gradients are finite]" in message
    assert "log_gap=-inf at step 0" in message
    assert "parameter(s) never received a gradient in 2 step(s): encoder." in message
    assert "a detached path or a loss term left out of the optimised sum" in message
    assert "Detached.state_dict holds objects a checkpoint cannot load with weights_only=True" in message


def test_lazy_and_idle_recipes_fail(toy_name):
    lazy = check_recipe(Lazy(genae.create(toy_name), scale=torch.tensor(2.0)), raise_on_failure=False)
    assert set(lazy.failed) == {"options_json", "optimizers", "loss_terms", "parameters_train"}, lazy
    assert "Lazy.lr_multipliers names unknown optimisers ['mapping']; built ['decoder']" in lazy.failed["optimizers"]
    assert "must return a non-empty dict of loss terms, got {} at step 0" in lazy.failed["loss_terms"]
    assert "are in no optimiser of Lazy.build_optimizers, so they never train: encoder." in lazy.failed["parameters_train"]
    idle = check_recipe(Idle(genae.create(toy_name)), raise_on_failure=False)
    assert "Idle.train_step at 16px never called ctx.optimize, so it trains nothing" in idle.failed["steps_run"]
    assert list(idle.failed) == ["steps_run"]


def test_bad_arguments_are_one_line_errors(toy_name):
    with pytest.raises(TypeError, match="recipe_or_name: expected a genae.training.Recipe or a registered"):
        check_recipe(42)
    with pytest.raises(ValueError, match="steps: expected a positive int, got 0"):
        check_recipe(toy_name, steps=0)
    with pytest.raises(ValueError, match="options and model_overrides apply to a recipe given by name"):
        check_recipe(ToyRecipe(genae.create(toy_name)), options={"lr": 1.0})


def test_every_phase_of_a_growing_schedule_runs(toy_name):
    recipe = ToyRecipe(genae.create(toy_name), grow_images_per_phase=16)
    assert not check_recipe(recipe, steps=1).failed
    assert [(p.resolution, p.fading) for p in recipe.phases_started] == [
        (4, False), (8, True), (8, False), (16, True), (16, False)]
    assert {p.batch_size for p in recipe.phases_started} == {4}
