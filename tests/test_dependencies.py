"""Each declared dependency is used, where it is used is known, and optional ones fail with one clear line.

Every requirement in pyproject.toml (core and extras) has an entry in FEATURES saying which feature needs
it and which files may import it (None: used throughout). A dependency imported nowhere, or spreading to a
file outside its list, fails here, so moving a heavy import into the core is a visible decision.
"""

import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

REPO = Path(__file__).resolve().parents[1]
#: distribution name -> import name, where they differ
IMPORT_NAMES = {"pillow": "PIL", "huggingface-hub": "huggingface_hub", "scikit-learn": "sklearn",
                "tensorboard": "torch.utils.tensorboard"}
#: distribution -> (the feature that needs it, the files allowed to import it or None for "throughout")
FEATURES: dict[str, tuple[str, list[str] | None]] = {
    "torch": ("everything", None),
    "numpy": ("metrics, data loading, training logs", None),
    "safetensors": ("model folders, feature and latent caches", None),
    "click": ("the command line", None),
    "tqdm": ("progress bars of training, benchmarks, inversion and downloads", None),
    "pillow": ("reading image folders, writing grids", ["genae/viz.py", "genae/data/images.py"]),
    "huggingface-hub": ("hf-hub: loads, push, model cards", ["genae/hub.py", "genae/cards.py"]),
    "torchvision": ("AlexNet/VGG-16 definitions for LPIPS (bench lpips, ppl; inversion losses) and LIA's "
                    "perceptual loss", ["genae/metrics/perceptual.py", "genae_plugins/lia/perceptual.py"]),
    "timm": ("extra [timm]: the backbone of stylegan2's inversion encoder", ["genae_plugins/stylegan/encoder.py"]),
    "tensorboard": ("extra [tensorboard]: `genae train --tensorboard` event files (through torch's SummaryWriter)",
                    ["genae/training/trainer.py"]),
}
#: Development-only requirements: tests and linting, never imported by the package.
DEV_ONLY = {"pytest", "pytest-timeout", "ruff", "scikit-learn", "torch-fidelity", "lpips", "scipy", "prdc", "mpmath"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement, maxsplit=1)[0].lower()


def _importers(module: str) -> set[str]:
    pattern = re.compile(rf"^\s*(import|from) {module}\b", re.MULTILINE)
    return {str(p.relative_to(REPO)) for folder in ("genae", "genae_plugins") for p in (REPO / folder).rglob("*.py")
            if pattern.search(p.read_text(encoding="utf-8"))}


def test_every_declared_dependency_is_imported_where_its_feature_lives():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = {name: [_name(r) for r in reqs] for name, reqs in project["optional-dependencies"].items()}
    for name in [_name(r) for r in project["dependencies"]] + [n for k, v in extras.items() if k != "dev" for n in v]:
        assert name in FEATURES, f"{name} is declared in pyproject.toml; say in FEATURES which feature needs it"
        feature, allowed = FEATURES[name]
        importers = _importers(IMPORT_NAMES.get(name, name.replace("-", "_")))
        assert importers, f"{name} (for {feature}) is declared in pyproject.toml but imported nowhere"
        assert allowed is None or importers <= set(allowed), (
            f"{name} is needed for {feature} only, yet imported by {sorted(importers - set(allowed))}")
    for name in set(extras["dev"]) - set(FEATURES):
        assert name in DEV_ONLY and not _importers(IMPORT_NAMES.get(name, name.replace("-", "_"))), (
            f"{name} is a dev requirement but genae imports it: declare it as a runtime dependency")


def test_extras_are_not_core_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    assert "timm" not in core and {"lpips", "scipy", "torch-fidelity"}.isdisjoint(core)


def test_missing_timm_names_the_extra(monkeypatch):
    from genae_plugins.stylegan.encoder import build_backbone

    monkeypatch.setitem(sys.modules, "timm", None)  # what `import timm` meets when it is not installed
    with pytest.raises(ImportError, match=r"pip install 'genae\[timm\]'") as error:
        build_backbone("resnet18", 3)
    assert "\n" not in str(error.value)
