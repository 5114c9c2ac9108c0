"""NVIDIA's public StyleGAN2 generators as genae pretrained names.

NVIDIA published them as TensorFlow pickles, which cannot be read without unpickling their code; genae
reads the rosinality-format ``.pt`` that rosinality's ``convert_weight.py`` makes from them (the file pSp,
e4e and PTI use). No stable public URL of those ``.pt`` files could be verified from here, so genae does not
guess one: set ``GENAE_STYLEGAN2_BASE_URL`` to a server holding them (e.g. your own mirror) and
``genae.load("stylegan2-ffhq-1024")`` downloads, converts and caches through :mod:`genae.downloads`;
without it, or offline, the error names NVIDIA's URL and the two commands that make the folder.

NVIDIA's StyleGAN2-ADA generators (``stylegan2-ada-*``) are PyTorch network pickles that genae reads itself
(:mod:`genae_plugins.stylegan.nvidia`, nothing in them runs): they download from NVIDIA's CDN, convert and
cache; NVIDIA publishes no checksums, so the card records the SHA-256 of what was downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from genae.downloads import WeightsUnavailableError, fetch_converted
from genae_plugins.stylegan import ADA, BASE_URL_ENV, CONVERT_WEIGHT, PUBLIC, AdaGenerator, PublicGenerator


def resolve(spec: Any, *, local_files_only: bool = False) -> Path:
    """The registry's resolver: a local genae model folder for ``spec.name`` (only the cache when
    ``local_files_only``)."""
    if spec.name not in PUBLIC:
        raise WeightsUnavailableError(f"{spec.name!r} is not a public StyleGAN2 generator; known: {sorted(PUBLIC)}")
    return fetch_public(PUBLIC[spec.name], offline=True if local_files_only else None)


def resolve_ada(spec: Any, *, local_files_only: bool = False) -> Path:
    """The registry's resolver for NVIDIA's StyleGAN2-ADA pickles: a local genae model folder (only the cache
    when ``local_files_only``)."""
    if spec.name not in ADA:
        raise WeightsUnavailableError(f"{spec.name!r} is not a published StyleGAN2-ADA generator; known: {sorted(ADA)}")
    return fetch_ada(ADA[spec.name], offline=True if local_files_only else None)


def fetch_ada(entry: AdaGenerator, *, cache_dir: str | Path | None = None, base_url: str | None = None,
              offline: bool | None = None, progress: bool = True) -> Path:
    """Cached conversion → download NVIDIA's pickle (or ``base_url``/file, a mirror), convert and cache."""
    from genae_plugins.stylegan.nvidia import convert_nvidia

    folder = cache_folder(entry, cache_dir)
    url = f"{base_url.rstrip('/')}/{entry.file}" if base_url else entry.url
    checksum = f"sha256 {entry.sha256}" if entry.sha256 else "NVIDIA publishes no checksum; source_sha256 is the hash of what was downloaded"
    card = {"name": entry.name, "dataset": entry.dataset, "load_name": entry.name,
            "source": f"NVIDIA's {entry.file} from {url} ({checksum})"}
    return fetch_converted(entry.name, url, folder, lambda file, out: convert_nvidia(file, out, card=card),
                           command=f"genae convert stylegan2 {entry.file} {folder}", algorithm="sha256",
                           expected=entry.sha256, offline=offline, progress=progress)


def cache_folder(entry: PublicGenerator | AdaGenerator, cache_dir: str | Path | None = None) -> Path:
    if cache_dir is None:
        from genae.io import cache_root

        cache_dir = cache_root()
    return Path(cache_dir) / "official" / entry.name


def fetch_public(entry: PublicGenerator, *, cache_dir: str | Path | None = None, base_url: str | None = None,
                 offline: bool | None = None, progress: bool = True) -> Path:
    """Cached conversion → download from ``base_url`` (or ``$GENAE_STYLEGAN2_BASE_URL``), check and convert."""
    from genae_plugins.stylegan.convert import convert_rosinality

    folder = cache_folder(entry, cache_dir)
    command = f"genae convert stylegan2 {entry.converted_file} {folder}"
    base = base_url or os.environ.get(BASE_URL_ENV)
    how = (f"Make it from NVIDIA's {entry.nvidia_url} with rosinality's convert_weight.py ({CONVERT_WEIGHT}; it "
           f"needs TensorFlow and unpickles the file), then run: {command}")
    if not base and not (folder / "config.json").is_file():
        raise WeightsUnavailableError(
            f"{entry.name} is not cached at {folder} and no download source for rosinality-format files is set "
            f"({BASE_URL_ENV}). {how}"
        )
    url = f"{(base or '').rstrip('/')}/{entry.converted_file}"
    card = {"name": entry.name, "dataset": entry.dataset, "load_name": entry.name,
            "source": f"NVIDIA's {entry.nvidia_file} ({entry.nvidia_url}) in rosinality format, from {url}"}
    return fetch_converted(entry.name, url, folder, lambda file, out: convert_rosinality(file, out, card=card),
                           command=command, algorithm="sha256", expected=entry.sha256, offline=offline,
                           progress=progress)
