"""Exponential moving averages of chosen submodules.

Averaged weights generate visibly better images than the raw weights of a GAN-like or progressively grown
decoder, so genae evaluates and exports with them. Parameters (floating point) are averaged:
``shadow = decay * shadow + (1 - decay) * param``; buffers (running statistics, counters) are copied,
since they are already averages or are not meant to be averaged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn


class EMA:
    """Shadow copies of ``model.<name>`` for each ``name`` in ``decays`` (``{"decoder": 0.999}``)."""

    def __init__(self, model: nn.Module, decays: Mapping[str, float]) -> None:
        if not isinstance(decays, Mapping):
            raise TypeError(f"decays: expected a mapping of submodule name to decay, got {type(decays).__name__}")
        self.decays: dict[str, float] = {}
        self.shadow: dict[str, dict[str, Tensor]] = {}
        for name, decay in decays.items():
            if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0.0 <= decay < 1.0:
                raise ValueError(f"decays[{name!r}]: expected a float in [0, 1), got {decay!r}")
            module = self._submodule(model, name)
            self.decays[name] = float(decay)
            self.shadow[name] = {key: value.detach().clone() for key, value in module.state_dict().items()}

    @staticmethod
    def _submodule(model: nn.Module, name: str) -> nn.Module:
        try:
            return model.get_submodule(name)
        except AttributeError as error:
            children = [n for n, _ in model.named_children()]
            raise ValueError(f"EMA: model has no submodule {name!r}; its children are {children}") from error

    def __bool__(self) -> bool:
        return bool(self.shadow)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move every shadow one step towards ``model``'s current weights."""
        for name, decay in self.decays.items():
            module = self._submodule(model, name)
            parameters = {key for key, _ in module.named_parameters()}
            shadow = self.shadow[name]
            for key, value in module.state_dict().items():
                if key in parameters and value.is_floating_point():
                    shadow[key].lerp_(value.detach(), 1.0 - decay)
                else:
                    shadow[key].copy_(value)

    @torch.no_grad()
    def apply_to(self, model: nn.Module) -> None:
        """Overwrite ``model``'s weights with the averages (used when exporting)."""
        for name, shadow in self.shadow.items():
            self._submodule(model, name).load_state_dict(shadow)

    @contextlib.contextmanager
    def swapped(self, model: nn.Module) -> Iterator[nn.Module]:
        """Evaluate ``model`` with the averaged weights inside the block; its own weights come back after."""
        saved = {
            name: {k: v.detach().clone() for k, v in self._submodule(model, name).state_dict().items()}
            for name in self.shadow
        }
        self.apply_to(model)
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, state in saved.items():
                    self._submodule(model, name).load_state_dict(state)

    def state_dict(self) -> dict[str, Any]:
        return {
            "decays": dict(self.decays),
            "shadow": {n: {k: v.detach().clone() for k, v in s.items()} for n, s in self.shadow.items()},
        }

    @torch.no_grad()
    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping) or set(state) != {"decays", "shadow"}:
            raise ValueError("EMA state: expected a dict with keys 'decays' and 'shadow'")
        if set(state["shadow"]) != set(self.shadow):
            raise ValueError(
                f"EMA state averages {sorted(state['shadow'])}, but this EMA averages {sorted(self.shadow)}"
            )
        for name, shadow in self.shadow.items():
            saved = state["shadow"][name]
            if set(saved) != set(shadow):
                missing, extra = sorted(set(shadow) - set(saved)), sorted(set(saved) - set(shadow))
                raise ValueError(f"EMA state for {name!r}: missing {missing[:5]}, unexpected {extra[:5]}")
            for key, value in saved.items():
                shadow[key].copy_(value)
        self.decays = {name: float(decay) for name, decay in state["decays"].items()}
