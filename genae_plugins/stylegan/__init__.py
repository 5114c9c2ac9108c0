"""The stylegan plugin (work in progress this session): registered through the ``genae.plugins`` entry point."""

from __future__ import annotations

from typing import Any


def register(registry: Any) -> None:
    """Add this plugin's architectures to *registry* (filled in as the plugin lands)."""
