"""Helpers shared by the tests that drive ``genae train`` on the toy model through the CLI."""

from __future__ import annotations

import pytest

from genae.cli import main
from genae.testing.toy_recipe import register_toy


def toy_train_args(out, *extra: str) -> list[str]:
    """``genae train`` arguments for the 8-px toy model on synthetic data, writing to ``out``."""
    return ["train", register_toy(), "--data", "x", "--resolution", "8", "--out", str(out), "--set", "width=4",
            "--batch-size", "8", "--no-progress", *extra]


def cli_result(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """The CLI's exit code and its non-empty stderr lines."""
    code = main(args)
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]
