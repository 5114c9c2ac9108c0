"""The ``genae`` command. Sub-commands load lazily, so ``genae --help`` stays fast.

Core commands live here or in their package (``train`` in ``genae.training.cli``, ``bench`` in
``genae.bench.cli``); plugins add theirs through ``registry.add_command`` — a dotted name such as
``convert.automodulator`` nests under a ``convert`` group.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from genae._version import __version__

LAZY_COMMANDS = {
    "train": "genae.training.cli:train_command",
    "bench": "genae.bench.cli:bench_command",
    "invert": "genae.inversion_cli:invert_command",
    "translate": "genae.operations_cli:translate_command",
    "classify": "genae.operations_cli:classify_command",
    "edit": "genae.editing_cli:edit_command",
    "fit-prior": "genae.prior_cli:fit_prior_command",
}

#: One-line help of the lazy commands, so `genae --help` lists them without importing them (and torch).
SHORT_HELP = {
    "train": "Train an architecture with its recipe (the generic Trainer).",
    "bench": "Compare models on one dataset (FID, KID, MSE, SSIM, mixing, speed...).",
    "invert": "Invert images into a style-based model by optimisation.",
    "translate": "Translate images to a CycleIAE's other domain, several noise draws each.",
    "classify": "Assign images (files or folders) to an IAE's classes or clusters; CSV out.",
    "edit": "Edit images along SeFa, GANSpace or supervised latent directions.",
    "fit-prior": "Fit a Gaussian-mixture prior to a trained model's codes (better samples).",
}


#: The most images one PNG grid holds: 100x100 tiles, already 3,200 px wide at 32 px.
MAX_GRID_IMAGES = 10_000


def default_device() -> str:
    """``cuda`` when a GPU is usable, else ``cpu``: the ``--device`` default of every command."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_option(func: Any) -> Any:
    return click.option("--device", default=default_device, show_default="cuda when available, else cpu",
                        help="Where to run (cpu, cuda, cuda:1, mps).")(func)


def count_option(help_text: str, default: int, maximum: int | None = None) -> Any:
    """``-n/--num``: how many images a command works on (the same flag with the same meaning everywhere)."""
    return click.option("-n", "--num", "count", type=click.IntRange(min=1, max=maximum), default=default,
                        show_default=True, help=help_text)


def progress_option(func: Any) -> Any:
    return click.option("--progress/--no-progress", default=True, show_default=True,
                        help="Show progress (a bar on a terminal, plain lines when stderr is redirected).")(func)


def load_for_command(name: str, device: str) -> Any:
    """``genae.load``, except that an architecture name means its default weights (as ``bench --models`` does),
    said on stderr; an architecture without weights is an error that says how to get a model."""
    from genae.factory import load
    from genae.registry import REGISTRY

    REGISTRY.discover()
    architecture = REGISTRY.find_model(name)
    if architecture is not None and not Path(name).exists() and REGISTRY.find_pretrained(name) is None:
        weights = REGISTRY.weights_of(architecture.name)
        if not weights:
            raise click.BadParameter(f"{name!r} is an architecture without pretrained weights: train one with "
                                     f"`genae train {name}` and pass its model folder", param_hint="MODEL")
        click.echo(f"note: {name!r} is an architecture; using its default weights {weights[0].name!r}", err=True)
        name = weights[0].name
    return load(name, device=device)


