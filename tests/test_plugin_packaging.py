"""docs/plugins.md's pyproject snippet is a working one: pip installs it and genae discovers the plugin."""

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def snippet() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "docs/plugins.md should show exactly one pyproject.toml"
    return blocks[0]


def test_pyproject_snippet_installs_and_registers(tmp_path):
    project, target = tmp_path / "project", tmp_path / "target"
    (project / "my_genae_models" / "weights" / "my-ae-demo").mkdir(parents=True)
    (project / "pyproject.toml").write_text(snippet())
    (project / "my_genae_models" / "__init__.py").write_text(
        "from genae.registry import ModelSpec\n\n\ndef register(registry):\n"
        "    registry.add_model(ModelSpec('snippet-ae', 'genae.testing.toy:ToyAutoencoder'))\n")
    (project / "my_genae_models" / "weights" / "my-ae-demo" / "config.json").write_text("{}")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-build-isolation", "--no-deps",
           "--target", str(target), str(project)]
    installed = subprocess.run(pip, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    assert (target / "my_genae_models" / "weights" / "my-ae-demo" / "config.json").is_file()  # package data shipped
    code = (f"import sys; sys.path.insert(0, {str(target)!r})\n"
            "from genae.registry import REGISTRY\n"
            "print(REGISTRY.list_models('snippet-ae'), REGISTRY.plugins['mymodels'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ("['snippet-ae'] PluginInfo(name='mymodels', target='my_genae_models:register', "
                                  "distribution='my-genae-models', version='0.1.0', error=None)")
