"""``genae train``: train any registered architecture with its own recipe on any genae dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from genae.cli import device_option, progress_option


class Interrupted(click.ClickException):
    """Ctrl-C ended the run after a checkpoint; the exit status is the shell's for SIGINT."""

    exit_code = 130


def parse_assignments(pairs: tuple[str, ...], option: str) -> dict[str, Any]:
    """``("a=1", "b=x")`` → ``{"a": 1, "b": "x"}``: values are JSON when they parse as JSON, else strings."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint=option)
        try:
            values[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            values[key.strip()] = text
    return values


def format_seconds(seconds: float) -> str:
    """``0.42 s``, ``12.3 s``, ``754 s``: short runs keep their digits (a 6-step run is not "0 s")."""
    return f"{seconds:.3g} s" if seconds < 100 else f"{seconds:.0f} s"


def open_dataset(name_or_path: str, resolution: int, channels: int) -> Any:
    """The training split of a genae dataset, at the model's resolution and channels."""
    from genae.data import open_dataset as open_genae_dataset

    return open_genae_dataset(name_or_path, split="train", resolution=resolution, channels=channels)


@click.command("train")
@click.argument("name")
@click.option("--data", "data", required=True, help="Dataset name (e.g. fashion-mnist) or path.")
@click.option("--resolution", type=int, default=None, help="Image size (sets the model's resolution).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: checkpoint, metrics.jsonl, grids/, model/.")
@click.option("--images", type=click.IntRange(min=1), default=None, help="Train on this many images.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Train for this many steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Global batch size (all phases).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Learning rate (all phases).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@device_option
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), default="fp32", show_default=True,
              help="Autocast dtype inside training steps (fp16: CUDA only; bf16: only where the device has bf16 "
                   "units; auto: bf16 there, else fp32).")
@click.option("--compile", "compile_model", is_flag=True,
              help="torch.compile the submodules the model names (vae/wae with the classic decoder); "
                   "costs 10-20 s at the start, pays only in long runs of small models (docs/training.md).")
@click.option("--grad-clip", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in --out.")
@click.option("--overwrite", is_flag=True,
              help="Start afresh in a non-empty --out, deleting an earlier run's checkpoints, log and grids.")
@click.option("--set", "config_sets", multiple=True, metavar="KEY=VALUE", help="Model config override.")
@click.option("--option", "recipe_options", multiple=True, metavar="KEY=VALUE", help="Recipe option.")
@click.option("--stage", type=click.IntRange(min=1), default=None,
              help="Stage of a multi-stage recipe (lia: 1 = generator GAN, 2 = encoder); same as --option stage=N.")
@click.option("--init", "init_from", default=None, metavar="MODEL",
              help="Start from this trained model (folder or pretrained name), its config and weights, instead "
                   "of a fresh one; e.g. `genae train lia --stage 2 --init RUN/model`.")
@click.option("--log-every", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--grid-every", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--num-workers", type=click.IntRange(min=0), default=0, show_default=True)
@progress_option
@click.option("--tensorboard", is_flag=True,
              help="Also log to TensorBoard event files in OUT/tensorboard (needs: pip install 'genae[tensorboard]').")
def train_command(
    name: str,
    data: str,
    resolution: int | None,
    out_dir: Path,
    images: int | None,
    steps: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int,
    device: str,
    precision: str,
    compile_model: bool,
    grad_clip: float | None,
    resume: bool,
    overwrite: bool,
    config_sets: tuple[str, ...],
    recipe_options: tuple[str, ...],
    stage: int | None,
    init_from: str | None,
    log_every: int,
    grid_every: int,
    checkpoint_every: int,
    num_workers: int,
    progress: bool,
    tensorboard: bool,
) -> None:
    """Train architecture NAME on --data; writes the trained model to OUT/model.

    Run under `torchrun --nproc_per_node N` for data-parallel training.
    """
    import torch

    from genae.factory import create
    from genae.io import DiskFullError
    from genae.registry import REGISTRY, RegistryError, import_object
    from genae.training.checkpoint import CheckpointError
    from genae.training.interrupt import TrainingInterrupted
    from genae.training.trainer import Trainer, TrainingDiverged

    if images is not None and steps is not None:
        raise click.UsageError("give --images or --steps, not both")
    overrides = parse_assignments(config_sets, "--set")
    if resolution is not None:
        overrides["resolution"] = resolution
    options = parse_assignments(recipe_options, "--option")
    if stage is not None and options.setdefault("stage", stage) != stage:
        raise click.UsageError(f"--stage {stage} contradicts --option stage={options['stage']}")
    if init_from is not None and overrides:
        raise click.UsageError("--set/--resolution cannot change a model started from --init (its weights fix its config)")
    try:
        spec = REGISTRY.model_spec(name)
    except RegistryError as error:
        raise click.BadParameter(str(error), param_hint="NAME") from error
    if spec.recipe is None:
        raise click.UsageError(f"model {spec.name!r} declares no training recipe, so genae cannot train it")
    torch.manual_seed(seed)  # the initial weights (DDP ranks then take rank 0's)
    try:
        model = create(spec.name, **overrides) if init_from is None else _initial_model(init_from, spec.name)
        recipe = import_object(spec.recipe)(model, **options)
    except (TypeError, ValueError) as error:
        raise click.UsageError(str(error)) from error
    try:
        dataset = open_dataset(data, model.resolution, model.channels)
    except (ValueError, OSError) as error:
        raise click.BadParameter(str(error), param_hint="--data") from error
    try:
        trainer = Trainer(
            model,
            recipe,
            dataset,
            out_dir=out_dir,
            total_images=images,
            steps=steps,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            device=device,
            precision=precision,
            compile=compile_model,
            grad_clip=grad_clip,
            log_every=log_every,
            grid_every=grid_every,
            checkpoint_every=checkpoint_every,
            num_workers=num_workers,
            progress=progress,
            tensorboard=tensorboard,
        )
    except (TypeError, ValueError) as error:
        raise click.UsageError(str(error)) from error
    if precision == "auto":
        click.echo(f"precision: {trainer.precision_reason}", err=True)
    try:
        result = trainer.fit(resume=resume, overwrite=overwrite)
    except (FileExistsError, CheckpointError, TrainingDiverged) as error:
        raise click.ClickException(str(error)) from error
    except DiskFullError as error:
        raise click.ClickException(f"{error}; free some space, then continue with --resume") from error
    except TrainingInterrupted as error:
        raise Interrupted(f"interrupted: {error}") from error
    if result.model_dir is not None:
        click.echo(
            f"trained {spec.name} on {result.images_seen:,} images ({result.steps:,} steps, "
            f"{format_seconds(result.wall_time_s)}); model saved to {result.model_dir}"
        )


def _initial_model(name_or_path: str, architecture: str) -> Any:
    """The trained model ``--init`` names, checked to be of the architecture being trained."""
    from genae.factory import load

    try:
        model = load(name_or_path)
    except (OSError, ValueError, LookupError) as error:
        raise click.BadParameter(str(error), param_hint="--init") from error
    if model.architecture != architecture:
        raise click.BadParameter(f"{name_or_path} is a {model.architecture!r} model, not {architecture!r}",
                                 param_hint="--init")
    return model
