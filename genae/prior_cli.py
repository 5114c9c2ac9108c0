"""``genae fit-prior``: fit a Gaussian-mixture prior to a trained model's codes and save the model with it."""

from __future__ import annotations

from pathlib import Path

import click

from genae.cli import _done, device_option, load_for_command, progress_option


@click.command("fit-prior")
@click.argument("model_name")
@click.option("--data", required=True, help="Dataset name or path whose train split the encoder codes.")
@click.option("--components", type=click.IntRange(1, 1024), default=10, show_default=True,
              help="Gaussians in the mixture.")
@click.option("-n", "--num", "limit", type=click.IntRange(min=2), default=None,
              help="Use only the first N training images [default: all].")
@click.option("--seed", default=0, show_default=True, help="Seed of the k-means++ start of EM.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Model folder to write (the weights unchanged, the fitted prior added).")
@device_option
@progress_option
def fit_prior_command(model_name: str, data: str, components: int, limit: int | None, seed: int, out: Path,
                      device: str, progress: bool) -> None:
    """Fit a prior to where MODEL's encoder puts the training images, so samples land where it decodes well.

    Samples of the saved model then come from the mixture; `model.prior.base` keeps its own prior. Compare the
    two with `genae bench` on the input and output folders.
    """
    from genae.fitted_prior import fit_prior

    model = load_for_command(model_name, device)
    try:
        fit_prior(model, data, components=components, limit=limit, seed=seed, progress=progress)
    except (ValueError, TypeError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"prior: {model.prior.describe()}; EM {model.prior.fitted_on['iterations']} iterations, "
               f"mean log-likelihood {model.prior.fitted_on['log_likelihood']}", err=True)
    _done(model.save_pretrained(out))
