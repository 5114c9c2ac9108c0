"""Datasets for genae: Fashion-MNIST (full and a shipped subset), image folders, IDX files, synthetic scales.

Everything opens through :func:`open_dataset` and yields ``(image, label)`` with float images in
``[-1, 1]`` of shape ``(C, R, R)``, ``R`` a power of two. Importing this package imports torch; ``import genae``
does not import this package.
"""

from genae.data.base import GenaeDataset
from genae.data.catalog import DATASETS, open_dataset
from genae.data.errors import DataError
from genae.data.examples import example_images
from genae.data.idx import read_idx
from genae.data.images import load_image_files, read_image_file
from genae.data.scales import (
    COARSE_FACTORS,
    FACTOR_NAMES,
    FACTOR_SIZES,
    FINE_FACTORS,
    ScalesDataset,
    render_scales,
)
from genae.data.transforms import fit_images

__all__ = [
    "COARSE_FACTORS",
    "DATASETS",
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "FINE_FACTORS",
    "DataError",
    "GenaeDataset",
    "ScalesDataset",
    "example_images",
    "fit_images",
    "load_image_files",
    "open_dataset",
    "read_idx",
    "read_image_file",
    "render_scales",
]
