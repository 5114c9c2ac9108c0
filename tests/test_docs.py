"""Every code block of README.md and docs/*.md runs as written, so the docs cannot drift from the code.

Rules (the docs convention):

- every ```python block is executed; the blocks of one file run in order in one shared namespace, with the
  working directory a fresh temporary folder, on CPU;
- in a ```bash block, every command that starts with ``genae `` is run through ``genae.cli.main`` and must exit
  0; other commands in bash blocks (``make``, ``pip``, ``apt-get``, ``torchrun``) set up machines or take minutes,
  and are not run;
- blocks in any other language (``text``, ``toml``, none) are not executed: use ```text for output listings and
  for a command that cannot run offline in seconds (and say why in the prose).

New files under docs/ are picked up automatically; a failure names the file and the line of the failing block.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(\s*)```(\S*)\s*$")


@dataclass
class Block:
    language: str
    line: int  # 1-based line of the opening fence
    code: str


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def code_blocks(text: str) -> list[Block]:
    """Fenced blocks in document order (indented fences in list items too); an unclosed fence is an error."""
    blocks: list[Block] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        indent, language = opening.group(1), opening.group(2).lower()
        body: list[str] = []
        start = index + 1
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][len(indent):] if lines[index].startswith(indent) else lines[index])
            index += 1
        if index == len(lines):
            raise ValueError(f"line {start}: ``` fence is never closed")
        blocks.append(Block(language, start, "\n".join(body) + "\n"))
        index += 1
    return blocks


def genae_commands(script: str) -> list[str]:
    """The ``genae ...`` commands of a bash block, with ``\\`` continuations joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", script)
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words and words[0] == "genae":
            commands.append(line)
    return commands


def run_block(block: Block, namespace: dict) -> None:
    from genae.cli import main

    if block.language == "python":
        exec(compile(block.code, f"<block at line {block.line}>", "exec"), namespace)
    elif block.language in ("bash", "sh", "shell", "console"):
        for command in genae_commands(block.code):
            try:
                code = main(shlex.split(command, comments=True)[1:])
            except SystemExit as done:  # a command that exits itself (click's ctx.exit, sys.exit)
                code = done.code
            assert code in (0, None), f"`{command}` exited with {code}"


@pytest.fixture()
def isolated_registry():
    """Names a doc registers (``register_model``, ``register_toy``) vanish afterwards, so no other test sees them."""
    from genae.registry import REGISTRY

    REGISTRY.discover()
    tables = [REGISTRY.models, REGISTRY.pretrained, REGISTRY.aliases, REGISTRY.commands, REGISTRY.shadowed,
              REGISTRY.plugins]
    saved = [dict(table) for table in tables]
    yield
    for table, before in zip(tables, saved):
        table.clear()
        table.update(before)


@pytest.mark.parametrize("path", doc_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_doc_code_blocks_run(path, tmp_path, monkeypatch, isolated_registry):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # A real module, so classes defined in a block work with dataclasses, pickling and type hints.
    module = types.ModuleType("doc_" + re.sub(r"\W", "_", path.stem))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    for block in code_blocks(path.read_text(encoding="utf-8")):
        try:
            run_block(block, namespace)
        except Exception as error:  # noqa: BLE001 - re-raised with the file and line it came from
            where = f"{path.relative_to(REPO)}, {block.language} block at line {block.line}"
            detail = "".join(traceback.format_exception_only(type(error), error)).strip()
            pytest.fail(f"{where} failed: {detail}\n{traceback.format_exc()}", pytrace=False)


def test_fence_parser_and_bash_rule():
    text = "a\n```python\nx = 1\n```\n  ```bash\n  genae list \\\n    --pretrained  # all\n  make test\n  ```\n"
    blocks = code_blocks(text)
    assert [(b.language, b.line) for b in blocks] == [("python", 2), ("bash", 5)]
    assert [shlex.split(c, comments=True) for c in genae_commands(blocks[1].code)] == [
        ["genae", "list", "--pretrained"]]
    with pytest.raises(ValueError, match="never closed"):
        code_blocks("```python\nx = 1\n")


def test_docs_folder_is_found():
    names = {p.name for p in doc_files()}
    assert {"README.md", "plugins.md", "training.md"} <= names
    assert os.path.isdir(REPO / "docs")