class LazyGroup(click.Group):
    """A group whose commands are ``module:attr`` strings, plus plugin commands from the registry."""

    def __init__(self, *args: Any, lazy: dict[str, str] | None = None, prefix: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})
        self.prefix = prefix

    def _plugin_entries(self) -> dict[str, str | None]:
        """Names one level below this group: leaf commands map to their target, sub-groups to None."""
        from genae.registry import REGISTRY

        REGISTRY.discover()
        entries: dict[str, str | None] = {}
        for full, spec in REGISTRY.commands.items():
            if not full.startswith(self.prefix):
                continue
            head, _, rest = full[len(self.prefix) :].partition(".")
            entries[head] = None if rest else spec.command  # type: ignore[assignment]
        return entries

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy) | set(self._plugin_entries()))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Like click's, but lazy commands show their known help line instead of being imported."""
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy and name in SHORT_HELP and name not in self.commands:
                rows.append((name, SHORT_HELP[name]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        if name in self.lazy:
            return _import_command(name, self.lazy[name])
        entries = self._plugin_entries()
        if name not in entries:
            return None
        if entries[name] is None:
            return LazyGroup(name=name, prefix=f"{self.prefix}{name}.", help=f"{name} sub-commands from plugins.")
        return _import_command(name, entries[name])


def _import_command(name: str, target: str) -> click.Command:
    """Import a command; if its module is broken, stand in a command that reports why when run."""
    from genae.registry import import_object

    try:
        return import_object(target)
    except Exception as error:  # noqa: BLE001 - one broken command must not break `genae --help`
        message = f"command {name!r} is unavailable: {target} failed to import ({type(error).__name__}: {error})"

        def unavailable() -> None:
            raise click.ClickException(message)

        return click.Command(name, callback=unavailable, help=f"(unavailable: {type(error).__name__})")


@click.group(cls=LazyGroup, lazy=LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="genae")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """genae: generative autoencoders — encode, decode, sample and edit images."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@cli.command("list")
@click.argument("pattern", default="*")
@click.option("--pretrained", is_flag=True,
              help="List pretrained weights and what loading each does (bundled, download and convert, manual step).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects instead of a table.")
def list_command(pattern: str, pretrained: bool, as_json: bool) -> None:
    """List architectures (or pretrained weights) matching PATTERN (shell wildcards).

    Reads only the registry: no model code (and no torch) is imported. `genae info NAME` builds the model and
    shows its parameter count.
    """
    from genae.registry import REGISTRY

    REGISTRY.discover()
    if pretrained:
        rows = []
        for name in REGISTRY.list_pretrained(pattern):
            spec = REGISTRY.pretrained[name]
            _, status = spec.availability()
            rows.append((name, spec.architecture, spec.dataset or "-", str(spec.resolution or "-"), status))
        _print_rows(("name", "architecture", "dataset", "resolution", "status"), rows, as_json)
        return
    rows = []
    for name in REGISTRY.list_models(pattern):
        spec = REGISTRY.models[name]
        tags = ", ".join(p.tag for p in REGISTRY.weights_of(name)) or "-"
        description = spec.description if as_json or len(spec.description) <= 72 else spec.description[:71] + "…"
        rows.append((name, spec.plugin, tags, description or "-"))
    _print_rows(("name", "plugin", "pretrained tags", "description"), rows, as_json)


@cli.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of text.")
def info_command(name: str, as_json: bool) -> None:
    """Show an architecture's config, size and capabilities, or a pretrained model's card."""
    import json

    from genae.factory import create, pretrained_folder, resolve_pretrained
    from genae.hub import CARD_NAME
    from genae.registry import REGISTRY

    spec = REGISTRY.find_model(name)
    if spec is not None:
        model = create(name, device="meta")
        facts: dict[str, Any] = {
            "architecture": spec.name, "plugin": spec.plugin, "description": spec.description,
            "parameters": sum(p.numel() for p in model.parameters()), "capabilities": model.capabilities(),
            "recipe": spec.recipe if isinstance(spec.recipe, str) or spec.recipe is None else repr(spec.recipe),
            "pretrained": [s.name for s in REGISTRY.weights_of(spec.name)], "config": model.config.to_dict(),
        }
        if as_json:
            click.echo(json.dumps(facts, indent=2))
            return
        click.echo(f"architecture: {spec.name} (plugin {spec.plugin})")
        if spec.description:
            click.echo(spec.description)
        click.echo(f"parameters: {facts['parameters']:,} (default config)")
        click.echo(f"capabilities: {json.dumps(facts['capabilities'])}")
        click.echo(f"recipe: {facts['recipe'] or '(none: not trainable with genae train)'}")
        click.echo(f"pretrained: {', '.join(facts['pretrained']) or '(none)'}")
        click.echo("default config:\n" + model.config.to_json())
        return
    spec_p = resolve_pretrained(name)
    available, status = spec_p.availability()
    card = (pretrained_folder(spec_p) / CARD_NAME).read_text(encoding="utf-8") \
        if spec_p.package_files and available else None
    if as_json:
        click.echo(json.dumps({"pretrained": spec_p.name, "architecture": spec_p.architecture, "plugin": spec_p.plugin,
                               "dataset": spec_p.dataset, "resolution": spec_p.resolution, "source": spec_p.source,
                               "loads": available, "status": status, "card": card}, indent=2))
        return
    click.echo(f"pretrained: {spec_p.name} -> architecture {spec_p.architecture} (plugin {spec_p.plugin})")
    if spec_p.source:
        click.echo(f"source: {spec_p.source}")
    click.echo(f"status: {status}")
    if card is not None:
        click.echo(card)


@cli.command("push")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="Create the Hub repository as private.")
@click.option("--token", default=None, help="Hugging Face token (default: the logged-in token).")
@click.option("--revision", default=None, help="Branch to commit to (default: main).")
@click.option("--commit-message", default=None, help="Commit message (default: 'Upload genae model (ARCH)').")
@click.option("--create-pr", is_flag=True, help="Open a pull request instead of committing to the branch.")
def push_command(folder: Path, repo_id: str, private: bool, token: str | None, revision: str | None,
                 commit_message: str | None, create_pr: bool) -> None:
    """Upload a saved model FOLDER to the Hugging Face Hub as REPO_ID (org/name).

    Uploads config.json, model.safetensors, the card (re-rendered to load from the Hub) and the folder's other
    files matching *.json *.safetensors *.md *.txt *.jsonl *.csv *.yaml *.png *.jpg *.jpeg, at any depth; never
    pickles (*.pt, *.pth, *.pkl, *.bin) or hidden files. The repo id is checked before any network call.
    """
    from genae.hub import check_repo_id, push_to_hub

    try:
        check_repo_id(repo_id)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="REPO_ID") from error
    click.echo(push_to_hub(folder, repo_id, private=private, token=token, revision=revision,
                           commit_message=commit_message, create_pr=create_pr))


# -- editing commands: work for any model, style commands for style-based ones ------------------------
def _image_options(func: Any) -> Any:
    func = click.option("--data", default="fashion-mnist-mini", show_default=True,
                        help="Dataset name or path used when no IMAGES are given.")(func)
    func = count_option("How many dataset images to use when no IMAGES are given.", 8)(func)
    func = click.option("--seed", default=0, show_default=True, help="Seed for picking images and sampling.")(func)
    func = device_option(func)
    func = click.option("--scale", default=4, show_default=True, help="Enlarge the PNG by this factor.")(func)
    func = click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
                        help="PNG file to write.")(func)
    return func


def _load_inputs(model: Any, images: tuple[str, ...], data: str, count: int, seed: int) -> Any:
    """User files (converted to the model's shape with a notice) or ``count`` seeded dataset images."""
    import torch

    from genae.data import fit_images, load_image_files, open_dataset

    if images:
        batch = load_image_files(list(images), channels=model.channels, resolution=model.resolution,
                                 notify=lambda line: click.echo(f"note: {line}", err=True))
    else:
        dataset = open_dataset(data, split="test", resolution=model.resolution)
        if count < 1 or count > len(dataset):
            raise click.BadParameter(f"-n/--num must be between 1 and {len(dataset)}, got {count}")
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed))[:count]
        batch = torch.stack([dataset[int(i)][0] for i in order])
    batch, notice = fit_images(batch, channels=model.channels, resolution=model.resolution)
    if notice:
        click.echo(f"note: {notice}", err=True)
    return batch.to(model.device)


def _done(path: Path) -> None:
    click.echo(f"wrote {path}")


@cli.command("reconstruct")
@click.argument("model_name")
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@_image_options
def reconstruct_command(model_name: str, images: tuple[str, ...], data: str, count: int, seed: int,
                        device: str, scale: int, out: Path) -> None:
    """Encode and decode IMAGES (or dataset images); grid rows: inputs, reconstructions."""
    import torch

    from genae.viz import save_image_grid

    model = load_for_command(model_name, device)
    x = _load_inputs(model, images, data, count, seed)
    with torch.no_grad():
        grid = torch.cat([x, model.reconstruct(x)])
    _done(save_image_grid(grid, out, nrow=x.shape[0], scale=scale))


@cli.command("sample")
@click.argument("model_name")
@count_option("How many images to draw from the prior (with --condition: per condition image); one grid holds "
              f"at most {MAX_GRID_IMAGES:,}.", 16, maximum=MAX_GRID_IMAGES)
@click.option("--seed", default=0, show_default=True, help="Seed of the prior draws.")
@device_option
@click.option("--scale", default=4, show_default=True, help="Enlarge the PNG by this factor.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="PNG file to write.")
@click.option("--condition", multiple=True, type=click.Path(exists=True),
              help="Image file or folder (repeatable): keep its --range styles, draw the rest (-n per image).")
@click.option("--range", "style_range", default=None, help="Styles kept with --condition [default: coarse].")
@click.option("--label", type=int, default=None, help="Class of every sample (class-conditional models; default random).")
def sample_command(model_name: str, count: int, seed: int, device: str, scale: int, out: Path,
                   condition: tuple[str, ...], style_range: str | None, label: int | None) -> None:
    """Draw latents from the prior and decode them (with --condition: conditional samples, a row per image).

    MODEL: pretrained weights, a model folder, or an architecture (its default weights)."""
    import inspect
    import math

    import torch

    from genae.viz import save_image_grid

    if style_range is not None and not condition:
        raise click.UsageError("--range chooses the styles kept from --condition images; give --condition too")
    if label is not None and condition:
        raise click.UsageError("--label sets the class of plain samples; it does not combine with --condition")
    model = load_for_command(model_name, device)
    if condition:
        from genae.operations_cli import conditional_sample_grid

        grid = conditional_sample_grid(model, model_name, condition, style_range or "coarse", count, seed)
        _done(save_image_grid(grid, out, nrow=count + 1, scale=scale))
        return
    if label is not None and "labels" not in inspect.signature(model.sample).parameters:
        raise click.UsageError(f"--label: {model_name} is not a class-conditional model")
    labels = {} if label is None else {"labels": [label] * count}
    with torch.no_grad():
        x = model.sample(count, generator=torch.Generator().manual_seed(seed), **labels)
    _done(save_image_grid(x, out, nrow=max(1, int(math.sqrt(count))), scale=scale))


@cli.command("mix")
@click.argument("model_name")
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--range", "style_range", default="coarse", show_default=True,
              help="Styles taken from the row images: a named range or START:STOP block slots.")
@_image_options
def mix_command(model_name: str, images: tuple[str, ...], style_range: str, data: str, count: int, seed: int,
                device: str, scale: int, out: Path) -> None:
    """Style-mixing matrix: first half of the images are rows, second half columns."""
    from genae.viz import save_image_grid, style_mixing_matrix

    model = load_for_command(model_name, device)
    x = _load_inputs(model, images, data, count, seed)
    if x.shape[0] < 2:
        raise click.BadParameter("mix needs at least 2 images (rows and columns)")
    half = x.shape[0] // 2
    rows, cols = x[:half], x[half:]
    matrix = style_mixing_matrix(model, rows, cols, _parse_range(style_range))
    _done(save_image_grid(matrix, out, nrow=cols.shape[0] + 1, scale=scale))


@cli.command("interpolate")
@click.argument("model_name")
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--frames", type=click.IntRange(min=2), default=8, show_default=True,
              help="Images per interpolation, both ends included.")
