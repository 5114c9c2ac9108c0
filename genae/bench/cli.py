"""``genae bench``: the click command the top-level CLI mounts."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _crop(value: str | None) -> tuple[int, int, int, int] | None:
    if not value:
        return None
    try:
        parts = tuple(int(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4:
        raise click.BadParameter(f"expected TOP,LEFT,HEIGHT,WIDTH integers, got {value!r}")
    return parts  # type: ignore[return-value]


@click.command("bench")
@click.option("--models", required=True, help="NAME[,NAME...]: registry names, local folders or hf-hub: names. "
              "An architecture name resolves to its pretrained weights for --data.")
@click.option("--data", default="fashion-mnist", show_default=True, help="Dataset name or path.")
@click.option("--split", default="test", show_default=True, help="Held-out split the metrics use.")
@click.option("--metrics", default="all", show_default=True,
              help="Comma-separated: fid,kid,lpips,ppl,swd,mse,psnr,ssim,mix-fid,disentanglement,speed.")
@click.option("-n", "--n", "n", default=10000, show_default=True, type=int, help="Images per set.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default="cpu", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for results.json/.csv/.md and image grids.")
@click.option("--batch-size", default=64, show_default=True, type=int)
@click.option("--extractor", default=None,
              help="Feature extractor for FID/KID (default: fashion-mnist-features on Fashion-MNIST, "
                   "else inception-v3-compat).")
@click.option("--weights-dir", type=click.Path(path_type=Path), default=None,
              help="Folder whose metric weights files (Inception, AlexNet, VGG16, LPIPS heads) are used "
                   "instead of downloading them (docs/metrics.md).")
@click.option("--ppl-space", type=click.Choice(["z", "styles"]), default="z", show_default=True)
@click.option("--ppl-n", type=int, default=None, help="Samples for PPL (default: -n).")
@click.option("--crop", default=None, help="TOP,LEFT,HEIGHT,WIDTH crop for LPIPS and PPL.")
@click.option("--no-cache", is_flag=True, help="Recompute real-data features instead of using the cache.")
@click.option("--random-weights-for-testing", "random_weights", is_flag=True, hidden=True)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def bench_command(models: str, data: str, split: str, metrics: str, n: int, seed: int, device: str,
                  out: Path | None, batch_size: int, extractor: str | None, weights_dir: Path | None,
                  ppl_space: str, ppl_n: int | None, crop: str | None, no_cache: bool, random_weights: bool,
                  quiet: bool) -> None:
    """Compare models on one dataset: FID/KID, LPIPS, PPL, SWD, MSE/PSNR/SSIM, mixing metrics and speed."""
    from genae.bench.report import markdown
    from genae.bench.runner import run_bench

    meta: dict = {}
    try:
        records = run_bench(models, data=data, split=split, metrics=metrics, n=n, seed=seed, device=device,
                            out=out, batch_size=batch_size, no_cache=no_cache, weights_dir=weights_dir,
                            extractor=extractor, ppl_space=ppl_space, ppl_n=ppl_n, crop=_crop(crop),
                            random_weights=random_weights, progress=not quiet, meta_out=meta)
    except KeyboardInterrupt:
        click.echo(f"\ninterrupted; finished models are saved{f' in {out}' if out else ''}", err=True)
        sys.exit(130)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    click.echo(markdown(meta, records))
    if out is not None:
        click.echo(f"results written to {out}/results.json, results.csv, results.md", err=True)
    failed = [r for r in records if r["status"] != "ok"]
    for record in failed:  # the reason on stderr too: the table on stdout may be piped away
        click.echo(f"failed: {record['model']}: {record.get('error', record['status'])}", err=True)
    if failed:
        sys.exit(1)
