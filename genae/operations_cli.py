"""The papers' operations on the command line: ``genae translate``, ``genae classify`` and the grid behind
``genae sample --condition``.

Each command asks the model for a capability (``model.capabilities()``) instead of checking its name, so any
model that declares ``translate``, ``classify`` or ``conditional_sample`` works.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import click

from genae.cli import _done, _image_options, _load_inputs, _parse_range, device_option, load_for_command

DIRECTIONS = ("a-to-b", "b-to-a")


def _require(model: Any, capability: str, name: str, what: str) -> None:
    if not model.capabilities().get(capability):
        raise click.ClickException(f"{name} ({model.architecture or type(model).__name__}) cannot {what}: "
                                   f"it has no {capability!r} capability (see `genae info {name}`)")


def image_paths(items: tuple[str, ...]) -> list[str]:
    """Files as given, folders expanded to the image files below them (sorted); an empty folder is an error."""
    from genae.data.images import find_image_files

    paths: list[str] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = find_image_files(path)
            if not found:
                raise click.BadParameter(f"{item}: the folder holds no image files", param_hint="IMAGES")
            paths += [str(p) for p in found]
        else:
            paths.append(item)
    return paths


def conditional_sample_grid(model: Any, name: str, condition: tuple[str, ...], style_range: str, count: int,
                            seed: int) -> Any:
    """Rows: each condition image, then ``count`` samples that keep its ``style_range`` styles."""
    import torch

    _require(model, "conditional_sample", name, "sample conditionally")
    x = _load_inputs(model, tuple(image_paths(condition)), "", 0, seed)
    try:
        with torch.no_grad():
            samples = model.conditional_sample(x, keep=_parse_range(style_range), n=count,
                                               generator=torch.Generator().manual_seed(seed))
    except (ValueError, TypeError) as error:
        raise click.BadParameter(str(error), param_hint="--range") from error
    return torch.cat([x[:, None], samples], dim=1).flatten(0, 1)


@click.command("translate")
@click.argument("model_name")
@click.argument("images", nargs=-1, type=click.Path(exists=True))
@click.option("--direction", type=click.Choice(DIRECTIONS), default="a-to-b", show_default=True,
              help="a-to-b: IMAGES are domain A (the encoder translates); b-to-a: IMAGES are domain B (the decoder).")
@click.option("--draws", default=4, show_default=True, type=click.IntRange(min=1),
              help="Translations per input, each with its own noise draw.")
@_image_options
def translate_command(model_name: str, images: tuple[str, ...], direction: str, draws: int, data: str, count: int,
                      seed: int, device: str, scale: int, out: Path) -> None:
    """Translate IMAGES (files or folders; else -n dataset images) to the other domain, several draws each.

    Grid rows: an input, then its translations. A translator without noise gives one translation per input.
    """
    import torch

    from genae.data import fit_images
    from genae.viz import save_image_grid

    model = load_for_command(model_name, device)
    _require(model, "translate", model_name, "translate between domains")
    x = _load_inputs(model, tuple(image_paths(images)), data, count, seed)
    generator = torch.Generator().manual_seed(seed)
    if direction == "a-to-b":
        noise = model.encoder_noise
        translate = model.translate
    else:
        x, _ = fit_images(x, channels=model.code_shape[0], resolution=model.code_shape[1])
        noise = model.decoder_noise
        translate = lambda codes, noise: model.decode(codes.flatten(1), noise=noise)  # noqa: E731
    if noise(1) is None:
        other = "b-to-a" if direction == "a-to-b" else "a-to-b"
        click.echo(f"note: this model's {direction} translator has no noise, so there is one translation per input "
                   f"(--direction {other} may have)", err=True)
        draws = 1
    with torch.no_grad():
        outputs = [translate(x, noise=noise(x.shape[0], generator)) for _ in range(draws)]
    inputs, _ = fit_images(x, channels=outputs[0].shape[1], resolution=outputs[0].shape[-1])
    grid = torch.stack([inputs, *outputs], dim=1).flatten(0, 1)
    _done(save_image_grid(grid, out, nrow=draws + 1, scale=scale))


@click.command("classify")
@click.argument("model_name")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the table here (default: print it).")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(min=1))
@device_option
def classify_command(model_name: str, images: tuple[str, ...], csv_path: Path | None, batch_size: int,
                     device: str) -> None:
    """Assign each of IMAGES (files or folders) to the model's category: its class or cluster.

    Columns: file, category (the argmax of the categorical code), probability, and class where the model was
    trained with labels (the categories are then the dataset's classes).
    """
    import torch

    from genae.data import load_image_files
    from genae.io import write_text_atomic

    model = load_for_command(model_name, device)
    _require(model, "classify", model_name, "classify images")
    paths = image_paths(images)
    names = _class_names(model)
    rows = []
    with torch.no_grad():
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            x = load_image_files(chunk, channels=model.channels, resolution=model.resolution,
                                 notify=lambda line: click.echo(f"note: {line}", err=True)).to(model.device)
            probabilities = model.encode(x)
            best, category = probabilities.max(dim=1)
            for path, k, p in zip(chunk, category.tolist(), best.tolist()):
                rows.append([path, k, f"{p:.4f}", *([names[k]] if names else [])])
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["file", "category", "probability", *(["class"] if names else [])])
    writer.writerows(rows)
    if csv_path is None:
        click.echo(text.getvalue(), nl=False)
        return
    write_text_atomic(csv_path, text.getvalue())
    used = len({row[1] for row in rows})
    click.echo(f"{len(rows)} images in {used} of {model.num_categories} categories")
    _done(csv_path)


def _class_names(model: Any) -> tuple[str, ...]:
    """The labelled dataset's class names when the card says the model learnt from its labels, else ()."""
    from genae.data import open_dataset

    labelled = model.card.get("labelled_subset")
    if not isinstance(labelled, dict) or "data" not in labelled:
        return ()
    classes = open_dataset(labelled["data"], split=labelled.get("split", "train"), limit=1).classes
    return classes if len(classes) == model.num_categories else ()
