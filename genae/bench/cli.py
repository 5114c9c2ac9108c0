"""``genae bench``: the click command the top-level CLI mounts."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from genae.cli import progress_option


def _crop(value: str | None) -> tuple[int, int, int, int] | str | None:
    if not value:
        return None
    if value == "face":
        return value
    try:
        parts = tuple(int(v) for v in value.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or min(parts[:2]) < 0 or min(parts[2:]) < 1:
        raise click.BadParameter(f"expected 'face' or TOP,LEFT,HEIGHT,WIDTH integers (TOP, LEFT >= 0; HEIGHT, "
                                 f"WIDTH >= 1), got {value!r}", param_hint="'--crop'")
    return parts  # type: ignore[return-value]


@click.command("bench")
@click.option("--models", required=True, help="NAME[,NAME...]: registry names, local folders or hf-hub: names. "
              "An architecture name resolves to its pretrained weights for --data.")
@click.option("--data", default="fashion-mnist", show_default=True, help="Dataset name or path.")
@click.option("--split", default="test", show_default=True, help="Held-out split the metrics use.")
@click.option("--metrics", default=None,
              help="Comma-separated names, or 'all'. Default: the quick set fid,kid,precision,recall,mse,psnr,ssim. "
                   "Others: lpips,ppl,swd,density,coverage,is,fid-inf,mix-fid,disentanglement,cluster-error,"
                   "semisup-error,speed.")
@click.option("-n", "--n", "n", default=None, type=int,
              help="Images per set (default: 2048 on a CPU, 10000 on a GPU).")
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
@click.option("--ppl-space", type=click.Choice(["z", "styles", "w"]), default="z", show_default=True)
@click.option("--ppl-variant", type=click.Choice(["genae", "stylegan"]), default="genae", show_default=True,
              help="genae: the prior's path, clamped outputs; stylegan: slerp in z / lerp in w, unclamped.")
@click.option("--ppl-n", type=int, default=None, help="Samples for PPL (default: -n).")
@click.option("--crop", default=None, help="TOP,LEFT,HEIGHT,WIDTH crop for LPIPS and PPL, or 'face' "
              "(StyleGAN's face crop).")
@click.option("--reference", type=click.Path(path_type=Path), default=None,
              help="Stored real statistics (.npz: features or mu/sigma) to compare against instead of the split.")
@click.option("--allow-failed-metrics", is_flag=True,
              help="Exit 0 even when a metric failed (failures are still reported).")
@click.option("--no-cache", is_flag=True, help="Recompute real-data features instead of using the cache.")
@click.option("--random-weights-for-testing", "random_weights", is_flag=True, hidden=True)
@progress_option
@click.option("--quiet", is_flag=True, hidden=True, help="Same as --no-progress (the earlier spelling).")
def bench_command(models: str, data: str, split: str, metrics: str, n: int, seed: int, device: str,
                  out: Path | None, batch_size: int, extractor: str | None, weights_dir: Path | None,
                  ppl_space: str, ppl_variant: str, ppl_n: int | None, crop: str | None, reference: Path | None,
                  allow_failed_metrics: bool, no_cache: bool, random_weights: bool, progress: bool,
                  quiet: bool) -> None:
    """Compare models on one dataset: FID/KID, precision/recall, density/coverage, IS, LPIPS, PPL, SWD,
    MSE/PSNR/SSIM, mixing metrics and speed. Without --metrics, a quick set that finishes in minutes on a CPU."""
    from genae.bench.report import markdown, metric_set_line
    from genae.bench.runner import run_bench

    meta: dict = {}
    try:
        records = run_bench(models, data=data, split=split, metrics=metrics, n=n, seed=seed, device=device,
                            out=out, batch_size=batch_size, no_cache=no_cache, weights_dir=weights_dir,
                            extractor=extractor, ppl_space=ppl_space, ppl_n=ppl_n, crop=_crop(crop),
                            random_weights=random_weights, progress=progress and not quiet, meta_out=meta, reference=reference,
                            ppl_variant=ppl_variant, on_start=lambda m: click.echo(
                                f"{metric_set_line(m)} N = {m['n']}.", err=True))
    except KeyboardInterrupt:
        saved = f"finished models are saved in {out}" if out else "nothing was saved (no --out given)"
        click.echo(f"\ninterrupted; {saved}", err=True)
        sys.exit(130)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    click.echo(markdown(meta, records))
    if out is not None:
        click.echo(f"results written to {out}/results.json, results.csv, results.md", err=True)
    failed = [r for r in records if r["status"] != "ok"]
    for record in failed:  # the reason on stderr too: the table on stdout may be piped away
        click.echo(f"failed: {record['model']}: {record.get('error', record['status'])}", err=True)
    failed_metrics = [(r.get("resolved") or r["model"], f) for r in records for f in r["figures"]
                      if f["status"] == "failed"]
    for model, fig in failed_metrics:
        click.echo(f"failed: {model}: {fig['metric']}: {fig['reason']}", err=True)
    if failed_metrics and not allow_failed_metrics:
        click.echo("a metric failed: exit status 1 (--allow-failed-metrics exits 0 in that case)", err=True)
    if failed or (failed_metrics and not allow_failed_metrics):
        sys.exit(1)
