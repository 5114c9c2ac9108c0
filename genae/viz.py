"""Image grids, style-mixing matrices and interpolation strips, written as PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genae.interfaces import GenerativeAutoencoder, StyleRange
from genae.io import atomic_path


def to_uint8(images: Tensor) -> np.ndarray:
    """``(B, C, H, W)`` in [-1, 1] → ``(B, H, W, C)`` uint8 (grey images stay one channel)."""
    if images.dim() != 4:
        raise ValueError(f"images: expected (B, C, H, W), got shape {tuple(images.shape)}")
    x = ((images.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).numpy()


def make_grid(images: Tensor, nrow: int, padding: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile a batch into one ``(H, W, C)`` uint8 array, ``nrow`` images per row."""
    if nrow < 1:
        raise ValueError(f"nrow: expected a positive int, got {nrow}")
    tiles = to_uint8(images)
    count, height, width, channels = tiles.shape
    rows = -(-count // nrow)
    grid = np.full(
        (rows * (height + padding) + padding, nrow * (width + padding) + padding, channels), pad_value, np.uint8
    )
    for index in range(count):
        r, c = divmod(index, nrow)
        top, left = padding + r * (height + padding), padding + c * (width + padding)
        grid[top : top + height, left : left + width] = tiles[index]
    return grid


def save_image_grid(images: Tensor, path: str | Path, nrow: int = 8, scale: int = 1) -> Path:
    """Write a PNG grid atomically; ``scale`` enlarges small images (nearest) so they can be seen."""
    from PIL import Image

    grid = make_grid(images, nrow)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    picture = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    path = Path(path)
    with atomic_path(path) as tmp:
        picture.save(tmp, format="PNG")
    return path


def save_labelled_grid(images: Tensor, path: str | Path, column_labels: Sequence[str],
                       row_labels: Sequence[str] | None = None, scale: int = 1, padding: int = 2,
                       title: str = "") -> Path:
    """Write a PNG of ``images`` ``(R, C, ch, H, W)`` as R rows × C columns, a text label above each column
    (and left of each row when given) under an optional title line, atomically (Pillow's built-in font)."""
    from PIL import Image, ImageDraw, ImageFont

    if images.dim() != 5:
        raise ValueError(f"images: expected (rows, columns, C, H, W), got shape {tuple(images.shape)}")
    rows, cols, _, height, width = images.shape
    if len(column_labels) != cols or (row_labels is not None and len(row_labels) != rows):
        raise ValueError(f"labels: expected {cols} column labels and {rows} row labels (or none), got "
                         f"{len(column_labels)} and {len(row_labels) if row_labels is not None else 'none'}")
    grid = make_grid(images.flatten(0, 1), nrow=cols, padding=padding).repeat(scale, axis=0).repeat(scale, axis=1)
    tile = Image.fromarray(grid).convert("RGB") if grid.shape[-1] == 3 else Image.fromarray(grid[..., 0]).convert("RGB")
    font = ImageFont.load_default(size=max(10, min(16, 4 * scale + 4)))
    draw = ImageDraw.Draw(tile)
    line = int(draw.textbbox((0, 0), "Ag", font=font)[3]) + 6
    left = max((int(draw.textlength(label, font=font)) for label in row_labels), default=0) + 8 if row_labels else 0
    top = 2 * line if title else line
    canvas = Image.new("RGB", (max(tile.width + left, int(draw.textlength(title, font=font)) + 8), tile.height + top),
                       "white")
    canvas.paste(tile, (left, top))
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, line // 2), title, fill="black", font=font, anchor="lm")
    for index, label in enumerate(column_labels):
        centre = left + (padding + index * (width + padding)) * scale + width * scale // 2
        draw.text((centre, top - line // 2), label, fill="black", font=font, anchor="mm")
    for index, label in enumerate(row_labels or []):
        middle = top + (padding + index * (height + padding)) * scale + height * scale // 2
        draw.text((left - 4, middle), label, fill="black", font=font, anchor="rm")
    path = Path(path)
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    return path


@torch.no_grad()
def style_mixing_matrix(
    model: GenerativeAutoencoder, rows: Tensor, cols: Tensor, rows_range: StyleRange
) -> Tensor:
    """The paper's Fig. 13 layout, as one batch of ``(R + 1) * (C + 1)`` images.

    The first row holds the column sources, the first column the row sources; cell (r, c) takes the
    ``rows_range`` styles from row source r and every other style from column source c. Top-left is blank.
    """
    z_rows, z_cols = model.encode(rows), model.encode(cols)
    blank = torch.ones_like(rows[:1])
    out = [blank, model.decode(z_cols)]
    for r in range(rows.shape[0]):
        z_r = z_rows[r : r + 1].expand_as(z_cols)
        out.append(model.decode(z_rows[r : r + 1]))
        out.append(model.mix([z_r, z_cols], [rows_range, None]))
    return torch.cat(out)


@torch.no_grad()
def interpolation_strip(
    model: GenerativeAutoencoder, z_a: Tensor, z_b: Tensor, steps: int = 8
) -> Tensor:
    """``(B * steps)`` images from ``z_a`` to ``z_b``, walked in the model's own space (``model.interpolate``)."""
    return model.interpolate(z_a, z_b, steps=steps).flatten(0, 1)


def grid_rows(images: Sequence[Tensor]) -> Tensor:
    """Stack equally sized batches as consecutive grid rows."""
    return torch.cat(list(images))
