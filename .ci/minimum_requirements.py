"""Print ``name==lower-bound`` for the named dependencies of pyproject.toml, for `make test-minimum`."""

import re
import sys
from pathlib import Path

import tomllib

requirements = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
bounds = dict(re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", r).groups() for r in requirements["dependencies"])
missing = [name for name in sys.argv[1:] if name not in bounds]
if missing:
    sys.exit(f"no '>=' lower bound in pyproject.toml for {', '.join(missing)}")
print(" ".join(f"{name}=={bounds[name]}" for name in sys.argv[1:]))
