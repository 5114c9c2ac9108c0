"""IAE plugin: the three architectures keep genae's contracts, their recipes train, their parts do what they say."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import genae
from genae.data import open_dataset
from genae.metrics.clustering import cluster_error
from genae.registry import REGISTRY, import_object
from genae.testing import check_model
from genae.testing.step import DirectStep
from genae.training.trainer import Trainer
from genae_plugins.iae.config import IAEConfig
from genae_plugins.iae.data import edge_maps
from genae_plugins.iae.nets import CodeDiscriminator, ImageDiscriminator, LatentBias, MLPEncoder
from genae_plugins.iae.priors import CategoricalPrior, ImageBankPrior
from genae_plugins.iae.recipe import discriminator_loss, generator_loss

TINY = {"channels_in": 1, "encoder_widths": [32], "decoder_hidden": 32, "decoder_channels": [8, 4],
        "disc_channels": [4, 8], "disc_hidden": 16, "condition_hidden": 16, "code_disc_widths": [16]}
TINY_CYCLE = {"channels_in": 1, "width": 4, "res_blocks": 1, "bank_size": 8, "disc_channels": [4, 8], "disc_hidden": 16}
VARIANTS = {
    "iae-case1": ("iae", {**TINY, "regularisation": False}),
    "iae-case2": ("iae", TINY),
    "iae-case3": ("iae", {**TINY, "decoder_noise": 6, "regularisation": False}),
    "iae-case4": ("iae", {**TINY, "decoder_noise": 6, "encoder_noise": 3}),
    "iae-cluster": ("iae", {**TINY, "code": "categorical", "latent_dim": 7, "decoder_noise": 4,
                            "conditioning": "location-invariant"}),
    "iae-cluster-balanced": ("iae", {**TINY, "code": "categorical", "latent_dim": 7, "decoder_noise": 4,
                                     "conditioning": "location-invariant", "logit_batch_norm": True,
                                     "code_disc_batch_mean": True}),
    "aae": ("iae", {**TINY, "reconstruction": "euclidean"}),
    "flipped-iae": ("flipped-iae", TINY),
    "infogan": ("flipped-iae", {**TINY, "reconstruction": "euclidean", "decoder_noise": 3}),
    "cycle-iae": ("cycle-iae", {**TINY_CYCLE, "encoder_noise": 2}),
}
MINI_B = {"data": "fashion-mnist-mini", "split": "train", "start": 0, "stop": 16, "transform": "edges"}


def make(variant: str) -> genae.GenerativeAutoencoder:
    torch.manual_seed(0)
    name, config = VARIANTS[variant]
    return genae.create(name, resolution=32, **config)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_conformance_at_32(variant: str) -> None:
    check_model(make(variant))


def test_registered_through_the_entry_point() -> None:
    assert {"iae", "flipped-iae", "cycle-iae"} <= set(genae.list_models())
    assert REGISTRY.model_spec("iae").plugin == "iae"


@pytest.mark.parametrize("bad, match", [
    ({"code": "discrete"}, "code"), ({"conditioning": "global"}, "conditioning"),
    ({"reconstruction": "l1"}, "reconstruction"), ({"decoder_noise": -1}, "decoder_noise"),
    ({"decoder_channels": [8, 4, 4, 4, 4]}, "decoder_channels"), ({"code": "categorical", "latent_dim": 1}, "latent_dim"),
    ({"logit_batch_norm": True}, "logit_batch_norm"),
])
def test_config_refuses_bad_values(bad: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        IAEConfig.from_dict({**TINY, **bad})


def test_cycle_config_ties_latent_to_code_image() -> None:
    with pytest.raises(ValueError, match="latent_dim must be 1024"):
        genae.create("cycle-iae", **TINY_CYCLE, latent_dim=20)


def test_noise_makes_decoder_stochastic_and_none_is_the_mode() -> None:
    model = make("iae-case4").eval()
    x = torch.rand(3, 1, 32, 32) * 2 - 1
    z = model.encode(x)
    zero = model.decode(z, noise=torch.zeros(3, 6))
    assert torch.equal(model.decode(z), zero)
    drawn = model.decode(z, noise=model.decoder_noise(3, torch.Generator().manual_seed(1)))
    assert not torch.allclose(drawn, zero)
    assert not torch.equal(model.encode(x, noise=torch.randn(3, 3)), z)
    with pytest.raises(ValueError, match="noise"):
        model.decode(z, noise=torch.zeros(3, 5))
    with pytest.raises(ValueError, match="deterministic"):
        make("iae-case2").decode(torch.zeros(1, 20), noise=torch.zeros(1, 1))


def test_sample_draws_decoder_noise_from_the_generator() -> None:
    model = make("iae-cluster").eval()
    a = model.sample(4, generator=torch.Generator().manual_seed(0))
    z = model.prior.sample(4, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(a, model.decode(z)), "sample must not use the zero noise of decode"


def test_categorical_code_is_a_distribution_and_classify_is_its_argmax() -> None:
    model = make("iae-cluster").eval()
    x = torch.rand(5, 1, 32, 32) * 2 - 1
    code = model.encode(x)
    assert torch.allclose(code.sum(1), torch.ones(5)) and bool((code >= 0).all())
    assert torch.equal(model.classify(x), code.argmax(1))
    with pytest.raises(TypeError, match="categorical"):
        make("iae-case2").classify(x)


def test_logit_batch_norm_keeps_a_dominant_category_from_taking_every_image() -> None:
    """An output bias that sends every image to category 0 cannot survive standardisation over the batch."""
    torch.manual_seed(0)
    x = torch.rand(64, 1, 32, 32) * 2 - 1
    used = {}
    for norm in (False, True):
        encoder = MLPEncoder((1, 32, 32), 7, [32], categorical=True, logit_batch_norm=norm)
        with torch.no_grad():
            encoder.out.bias[0] = 100.0
        used[norm] = len(encoder(x).argmax(1).unique())
    assert used[False] == 1 and used[True] > 1


def test_categorical_prior_draws_one_hot_uniformly() -> None:
    prior = CategoricalPrior(5)
    draws = prior.sample(5000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(draws.sum(1), torch.ones(5000))
    frequencies = draws.mean(0)
    assert torch.allclose(frequencies, torch.full((5,), 0.2), atol=0.03)
    assert torch.allclose(prior.log_prob(draws[:2]), torch.full((2,), -torch.log(torch.tensor(5.0))))
    assert prior.log_prob(torch.full((1, 5), 0.2)).isinf().all()


def test_image_bank_prior_samples_stored_codes() -> None:
    prior = ImageBankPrior(4, 3)
    bank = torch.arange(12.0).view(3, 4)
    prior.fill(torch.cat([bank, bank]))
    draws = prior.sample(10, generator=torch.Generator().manual_seed(0))
    assert all(any(torch.equal(row, b) for b in bank) for row in draws)
    with pytest.raises(ValueError, match="at least 3"):
        prior.fill(bank[:2])


def test_location_dependent_bias_varies_over_positions_invariant_does_not() -> None:
    z = torch.randn(2, 6)
    dependent = LatentBias("location-dependent", 6, channels=4, size=8, hidden=16)(z)
    invariant = LatentBias("location-invariant", 6, channels=4, size=8)(z)
    assert dependent.shape == (2, 1, 8, 8) and float(dependent.detach().std(dim=(2, 3)).min()) > 0
    assert invariant.shape == (2, 4, 1, 1)
    with pytest.raises(ValueError, match="conditioning"):
        LatentBias("global", 6, 4, 8)


def test_joint_discriminator_sees_the_code() -> None:
    torch.manual_seed(0)
    d = ImageDiscriminator((1, 32, 32), [4, 8], 16, "location-dependent", latent_dim=6, condition_hidden=16)
    x = torch.randn(2, 1, 32, 32)
    assert not torch.allclose(d(x, torch.randn(2, 6)), d(x, torch.randn(2, 6)))


def test_batch_mean_lets_the_code_discriminator_see_unequal_category_use() -> None:
    """Per code, a batch using one category looks like a prior batch; only the batch mean tells them apart."""
    torch.manual_seed(0)
    prior = torch.eye(5).repeat(2, 1)  # every category used equally
    collapsed = torch.eye(5)[[0] * 10]  # one category only; its first row equals the prior's first row
    per_code, with_mean = CodeDiscriminator(5, [16]), CodeDiscriminator(5, [16], batch_mean=True)
    assert torch.equal(per_code(prior)[0], per_code(collapsed)[0])
    assert not torch.allclose(with_mean(prior)[0], with_mean(collapsed)[0])
    model = genae.create("iae", resolution=32, **{**VARIANTS["iae-cluster"][1], "code_disc_batch_mean": True})
    assert model.build_discriminators()["regularisation"].batch_mean


def test_gan_losses_match_hand_values() -> None:
    zero = torch.zeros(4)
    log2 = torch.log(torch.tensor(2.0))
    assert torch.allclose(discriminator_loss(zero, zero), 2 * log2)
    assert torch.allclose(generator_loss(zero), log2)
    assert float(discriminator_loss(torch.full((4,), 20.0), torch.full((4,), -20.0))) < 1e-6


def test_edge_maps_mark_boundaries_only() -> None:
    image = -torch.ones(1, 1, 16, 16)
    image[..., 4:12, 4:12] = 1.0
    edges = edge_maps(image)
    assert set(edges.unique().tolist()) <= {-1.0, 1.0}
    assert edges[0, 0, 8, 8] == -1 and edges[0, 0, 0, 0] == -1 and edges[0, 0, 4, 8] == 1
    with pytest.raises(ValueError, match="images"):
        edge_maps(torch.zeros(16, 16))


def _fit(model: genae.GenerativeAutoencoder, tmp_path, steps: int = 3, **options) -> dict[str, float]:
    recipe = import_object(REGISTRY.model_spec(model.architecture).recipe)(model, batch_size=8, **options)
    data = open_dataset("fashion-mnist-mini", split="train", resolution=32, channels=1, limit=64)
    trainer = Trainer(model, recipe, data, out_dir=tmp_path, steps=steps, progress=False, grid_every=None)
    return trainer.fit().losses


@pytest.mark.parametrize("variant, terms", [
    ("iae-case1", {"reconstruction", "d_reconstruction"}),
    ("iae-case4", {"reconstruction", "regularisation", "d_reconstruction", "d_regularisation"}),
    ("aae", {"reconstruction", "regularisation", "d_regularisation"}),
    ("flipped-iae", {"reconstruction", "regularisation", "d_reconstruction", "d_regularisation"}),
    ("infogan", {"reconstruction", "regularisation", "d_regularisation"}),
])
def test_recipes_train_the_configured_gans(variant: str, terms: set[str], tmp_path) -> None:
    losses = _fit(make(variant), tmp_path)
    assert set(losses) == terms | {"loss"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values())


def test_semi_supervised_recipe_records_a_balanced_subset(tmp_path) -> None:
    model = make("iae-cluster")
    with pytest.raises(ValueError, match="categorical"):
        _fit(make("iae-case2"), tmp_path / "no", labels=10, label_data="fashion-mnist-mini")
    semisup = genae.create("iae", **{**VARIANTS["iae-cluster"][1], "latent_dim": 10})
    losses = _fit(semisup, tmp_path / "yes", labels=20, label_data="fashion-mnist-mini", label_batch=4)
    assert "supervised" in losses
    record = genae.load(tmp_path / "yes" / "model").card["labelled_subset"]
    labels = open_dataset("fashion-mnist-mini", split="train").labels[record["indices"]]
    assert record["count"] == 20 and sorted(labels.tolist()) == sorted(list(range(10)) * 2)
    del model


def test_cycle_recipe_fills_the_prior_with_domain_b(tmp_path) -> None:
    model = make("cycle-iae")
    placeholder = model.prior.bank.clone()
    losses = _fit(model, tmp_path, domain_b=MINI_B)
    assert {"regularisation", "reconstruction"} <= set(losses)
    bank = genae.load(tmp_path / "model").prior.bank
    assert not torch.equal(bank, placeholder) and set(bank.unique().tolist()) <= {-1.0, 1.0}
    with pytest.raises(ValueError, match="domain_b"):
        _fit(make("cycle-iae"), tmp_path / "none")


@pytest.mark.parametrize("variant", ["iae-case4", "iae-cluster", "flipped-iae", "cycle-iae"])
def test_bf16_autocast_step_stays_close_to_float32(variant: str) -> None:
    """bf16 changes the networks' arithmetic, not the recipe: the same step logs the same terms, nearly equal."""
    data = open_dataset("fashion-mnist-mini", split="train", resolution=32, channels=1, limit=8)
    images = torch.stack([data[i][0] for i in range(8)])
    options = {"domain_b": MINI_B} if variant == "cycle-iae" else {}
    logs = {}
    for bf16 in (False, True):
        model = make(variant)
        recipe = import_object(REGISTRY.model_spec(model.architecture).recipe)(model, batch_size=8, **options)
        logs[bf16] = recipe.train_step(images, DirectStep(recipe.build_optimizers(), bf16=bf16))
    assert logs[True].keys() == logs[False].keys()
    for name, value in logs[False].items():
        assert logs[True][name] == pytest.approx(value, rel=0.05, abs=0.02), name


