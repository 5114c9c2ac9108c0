"""Image-generation metrics, each implemented once and used by tests, ``genae bench`` and the CLI.

FID/KID take features (``frechet_distance``, ``kernel_distance``) from a named extractor
(``get_extractor``: ``inception-v3-compat`` or the domain ``fashion-mnist-features``); LPIPS, PPL, SWD,
reconstruction (MSE/PSNR/SSIM), style-mixing and speed metrics sit beside them, as do the feature-set
metrics of the GAN literature (precision/recall, density/coverage, Inception Score, FID∞) and stored
real-image references (``save_reference``/``load_reference``). Published network weights are downloaded on
first use (``PUBLISHED_WEIGHTS``, ``weights_file``). See ``docs/metrics.md``.
"""

from __future__ import annotations

from genae.metrics._files import PUBLISHED_WEIGHTS, MissingWeightsError, hub_checkpoint_dir, weights_file
from genae.metrics.extractors import EXTRACTORS, FeatureExtractor, get_extractor
from genae.metrics.fid_infinity import fid_infinity
from genae.metrics.frechet import (
    FeatureStats,
    Score,
    frechet_distance,
    frechet_distance_from_stats,
    kernel_distance,
)
from genae.metrics.inception_score import inception_score
from genae.metrics.manifold import density_coverage, precision_recall
from genae.metrics.mixing import mixed_samples, scale_disentanglement
from genae.metrics.perceptual import LPIPS
from genae.metrics.ppl import perceptual_path_length
from genae.metrics.reconstruction import mse, psnr, ssim
from genae.metrics.reference import load_reference, save_reference
from genae.metrics.speed import measure_speed
from genae.metrics.swd import swd

__all__ = [
    "EXTRACTORS", "LPIPS", "PUBLISHED_WEIGHTS", "FeatureExtractor", "FeatureStats", "MissingWeightsError", "Score",
    "density_coverage", "fid_infinity", "frechet_distance", "frechet_distance_from_stats", "get_extractor",
    "hub_checkpoint_dir", "inception_score", "kernel_distance", "load_reference", "measure_speed", "mixed_samples",
    "mse", "perceptual_path_length", "precision_recall", "psnr", "save_reference", "scale_disentanglement", "ssim",
    "swd", "weights_file",
]
