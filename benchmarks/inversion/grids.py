"""The grid in docs/inversion.md: 8 Fashion-MNIST test images and their inversions by each method.

    python benchmarks/inversion/grids.py --steps 200

Rows: inputs; the model's encoder; optimisation from the mean latent in W; in W+; encoder + W+ optimisation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genae
from genae.viz import save_image_grid

DOCS = Path(__file__).resolve().parents[2] / "docs"
MODEL = "automodulator-fashion-mnist-32"
ROWS = (("encoder", dict(method="encoder", init="encoder")), ("mean-w", dict(init="mean", space="w")),
        ("mean-w+", dict(init="mean", space="w+")), ("encoder-w+", dict(init="encoder", space="w+")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from genae.data import open_dataset

    model = genae.load(MODEL)
    data = open_dataset("fashion-mnist", split="test", resolution=32)
    images = torch.stack([data[i][0] for i in range(8)])
    rows = [images]
    for name, options in ROWS:
        if options.get("method") != "encoder":
            options = {**options, "steps": args.steps}
        result = genae.invert(model, images, **options)
        rows.append(result.reconstructions)
        print(name, f"MSE {float((result.reconstructions - images).square().mean()):.4f}")
    path = save_image_grid(torch.cat(rows), DOCS / "inversion-automodulator.png", nrow=8, scale=3)
    print("wrote", path)


if __name__ == "__main__":
    main()