@_image_options
def interpolate_command(model_name: str, images: tuple[str, ...], frames: int, data: str, count: int, seed: int,
                        device: str, scale: int, out: Path) -> None:
    """Interpolate between consecutive pairs of images, in each model's own space (model.interpolate)."""
    import torch

    from genae.viz import interpolation_strip, save_image_grid

    model = load_for_command(model_name, device)
    x = _load_inputs(model, images, data, count, seed)
    if x.shape[0] < 2:
        raise click.BadParameter("interpolate needs at least 2 images")
    pairs = x.shape[0] // 2
    with torch.no_grad():
        z = model.encode(x[: 2 * pairs])
        strip = interpolation_strip(model, z[0::2], z[1::2], steps=frames)
    _done(save_image_grid(strip, out, nrow=frames, scale=scale))


@cli.command("demo")
@click.option("--model", "model_name", default=None,
              help="Show one model's reconstructions, samples, style mixing or clusters [default: the family tour].")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-output"),
              show_default=True)
@device_option
def demo_command(model_name: str | None, out: Path, device: str) -> None:
    """The main job on shipped data, in seconds: each bundled family at what it does best (the automodulator's
    reconstructions and style mixing, LIA's samples, the IAE's clusters), or one model's grids with --model."""
    from genae.demo import PARTS, shipped_test_images, showcase, tour

    out.mkdir(parents=True, exist_ok=True)
    if model_name is None:
        written = tour(out, device, click.echo)
    else:
        model = load_for_command(model_name, device)
        click.echo(f"loaded {model_name}: {model.architecture}, {sum(p.numel() for p in model.parameters()):,} "
                   "parameters")
        images, labels = shipped_test_images(model)
        written = showcase(model, images, labels, out, PARTS, click.echo)
    for path in written:
        click.echo(f"wrote {path}")


