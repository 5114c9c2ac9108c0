"""Does the installed genae satisfy a plugin's ``Requires-Dist: genae ...``?

A plugin built against a newer genae would register and then fail later on a missing API, far from the
cause; discovery checks its requirement first and skips it with one line that says what to upgrade. genae does
not depend on ``packaging``, so this reads the small part of the specifier syntax (PEP 440) that version
requirements use: ``>=, >, ==, <, <=, !=, ~=`` on dotted numeric versions, and ``==``/``!=`` with a trailing
``.*``. A specifier outside that (a pre-release such as ``1.0rc1``, ``===``) is not judged: the plugin loads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["parse_version", "satisfies", "unmet_requirement"]

_NUMERIC = re.compile(r"^\d+(\.\d+)*$")
_CLAUSE = re.compile(r"^(~=|==|!=|<=|>=|<|>)\s*(\S+)$")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$")


def parse_version(text: str) -> tuple[int, ...]:
    """``"1.2.0"`` -> ``(1, 2, 0)``; anything but dotted non-negative integers is a ValueError."""
    if not isinstance(text, str) or not _NUMERIC.match(text.strip()):
        raise ValueError(f"version: expected dotted numbers such as '1.2.0', got {text!r}")
    return tuple(int(part) for part in text.strip().split("."))


def _padded(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Equal-length copies, so that 1.0 == 1.0.0 as PEP 440 says."""
    size = max(len(a), len(b))
    return a + (0,) * (size - len(a)), b + (0,) * (size - len(b))


def _clause_holds(version: tuple[int, ...], operator: str, target: str) -> bool:
    if operator in ("==", "!=") and target.endswith(".*"):
        prefix = parse_version(target[:-2])
        matches = version[: len(prefix)] + (0,) * max(0, len(prefix) - len(version)) == prefix
        return matches if operator == "==" else not matches
    wanted = parse_version(target)
    if operator == "~=":
        if len(wanted) < 2:
            raise ValueError(f"specifier: '~=' needs at least two version parts, got {target!r}")
        head = wanted[:-1]
        return _clause_holds(version, ">=", target) and version[: len(head)] + (0,) * max(
            0, len(head) - len(version)) == head
    have, want = _padded(version, wanted)
    return {"==": have == want, "!=": have != want, "<": have < want, "<=": have <= want, ">": have > want,
            ">=": have >= want}[operator]


def satisfies(version: str, specifiers: str) -> bool:
    """Whether ``version`` meets every comma-separated clause of ``specifiers`` (``">=0.2,<1"``; empty: any)."""
    have = parse_version(version)
    for clause in filter(None, (c.strip() for c in specifiers.split(","))):
        match = _CLAUSE.match(clause)
        if not match:
            raise ValueError(f"specifier: expected an operator (~=, ==, !=, <=, >=, <, >) and a version, got {clause!r}")
        if not _clause_holds(have, *match.groups()):
            return False
    return True


def unmet_requirement(requires: Iterable[str] | None, name: str, installed: str) -> str | None:
    """The specifier of ``name`` among ``requires`` (a distribution's ``Requires-Dist`` lines) that ``installed``
    does not meet, or None. Requirements that apply only to an extra are skipped (they are optional); other
    environment markers are not evaluated (the requirement is checked as if it applied)."""
    wanted = _canonical(name)
    for line in requires or ():
        requirement, _, marker = line.partition(";")
        if "extra" in marker:
            continue
        parsed = _NAME.match(requirement)
        if not parsed or _canonical(parsed.group(1)) != wanted:
            continue
        specifiers = parsed.group(3).strip().removeprefix("(").removesuffix(")").strip()
        try:
            if not satisfies(installed, specifiers):
                return specifiers
        except ValueError:  # outside the syntax read here: not judged (see the module docstring)
            continue
    return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
