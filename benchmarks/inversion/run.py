"""Inversion quality and speed on the bundled automodulator (Fashion-MNIST test images, CPU).

    python benchmarks/inversion/run.py quality --rows encoder,mean-w --images 256 --steps 100
    python benchmarks/inversion/run.py speed --batches 8,32 --steps 20
    python benchmarks/inversion/run.py stylegan2 --images 32 --steps 200
    python benchmarks/inversion/run.py lia-space --label after --first 9000 --images 16 --steps 200

``quality`` inverts the first ``--images`` Fashion-MNIST test images with each row's method and records
MSE, PSNR, SSIM, FID[fashion-mnist-features] of the reconstructions against the same images, and wall time
per image; rows are merged into ``benchmarks/results/inversion.json`` (re-running a row replaces it) and
``inversion.md`` is rewritten. ``speed`` measures optimisation throughput (image-steps per second) per batch
size, and checks that a batch inverts exactly as its images one by one (``inversion-speed.*``).
``stylegan2`` converts the narrow rosinality fixture generator (untrained, 32 px) and inverts its own
samples, whose true w is known (``inversion-stylegan2.*``). ``lia-space`` checks that ``genae.invert`` on the
bundled LIA works in its style space (w): MSE at the start and the end of each start/space against
``lia.refine()``, plus the ``genae invert`` CLI, recorded under ``--label`` (``inversion-lia-space.*``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import torch

import genae
from genae.bench.provenance import environment
from genae.io import write_text_atomic

RESULTS = Path(__file__).resolve().parents[1] / "results"
MODEL = "automodulator-fashion-mnist-32"
#: --model choices: the pretrained names (genae.invert works in each one's style space: LIA's is w).
MODELS: dict[str, str] = {"automodulator": MODEL, "lia": "lia-fashion-mnist-32"}
FEATURE_WEIGHT = 0.01  # fashion-mnist-features distance (~10x the pixel MSE's scale) next to MSE 1.0

#: name -> genae.invert keyword arguments (steps are added from the command line)
ROWS: dict[str, dict[str, Any]] = {
    "encoder": dict(method="encoder", init="encoder"),
    "mean-w": dict(init="mean", space="w"),
    "mean-w+": dict(init="mean", space="w+"),
    "random-w+": dict(init="random", space="w+"),
    "encoder-w": dict(init="encoder", space="w"),
    "encoder-w+": dict(init="encoder", space="w+"),
    "encoder-w+-features": dict(init="encoder", space="w+", loss={"mse": 1.0, "fashion-mnist-features": FEATURE_WEIGHT}),
}

ANCHORS = """## Anchors (published, other data: not comparable number for number)

- GANInverter (CelebA-HQ test, StyleGAN2 FFHQ generator, LPIPS): optimisation in W 0.197, in W+ 0.109;
  the pSp encoder 0.159 at 41 ms per image (GPU). Optimisation beats the encoder and W+ beats W; the same
  ordering is what to look for below.
- LIA paper, Table 3 (FFHQ, last 5,000 faces, reconstruction): FID / SWD / MSE — LIA 19.26 / 12.16 / 11.79;
  MSE-based GAN inversion 44.79 / 43.44 / 18.81; ALI 74.98 / 15.09 / 32.61; VAE/GAN 22.26 / 15.82 / 23.18
  (MSE as printed, scale not stated). LIA's Fig. 11: starting the optimisation from the encoder converges
  faster and lower than from the mean or a random latent.
