"""``torch.compile`` for training: the model's own choice of submodules, compiled in place.

In place (``nn.Module.compile``) keeps every state-dict key, so checkpoints, EMA, exports and resumes are
the same as in eager mode; only the speed changes, and float results move by rounding (~1e-6).
"""

from __future__ import annotations

from genae.interfaces import GenerativeAutoencoder


def compile_model(model: GenerativeAutoencoder) -> list[str]:
    """Compile ``model.compile_targets()`` in place and return their names; refuse a model that names none."""
    targets = model.compile_targets()
    if not targets:
        raise ValueError(
            f"compile: {type(model).__name__} ({model.architecture}) names no compile targets, so compiling "
            "would change nothing; train it without compile (see GenerativeAutoencoder.compile_targets)"
        )
    owned = {id(module) for module in model.modules()}
    for name, module in targets.items():
        if id(module) not in owned:
            raise ValueError(f"compile: target {name!r} is not a submodule of the model")
        module.compile()
    return sorted(targets)
