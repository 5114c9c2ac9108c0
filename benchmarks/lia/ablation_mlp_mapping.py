"""The paper's ablation (6.1, last column of Fig. 3): StyleGAN's MLP mapping instead of the invertible φ.

Same generator, discriminator, recipes and budgets as the bundled LIA, except the mapping: 8 equalised dense
layers (lr multiplier 0.01, LeakyReLU 0.2, input normalised to unit second moment) from z to w, as StyleGAN's.
An MLP has no inverse, so stage 2 trains the encoder into z and decodes g(MLP(f(x))): the gradient crosses
the entangled mapping, which the paper reports fails. Both stages run in this process (the model is not a
registered architecture, so nothing is exported or bundled); stage 1 ends with its EMA weights applied, as
the bundled model's export does.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/lia/ablation_mlp_mapping.py --out runs/lia-fm32

Compares with ``--out``/stage2/model (the bundled LIA). Writes ``benchmarks/results/lia-ablation-mlp.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

import genae
from genae.bench.provenance import git_commit
from genae.data import open_dataset
from genae.io import write_text_atomic
from genae.layers import EqualizedLinear
from genae.training import Trainer
from genae_plugins.lia.recipe import LIARecipe

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling script holds the encoder-to-z pieces
from ablation_z_encoder import EncoderToZRecipe, test_mse  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "lia-ablation-mlp"
FASHION_ROOT = "/usr/share/datasets/fashion-mnist"
DEPTH = 8


class MLPMapping(nn.Module):
    """StyleGAN's mapping network z → w. It stands where LIA's flow stands; ``inverse`` is the only direction
    the recipes call (z → w), and there is no way back."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.layers = nn.ModuleList(EqualizedLinear(dim, dim, gain=0.01) for _ in range(DEPTH))

    def inverse(self, z: Tensor) -> Tensor:
        w = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        for layer in self.layers:
            w = F.leaky_relu(layer(w), 0.2)
        return w


def fit(model: nn.Module, recipe: LIARecipe, dataset: object, out: Path, images: int) -> Trainer:
    trainer = Trainer(model, recipe, dataset, out_dir=out, total_images=images, seed=0, log_every=25,  # type: ignore[arg-type]
                      grid_every=250, checkpoint_every=None, progress=False)
    trainer.export = lambda: out  # type: ignore[method-assign]  # not a registered architecture: keep it in memory
    trainer.fit()
    return trainer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--test-images", type=int, default=10_000)
    parser.add_argument("--stage1-images", type=int, default=None, help="default: the bundled model's stage 1")
    parser.add_argument("--stage2-images", type=int, default=None, help="default: the bundled model's stage 2")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    command = " ".join(["OMP_NUM_THREADS={} python benchmarks/lia/ablation_mlp_mapping.py".format(
        os.environ.get("OMP_NUM_THREADS", 1)), *(sys.argv[1:] if argv is None else argv)])
    lia = genae.load(args.out / "stage2" / "model").eval()  # its card counts stage 2 only (the Trainer's record)
    stage1 = genae.load(args.out / "stage1" / "model").card
    dataset = open_dataset("fashion-mnist", split="train", resolution=32, root=FASHION_ROOT)

    torch.manual_seed(0)
    model = genae.create("lia", **lia.config.to_dict())
    mapping = MLPMapping(model.latent_dim)
    model.flow = mapping  # registered once on the model; the encoder and decoder hold unregistered references
    model.encoder.__dict__["flow"] = mapping
    model.decoder.__dict__["flow"] = mapping
    trainer = fit(model, LIARecipe(model, **stage1["recipe_options"]), dataset, args.out / "ablation-mlp-stage1",
                  args.stage1_images or stage1["images_seen"])
    trainer.ema.apply_to(model)
    model.card = {"recipe": "genae_plugins.lia.recipe:LIARecipe"}  # stage 1 done, as an exported card would say
    stage2 = fit(model, EncoderToZRecipe(model, **lia.card["recipe_options"]), dataset, args.out / "ablation-mlp-stage2",
                 args.stage2_images or lia.card["images_seen"])
    model.eval()

    test_set = open_dataset("fashion-mnist", split="test", resolution=32, root=FASHION_ROOT, limit=args.test_images)
    test = torch.stack([test_set[i][0] for i in range(len(test_set))])
    rows = {
        "LIA (invertible φ, encoder to w)": round(test_mse(lia, test, False), 5),
        "StyleGAN MLP mapping, encoder to z": round(test_mse(model, test, True), 5),
    }
    payload = {"command": command, "git_commit": git_commit(), "test_images": len(test), "test_mse": rows,
               "stage1_images": trainer.images_seen, "stage1_s": trainer.wall_time_s,
               "stage2_images": stage2.images_seen, "stage2_s": stage2.wall_time_s}
    write_text_atomic(RESULTS.with_suffix(".json"), json.dumps(payload, indent=2) + "\n")
    lines = [f"# LIA ablation: StyleGAN's MLP mapping instead of φ ({len(test):,} Fashion-MNIST test images)", "",
             f"Command: `{command}` at commit {payload['git_commit']}. Both models: the same config, recipes and "
             f"budgets (stage 1: {trainer.images_seen:,} images, {trainer.wall_time_s:.0f} s for the ablation; "
             f"stage 2: {stage2.images_seen:,} images, {stage2.wall_time_s:.0f} s). MSE on images in [-1, 1].", "",
             "| model | test MSE |", "|---|---|"]
    lines += [f"| {name} | {value:.4f} |" for name, value in rows.items()]
    write_text_atomic(RESULTS.with_suffix(".md"), "\n".join(lines) + "\n")
    print(json.dumps(payload), flush=True)


if __name__ == "__main__":
    main()