"""


def machine() -> dict[str, Any]:
    """Versions, commit, CPU and the load average now: call it before the measurement it describes."""
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    if info.is_file():
        names = [line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if line.startswith("model name")]
        cpu = f"{names[0]} ({len(names)} cores)" if names else cpu
    return {**environment(torch.device("cpu")), "cpu": cpu, "load_before": [round(v, 2) for v in os.getloadavg()]}


def test_images(n: int) -> torch.Tensor:
    from genae.data import open_dataset

    data = open_dataset("fashion-mnist", split="test", resolution=32)
    return torch.stack([data[i][0] for i in range(n)])


def quality(args: argparse.Namespace) -> None:
    from genae.metrics import frechet_distance, get_extractor, mse, psnr, ssim

    pretrained = MODELS[args.model]
    model = genae.load(pretrained)
    images = test_images(args.images)
    extractor = get_extractor("fashion-mnist-features")
    real = extractor(images)
    path = RESULTS / "inversion.json"
    results = json.loads(path.read_text()) if path.is_file() else {"rows": {}}
    results[f"mean_image_mse_{args.images}"] = float(mse(images.mean(0, keepdim=True).expand_as(images), images).mean())
    for name in args.rows.split(","):
        if name not in ROWS:
            raise SystemExit(f"unknown row {name!r}; known: {', '.join(ROWS)}")
        options = dict(ROWS[name])
        if options.get("method") != "encoder":
            options["steps"] = args.steps
        before = machine()
        started = time.perf_counter()
        res = genae.invert(model, images, batch_size=args.batch, **options)
        seconds = time.perf_counter() - started
        recon = res.reconstructions
        fid = frechet_distance(extractor(recon), real)
        key = f"{args.model}/{name}"
        results["rows"][key] = {
            "model": pretrained, "settings": options, "loss": res.loss_name, "images": args.images,
            "steps": res.info["steps"], "batch": args.batch, "mse": float(mse(recon, images).mean()),
            "psnr": float(psnr(recon, images).mean()), "ssim": float(ssim(recon, images).mean()),
            "fid_fashion_mnist_features": float(fid),
            "seconds_per_image": seconds / args.images, "threads": torch.get_num_threads(),
            "command": "python " + shlex.join(sys.argv), "machine": before,
            "load_after": [round(v, 2) for v in os.getloadavg()],
        }
        print(key, {k: results["rows"][key][k] for k in ("mse", "ssim", "fid_fashion_mnist_features",
                                                           "seconds_per_image")}, flush=True)
        write_text_atomic(path, json.dumps(results, indent=2, default=str) + "\n")
    write_text_atomic(RESULTS / "inversion.md", quality_markdown(results))


def quality_markdown(results: dict[str, Any]) -> str:
    rows = results["rows"]
    order = [f"{model}/{name}" for model in MODELS for name in ROWS if f"{model}/{name}" in rows]
    lines = [
        "# Inversion on the bundled Fashion-MNIST models", "",
        "First N Fashion-MNIST test images (32x32, [-1, 1]); each row inverts them with `genae.invert` (each in "
        "its style space, `model.style_space()`: LIA's is w). "
        "FID[fashion-mnist-features] compares the reconstructions with the same images in the shipped domain "
        "network's feature space; with 256 images it is strongly biased upwards (compare rows, not other tables). "
        "Time is wall time per image on CPU, images inverted in batches (see inversion-speed.md). "
        + "".join(f"Mean-image MSE on the first {k.rsplit('_', 1)[1]} images: {v:.4f}. " for k, v in results.items()
                  if k.startswith("mean_image_mse_")), "",
        "| model / row | init | space | loss | steps | MSE | PSNR (dB) | SSIM | FID[fm-features] | s/image |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in order:
        r = rows[name]
        s = r["settings"]
        lines.append(
            f"| {name} | {s.get('init')} | {s.get('space', '-') if s.get('method') != 'encoder' else '-'} | "
            f"{r['loss']} | {r['steps']} | {r['mse']:.4f} | {r['psnr']:.2f} | {r['ssim']:.3f} | "
            f"{r['fid_fashion_mnist_features']:.1f} | {r['seconds_per_image']:.3f} |"
        )
    lines += ["", "Commands, commits and machines (one per row):", ""]
    for name in order:
        r = rows[name]
        m = r["machine"]
        lines.append(f"- {name}: `{r['command']}` — commit `{m['git_commit']}`, {m['cpu']}, torch {m['torch']}, "
                     f"{r['threads']} thread(s), {r['images']} images in batches of {r['batch']}, "
                     f"load {m['load_before']} -> {r['load_after']}")
    lines += ["", ANCHORS]
    return "\n".join(lines) + "\n"


def speed(args: argparse.Namespace) -> None:
    model = genae.load(MODEL)
    batches = [int(b) for b in args.batches.split(",")]
    images = test_images(max(batches))
    before = machine()
    rows = []
    for batch in batches:
        x = images[:batch]
        genae.invert(model, x, steps=2)  # warm-up
        started = time.perf_counter()
        genae.invert(model, x, steps=args.steps, init="encoder")
        seconds = time.perf_counter() - started
        rows.append({"batch": batch, "steps": args.steps, "seconds": seconds,
                     "image_steps_per_s": batch * args.steps / seconds,
                     "images_per_s_at_1000_steps": batch / seconds * args.steps / 1000})
        print(rows[-1], flush=True)
    x = images[:8]
    whole = genae.invert(model, x, steps=args.steps, init="encoder")
    single = genae.invert(model, x, steps=args.steps, init="encoder", batch_size=1)
    independence = {
        "images": 8, "steps": args.steps,
        "max_abs_latent_difference": float((whole.latents - single.latents).abs().max()),
        "max_abs_image_difference": float((whole.reconstructions - single.reconstructions).abs().max()),
        "mse_batched": float((whole.reconstructions - x).square().mean()),
        "mse_one_by_one": float((single.reconstructions - x).square().mean()),
    }
    result = {"model": MODEL, "threads": torch.get_num_threads(), "rows": rows, "batch_independence": independence,
              "command": "python " + shlex.join(sys.argv), "machine": before,
              "load_after": [round(v, 2) for v in os.getloadavg()]}
    write_text_atomic(RESULTS / "inversion-speed.json", json.dumps(result, indent=2, default=str) + "\n")
    write_text_atomic(RESULTS / "inversion-speed.md", speed_markdown(result))


def speed_markdown(result: dict[str, Any]) -> str:
    m, ind = result["machine"], result["batch_independence"]
    lines = [
        "# Inversion speed on CPU (optimisation steps)", "",
        f"Command: `{result['command']}`  ", f"Git commit: `{m['git_commit']}`  ",
        f"Machine: {m['cpu']}, torch {m['torch']}, {result['threads']} thread(s); load {m['load_before']} -> "
        f"{result['load_after']} (shared machine)  ", f"Model: {result['model']} (32x32, 4 style slots), W+, MSE loss", "",
        "| batch | steps | seconds | image-steps/s | images/s at 1000 steps |", "|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['batch']} | {r['steps']} | {r['seconds']:.2f} | {r['image_steps_per_s']:.1f} | "
                     f"{r['images_per_s_at_1000_steps']:.3f} |")
    lines += [
        "", "## What batching does to quality", "",
        "Nothing systematic: each image's loss is its own term of a sum, Adam's update is per coordinate, "
        "every image draws its start and latent noise from its own seed, and noise maps (where a decoder has "
        "them) are renormalised per image, so in exact arithmetic a batch inverts exactly as its images one by "
        "one. In floats the convolutions sum in a batch-dependent order (differences ~1e-7), and Adam, whose "
        "step is about lr·sign(gradient) where the gradient is tiny, lets those differences grow along "
        "directions the loss barely constrains. Measured on "
        f"{ind['images']} images, {ind['steps']} steps, one batch vs one image at a time: max |Δ latent| "
        f"{ind['max_abs_latent_difference']:.2e}, max |Δ pixel| {ind['max_abs_image_difference']:.2e}, MSE "
        f"{ind['mse_batched']:.5f} vs {ind['mse_one_by_one']:.5f}: the same quality, not the same latents. "
        "Batching buys throughput only where the per-step cost is not already proportional to the batch "
        "(see the table). The rosinality projector instead averages the loss over the batch and normalises "
        "noise maps over the whole batch, which couples the images.",
    ]
    return "\n".join(lines) + "\n"


STYLEGAN_FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "rosinality-stylegan2" / "narrow32_g.pt"
STYLEGAN_ROWS: dict[str, dict[str, Any]] = {
    "mean-w": dict(init="mean", space="w"),
    "mean-w+": dict(init="mean", space="w+"),
    "mean-w+-fixed-noise": dict(init="mean", space="w+", optimise_noise=False),
}


def stylegan2(args: argparse.Namespace) -> None:
    import tempfile

    from genae_plugins.stylegan.convert import convert_rosinality

    with tempfile.TemporaryDirectory() as tmp:
        model = genae.load(convert_rosinality(STYLEGAN_FIXTURE, Path(tmp) / "m", encoder_backbone="regnetx_002"))
    with torch.no_grad():
        w = model.prior.sample(args.images, generator=torch.Generator().manual_seed(7))
        targets = model.decoder.forward_styles([w] * model.decoder.num_styles).clamp(-1, 1)  # stored noise maps
    rows = {}
    before = machine()
    for name, options in STYLEGAN_ROWS.items():
        started = time.perf_counter()
        res = genae.invert(model, targets, steps=args.steps, **options)
        seconds = time.perf_counter() - started
        rows[name] = {"settings": options, "steps": args.steps,
                      "mse": float((res.reconstructions - targets).square().mean()),
                      "latent_error": float((res.latents - w[:, None]).norm(dim=-1).mean() / w.norm(dim=-1).mean()),
                      "seconds_per_image": seconds / args.images}
        print(name, rows[name], flush=True)
    baseline = float((targets - targets.mean(0, keepdim=True)).square().mean())
    result = {"fixture": str(STYLEGAN_FIXTURE.name), "images": args.images, "threads": torch.get_num_threads(),
              "mean_image_mse": baseline, "rows": rows, "command": "python " + shlex.join(sys.argv),
              "machine": before, "load_after": [round(v, 2) for v in os.getloadavg()]}
    write_text_atomic(RESULTS / "inversion-stylegan2.json", json.dumps(result, indent=2, default=str) + "\n")
    write_text_atomic(RESULTS / "inversion-stylegan2.md", stylegan2_markdown(result))


def stylegan2_markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        "# Inverting a converted StyleGAN2 generator's own samples", "",
        f"Command: `{result['command']}`  ", f"Git commit: `{m['git_commit']}`  ",
        f"Machine: {m['cpu']}, torch {m['torch']}, {result['threads']} thread(s); load {m['load_before']} -> "
        f"{result['load_after']}", "",
        f"Generator: the rosinality fixture `{result['fixture']}` (32 px, 64-d W, 8 slots, **untrained** random "
        "weights with perturbed biases and noise strengths) converted with `genae convert stylegan2`. Targets: "
        f"{result['images']} of its own samples (w from the mapping, stored noise maps, clamped to [-1, 1]), so the "
        "true w is known. No StyleGAN2 generator *trained* on a real dataset exists here (none could be trained in "
        "this session's CPU budget, and NVIDIA's need TensorFlow to convert), so these rows test the machinery, "
        f"not a real-image benchmark. Mean-image MSE of the targets: {result['mean_image_mse']:.4f}.", "",
        "| row | space | noise maps | steps | MSE | relative latent error | s/image |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in result["rows"].items():
        s = r["settings"]
        lines.append(f"| {name} | {s['space']} | {'fixed' if s.get('optimise_noise') is False else 'optimised'} | "
                     f"{r['steps']} | {r['mse']:.4f} | {r['latent_error']:.3f} | {r['seconds_per_image']:.3f} |")
    lines += ["", "Relative latent error: mean ‖ŵ − w‖ / mean ‖w‖ over slots and images. Optimised noise maps start "
              "from fresh draws, not the stored maps the targets used, so they must be recovered too; with the "
              "maps fixed at the stored ones (the true noise) W+ gets closer. In these 100 steps neither the latents "
              "(error ≈ 0.9 of ‖w‖) nor the images are recovered fully; the images only partly (compare the "
              "mean-image MSE)."]
    return "\n".join(lines) + "\n"


LIA_SPACE_ROWS: dict[str, dict[str, Any]] = {
    "invert encoder w+": dict(init="encoder", space="w+"),
    "invert mean w+": dict(init="mean", space="w+"),
    "invert encoder w": dict(init="encoder", space="w"),
}


def lia_space(args: argparse.Namespace) -> None:
    import subprocess
    import tempfile

    from genae.data import open_dataset
    from genae.metrics import mse

    model = genae.load("lia-fashion-mnist-32")
    data = open_dataset("fashion-mnist", split="test", resolution=32)
    indices = list(range(args.first, args.first + args.images))
    images = torch.stack([data[i][0] for i in indices])
    before = machine()
    rows = {}
    runs = {name: (lambda o=options: genae.invert(model, images, steps=args.steps, **o))
            for name, options in LIA_SPACE_ROWS.items()}
    runs["lia.refine w+"] = lambda: model.refine(images, steps=args.steps, space="w+")
    for name, run in runs.items():
        started = time.perf_counter()
        res = run()
        rows[name] = {"start_mse": float(mse(res.initial_reconstructions, images).mean()),
                      "end_mse": float(mse(res.reconstructions, images).mean()),
                      "seconds": time.perf_counter() - started}
        print(name, rows[name], flush=True)
    with torch.no_grad():
        encoder_mse = float(mse(model.reconstruct(images), images).mean())
    command = ["lia-fashion-mnist-32", "--data", "fashion-mnist", "-n", "8", "--seed", "5", "--steps", "100"]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "genae.cli", "invert", *command, "--out", tmp], check=True)
        cli = json.loads((Path(tmp) / "metrics.json").read_text())["scores"]
        cli_images = _cli_images(8, 5)
        with torch.no_grad():
            cli_encoder = float(mse(model.reconstruct(cli_images), cli_images).mean())
    path = RESULTS / "inversion-lia-space.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    results[args.label] = {
        "images": f"Fashion-MNIST test {indices[0]}-{indices[-1]}", "steps": args.steps, "encoder_mse": encoder_mse,
        "rows": rows, "cli": {"command": "genae invert " + shlex.join(command) + " --out DIR",
                              "start_mse": cli["start"]["mse"], "end_mse": cli["result"]["mse"],
                              "encoder_mse": cli_encoder},
        "command": "python " + shlex.join(sys.argv), "machine": before,
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }
    write_text_atomic(path, json.dumps(results, indent=2, default=str) + "\n")
    write_text_atomic(RESULTS / "inversion-lia-space.md", lia_space_markdown(results))


def _cli_images(count: int, seed: int) -> torch.Tensor:
    """The images ``genae invert --data fashion-mnist -n COUNT --seed SEED`` picks (its seeded permutation)."""
    from genae.data import open_dataset

    data = open_dataset("fashion-mnist", split="test", resolution=32)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:count]
    return torch.stack([data[int(i)][0] for i in order])


def lia_space_markdown(results: dict[str, Any]) -> str:
    lines = [
        "# `genae.invert` on the bundled LIA: which space it optimises", "",
        "Before issue 22, `genae.invert(lia, ...)` optimised one prior-space z per slot through LIA's flow, and "
        "`init=\"mean\"` fed the mean w in as a z; `lia.refine()` optimised w. After it, every model declares its "
        "style space (`model.style_space()`; LIA's is w after the flow) and `genae.invert` and `lia.refine` are "
        "one code path. MSE on [-1, 1] images; time is wall time on CPU (shared machine).", "",
    ]
    for label, r in results.items():
        m = r["machine"]
        lines += [
            f"## {label}", "",
            f"Command: `{r['command']}`  ", f"Commit: `{m['git_commit']}`  ",
            f"Machine: {m['cpu']}, torch {m['torch']}, {m['torch_threads']} thread(s); load {m['load_before']} -> "
            f"{r['load_after']}  ", f"Images: {r['images']}, {r['steps']} steps; the encoder alone: MSE "
            f"{r['encoder_mse']:.4f}", "",
            "| row | MSE at the start | MSE at the end | seconds |", "|---|---|---|---|",
        ]
        lines += [f"| {name} | {row['start_mse']:.4f} | {row['end_mse']:.4f} | {row['seconds']:.1f} |"
                  for name, row in r["rows"].items()]
        c = r["cli"]
        lines += ["", f"`{c['command']}`: MSE {c['start_mse']:.4f} at the start (mean init) -> {c['end_mse']:.4f}; "
                  f"LIA's encoder alone on the same 8 images: {c['encoder_mse']:.4f}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--model", choices=sorted(MODELS), default="automodulator")
    q.add_argument("--rows", default=",".join(ROWS))
    q.add_argument("--images", type=int, default=256)
    q.add_argument("--steps", type=int, default=100)
    q.add_argument("--batch", type=int, default=64)
    s = sub.add_parser("speed")
    s.add_argument("--batches", default="8,32")
    s.add_argument("--steps", type=int, default=20)
    g = sub.add_parser("stylegan2")
    g.add_argument("--images", type=int, default=32)
    g.add_argument("--steps", type=int, default=200)
    ls = sub.add_parser("lia-space")
    ls.add_argument("--label", required=True, help="Key of this run in the results (e.g. before, after).")
    ls.add_argument("--first", type=int, default=9000)
    ls.add_argument("--images", type=int, default=16)
    ls.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    {"quality": quality, "speed": speed, "stylegan2": stylegan2, "lia-space": lia_space}[args.command](args)


if __name__ == "__main__":
    main()