def _parse_range(text: str) -> str | tuple[int, int]:
    if ":" in text:
        start, _, stop = text.partition(":")
        try:
            return int(start), int(stop)
        except ValueError as error:
            raise click.BadParameter(f"--range {text!r}: expected NAME or START:STOP") from error
    return text


def _print_rows(header: tuple[str, ...], rows: list[tuple[str, ...]], as_json: bool) -> None:
    if as_json:
        import json

        keys = [h.replace(" ", "_") for h in header]
        click.echo(json.dumps([dict(zip(keys, row)) for row in rows], indent=2))
    else:
        _print_table(header, rows)


def _print_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    for row in (header, tuple("-" * w for w in widths), *rows):
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def main(argv: list[str] | None = None) -> int:
    """Entry point: one clear line per error unless ``--debug``."""
    import warnings

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if not debug:
        warnings.formatwarning = lambda message, category, *_, **__: f"warning: {message}\n"
    try:
        cli.main(args=args, prog_name="genae", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.UsageError as error:
        where = f" (see `{error.ctx.command_path} --help`)" if error.ctx is not None else ""
        click.echo(f"error: {error.format_message()}{where}", err=True)
        return error.exit_code
    except click.ClickException as error:
        click.echo(f"error: {error.format_message()}", err=True)
        return error.exit_code
    except click.exceptions.Exit as done:
        return done.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as error:  # noqa: BLE001 - the CLI's contract is one line per error
        if debug:
            raise
        click.echo(f"error: {error}", err=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
