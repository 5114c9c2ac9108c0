"""Freezing a network for a while: the recipes' alternating steps and inversion's frozen generator share it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn


@contextlib.contextmanager
def frozen(module: nn.Module, eval_mode: bool = False) -> Iterator[None]:
    """Stop gradients into ``module``'s parameters (they still flow through it to its inputs).

    With ``eval_mode`` the module is also put in eval mode. Both are restored on exit, even after an error.
    """
    training = module.training
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    if eval_mode:
        module.eval()
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)
        module.train(training)
