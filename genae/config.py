"""Model configs: dataclasses that round-trip through JSON.

A config is the whole recipe for rebuilding a model's architecture; weights are stored apart
(``model.safetensors``), so a config must hold only JSON-representable values.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from collections.abc import Callable, Iterator
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
        for name, value in kwargs.items():
            if name in hints and not _matches(value, hints[name]):
                raise TypeError(
                    f"{cls.__name__}.{name}: expected {_describe(hints[name])}, got {value!r} ({type(value).__name__})"
                )
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


def _matches(value: Any, hint: Any) -> bool:
    """Whether a JSON-decoded value fits a field's type hint (``True`` is not an int, ``1`` is a float)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, _UNION_TYPE):
        return any(_matches(value, arg) for arg in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if origin in (list, tuple):
        if not isinstance(value, origin):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args))
        return all(_matches(v, args[0]) for v in value) if args else True
    if origin is dict:
        return isinstance(value, dict)
    if origin is typing.Literal:
        return value in args
    return isinstance(value, hint) if isinstance(hint, type) else True


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) if isinstance(hint, type) else str(hint).replace("typing.", "")


_UNION_TYPE = getattr(types, "UnionType", typing.Union)


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
    if origin in (typing.Union, _UNION_TYPE):
        for arg in typing.get_args(hint):
            if typing.get_origin(arg) is tuple and isinstance(value, list):
                return tuple(value)
    return value


#: Models above this many parameters are refused before anything is allocated (a typo such as
#: ``latent_dim=10**9`` would otherwise try to allocate hundreds of GB). Raise it with the environment
#: variable ``GENAE_MAX_PARAMETERS``.
MAX_PARAMETERS_ENV = "GENAE_MAX_PARAMETERS"
DEFAULT_MAX_PARAMETERS = 2_000_000_000  # 8 GB of float32 weights; the largest bundled model has ~10^8


#: The largest cap ``GENAE_MAX_PARAMETERS`` may set: 10^15 float32 parameters are 4 PB. Below it, a size that
#: passes the per-integer check in :func:`check_model_size` still fits PyTorch's 64-bit sizes.
MAX_PARAMETERS_CEILING = 10**15


def max_parameters() -> int:
    """The parameter cap: ``GENAE_MAX_PARAMETERS`` (a whole number, ``1e12`` accepted) or the default."""
    text = os.environ.get(MAX_PARAMETERS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PARAMETERS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (value.is_integer() and 1 <= value <= MAX_PARAMETERS_CEILING):
        raise ValueError(f"{MAX_PARAMETERS_ENV}={text!r}: expected a whole number of parameters from 1 to "
                         f"{MAX_PARAMETERS_CEILING:.0e} (unset: {DEFAULT_MAX_PARAMETERS:,})")
    return int(value)


def check_model_size(build: Callable[[], Any], what: str, config: ModelConfig | None = None) -> None:
    """Refuse a model above :func:`max_parameters` before allocating it.

    First every integer of ``config`` is compared with the cap on its own: an integer that sizes a tensor
    (a width, a latent size, a count of layers) above the cap makes the model at least that large, and one
    beyond 2^63 cannot even be given to PyTorch. Then the model is built on the ``meta`` device (no memory)
    and its parameters counted.
    """
    import torch

    limit = max_parameters()
    raise_limit = f"check its sizes, or raise the limit with {MAX_PARAMETERS_ENV}=N"
    for name, value in _integers(config.to_dict() if config is not None else {}):
        if abs(value) > limit:
            raise ValueError(f"{what}: {name}={value:,} alone exceeds the limit of {limit:,} parameters; {raise_limit}")
    try:
        with torch.device("meta"):
            model = build()
    except RuntimeError as error:  # sizes below the cap whose product overflows (a raised cap)
        if "overflow" not in str(error).lower():
            raise
        raise ValueError(f"{what}: its sizes overflow PyTorch's 64-bit tensor sizes; check them") from error
    count = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    if count > limit:
        raise ValueError(
            f"{what}: this config has {count:,} parameters ({count * 4 / 2**30:,.1f} GiB as float32), above the "
            f"limit of {limit:,}; {raise_limit}"
        )


def _integers(value: Any, name: str = "") -> Iterator[tuple[str, int]]:
    """Every integer in a JSON-like config, with its path (``widths[2]``); booleans are not sizes."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _integers(item, f"{name}.{key}" if name else str(key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _integers(item, f"{name}[{index}]")
    elif isinstance(value, int) and not isinstance(value, bool):
        yield name, value
