"""``genae invert MODEL [IMAGES...] --out DIR``: latents (safetensors), a before/after grid and metrics."""

from __future__ import annotations

import json
from pathlib import Path

import click

from genae.cli import count_option, device_option, progress_option
from genae.inversion import INITS, LOSSES, METHODS, SPACES


@click.command("invert")
@click.argument("model_name")
@click.argument("images", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for latents.safetensors, grid.png and metrics.json.")
@click.option("--method", type=click.Choice(sorted(METHODS)), default="optimise", show_default=True)
@click.option("--space", type=click.Choice(SPACES), default="w+", show_default=True)
@click.option("--steps", default=1000, show_default=True, help="Optimisation steps per image.")
@click.option("--init", type=click.Choice(INITS), default=None,
              help="Starting latents [default: encoder for method=encoder, else mean].")
@click.option("--loss", type=click.Choice(sorted(LOSSES)), default="mse", show_default=True,
              help="lpips-* need their ImageNet backbone file (see docs/metrics.md).")
@click.option("--lr", default=0.1, show_default=True)
@click.option("--batch-size", default=None, type=int, help="Invert in chunks of this many images.")
@click.option("--data", default="fashion-mnist-mini", show_default=True,
              help="Dataset name or path used when no IMAGES are given.")
@count_option("How many dataset images to use when no IMAGES are given.", 8)
@click.option("--seed", default=0, show_default=True, help="Seed for picking images and for the optimisation.")
@device_option
@click.option("--scale", default=4, show_default=True, help="Enlarge the grid PNG by this factor.")
@progress_option
def invert_command(model_name: str, images: tuple[str, ...], out: Path, method: str, space: str, steps: int,
                   init: str | None, loss: str, lr: float, batch_size: int | None, data: str, count: int, seed: int,
                   device: str, scale: int, progress: bool) -> None:
    """Invert IMAGES (or -n dataset images) into MODEL's style latents.

    grid.png rows: inputs, the starting point's decoding, the result.
    """
    import torch

    from genae.cli import _load_inputs, load_for_command
    from genae.inversion import invert
    from genae.io import write_text_atomic
    from genae.metrics import mse, psnr, ssim
    from genae.viz import save_image_grid

    model = load_for_command(model_name, device)
    x = _load_inputs(model, images, data, count, seed)
    start = init or ("encoder" if METHODS[method] == "encoder" else "mean")
    try:
        result = invert(model, x, method, space=space, steps=steps, init=start, loss=loss, lr=lr,
                        batch_size=batch_size, generator=torch.Generator().manual_seed(seed), progress=progress)
    except (ValueError, TypeError) as error:
        raise click.ClickException(str(error)) from error
    out.mkdir(parents=True, exist_ok=True)
    result.save(out / "latents.safetensors")
    save_image_grid(torch.cat([x, result.initial_reconstructions, result.reconstructions]), out / "grid.png",
                    nrow=x.shape[0], scale=scale)
    scores = {}
    for name, images_out in (("start", result.initial_reconstructions), ("result", result.reconstructions)):
        row = {"mse": float(mse(images_out, x).mean()), "psnr": float(psnr(images_out, x).mean())}
        if min(x.shape[-2:]) >= 11:
            row["ssim"] = float(ssim(images_out, x).mean())
        scores[name] = row
    metrics = {"model": model_name, "images": x.shape[0], "method": result.method, "space": space, "init": start,
               "steps": result.info["steps"], "loss": result.loss_name, "lr": lr, "seed": seed,
               "seconds": round(result.seconds, 3), "seconds_per_image": round(result.seconds / x.shape[0], 4),
               "scores": scores}
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    click.echo(f"MSE {scores['start']['mse']:.4f} ({start}) -> {scores['result']['mse']:.4f} after "
               f"{result.info['steps']} steps, {result.seconds:.1f} s")
    for name in ("latents.safetensors", "grid.png", "metrics.json"):
        click.echo(f"wrote {out / name}")
