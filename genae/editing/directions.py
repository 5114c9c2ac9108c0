"""``Directions``: named unit vectors in a model's style-code space, with the slots they act on and where
they came from; saved as a safetensors file (the vectors) plus a JSON file beside it (everything else)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

FORMAT = "genae-directions"
FORMAT_VERSION = 1
#: How far from unit length a stored vector may be (float32 rounding of a normalised float64 vector).
UNIT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Direction:
    """One direction: ``vector`` ``(D,)`` of unit length; an edit of strength ``s`` moves codes by
    ``s · scale · vector`` in slots ``slots`` (half-open), so strengths are in standard deviations."""

    vector: Tensor
    name: str
    scale: float
    slots: tuple[int, int]
    space: str
    num_slots: int


@dataclass
class Directions:
    """``vectors`` ``(K, D)`` (unit rows), one ``name``, ``scale`` and ``value`` (the method's score: eigenvalue,
    explained variance or boundary accuracy) per row, acting on slots ``slots`` of a model with ``num_slots``."""

    vectors: Tensor
    names: list[str]
    scales: Tensor
    values: Tensor
    slots: tuple[int, int]
    num_slots: int
    method: str
    space: str
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.vectors, Tensor) or self.vectors.dim() != 2 or not len(self.vectors):
            raise ValueError(f"vectors: expected a (K, D) tensor with K >= 1, got {_shape(self.vectors)}")
        self.vectors = self.vectors.detach().float().cpu().contiguous()
        k = len(self.vectors)
        self.scales = torch.as_tensor(self.scales, dtype=torch.float32).reshape(-1).cpu()
        self.values = torch.as_tensor(self.values, dtype=torch.float32).reshape(-1).cpu()
        self.names = [str(n) for n in self.names]
        if len(self.names) != k or len(self.scales) != k or len(self.values) != k:
            raise ValueError(f"names, scales, values: expected {k} each (one per vector), got "
                             f"{len(self.names)}, {len(self.scales)}, {len(self.values)}")
        if len(set(self.names)) != k:
            raise ValueError(f"names: expected distinct names, got {self.names}")
        norms = self.vectors.norm(dim=1)
        if not bool(torch.isfinite(self.vectors).all()) or float((norms - 1).abs().max()) > UNIT_TOLERANCE:
            raise ValueError(f"vectors: expected finite unit-length rows, got norms {norms.tolist()[:5]}")
        if not bool((torch.isfinite(self.scales) & (self.scales > 0)).all()):
            raise ValueError(f"scales: expected positive finite numbers, got {self.scales.tolist()[:5]}")
        start, stop = self.slots = (int(self.slots[0]), int(self.slots[1]))
        if not 0 <= start < stop <= self.num_slots:
            raise ValueError(f"slots: expected 0 <= start < stop <= {self.num_slots}, got {self.slots}")

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.vectors)

    def __getitem__(self, key: int | str) -> Direction:
        if isinstance(key, str):
            if key not in self.names:
                raise KeyError(f"no direction named {key!r}; names: {self.names}")
            key = self.names.index(key)
        if isinstance(key, bool) or not isinstance(key, int) or not -len(self) <= key < len(self):
            raise IndexError(f"direction index: expected an int in [0, {len(self) - 1}] or a name, got {key!r}")
        return Direction(self.vectors[key], self.names[key], float(self.scales[key]), self.slots, self.space,
                         self.num_slots)

    def __iter__(self) -> Iterator[Direction]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return (f"Directions(method={self.method!r}, {len(self)} x {self.dim} in {self.space}, "
                f"slots={self.slots} of {self.num_slots}, names={self.names[:6]})")

    # -- files ------------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Everything but the tensors, as JSON-ready values."""
        return {"format": FORMAT, "version": FORMAT_VERSION, "method": self.method, "space": self.space,
                "names": self.names, "slots": list(self.slots), "num_slots": self.num_slots, "dim": self.dim,
                "provenance": self.provenance}

    def save(self, path: str | Path) -> Path:
        """Write ``path`` (``.safetensors``: vectors, scales, values) and ``path.json`` beside it, each atomically.

        The JSON names the tensors file's SHA-256, so a pair torn by a crash between the two writes is refused
        on load rather than silently mixed.
        """
        from safetensors.torch import save_file

        from genae.io import atomic_path, write_text_atomic

        path = _tensor_path(path)
        tensors = {"vectors": self.vectors, "scales": self.scales, "values": self.values}
        with atomic_path(path) as tmp:
            save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"format": FORMAT})
        record = {**self.describe(), "tensors": path.name, "tensors_sha256": _sha256(path)}
        write_text_atomic(path.with_suffix(".json"), json.dumps(record, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Directions:
        """Read what :meth:`save` wrote (give either file of the pair)."""
        from safetensors.torch import load_file

        path = _tensor_path(path)
        described = path.with_suffix(".json")
        for file in (path, described):
            if not file.is_file():
                raise FileNotFoundError(f"directions: {file} does not exist (saved directions are a .safetensors "
                                        "file and a .json file beside it)")
        try:
            record = json.loads(described.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"directions: {described} is not JSON ({error})") from error
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ValueError(f"directions: {described} is not a {FORMAT} file")
        if record.get("tensors_sha256") != _sha256(path):
            raise ValueError(f"directions: {path} does not match {described} (SHA-256 differs); save them again")
        tensors = load_file(str(path))
        return cls(tensors["vectors"], record["names"], tensors["scales"], tensors["values"],
                   tuple(record["slots"]), record["num_slots"], record["method"], record["space"],
                   record.get("provenance", {}))


def _tensor_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix == ".json":
        return path.with_suffix(".safetensors")
    if path.suffix != ".safetensors":
        raise ValueError(f"path: expected a .safetensors (or its .json) file name, got {str(path)!r}")
    return path


def _sha256(path: Path) -> str:
    """Hash of the file as it is now (not cached: the pair check must see a rewritten file)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shape(value: Any) -> Any:
    return tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__


def names_for(prefix: str, count: int) -> list[str]:
    """``sefa-0``, ``sefa-1``, …: the default names of ranked directions."""
    return [f"{prefix}-{i}" for i in range(count)]


def unit_rows(vectors: Tensor) -> Tensor:
    """Rows scaled to unit length, signs fixed so each row's largest-magnitude entry is positive (repeatable)."""
    vectors = vectors / vectors.norm(dim=1, keepdim=True)
    signs = vectors.gather(1, vectors.abs().argmax(dim=1, keepdim=True)).sign()
    return vectors * signs

