"""The record of one number: value, sample size, status and the settings that produced it."""

from __future__ import annotations

import math
from typing import Any

OK, NOT_APPLICABLE, FAILED = "ok", "n/a", "failed"


class NotApplicable(Exception):
    """A metric the model cannot support (e.g. style mixing without a style decoder); reported as n/a."""


def figure(
    metric: str,
    name: str,
    label: str,
    value: float | None,
    n: int | None = None,
    std: float | None = None,
    headline: bool = True,
    **settings: Any,
) -> dict[str, Any]:
    """One reported figure. ``label`` is what tables print (e.g. ``FID[fashion-mnist-features]``)."""
    if value is not None and not math.isfinite(value) and not math.isinf(value):
        raise ValueError(f"{name}: metric value is NaN")
    return {
        "metric": metric, "name": name, "label": label, "value": value, "std": std, "n": n,
        "status": OK, "reason": None, "headline": headline, "settings": settings,
    }


def unavailable(metric: str, status: str, reason: str) -> dict[str, Any]:
    """A placeholder figure for a metric that was not computed, saying why."""
    return {
        "metric": metric, "name": metric, "label": metric, "value": None, "std": None, "n": None,
        "status": status, "reason": reason, "headline": True, "settings": {},
    }
