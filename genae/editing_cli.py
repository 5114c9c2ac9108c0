"""``genae edit MODEL [IMAGES...] --method sefa --index 0 --strengths -3,0,3 --out grid.png``: a labelled grid
(rows: images, columns: strengths), with the directions saved beside it (``grid.directions.safetensors/.json``)."""

from __future__ import annotations

from pathlib import Path

import click

from genae.cli import _image_options, _parse_range
from genae.editing.methods import METHODS


@click.command("edit")
@click.argument("model_name")
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--method", type=click.Choice(METHODS), default="sefa", show_default=True)
@click.option("--index", default=0, show_default=True, help="Which direction to apply (0: the top one).")
@click.option("-k", "k", default=5, show_default=True, help="Directions to find (sefa, ganspace).")
@click.option("--strengths", default="-3,0,3", show_default=True,
              help="Comma-separated strengths, in standard deviations along the direction.")
@click.option("--slots", default=None, help="Slots to act on: a named range (coarse, intermediate, fine, all) or "
              "START:STOP [default: all].")
@click.option("--labels", default="1,3", show_default=True,
              help="supervised: SOURCE,TARGET class ids (Fashion-MNIST 1,3: trouser -> dress).")
@click.option("--fit-data", default=None, help="Data (train split) to fit on: labelled for supervised [default: "
              "fashion-mnist]; ganspace's PCA and sefa's scales [default: prior draws, where the model has a mapping].")
@click.option("--fit-n", default=None, type=int, help="Codes to fit on (per class for supervised).")
@click.option("--directions", "directions_file", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Reuse saved directions (.safetensors or .json) instead of finding new ones.")
@click.option("--invert", is_flag=True, help="Invert the images with genae.invert instead of encoding them.")
@click.option("--steps", default=200, show_default=True, help="Inversion steps with --invert.")
@_image_options
def edit_command(model_name: str, images: tuple[str, ...], method: str, index: int, k: int, strengths: str,
                 slots: str | None, labels: str, fit_data: str | None, fit_n: int | None,
                 directions_file: str | None, invert: bool, steps: int, data: str, count: int, seed: int,
                 device: str, scale: int, out: Path) -> None:
    """Edit IMAGES (or -n dataset images) along a SeFa, GANSpace or supervised direction of MODEL."""
    import torch

    from genae.cli import _load_inputs
    from genae.editing import Directions, directions, edit
    from genae.factory import load
    from genae.viz import save_labelled_grid

    values = _numbers("--strengths", strengths, float)
    model = load(model_name, device=device)
    x = _load_inputs(model, images, data, count, seed)
    try:
        if directions_file:
            found = Directions.load(directions_file)
        else:
            options = {"k": max(k, index + 1), "seed": seed, "n": fit_n,
                       "slots": None if slots is None else _parse_range(slots)}
            if method == "supervised":
                pair = _numbers("--labels", labels, int)
                if len(pair) != 2:
                    raise click.BadParameter(f"--labels: expected SOURCE,TARGET, got {labels!r}")
                options.update(data=fit_data or "fashion-mnist", labels=tuple(pair))
                del options["k"]
            else:
                options["data"] = fit_data
            found = directions(model, method, **options)
        chosen = found[index]
        inversion = {"steps": steps, "generator": torch.Generator().manual_seed(seed)} if invert else False
        edited = edit(model, x, chosen, values, invert=inversion)
    except (ValueError, TypeError, IndexError, KeyError, FileNotFoundError) as error:
        message = str(error).strip("'\"")
        hint = " (from the command line: --fit-data)" if message.startswith("data:") else ""
        raise click.ClickException(message + hint) from error
    beside = out.with_name(out.stem + ".directions.safetensors")
    if not directions_file or Path(directions_file).resolve() not in (beside.resolve(), beside.with_suffix(".json").resolve()):
        found.save(beside)
    where = f", slots {chosen.slots[0]}-{chosen.slots[1] - 1}" if found.num_slots > 1 else ""
    title = f"{model_name}: {chosen.name} ({found.method} in {found.space}{where})"
    save_labelled_grid(edited.cpu(), out, [f"{v:+g}" for v in values], scale=scale, title=title)
    click.echo(f"wrote {out}")
    click.echo(f"wrote {beside} (+ .json): {len(found)} {found.method} directions; reuse with --directions")


def _numbers(option: str, text: str, kind: type) -> list:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise click.BadParameter(f"{option}: expected comma-separated numbers, got {text!r}") from error
    if not values:
        raise click.BadParameter(f"{option}: expected at least one number, got {text!r}")
    return values