DDP_SCRIPT = textwrap.dedent(
    """
    import os, sys
    import torch
    import genae
    from genae.data import open_dataset
    from genae.registry import REGISTRY, import_object
    from genae.training import Trainer

    out, config = sys.argv[1], eval(sys.argv[2])
    rank = int(os.environ["RANK"])
    torch.manual_seed(rank)  # different initial weights per rank: the trainer must broadcast rank 0's
    model = genae.create("iae", resolution=32, **config)
    recipe = import_object(REGISTRY.model_spec("iae").recipe)(model, batch_size=8, labels=10,
                                                              label_data="fashion-mnist-mini", label_batch=4)
    data = open_dataset("fashion-mnist-mini", split="train", resolution=32, channels=1, limit=64)
    Trainer(model, recipe, data, out_dir=out, steps=3, grid_every=None, progress=False).fit()
    state = {**{"model." + k: v for k, v in model.state_dict().items()},
             **{"disc." + k: v for k, v in recipe.discriminators.state_dict().items()}}
    torch.save(state, os.path.join(out, f"rank{rank}.pt"))
    """
)


def test_torchrun_keeps_model_and_discriminators_in_step(tmp_path) -> None:
    """Two gloo processes train a semi-supervised IAE: both GANs' discriminators and the model stay identical
    across ranks (gradients of every optimiser averaged). Batch-norm statistics are per rank, so the run is
    not expected to equal one process (docs/iae.md says so)."""
    script = tmp_path / "train_ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    config = {**VARIANTS["iae-cluster"][1], "latent_dim": 10}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(script), str(tmp_path / "run"), repr(config)]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-4000:]
    rank0, rank1 = (torch.load(tmp_path / "run" / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert any(k.startswith("disc.regularisation") for k in rank0) and any(k.startswith("disc.reconstruction") for k in rank0)
    differing = [k for k, v in rank0.items() if v.is_floating_point() and not torch.equal(v, rank1[k])]
    assert not differing, differing
    assert genae.load(tmp_path / "run" / "model").card["labelled_subset"]["count"] == 10


def test_recipe_refuses_unknown_options_and_wrong_model() -> None:
    from genae_plugins.iae.recipe import FlippedIAERecipe, IAERecipe

    with pytest.raises(ValueError, match="unknown option"):
        IAERecipe(make("iae-case2"), learning_rate=1.0)
    with pytest.raises(TypeError, match="FlippedIAE"):
        FlippedIAERecipe(make("iae-case2"))


def test_resume_continues_exactly(tmp_path) -> None:
    straight = make("iae-case4")
    _fit(straight, tmp_path / "a", steps=4)
    first = make("iae-case4")
    recipe_cls = import_object(REGISTRY.model_spec("iae").recipe)
    data = open_dataset("fashion-mnist-mini", split="train", resolution=32, channels=1, limit=64)
    Trainer(first, recipe_cls(first, batch_size=8), data, out_dir=tmp_path / "b", steps=2, progress=False,
            grid_every=None, checkpoint_every=1).fit()
    again = make("iae-case4")
    Trainer(again, recipe_cls(again, batch_size=8), data, out_dir=tmp_path / "b", steps=4, progress=False,
            grid_every=None, checkpoint_every=1).fit(resume=True)
    a, b = genae.load(tmp_path / "a" / "model"), genae.load(tmp_path / "b" / "model")
    for key, value in a.state_dict().items():
        assert torch.allclose(value, b.state_dict()[key], atol=1e-5), key


# -- bundled weights ----------------------------------------------------------------------------------------------
BUNDLED = ["iae-fashion-mnist-32", "iae-cluster-fashion-mnist-32", "iae-semisup-fashion-mnist-32", "flipped-iae-fashion-mnist-32",
           "cycle-iae-fashion-edges-32"]


def _mini_test() -> tuple[torch.Tensor, torch.Tensor]:
    data = open_dataset("fashion-mnist-mini", split="test", resolution=32, channels=1)
    return torch.stack([data[i][0] for i in range(len(data))]), torch.as_tensor(data.labels)


@pytest.mark.parametrize("name", [n for n in BUNDLED if "semisup" not in n])  # its code keeps only the class
def test_bundled_models_load_offline_and_reconstruct_better_than_the_mean_image(name: str) -> None:
    model = genae.load(name).eval()
    images, _ = _mini_test()
    with torch.no_grad():
        error = float((model.reconstruct(images) - images).pow(2).mean())
    mean_image = float((images - images.mean(0)).pow(2).mean())
    assert error < mean_image, f"{name}: reconstruction MSE {error:.3f} >= mean image {mean_image:.3f}"
    assert "limitations" in model.card and "source" in model.card


def test_bundled_semisup_model_records_its_labels_and_beats_chance() -> None:
    model = genae.load("iae-semisup-fashion-mnist-32").eval()
    record = model.card["labelled_subset"]
    assert record["count"] == 100 and len(record["indices"]) == 100 and record["split"] == "train"
    images, labels = _mini_test()
    with torch.no_grad():
        accuracy = float((model.classify(images) == labels).float().mean())
    assert accuracy > 0.3  # 10 classes: chance is 0.1


def test_bundled_clustering_model_spreads_images_over_its_categories() -> None:
    """Trained without labels, its clusters still agree with the classes far above chance (0.9 error)."""
    model = genae.load("iae-cluster-fashion-mnist-32").eval()
    assert model.num_categories == 30 and "labelled_subset" not in model.card
    images, labels = _mini_test()
    result = cluster_error(model, images, labels)
    assert result["clusters_used"] >= 20, result  # the paper's config used 4-8 of 30 here
    assert result["value"] < 0.5, result


def test_bundled_cycle_model_translates_to_edge_like_codes() -> None:
    model = genae.load("cycle-iae-fashion-edges-32").eval()
    images, _ = _mini_test()
    with torch.no_grad():
        codes = model.translate(images[:32])
    # edge maps are mostly background (-1) with thin bright lines; garments are mostly bright blobs
    assert float((codes < 0).float().mean()) > 0.5
    assert set(model.prior.bank.unique().tolist()) <= {-1.0, 1.0}


def test_compact_default_and_paper_variant():
    """``iae`` is the bundled networks' size; ``iae-paper`` the paper's MNIST widths (timm-style size names)."""
    compact = genae.create("iae", device="meta")
    paper = genae.create("flipped-iae-paper", device="meta")
    assert list(compact.config.encoder_widths) == [256, 256] and list(paper.config.encoder_widths) == [2000, 2000]
    assert sum(p.numel() for p in compact.parameters()) < 1_000_000 < sum(p.numel() for p in paper.parameters())
