"""The plugin's own tests: it is discovered through its entry point and passes genae's conformance suite."""

import genae
from genae.registry import REGISTRY
from genae.testing import check_model


def test_registered_through_the_entry_point():
    assert {"example-ae", "example-ae-wide"} <= set(genae.list_models("example-*"))
    assert REGISTRY.model_spec("example-ae").plugin == "example"


def test_example_ae_conforms():
    report = check_model(genae.create("example-ae"))
    assert "save_load_bit_exact" in report.passed


def test_wide_variant_conforms():
    check_model(genae.create("example-ae-wide", resolution=16))


def test_trains_a_few_steps(tmp_path):
    from genae_example_plugin.recipe import ExampleRecipe

    from genae.data import open_dataset
    from genae.training import Trainer

    model = genae.create("example-ae", resolution=16, latent_dim=8, width=8)
    data = open_dataset("fashion-mnist-mini", split="train", resolution=16, channels=1)
    result = Trainer(model, ExampleRecipe(model), data, out_dir=tmp_path, steps=3, batch_size=8,
                     progress=False).fit()
    assert genae.load(result.model_dir).architecture == "example-ae"


def test_recipe_passes_check_recipe():
    from genae.testing import check_recipe

    report = check_recipe("example-ae", model_overrides={"resolution": 16, "latent_dim": 8, "width": 8})
    assert not report.failed
