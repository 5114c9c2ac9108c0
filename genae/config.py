"""Model configs: dataclasses that round-trip through JSON.

A config is the whole recipe for rebuilding a model's architecture; weights are stored apart
(``model.safetensors``), so a config must hold only JSON-representable values.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from typing import Any, TypeVar

C = TypeVar("C", bound="ModelConfig")


@dataclasses.dataclass
class ModelConfig:
    """Base class of every architecture's config.

    Subclasses add typed fields with defaults. ``from_dict`` rejects unknown keys so a typo in an
    override (``genae.create("x", resoluton=32)``) is an error, not a silently ignored setting.
    """

    resolution: int = 32
    channels_in: int = 3
    latent_dim: int = 512

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls: type[C], values: dict[str, Any]) -> C:
        if not isinstance(values, dict):
            raise TypeError(f"{cls.__name__}.from_dict: expected a dict, got {type(values).__name__}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"{cls.__name__}: unknown field(s) {unknown}; valid fields are {sorted(known)}"
            )
        hints = typing.get_type_hints(cls)
        kwargs = {name: _from_jsonable(value, hints.get(name)) for name, value in values.items()}
        return cls(**kwargs)

    def replace(self: C, **overrides: Any) -> C:
        merged = self.to_dict()
        merged.update(overrides)
        return type(self).from_dict(merged)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the field when a value cannot describe a model."""
        res = self.resolution
        if not isinstance(res, int) or res < 4 or res & (res - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {res!r}")
        if self.channels_in not in (1, 3):
            raise ValueError(f"channels_in must be 1 or 3, got {self.channels_in!r}")
        if not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive int, got {self.latent_dim!r}")


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    return value


def _from_jsonable(value: Any, hint: Any) -> Any:
    """Turn JSON lists back into tuples where the field is typed as a tuple."""
    origin = typing.get_origin(hint)
    if origin is tuple and isinstance(value, list):
        return tuple(value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        for arg in typing.get_args(hint):
            if typing.get_origin(arg) is tuple and isinstance(value, list):
                return tuple(value)
    return value
