import json
import shutil

import pytest
import torch

import genae
from genae.hub import ModelFolderError, parse_hub_name


def _outputs(model):
    x = torch.linspace(-1, 1, 2 * 16 * 16).reshape(2, 1, 16, 16)
    return model.reconstruct(x)


def test_save_load_round_trip_is_bit_exact(toy_name, tmp_path):
    model = genae.create(toy_name).eval()
    model.card = {"dataset": "fashion-mnist", "metrics": {"mse": 0.01}}
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architecture"] == "toy" and config["plugin"] == "tests"
    assert config["genae_version"] == genae.__version__
    assert set(config["config"]) == {"resolution", "channels_in", "latent_dim", "width"}
    card = (tmp_path / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: genae\n")
    assert "datasets:\n- fashion-mnist" in card and "| mse | 0.01 |" in card
    again = genae.load(tmp_path)
    for key, value in model.state_dict().items():
        assert torch.equal(value, again.state_dict()[key])
    assert torch.equal(_outputs(model), _outputs(again))
    assert again.card["dataset"] == "fashion-mnist"


def test_no_temporary_files_left_behind(toy_name, tmp_path):
    genae.create(toy_name).save_pretrained(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "config.json", "model.safetensors"]


def test_failed_save_keeps_previous_weights(toy_name, tmp_path, monkeypatch):
    model = genae.create(toy_name)
    model.save_pretrained(tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", explode)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "config.json").unlink(), "no config.json"),
        (lambda d: (d / "config.json").write_text("{not json"), "invalid JSON"),
        (lambda d: (d / "config.json").write_text('{"config": {}}'), "missing key 'architecture'"),
        (lambda d: (d / "model.safetensors").unlink(), "no model.safetensors"),
        (lambda d: (d / "model.safetensors").write_bytes(b"garbage"), "unreadable safetensors"),
    ],
)
def test_broken_folders_give_clear_errors(toy_name, tmp_path, damage, message):
    genae.create(toy_name).save_pretrained(tmp_path)
    damage(tmp_path)
    with pytest.raises(ModelFolderError, match=message):
        genae.load(tmp_path)


def test_mismatched_weights_are_refused(toy_name, tmp_path):
    genae.create(toy_name).save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["config"]["width"] = 8
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelFolderError, match="do not match"):
        genae.load(tmp_path)


def test_missing_local_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        genae.load(tmp_path / "nothing")


def test_parse_hub_name():
    assert parse_hub_name("hf-hub:org/repo") == ("org/repo", None)
    assert parse_hub_name("hf-hub:org/repo@v1.0") == ("org/repo", "v1.0")
    with pytest.raises(ValueError, match="org/repo"):
        parse_hub_name("hf-hub:justrepo")


def _populate_hub_cache(cache, repo_id, commit, folder, ref="main"):
    """Lay a model folder out exactly as huggingface_hub's cache does (blobs + snapshots + refs)."""
    root = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = root / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (root / "blobs").mkdir(exist_ok=True)
    for file in folder.iterdir():
        blob = root / "blobs" / f"{commit[:8]}-{file.name}"
        shutil.copy(file, blob)
        (snapshot / file.name).symlink_to(blob)
    (root / "refs").mkdir(exist_ok=True)
    (root / "refs" / ref).write_text(commit)


def test_hf_hub_offline_from_prepopulated_cache(toy_name, tmp_path, monkeypatch):
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    first, second = "a" * 40, "b" * 40
    model_a, model_b = genae.create(toy_name), genae.create(toy_name)
    model_a.save_pretrained(tmp_path / "a")
    model_b.save_pretrained(tmp_path / "b")
    _populate_hub_cache(cache, "genae-test/toy", first, tmp_path / "a", ref="main")
    _populate_hub_cache(cache, "genae-test/toy", second, tmp_path / "b", ref="v2")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    latest = genae.load("hf-hub:genae-test/toy")
    pinned = genae.load(f"hf-hub:genae-test/toy@{second}")
    tagged = genae.load("hf-hub:genae-test/toy@v2")
    assert torch.equal(_outputs(latest), _outputs(model_a))
    assert torch.equal(_outputs(pinned), _outputs(model_b))
    assert torch.equal(_outputs(tagged), _outputs(model_b))
    with pytest.raises(ModelFolderError, match="not in the local Hugging Face cache"):
        genae.load("hf-hub:genae-test/absent")


def test_load_refuses_non_strings():
    with pytest.raises(TypeError, match="name_or_path"):
        genae.load(42)


def test_push_uploads_only_model_files(toy_name, tmp_path, monkeypatch):
    """The upload call is checked against a recording stand-in for HfApi (no network in tests)."""
    calls = []

    class RecordingApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, private, exist_ok):
            calls.append(("create", repo_id, private, exist_ok))

        def upload_folder(self, **kwargs):
            calls.append(("upload", kwargs))
            return type("Info", (), {"commit_url": "https://hub.example/commit/1"})()

    monkeypatch.setattr("huggingface_hub.HfApi", RecordingApi)
    from genae.hub import push_to_hub

    genae.create(toy_name).save_pretrained(tmp_path / "m")
    assert push_to_hub(tmp_path / "m", "org/toy", private=True, token="t") == "https://hub.example/commit/1"
    upload = calls[-1][1]
    assert calls[1] == ("create", "org/toy", True, True)
    assert upload["repo_id"] == "org/toy" and set(upload["allow_patterns"]) == {
        "config.json", "model.safetensors", "README.md"}
    with pytest.raises(ModelFolderError, match="not a genae model folder"):
        push_to_hub(tmp_path, "org/toy")


def test_saved_files_are_readable_by_others(toy_name, tmp_path):
    import os
    import stat

    genae.create(toy_name).save_pretrained(tmp_path)
    mask = os.umask(0)
    os.umask(mask)
    for file in tmp_path.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~mask
