"""No dead dependencies: every runtime requirement in pyproject.toml is imported by genae or its plugins."""

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

REPO = Path(__file__).resolve().parents[1]
#: distribution name -> import name, where they differ
IMPORT_NAMES = {"pillow": "PIL", "huggingface-hub": "huggingface_hub"}


def test_every_declared_dependency_is_imported():
    requirements = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    sources = "\n".join(p.read_text(encoding="utf-8") for folder in ("genae", "genae_plugins")
                        for p in (REPO / folder).rglob("*.py"))
    for requirement in requirements:
        name = re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0].lower()
        module = IMPORT_NAMES.get(name, name.replace("-", "_"))
        assert re.search(rf"^\s*(import|from) {module}\b", sources, re.MULTILINE), (
            f"{name} is declared in pyproject.toml but imported nowhere in genae/ or genae_plugins/")
