"""Ablation (paper 6.1, last column of Fig. 3): the encoder trained into z instead of w.

LIA's encoder predicts ``w`` and never passes through the entangled map ``z → w``. The ablation keeps
everything else (the same stage-1 generator, discriminator, losses, options and budget as the bundled
stage 2) but reads the encoder's output as ``z`` and decodes ``g(φ⁻¹(f(x)))``, so the gradient crosses the
mapping. Deviation from the paper: the mapping here is LIA's own trained ``φ⁻¹`` (frozen), not a separately
trained StyleGAN with an MLP mapping; this isolates the choice of target space on one generator.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/lia/ablation_z_encoder.py --out runs/lia-fm32

Needs ``--out``/stage1/model (the bundled model's stage 1) and ``--out``/stage2/model for the comparison.
Writes ``benchmarks/results/lia-ablation.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from torch import Tensor

import genae
from genae.bench.provenance import git_commit
from genae.data import open_dataset
from genae.io import write_text_atomic
from genae.training import Trainer
from genae.training.recipe import Phase
from genae_plugins.lia.recipe import LIARecipe

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "lia-ablation"
FASHION_ROOT = "/usr/share/datasets/fashion-mnist"


class EncoderToZRecipe(LIARecipe):
    """Stage 2 with the encoder's output read as ``z``: ``w = φ⁻¹(f(x))`` (the mapping frozen)."""

    def predict_w(self, images: Tensor) -> Tensor:
        return self.model.flow.inverse(self.model.encoder.encode_w(images))

    def preview(self, images: Tensor, latents: Tensor, phase: Phase) -> list[Tensor]:
        return [images, self.model.decode_w(self.predict_w(images)), self.model.decode(latents)]


@torch.no_grad()
def test_mse(model: genae.GenerativeAutoencoder, images: Tensor, through_mapping: bool) -> float:
    """Reconstruction MSE; ``through_mapping``: the encoder's output is z and goes through ``model.flow.inverse``."""
    total = 0.0
    for chunk in images.split(500):
        w = model.encoder.encode_w(chunk)
        recon = model.decode_w(model.flow.inverse(w) if through_mapping else w)
        total += float(((recon - chunk) ** 2).sum())
    return total / images.numel()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--test-images", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    command = "OMP_NUM_THREADS={} python benchmarks/lia/ablation_z_encoder.py {}".format(
        os.environ.get("OMP_NUM_THREADS", args.threads), " ".join(sys.argv[1:] if argv is None else argv))
    lia = genae.load(args.out / "stage2" / "model").eval()
    card = lia.card
    model = genae.load(args.out / "stage1" / "model")
    recipe = EncoderToZRecipe(model, **card["recipe_options"])
    dataset = open_dataset("fashion-mnist", split="train", resolution=32, root=FASHION_ROOT)
    trainer = Trainer(model, recipe, dataset, out_dir=args.out / "ablation-z", total_images=card["images_seen"],
                      seed=0, log_every=25, grid_every=250, checkpoint_every=250, progress=False)
    result = trainer.fit()
    ablated = genae.load(result.model_dir).eval()
    test_set = open_dataset("fashion-mnist", split="test", resolution=32, root=FASHION_ROOT, limit=args.test_images)
    test = torch.stack([test_set[i][0] for i in range(len(test_set))])
    rows = {
        "LIA (encoder to w)": {"test_mse": round(test_mse(lia, test, False), 5), "images": card["images_seen"],
                               "train_s": card["wall_time_s"]},
        "ablation (encoder to z through frozen φ⁻¹)": {"test_mse": round(test_mse(ablated, test, True), 5),
                                                      "images": result.images_seen, "train_s": result.wall_time_s},
    }
    payload = {"command": command, "git_commit": git_commit(), "test_images": len(test),
               "recipe_options": card["recipe_options"], "rows": rows}
    write_text_atomic(RESULTS.with_suffix(".json"), json.dumps(payload, indent=2) + "\n")
    lines = [f"# LIA ablation: encoder into z instead of w ({len(test):,} Fashion-MNIST test images)", "",
             f"Command: `{command}` at commit {payload['git_commit']}. Same stage-1 generator, stage-2 options and "
             "image budget; the mapping is LIA's own trained φ⁻¹, frozen (not a separate MLP StyleGAN). MSE on "
             "images in [-1, 1].", "", "| encoder | stage-2 images | train s | test MSE |", "|---|---|---|---|"]
    lines += [f"| {name} | {r['images']:,} | {r['train_s']:.0f} | {r['test_mse']:.4f} |" for name, r in rows.items()]
    write_text_atomic(RESULTS.with_suffix(".md"), "\n".join(lines) + "\n")
    print(json.dumps(rows), flush=True)


if __name__ == "__main__":
    main()
