"""``genae.load("model.pkl")``: a foreign weights file is converted once into the cache, then loaded.

The format is recognised from the file's bytes by the plugins' registered :class:`~genae.registry.FileFormatSpec`
(never from its name alone); the cached folder is keyed by the file's SHA-256, so an edited file converts again.
"""

from __future__ import annotations

from pathlib import Path

from genae.downloads import convert_into, file_digest
from genae.registry import REGISTRY, import_object


class UnknownFileFormatError(ValueError):
    """A file given to ``genae.load`` that no plugin can convert."""


def converted_folder(path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The genae model folder converted from ``path`` (converting it on first use)."""
    from genae.hub import CONFIG_NAME
    from genae.io import cache_root

    path = Path(path)
    spec = REGISTRY.find_file_format(path)
    if spec is None:
        known = ", ".join(f.description or f.name for f in REGISTRY.file_formats.values()) or "none registered"
        raise UnknownFileFormatError(f"{path}: a file, not a genae model folder, and not a format genae converts "
                                     f"({known})")
    digest = file_digest(path, "sha256")
    folder = Path(cache_dir or cache_root()) / "converted" / f"{spec.name}-{digest[:16]}"
    if (folder / CONFIG_NAME).is_file():
        return folder
    return convert_into(folder, lambda staging: import_object(spec.convert)(path, staging))
