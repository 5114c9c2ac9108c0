"""The README is the front door: its links stay inside the repository, its pictures exist, its synopsis is true."""

import re
from pathlib import Path

from click.testing import CliRunner

from genae.cli import cli

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_links_and_pictures_resolve_inside_the_repository():
    targets = re.findall(r"\]\(([^)#\s]+)", README)
    local = [t for t in targets if not t.startswith(("http://", "https://"))]
    assert local and not [t for t in local if REPO not in (REPO / t).resolve().parents], "README links outside the repo"
    assert not [t for t in local if not (REPO / t).exists()], "README links to missing files"
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", README)
    assert len(pictures) >= 2
    for picture in pictures:
        data = (REPO / picture).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) < 100_000, picture
    assert "../" not in README  # not even as plain text: a released package has no sibling folders


def test_install_section_and_synopsis_match_the_cli():
    assert "pip install genae" in README and "Python 3.10" in README and "make demo" in README
    sample_help = CliRunner().invoke(cli, ["sample", "--help"]).output
    assert "IMAGES" not in sample_help.splitlines()[0] and "genae sample MODEL [IMAGES" not in README
    assert re.search(r"^genae demo ", README, re.M)
