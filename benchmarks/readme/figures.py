"""The two pictures in README.md, from the bundled automodulator and the Fashion-MNIST images shipped with genae.

    python benchmarks/readme/figures.py            # writes docs/readme-mixing.png and docs/readme-inversion.png

Both use only what a fresh install has (no dataset download), so anyone can reproduce them exactly.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genae
from genae.data import example_images
from genae.interfaces import GenerativeAutoencoder
from genae.viz import save_image_grid, style_mixing_matrix

DOCS = Path(__file__).resolve().parents[2] / "docs"
MODEL = "automodulator-fashion-mnist-32"


def mixing(model: GenerativeAutoencoder, images: torch.Tensor) -> Path:
    """Rows give the coarse (4-8 px) styles, columns every other style: shape from the row, texture from the column."""
    with torch.no_grad():
        matrix = style_mixing_matrix(model, images[:4], images[4:9], "coarse")
    return save_image_grid(matrix, DOCS / "readme-mixing.png", nrow=6, scale=3)


def inversion(model: GenerativeAutoencoder, images: torch.Tensor, steps: int) -> Path:
    """Rows: inputs; the encoder alone; the encoder's latents refined in W+ by ``steps`` optimisation steps."""
    encoded = genae.invert(model, images, method="encoder", init="encoder")
    refined = genae.invert(model, images, init="encoder", space="w+", steps=steps)
    for name, result in (("encoder", encoded), (f"encoder + {steps} W+ steps", refined)):
        print(f"{name}: MSE {float((result.reconstructions - images).square().mean()):.4f}")
    rows = torch.cat([images, encoded.reconstructions, refined.reconstructions])
    return save_image_grid(rows, DOCS / "readme-inversion.png", nrow=images.shape[0], scale=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200, help="W+ optimisation steps of the inversion picture")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = genae.load(MODEL)
    images = example_images(9, resolution=32, channels=1, seed=3)
    print("wrote", mixing(model, images))
    print("wrote", inversion(model, images[:8], args.steps))


if __name__ == "__main__":
    main()
