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
Downloading, checking and caching are :mod:`genae.downloads`, shared with the other plugins' official weights.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from genae.downloads import WeightsUnavailableError, fetch_converted, is_offline
from genae_plugins.automodulator import OFFICIAL, OfficialWeights, download_url

log = logging.getLogger("genae.automodulator")

#: Kept under its historical name; the same error every plugin's official weights raise.
OfficialWeightsError = WeightsUnavailableError


def resolve(spec: Any, *, local_files_only: bool = False) -> Path:
    """The registry's resolver: a local genae model folder for ``spec.name`` (only the cache when
    ``local_files_only``)."""
    if spec.name not in OFFICIAL:
        raise OfficialWeightsError(f"{spec.name!r} is not an official automodulator; known: {sorted(OFFICIAL)}")
    return fetch_official(OFFICIAL[spec.name], offline=True if local_files_only else None)


def cache_folder(entry: OfficialWeights, cache_dir: str | Path | None = None) -> Path:
    if cache_dir is None:
        from genae.io import cache_root

        cache_dir = cache_root()
    return Path(cache_dir) / "official" / entry.name


def fetch_official(entry: OfficialWeights, *, cache_dir: str | Path | None = None, base_url: str | None = None,
                   offline: bool | None = None, progress: bool = True) -> Path:
    """Hub folder → cached conversion → download, check and convert (see the module docstring)."""
    offline = is_offline() if offline is None else offline
    if entry.hub_repo and not offline:
        try:
            from genae.hub import download_from_hub

            return download_from_hub(entry.hub_repo)
        except Exception as error:  # noqa: BLE001 - fall back to the cache and the original file
            log.warning("genae: %s not available from the Hub (%s); trying the cache and Zenodo", entry.hub_repo, error)
    folder = cache_folder(entry, cache_dir)
    url = download_url(entry, base_url)
    command = f"genae convert automodulator {entry.file} {folder} --arch {entry.arch} --resolution {entry.resolution}"
    return fetch_converted(entry.name, url, folder, lambda file, out: _convert(entry, file, out, url), command=command,
                           algorithm="md5", expected=entry.md5, offline=offline, progress=progress)


def _convert(entry: OfficialWeights, checkpoint: Path, folder: Path, url: str) -> None:
    from genae_plugins.automodulator.convert import convert_official

    card = {"name": entry.name, "dataset": entry.dataset, "load_name": entry.name,
            "source": f"Zenodo record 4298894, file {entry.file} ({url}), the authors' '{entry.hub_name}' model"}
    if entry.fid is not None:
        card["metrics"] = {"FID-50k (reported by the authors)": entry.fid}
    convert_official(checkpoint, folder, arch=entry.arch, resolution=entry.resolution, card=card)
