"""The published weight files that metrics and perceptual losses need: one table, fetched on first use.

Each file is looked up in the caller's ``weights_dir`` (a local override, used as it is), then in torch's
own download cache ``torch.hub.get_dir()/checkpoints`` (where torchvision, torch-fidelity and clean-fid
keep the same files, so one copy serves all), and otherwise downloaded there with its sha256 checked
(:func:`genae.downloads.fetch_file`). Offline (``GENAE_OFFLINE``/``HF_HUB_OFFLINE``) the error names the URL
and the path to save it at. ``docs/metrics.md`` ("Downloaded weights") carries the same table.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from genae.downloads import WeightsUnavailableError, fetch_file


class MissingWeightsError(WeightsUnavailableError, FileNotFoundError):
    """A pretrained network's weights file is neither on this machine nor downloadable now."""


@dataclass(frozen=True)
class PublishedWeights:
    """A weights file as its publisher serves it; ``file`` is its name in the cache and in a ``weights_dir``."""

    file: str
    url: str
    sha256: str
    size: int  # bytes
    used_by: str


TORCHVISION = "https://download.pytorch.org/models/"
#: The LPIPS authors' repository; the same files ship inside the ``lpips`` pip package (lpips/weights/v0.1/).
LPIPS_HEADS = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/"
#: Keyed by what genae calls each network.
PUBLISHED_WEIGHTS: dict[str, PublishedWeights] = {
    "inception-v3-compat": PublishedWeights(
        "weights-inception-2015-12-05-6726825d.pth",
        "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2", 95_628_359, "FID, KID, mix-FID"),
    "alexnet": PublishedWeights(
        "alexnet-owt-7be5be79.pth", TORCHVISION + "alexnet-owt-7be5be79.pth",
        "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02", 244_408_911,
        "LPIPS (alex): bench lpips, inversion loss lpips-alex"),
    "vgg16": PublishedWeights(
        "vgg16-397923af.pth", TORCHVISION + "vgg16-397923af.pth",
        "397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0", 553_433_881,
        "LPIPS (vgg): bench ppl, inversion loss lpips-vgg; LIA perceptual='vgg16'"),
    "lpips-alex-v0.1": PublishedWeights(
        "lpips-v0.1-alex.pth", LPIPS_HEADS + "alex.pth",
        "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0", 6_009, "LPIPS (alex) linear heads"),
    "lpips-vgg-v0.1": PublishedWeights(
        "lpips-v0.1-vgg.pth", LPIPS_HEADS + "vgg.pth",
        "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868", 7_289, "LPIPS (vgg) linear heads"),
}


def hub_checkpoint_dir() -> Path:
    """``torch.hub.get_dir()/checkpoints`` (torch's own download cache, honouring ``TORCH_HOME``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_file(key: str, weights_dir: str | Path | None = None, purpose: str = "",
                 offline: bool | None = None, pointer: str = "--weights-dir / weights_dir=") -> Path:
    """The local path of :data:`PUBLISHED_WEIGHTS` ``[key]``, downloading and checking it on first use.

    ``pointer`` is how the caller's users name a folder of their own: the error must show a spelling that works.
    """
    if key not in PUBLISHED_WEIGHTS:
        raise ValueError(f"unknown weights {key!r}; known: {', '.join(sorted(PUBLISHED_WEIGHTS))}")
    entry = PUBLISHED_WEIGHTS[key]
    if weights_dir is not None and (Path(weights_dir) / entry.file).is_file():
        return Path(weights_dir) / entry.file
    elsewhere = f" (or into {weights_dir})" if weights_dir is not None else f" (or pass {pointer})"
    try:
        return fetch_file(f"{purpose or key} weights", entry.url, hub_checkpoint_dir() / entry.file, entry.sha256,
                          offline=offline, hint=elsewhere)
    except WeightsUnavailableError as error:
        raise MissingWeightsError(str(error)) from error


@functools.lru_cache(maxsize=32)
def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
