"""Is ``--precision auto`` safe as the default? fp32 vs auto at equal budget, several seeds, two setups.

On a CPU with bf16 units ``auto`` is bf16 autocast, elsewhere it is fp32 (then the two columns are the same
run). Each setup trains from the same seeded initial weights in both precisions, so a seed's pair differs
only by the precision; the question is whether auto − fp32 stays within the seed-to-seed spread.

- ``vae``: the pythae peer setup (``benchmarks/peers/pythae_vae.py``: genae ``vae``, first 4800 Fashion-MNIST
  training images at 32 px, batch 32, Adam 5e-4) for ``--vae-steps`` steps;
- ``automodulator``: the bundled Fashion-MNIST configuration at 16 px, grown 4 → 8 → 16 px with
  ``--automodulator-images-per-phase`` images per phase (half of them fading), on the first 10,000 training
  images, the recipe's defaults otherwise.

Quality: reconstruction MSE of 1000 test images (posterior means / codes, clamped as ``model.reconstruct``
does) and the domain FID (``fashion-mnist-features`` extractor) of 2048 prior samples against 2048 test
images, both from the trained (not the EMA) weights: at these budgets the automodulator's decoder EMA (decay
0.999) is still mostly its initial weights, which would hide any difference.

    OMP_NUM_THREADS=1 python benchmarks/peers/precision_auto.py --seeds 0,1,2
    python benchmarks/peers/precision_auto.py --ddp-check   # adds 2 processes vs 1, fp32 and auto
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import genae
from genae.bench.provenance import machine
from genae.data import open_dataset
from genae.io import write_text_atomic
from genae.metrics.extractors import get_extractor
from genae.metrics.frechet import frechet_distance
from genae.training.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "benchmarks" / "results" / "precision-auto"
FASHION_ROOT = "/usr/share/datasets/fashion-mnist"
VAE_CONFIG: dict[str, Any] = {
    "resolution": 32, "channels_in": 1, "latent_dim": 64,
    "channels": [64, 64, 32, 16], "encoder_channels": [64, 64, 32, 16],
}
AUTOMODULATOR_CONFIG: dict[str, Any] = {  # automodulator-fashion-mnist-32's widths, truncated to 16 px
    "resolution": 16, "channels_in": 1, "latent_dim": 128, "channels": [128, 64, 32], "encoder_channels": [64, 32, 16],
}
TOTALS = ("loss", "enc/total", "dec/total")  # the final losses shown in the table (all are in the JSON)
TEST_IMAGES = 2048  # FID needs >= 2048 per side to be comparable
MSE_IMAGES = 1000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (initial weights and data order)")
    parser.add_argument("--setups", default="vae,automodulator")
    parser.add_argument("--vae-steps", type=int, default=600)
    parser.add_argument("--automodulator-images-per-phase", type=int, default=4000)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--ddp-check", action="store_true",
                        help="only add to --out's JSON: 2 processes vs 1 in fp32 and auto (the DDP test's run)")
    return parser.parse_args(argv)


def images(split: str, resolution: int, limit: int) -> torch.Tensor:
    data = open_dataset("fashion-mnist", split=split, resolution=resolution, root=FASHION_ROOT, limit=limit)
    return torch.stack([data[i][0] for i in range(len(data))])


def build(setup: str, seed: int, args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """Model, recipe and Trainer length for one seeded run (the weights depend only on the seed)."""
    torch.manual_seed(seed)
    if setup == "vae":
        from genae_plugins.baselines.recipe import VAERecipe

        model = genae.create("vae", **VAE_CONFIG)
        recipe = VAERecipe(model, reconstruction="l2", kl_weight=2 / (32 * 32), encoder_lr=5e-4, decoder_lr=5e-4,
                           betas=(0.9, 0.999), batch_size=32)
        return model, recipe, {"steps": args.vae_steps}
    from genae_plugins.automodulator.recipe import AutomodulatorRecipe

    model = genae.create("automodulator", **AUTOMODULATOR_CONFIG)
    per_phase = args.automodulator_images_per_phase
    recipe = AutomodulatorRecipe(model, images_per_phase=per_phase, fade_images=per_phase // 2)
    return model, recipe, {}


@torch.no_grad()
def quality(model: Any, test: torch.Tensor, extractor: Any, seed: int) -> dict[str, float]:
    model.eval()
    held_out = test[:MSE_IMAGES]
    errors = [((model.reconstruct(chunk) - chunk) ** 2).mean() * len(chunk) for chunk in held_out.split(250)]
    generator = torch.Generator().manual_seed(10_000 + seed)
    samples = torch.cat([model.sample(256, generator=generator) for _ in range(len(test) // 256)])
    fid = frechet_distance(extractor.extract(samples.split(256)), extractor.extract(test.split(256)))
    return {"test_mse": round(float(sum(errors) / len(held_out)), 5), "fid": round(float(fid), 3)}


def run(setup: str, seed: int, precision: str, train: torch.Tensor, test: torch.Tensor, extractor: Any,
        args: argparse.Namespace) -> dict[str, Any]:
    model, recipe, length = build(setup, seed, args)
    dataset = torch.utils.data.TensorDataset(train, torch.zeros(len(train), dtype=torch.long))
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, recipe, dataset, out_dir=out, seed=seed, grid_every=None, checkpoint_every=None,
                          progress=False, precision=precision, **length)
        started = time.perf_counter()
        result = trainer.fit()
        wall = time.perf_counter() - started
    return {
        "setup": setup, "seed": seed, "requested": precision, "precision": trainer.precision,
        "precision_reason": trainer.precision_reason, "steps": result.steps, "images_seen": result.images_seen,
        "train_wall_s": round(wall, 1), "final_losses": {k: round(v, 5) for k, v in result.losses.items()},
        **quality(model, test, extractor, seed),
    }


def summarise(runs: list[dict[str, Any]], setup: str) -> dict[str, Any]:
    """Per metric: mean and seed spread (max − min) of each precision, and the paired auto − fp32 differences."""
    mine = [r for r in runs if r["setup"] == setup]
    seeds = sorted({r["seed"] for r in mine})
    by = {(r["seed"], r["requested"]): r for r in mine}
    summary: dict[str, Any] = {"seeds": seeds}
    for metric in ("test_mse", "fid"):
        fp32 = [by[s, "fp32"][metric] for s in seeds]
        auto = [by[s, "auto"][metric] for s in seeds]
        differences = [a - f for a, f in zip(auto, fp32)]
        summary[metric] = {
            "fp32_mean": round(statistics.mean(fp32), 5), "fp32_spread": round(max(fp32) - min(fp32), 5),
            "auto_mean": round(statistics.mean(auto), 5), "auto_spread": round(max(auto) - min(auto), 5),
            "paired_differences": [round(d, 5) for d in differences],
            "mean_difference": round(statistics.mean(differences), 5),
            "within_seed_spread": max(abs(d) for d in differences) <= max(max(fp32) - min(fp32), max(auto) - min(auto)),
        }
    summary["time_auto_over_fp32"] = round(
        sum(by[s, "auto"]["train_wall_s"] for s in seeds) / sum(by[s, "fp32"]["train_wall_s"] for s in seeds), 3)
    return summary


def write_report(record: dict[str, Any], out: Path) -> None:
    write_text_atomic(out.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
    m = record["machine"]
    lines = [
        "# `--precision auto` vs fp32: final quality at equal budget",
        "",
        f"Command: `{record['command']}`; commit {m['git_commit']}; CPU {m['cpu']} ({m['cores']} cores, "
        f"{m['torch_threads']} torch thread(s)); torch {m['torch']}; load average before / after "
        f"{record['load_before']} / {record['load_after']}. auto resolved to: {record['auto_resolved']}.",
        "",
        "Each seed fixes the initial weights, the data order and the noise draws; its fp32 and auto runs differ "
        "only by the precision. Quality from the trained weights (not the EMA, which at these budgets is mostly "
        "the initial decoder): reconstruction MSE of 1000 test images, domain FID (`fashion-mnist-features`) of "
        "2048 prior samples vs 2048 test images.",
        "",
        "| setup | seed | precision | steps | images | train s | test MSE | FID | last step's total losses |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in record["runs"]:
        totals = {k: v for k, v in r["final_losses"].items() if k in TOTALS} or r["final_losses"]
        losses = ", ".join(f"{k} {v:.4g}" for k, v in totals.items())
        lines.append(f"| {r['setup']} | {r['seed']} | {r['requested']} ({r['precision']}) | {r['steps']} | "
                     f"{r['images_seen']} | {r['train_wall_s']} | {r['test_mse']:.4f} | {r['fid']:.2f} | {losses} |")
    lines += ["", "| setup | metric | fp32 mean (spread over seeds) | auto mean (spread) | auto − fp32 per seed | "
              "within the seed spread |", "|---|---|---|---|---|---|"]
    for setup, summary in record["summary"].items():
        for metric in ("test_mse", "fid"):
            s = summary[metric]
            lines.append(f"| {setup} | {metric} | {s['fp32_mean']} ({s['fp32_spread']}) | {s['auto_mean']} "
                         f"({s['auto_spread']}) | {', '.join(str(d) for d in s['paired_differences'])} | "
                         f"{'yes' if s['within_seed_spread'] else 'no'} |")
    lines += ["", *[f"- {setup}: auto / fp32 training time {s['time_auto_over_fp32']}x"
                    for setup, s in record["summary"].items()], ""]
    for earlier in record.get("earlier", []):
        lines += [f"Earlier run, `{earlier['command']}` (load {earlier['load_before']} / {earlier['load_after']}):", "",
                  "| setup | metric | fp32 mean (spread) | auto mean (spread) | auto − fp32 per seed |", "|---|---|---|---|---|"]
        for setup, summary in earlier["summary"].items():
            lines += [f"| {setup} | {metric} | {summary[metric]['fp32_mean']} ({summary[metric]['fp32_spread']}) | "
                      f"{summary[metric]['auto_mean']} ({summary[metric]['auto_spread']}) | "
                      f"{', '.join(str(d) for d in summary[metric]['paired_differences'])} |"
                      for metric in ("test_mse", "fid")]
        lines.append("")
    if record.get("ddp_check"):
        check = record["ddp_check"]
        lines += [f"2 processes vs 1 (`torchrun --nproc_per_node 2 -m genae.cli train {' '.join(check['arguments'])}` "
                  "against the same without torchrun), max |weight difference| after 6 steps: " + ", ".join(
                      f"{precision} {value:.2g}" for precision, value in check["max_abs_weight_difference_2_vs_1_process"].items())
                  + f" (auto = {'bf16' if 'bf16' in record['auto_resolved'] else 'fp32'} here; load "
                  f"{check['machine']['load_average_1_5_15']}).", ""]
    if record.get("notes"):
        lines += [record["notes"], ""]
    write_text_atomic(out.with_suffix(".md"), "\n".join(lines))


DDP_ARGS = ["vae", "--data", "fashion-mnist-mini", "--resolution", "8", "--set", "channels_in=1", "--set", "latent_dim=8",
            "--set", "channels=[8, 8]", "--set", "encoder_channels=[8, 8]", "--batch-size", "8", "--steps", "6",
            "--seed", "4", "--no-progress"]  # tests/test_reliability_ddp.py's run


def ddp_check() -> dict[str, Any]:
    """Max |weight difference| between 2 gloo processes and 1 process after the DDP test's 6 steps, per precision."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    differences = {}
    with tempfile.TemporaryDirectory() as out:
        for precision in ("fp32", "auto"):
            weights = []
            for launcher in (["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"], []):
                folder = Path(out) / f"{precision}-{len(launcher)}"
                subprocess.run([sys.executable, *launcher, "-m", "genae.cli", "train", *DDP_ARGS, "--precision",
                                precision, "--out", str(folder)], env=env, check=True, capture_output=True)
                weights.append(torch.load(folder / "checkpoint.pt", weights_only=True)["model"])
            differences[precision] = max(float((weights[0][k] - weights[1][k]).abs().max()) for k in weights[1])
    return {"arguments": DDP_ARGS, "max_abs_weight_difference_2_vs_1_process": differences}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.ddp_check:
        record = json.loads(args.out.with_suffix(".json").read_text())
        record["ddp_check"] = {**ddp_check(), "machine": machine()}
        write_report(record, args.out)
        return
    seeds = [int(s) for s in args.seeds.split(",")]
    setups = args.setups.split(",")
    extractor = get_extractor("fashion-mnist-features")
    load_before = [round(x, 2) for x in os.getloadavg()]
    runs: list[dict[str, Any]] = []
    for setup in setups:
        resolution = 32 if setup == "vae" else AUTOMODULATOR_CONFIG["resolution"]
        train = images("train", resolution, 4800 if setup == "vae" else 10000)
        test = images("test", resolution, TEST_IMAGES)
        for index, seed in enumerate(seeds):
            # Alternate which precision runs first, so a drift in the machine's load favours neither.
            for precision in ("fp32", "auto") if index % 2 == 0 else ("auto", "fp32"):
                runs.append(run(setup, seed, precision, train, test, extractor, args))
                print(json.dumps(runs[-1]), flush=True)
    auto_runs = [r for r in runs if r["requested"] == "auto"]
    record = {
        "command": "OMP_NUM_THREADS={} python benchmarks/peers/precision_auto.py {}".format(
            os.environ.get("OMP_NUM_THREADS", "?"),
            " ".join(sys.argv[1:] if argv is None else argv)).strip(),
        "machine": machine(), "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "auto_resolved": auto_runs[0]["precision_reason"] if auto_runs else "",
        "configs": {"vae": VAE_CONFIG, "automodulator": AUTOMODULATOR_CONFIG},
        "runs": runs, "summary": {setup: summarise(runs, setup) for setup in setups},
    }
    write_report(record, args.out)


if __name__ == "__main__":
    main()
