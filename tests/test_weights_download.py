"""Metric and perceptual weights: downloaded on first use from a loopback server, sha256-checked, overridable.

The published files are not reachable here, so each test points a table entry at a FileServer on
127.0.0.1 serving a small file (tiny fake bytes, or a state dict made from genae's own network).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path

import pytest
import torch

from genae.metrics import LPIPS, MissingWeightsError
from genae.metrics._files import PUBLISHED_WEIGHTS, hub_checkpoint_dir, weights_file
from genae.metrics.perceptual import LPIPSNetwork


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty torch hub cache; returns its checkpoints folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return hub_checkpoint_dir()


def serve(server, monkeypatch, key: str, payload: bytes, sha256: str | None = None) -> None:
    """Serve ``payload`` as table entry ``key``'s file, recording ``sha256`` (default: the right one)."""
    entry = PUBLISHED_WEIGHTS[key]
    (server.folder / entry.file).write_bytes(payload)
    digest = sha256 or hashlib.sha256(payload).hexdigest()
    monkeypatch.setitem(PUBLISHED_WEIGHTS, key, dataclasses.replace(entry, url=f"{server.url}/{entry.file}",
                                                                    sha256=digest))


def test_right_hash_is_cached_and_used_without_asking_again(file_server, cache, monkeypatch):
    serve(file_server, monkeypatch, "alexnet", b"tiny fake weights")
    path = weights_file("alexnet", offline=False)
    assert path == cache / "alexnet-owt-7be5be79.pth" and path.read_bytes() == b"tiny fake weights"
    assert weights_file("alexnet", offline=True) == path and file_server.requests == 1
    assert sorted(p.name for p in cache.iterdir()) == ["alexnet-owt-7be5be79.pth"]  # no temporary left


def test_wrong_hash_is_refused_and_nothing_is_cached(file_server, cache, monkeypatch):
    serve(file_server, monkeypatch, "vgg16", b"changed upstream", sha256="0" * 64)
    with pytest.raises(MissingWeightsError, match="sha256 [0-9a-f]{64} does not match the recorded 0{64}"):
        weights_file("vgg16", offline=False)
    assert not cache.exists() or not list(cache.iterdir())


def test_offline_error_is_one_line_with_the_url_and_where_to_put_the_file(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("GENAE_OFFLINE", "1")
    entry = PUBLISHED_WEIGHTS["inception-v3-compat"]
    with pytest.raises(MissingWeightsError) as error:
        weights_file("inception-v3-compat", weights_dir=tmp_path / "mine", purpose="FID")
    message = str(error.value)
    assert "\n" not in message and entry.url in message and str(cache / entry.file) in message
    assert str(tmp_path / "mine") in message
    monkeypatch.setenv("GENAE_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the Hub's switch means the same
    with pytest.raises(MissingWeightsError, match="offline"):
        weights_file("inception-v3-compat")
    with pytest.raises(ValueError, match="unknown weights 'clip'"):
        weights_file("clip")


def test_a_local_file_overrides_cache_and_download(file_server, cache, tmp_path, monkeypatch):
    serve(file_server, monkeypatch, "alexnet", b"from the server")
    own = tmp_path / "own"
    own.mkdir()
    (own / "alexnet-owt-7be5be79.pth").write_bytes(b"my own copy")
    assert weights_file("alexnet", weights_dir=own, offline=False).read_bytes() == b"my own copy"
    assert file_server.requests == 0 and not cache.exists()


def test_lpips_downloads_backbone_and_heads_then_loads_them(file_server, cache, monkeypatch):
    torch.manual_seed(0)
    source = LPIPSNetwork("alex")
    for head in source.heads:
        torch.nn.init.uniform_(head.weight, 0.0, 0.1)
    backbone, heads = file_server.folder / "b.pth", file_server.folder / "h.pth"
    torch.save({f"features.{k}": v for k, v in source.features.state_dict().items()}, backbone)
    torch.save({f"lin{i}.model.1.weight": h.weight.detach() for i, h in enumerate(source.heads)}, heads)
    serve(file_server, monkeypatch, "alexnet", backbone.read_bytes())
    serve(file_server, monkeypatch, "lpips-alex-v0.1", heads.read_bytes())
    monkeypatch.setenv("GENAE_OFFLINE", "0")
    metric = LPIPS("alex")
    assert metric.label == "lpips-alex-v0.1" and file_server.requests == 2
    assert metric.info()["heads_sha256"] == PUBLISHED_WEIGHTS["lpips-alex-v0.1"].sha256
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(metric(x, y), source.eval()(x, y))


def test_docs_table_is_the_code_table():
    text = (Path(__file__).resolve().parents[1] / "docs" / "metrics.md").read_text(encoding="utf-8")
    section = text[text.index("### Downloaded weights"):]
    rows = re.findall(r"^\| `([^`]+)` \| `([^`]+)` \| (\S+) \| `([0-9a-f]{64})` \| (\d+) \|$", section, re.MULTILINE)
    documented = {key: (file, url, sha, int(size)) for key, file, url, sha, size in rows}
    assert documented == {key: (w.file, w.url, w.sha256, w.size) for key, w in PUBLISHED_WEIGHTS.items()}


def test_files_that_do_not_fit_the_lpips_network_are_refused_in_one_line(tmp_path):
    network = LPIPSNetwork("alex")
    torch.save({}, tmp_path / "empty.pth")
    torch.save({f"features.{k}": v for k, v in network.features.state_dict().items()}, tmp_path / "backbone.pth")
    torch.save({"lin0.model.1.weight": torch.zeros(1, 64, 1, 1)}, tmp_path / "heads.pth")  # lin1..lin4 missing
    for backbone, heads, culprit in (("empty", "heads", "empty"), ("backbone", "heads", "heads")):
        with pytest.raises(ValueError, match=f"{culprit}.pth: does not fit this LPIPS network") as error:
            network.load_published(tmp_path / f"{backbone}.pth", tmp_path / f"{heads}.pth")
        assert "\n" not in str(error.value)
