"""Foreign weights that are downloaded once, checked, converted into a genae folder and cached.

Plugins with official checkpoints (the automodulator's Zenodo files, StyleGAN2 generators) describe each
file and how to convert it; this module does the rest the same way for all of them: a cached conversion
wins; offline (``GENAE_OFFLINE`` or ``HF_HUB_OFFLINE`` set) it fails with one error naming the URL and the
convert command; otherwise it streams the file through a ``.part`` file with a progress bar, checks the
recorded digest when there is one (a warning when there is none), converts into a sibling temporary
folder, renames it into place (the cache never holds a half-written model) and deletes the download.

Files used as they are (metric and perceptual-loss networks, :func:`fetch_file`) follow the same rules
without the conversion: the checked file is renamed into the cache, a file failing its check never is.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("genae")

OFFLINE_ENVS = ("GENAE_OFFLINE", "HF_HUB_OFFLINE")


class WeightsUnavailableError(RuntimeError):
    """Weights that are neither cached nor obtainable now, or a download that failed its check."""


def is_offline() -> bool:
    return any(os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"} for name in OFFLINE_ENVS)


def download(url: str, target: Path, progress: bool = True) -> None:
    """Stream ``url`` to ``target`` via a ``.part`` file, with progress; an interrupted download leaves nothing."""
    from genae.progress import progress_bar

    part = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with progress_bar(total, desc=target.name, unit="B", enabled=progress, every=100 << 20,
                              unit_scale=True) as bar:
                for chunk in iter(lambda: response.read(1 << 20), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes (``"md5"``, ``"sha256"``), read in 1 MiB chunks."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_digest(path: Path, algorithm: str, expected: str | None, url: str, name: str) -> None:
    """Compare ``path``'s ``algorithm`` digest with ``expected``; None only warns (and logs the digest)."""
    if expected is None:
        log.warning("genae: no %s is recorded for %s; %s is used unverified (its %s is %s)", algorithm, name, url,
                    algorithm, file_digest(path, algorithm))
        return
    digest = file_digest(path, algorithm)
    if digest != expected.lower():
        raise WeightsUnavailableError(
            f"{url}: {algorithm} {digest} does not match the recorded {expected}; the download was "
            "deleted (a changed or corrupted file). Nothing was cached."
        )


def fetch_converted(name: str, url: str, folder: Path, convert: Callable[[Path, Path], object], *, command: str,
                    algorithm: str = "sha256", expected: str | None = None, offline: bool | None = None,
                    progress: bool = True) -> Path:
    """The cached genae folder for ``name``, downloading ``url`` and running ``convert(file, folder)`` if needed.

    ``command`` is the shell command that converts a file obtained some other way (shown in every error).
    """
    from genae.hub import CONFIG_NAME

    if (folder / CONFIG_NAME).is_file():
        return folder
    offline = is_offline() if offline is None else offline
    if offline:
        raise WeightsUnavailableError(
            f"{name} is not cached at {folder} and genae is offline. Download {url} elsewhere, then run: {command}"
        )
    downloads = folder.parent / ".downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    target = downloads / url.rstrip("/").rsplit("/", 1)[-1]
    try:
        download(url, target, progress=progress)
    except (urllib.error.URLError, OSError) as error:
        raise WeightsUnavailableError(
            f"could not download {name} from {url} ({error}). Download it another way, then run: {command}"
        ) from error
    try:
        check_digest(target, algorithm, expected, url, name)
        convert_into(folder, lambda staging: convert(target, staging))
    finally:
        target.unlink(missing_ok=True)
    return folder


def fetch_file(name: str, url: str, target: Path, sha256: str, *, offline: bool | None = None,
               progress: bool = True, hint: str = "") -> Path:
    """``target``, downloading ``url`` there first when it is absent; nothing unchecked is ever left there.

    ``hint`` ends the offline error (say how else the file can be supplied).
    """
    if target.is_file():
        return target
    offline = is_offline() if offline is None else offline
    if offline:
        raise WeightsUnavailableError(
            f"{name} is not at {target} and genae is offline (GENAE_OFFLINE/HF_HUB_OFFLINE): download {url} "
            f"and save it as {target}{hint}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    unchecked = target.with_name(f".{target.name}.{os.getpid()}.unchecked")  # processes racing: one name each
    try:
        download(url, unchecked, progress=progress)
        check_digest(unchecked, "sha256", sha256, url, name)
        os.replace(unchecked, target)
    except (urllib.error.URLError, OSError) as error:
        raise WeightsUnavailableError(
            f"could not download {name} from {url} ({error}); download it another way and save it as {target}{hint}"
        ) from error
    finally:
        unchecked.unlink(missing_ok=True)
    return target


def convert_into(folder: Path, convert: Callable[[Path], object]) -> Path:
    """Run ``convert(staging)`` in a sibling temporary folder, then rename it to ``folder``: a failed conversion
    leaves nothing, and the cache never holds a half-written model."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        convert(staging)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder
