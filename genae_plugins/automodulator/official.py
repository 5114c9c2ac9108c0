"""The authors' five trained automodulators as genae pretrained names, and how their weights are found.

``genae.load("automodulator-ffhq-256")`` resolves, in order, to:

1. a genae model folder on the Hugging Face Hub, when the entry names one (``hub_repo``; none is
   published yet, so this step is skipped today);
2. the local cache of an earlier conversion, ``<cache>/official/<name>/`` where ``<cache>`` is
   ``$GENAE_HOME/cache`` or ``~/.cache/genae``;
3. the official file from Zenodo record 4298894 (base URL overridable with ``GENAE_OFFICIAL_BASE_URL``),
   downloaded with a progress bar, checked against the entry's md5 *when one is recorded*, converted
   once into the cache, and the download deleted.

Offline (``GENAE_OFFLINE`` or ``HF_HUB_OFFLINE`` set, or the server unreachable) and not cached, it fails
with one error naming the URL and the ``genae convert automodulator`` command for a file obtained elsewhere.

Checksums: Zenodo publishes an md5 per file, but none could be read from here, so every entry records
``md5=None`` and the download is then used unchecked (a warning says so). Fill them in from the record.
The entries themselves (:data:`genae_plugins.automodulator.OFFICIAL`) live in the package's ``__init__`` so
that registering them imports no submodule; this module is imported only when weights are resolved.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from genae_plugins.automodulator import OFFICIAL, OfficialWeights

log = logging.getLogger("genae.automodulator")

ZENODO_FILES = "https://zenodo.org/record/4298894/files"
BASE_URL_ENV = "GENAE_OFFICIAL_BASE_URL"
OFFLINE_ENVS = ("GENAE_OFFLINE", "HF_HUB_OFFLINE")


class OfficialWeightsError(RuntimeError):
    """Official weights that are neither cached nor obtainable now, or a download that failed its check."""


def resolve(spec: Any) -> Path:
    """The registry's resolver: a local genae model folder for ``spec.name``."""
    if spec.name not in OFFICIAL:
        raise OfficialWeightsError(f"{spec.name!r} is not an official automodulator; known: {sorted(OFFICIAL)}")
    return fetch_official(OFFICIAL[spec.name])


def cache_folder(entry: OfficialWeights, cache_dir: str | Path | None = None) -> Path:
    if cache_dir is None:
        from genae.io import cache_root

        cache_dir = cache_root()
    return Path(cache_dir) / "official" / entry.name


def download_url(entry: OfficialWeights, base_url: str | None = None) -> str:
    base = base_url or os.environ.get(BASE_URL_ENV) or ZENODO_FILES
    return f"{base.rstrip('/')}/{entry.file}"


def is_offline() -> bool:
    return any(os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"} for name in OFFLINE_ENVS)


def fetch_official(entry: OfficialWeights, *, cache_dir: str | Path | None = None, base_url: str | None = None,
                   offline: bool | None = None, progress: bool = True) -> Path:
    """Hub folder → cached conversion → download, check and convert (see the module docstring)."""
    from genae.hub import CONFIG_NAME

    offline = is_offline() if offline is None else offline
    if entry.hub_repo and not offline:
        try:
            from genae.hub import download_from_hub

            return download_from_hub(entry.hub_repo)
        except Exception as error:  # noqa: BLE001 - fall back to the cache and the original file
            log.warning("genae: %s not available from the Hub (%s); trying the cache and Zenodo", entry.hub_repo, error)
    folder = cache_folder(entry, cache_dir)
    if (folder / CONFIG_NAME).is_file():
        return folder
    url = download_url(entry, base_url)
    command = f"genae convert automodulator {entry.file} {folder} --arch {entry.arch} --resolution {entry.resolution}"
    if offline:
        raise OfficialWeightsError(
            f"{entry.name} is not cached at {folder} and genae is offline. Download {url} elsewhere, then run: {command}"
        )
    downloads = folder.parent / ".downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    target = downloads / entry.file
    try:
        _download(url, target, progress=progress)
    except (urllib.error.URLError, OSError) as error:
        raise OfficialWeightsError(
            f"could not download {entry.name} from {url} ({error}). Download it another way, then run: {command}"
        ) from error
    try:
        _check_md5(entry, target, url)
        _convert_into(entry, target, folder, url)
    finally:
        target.unlink(missing_ok=True)
    return folder


def _download(url: str, target: Path, progress: bool) -> None:
    """Stream ``url`` to ``target`` via a ``.part`` file, with a tqdm bar; an interrupted download leaves nothing."""
    from tqdm.auto import tqdm

    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def _check_md5(entry: OfficialWeights, path: Path, url: str) -> None:
    if entry.md5 is None:
        log.warning("genae: no md5 is recorded for %s; %s is used unverified", entry.name, url)
        return
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != entry.md5.lower():
        raise OfficialWeightsError(
            f"{url}: md5 {digest.hexdigest()} does not match the recorded {entry.md5}; the download was deleted "
            "(a changed or corrupted file). Nothing was cached."
        )


def _convert_into(entry: OfficialWeights, checkpoint: Path, folder: Path, url: str) -> None:
    """Convert into a sibling temporary folder, then rename: the cache never holds a half-written model."""
    from genae_plugins.automodulator.convert import convert_official

    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", dir=folder.parent))
    try:
        card = {"name": entry.name, "dataset": entry.dataset, "load_name": entry.name,
                "source": f"Zenodo record 4298894, file {entry.file} ({url}), the authors' '{entry.hub_name}' model"}
        if entry.fid is not None:
            card["metrics"] = {"FID-50k (reported by the authors)": entry.fid}
        convert_official(checkpoint, staging, arch=entry.arch, resolution=entry.resolution, card=card)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
