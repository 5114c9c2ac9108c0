"""Fitted priors (issue 22 item 7): EM on known mixtures, sampling, saving with the model, the CLI, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import genae
from genae.cli import main
from genae.data import example_images
from genae.fitted_prior import GaussianMixturePrior
from genae.hub import ModelFolderError
from genae.mixture import fit_gaussian_mixture, mixture_log_prob
from genae.priors import GaussianPrior, SpherePrior

TRUE_MEANS = torch.tensor([[-4.0, 0.0], [4.0, 0.0], [0.0, 5.0]], dtype=torch.float64)
TRUE_WEIGHTS = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
TRUE_TRILS = torch.tensor([[[1.0, 0.0], [0.5, 0.6]], [[0.7, 0.0], [0.0, 1.2]], [[0.4, 0.0], [-0.3, 0.9]]],
                          dtype=torch.float64)


def draw_known_mixture(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    chosen = torch.multinomial(TRUE_WEIGHTS, n, replacement=True, generator=g)
    noise = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return TRUE_MEANS[chosen] + (TRUE_TRILS[chosen] @ noise[:, :, None])[:, :, 0]


def tiny_automodulator() -> genae.interfaces.GenerativeAutoencoder:
    torch.manual_seed(0)
    return genae.create("automodulator", resolution=32, channels_in=1, latent_dim=8, channels=[8, 8, 8, 8],
                        encoder_channels=[8, 8, 8, 8])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.numerics
def test_em_recovers_a_known_mixture(seed: int) -> None:
    x = draw_known_mixture(6000, seed)
    fit = fit_gaussian_mixture(x, 3, generator=torch.Generator().manual_seed(seed))
    order = [int((fit.means - m).norm(dim=1).argmin()) for m in TRUE_MEANS]
    assert sorted(order) == [0, 1, 2]
    torch.testing.assert_close(fit.means[order], TRUE_MEANS, atol=0.1, rtol=0)
    torch.testing.assert_close(fit.weights[order], TRUE_WEIGHTS, atol=0.03, rtol=0)
    covariances = fit.scale_tril @ fit.scale_tril.transpose(1, 2)
    torch.testing.assert_close(covariances[order], TRUE_TRILS @ TRUE_TRILS.transpose(1, 2), atol=0.12, rtol=0)
    assert fit.converged


@pytest.mark.numerics
def test_em_never_lowers_the_likelihood() -> None:
    trace: list[float] = []
    fit_gaussian_mixture(draw_known_mixture(2000, 5), 5, generator=torch.Generator().manual_seed(0),
                         on_iteration=lambda i, ll: trace.append(ll))
    assert len(trace) >= 2
    # EM never lowers the likelihood; the covariance floor (1e-6 on the diagonal) may cost far less than 1e-6.
    assert all(b >= a - 1e-6 for a, b in zip(trace, trace[1:]))


@pytest.mark.numerics
def test_mixture_log_prob_is_the_mixture_density() -> None:
    x = draw_known_mixture(50, 3)
    reference = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(probs=TRUE_WEIGHTS),
        torch.distributions.MultivariateNormal(TRUE_MEANS, scale_tril=TRUE_TRILS))
    torch.testing.assert_close(mixture_log_prob(x, TRUE_WEIGHTS, TRUE_MEANS, TRUE_TRILS), reference.log_prob(x),
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("x", "components", "message"), [
    (torch.zeros(10), 2, r"codes: expected a \(N, D\) tensor"),
    (torch.randn(10, 2), 0, "components: expected a positive int"),
    (torch.randn(10, 2), True, "components: expected a positive int"),
    (torch.randn(7, 2), 4, "codes: 7 points cannot fit 4 components"),
    (torch.tensor([[0.0, float("nan")]] * 10), 2, "codes: contain NaN"),
    (torch.zeros(10, 2), 2, "codes: fewer than 2 distinct points"),
])
def test_em_refuses_bad_input(x: torch.Tensor, components: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit_gaussian_mixture(x, components, generator=torch.Generator().manual_seed(0))


def test_mixture_prior_draws_from_its_mixture() -> None:
    prior = GaussianMixturePrior(GaussianPrior(2), 3)
    fit = fit_gaussian_mixture(draw_known_mixture(6000, 0), 3, generator=torch.Generator().manual_seed(0))
    prior.load_fit(fit)
    draws = prior.sample(20000, generator=torch.Generator().manual_seed(1))
    expected_mean = (TRUE_WEIGHTS[:, None] * TRUE_MEANS).sum(0).float()
    torch.testing.assert_close(draws.mean(0), expected_mean, atol=0.1, rtol=0)
    again = prior.sample(20000, generator=torch.Generator().manual_seed(1))
    assert torch.equal(draws, again)
    assert prior.has_log_prob and prior.log_prob(draws[:4]).shape == (4,)


def test_a_spherical_base_keeps_draws_on_the_sphere() -> None:
    prior = GaussianMixturePrior(SpherePrior(4), 2)
    prior.means.copy_(torch.tensor([[3.0, 0, 0, 0], [0, 0, 0, -2.0]]))
    z = prior.sample(64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.norm(dim=1), torch.ones(64))
    assert prior.is_spherical and not prior.has_log_prob
    with pytest.raises(TypeError, match="no closed-form log-density"):
        prior.log_prob(z)


def test_fit_prior_samples_from_the_codes_and_saves_with_the_model(tmp_path: Path) -> None:
    model = tiny_automodulator()
    images = example_images(64, resolution=32, channels=1)
    reference = model.sample(4, generator=torch.Generator().manual_seed(3))
    assert genae.fit_prior(model, images, components=2, progress=False) is model
    prior = model.prior
    assert isinstance(prior, GaussianMixturePrior) and isinstance(prior.base, SpherePrior)
    assert prior.fitted_on["images"] == 64 and prior.fitted_on["data"] == "a tensor of 64 images"
    with torch.no_grad():
        codes = model.encode(images)
    # The fitted mean direction is the codes' mean direction (the base prior's is none).
    mean = torch.nn.functional.normalize((prior.weights[:, None] * prior.means).sum(0), dim=0)
    assert float(mean @ torch.nn.functional.normalize(codes.mean(0), dim=0)) > 0.999
    drawn = model.sample(4, generator=torch.Generator().manual_seed(3))
    assert not torch.equal(drawn, reference)

    folder = model.save_pretrained(tmp_path / "fitted")
    config = json.loads((folder / "config.json").read_text())
    assert config["prior"]["kind"] == "gaussian-mixture" and config["prior"]["components"] == 2
    assert "2-component Gaussian mixture" in (folder / "README.md").read_text()
    loaded = genae.load(folder)
    assert torch.equal(loaded.sample(4, generator=torch.Generator().manual_seed(3)), drawn)
    assert isinstance(loaded.prior.base, SpherePrior)

    genae.fit_prior(loaded, images, components=3, progress=False)  # refits from the base, never nests
    assert loaded.prior.components == 3 and isinstance(loaded.prior.base, SpherePrior)


def test_fit_prior_on_a_gaussian_prior_model_has_a_density() -> None:
    torch.manual_seed(0)
    model = genae.create("vae", resolution=32, channels_in=1, latent_dim=4)
    genae.fit_prior(model, "fashion-mnist-mini", components=2, limit=100, progress=False)
    assert model.prior.fitted_on["images"] == 100 and "content_hash" in model.prior.fitted_on
    assert model.capabilities()["log_prob"]
    z = model.prior.sample(5, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(model.prior.log_prob(z)).all()


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"data": torch.zeros(4, 3, 32, 32)}, ValueError, r"data: expected shape \(B, 1, 32, 32\)"),
    ({"data": 5}, TypeError, "data: expected a dataset name"),
    ({"components": 0}, ValueError, r"components: expected an int in \[1, 1024\]"),
    ({"limit": 0}, ValueError, "limit: expected a positive int"),
    ({"batch_size": -1}, ValueError, "batch_size: expected a positive int"),
    ({"data": example_images(3, resolution=32, channels=1), "components": 2}, ValueError, "codes: 3 points"),
])
def test_fit_prior_refuses_bad_input(kwargs: dict, error: type, message: str) -> None:
    model = tiny_automodulator()
    arguments = {"data": example_images(16, resolution=32, channels=1), "progress": False, **kwargs}
    with pytest.raises(error, match=message):
        genae.fit_prior(model, **arguments)
    assert isinstance(model.prior, SpherePrior)
    with pytest.raises(TypeError, match="model: expected a genae GenerativeAutoencoder"):
        genae.fit_prior(torch.nn.Linear(2, 2), arguments["data"])  # type: ignore[arg-type]


@pytest.fixture
def fitted_folder(tmp_path: Path) -> Path:
    model = tiny_automodulator()
    genae.fit_prior(model, example_images(32, resolution=32, channels=1), components=2, progress=False)
    return model.save_pretrained(tmp_path / "fitted")


@pytest.mark.parametrize(("change", "message"), [
    ({"kind": "flow"}, "'prior' must be an object with kind 'gaussian-mixture'"),
    ({"components": True}, r"prior 'components' must be an int in \[1, 1024\]"),
    ({"components": 10**9}, r"prior 'components' must be an int in \[1, 1024\]"),
    ({"latent_dim": 9}, "prior 'latent_dim' 9 does not match the model's 8"),
    ({"fitted_on": [1]}, "prior 'fitted_on' must be an object"),
])
def test_a_hostile_prior_entry_is_refused_naming_the_file(fitted_folder: Path, change: dict, message: str) -> None:
    config_path = fitted_folder / "config.json"
    config = json.loads(config_path.read_text())
    config["prior"] = {**config["prior"], **change}
    config_path.write_text(json.dumps(config))
    with pytest.raises(ModelFolderError, match=rf"^{config_path}: {message}"):
        genae.load(fitted_folder)


def test_cli_fit_prior_writes_a_model_that_samples_from_it(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    source = tiny_automodulator().save_pretrained(tmp_path / "plain")
    out = tmp_path / "fitted"
    args = ["fit-prior", str(source), "--data", "fashion-mnist-mini", "-n", "120", "--components", "3",
            "--seed", "2", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "3-component Gaussian mixture" in err and "EM " in err
    model = genae.load(out)
    expected = genae.fit_prior(genae.load(source), "fashion-mnist-mini", components=3, limit=120, seed=2,
                               progress=False)
    assert torch.equal(model.prior.means, expected.prior.means)
    assert model.prior.fitted_on["data"] == "fashion-mnist-mini (train split)"
    assert main(["fit-prior", str(source), "--data", "fashion-mnist-mini", "--components", "0",
                 "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


@pytest.mark.numerics
def test_log_likelihood_is_per_point_mean() -> None:
    x = draw_known_mixture(3000, 7)
    fit = fit_gaussian_mixture(x, 3, generator=torch.Generator().manual_seed(0))
    direct = float(mixture_log_prob(x, fit.weights, fit.means, fit.scale_tril).mean())
    assert math.isclose(fit.log_likelihood, direct, rel_tol=1e-9, abs_tol=1e-9)


def test_the_saved_prior_names_no_local_path(tmp_path: Path) -> None:
    from PIL import Image

    from genae.viz import to_uint8

    folder = tmp_path / "my" / "garments"
    folder.mkdir(parents=True)
    for index, array in enumerate(to_uint8(example_images(12, resolution=32, channels=1))):
        Image.fromarray(array[:, :, 0]).save(folder / f"{index}.png")
    model = genae.fit_prior(tiny_automodulator(), folder, components=2, progress=False)  # a Path works as a str
    saved = model.save_pretrained(tmp_path / "model")
    assert str(tmp_path) not in (saved / "config.json").read_text()
    assert str(tmp_path) not in (saved / "README.md").read_text()
