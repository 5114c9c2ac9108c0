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
    assert "\nlibrary_name: genae\n" in card and "datasets:\n- zalando-datasets/fashion_mnist" in card
    assert "| mse | 0.01 |" in card
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


def _card(model, tmp_path, facts):
    from huggingface_hub import ModelCard

    model.card = facts
    model.save_pretrained(tmp_path)
    text = (tmp_path / "README.md").read_text()
    loaded = ModelCard.load(tmp_path / "README.md")
    assert loaded.content == text  # round trip through the Hub's own parser, unchanged
    return loaded.data.to_dict(), text


def test_card_is_hub_metadata_with_model_index(toy_name, tmp_path):
    data, text = _card(genae.create(toy_name), tmp_path, {
        "name": "toy-fm", "dataset": "Fashion-MNIST from /usr/share/datasets/fashion-mnist: 60000 images",
        "metrics": {"test MSE": 0.05, "FID[fashion-mnist-features]": 110.6, "per block": {"b0": 1.0}},
    })
    assert data["library_name"] == "genae" and data["license"] == "unknown"
    assert data["tags"][:3] == ["genae", "generative-autoencoder", "toy"]
    assert data["datasets"] == ["zalando-datasets/fashion_mnist"]
    results = data["model-index"][0]["results"]
    assert [(r["task"]["type"], r["metrics"][0]["type"], r["metrics"][0]["value"]) for r in results] == [
        ("image-to-image", "test-mse", 0.05), ("unconditional-image-generation", "fid-fashion-mnist-features", 110.6)]
    assert all(r["dataset"] == {"name": "Fashion-MNIST", "type": "zalando-datasets/fashion_mnist"} for r in results)
    assert "/usr/share" not in text.split("\n---\n")[0]  # no local paths in the metadata
    assert "| per block | {'b0': 1.0} |" in text


def test_card_license_from_the_model_and_unknown_datasets_omitted(toy_name, tmp_path):
    data, _ = _card(genae.create(toy_name), tmp_path, {"license": "apache-2.0", "dataset": "my photos in /home/me",
                                                       "metrics": {"mse": 0.1}})
    assert data["license"] == "apache-2.0" and "datasets" not in data and "model-index" not in data
    with pytest.raises(ValueError, match="Hub dataset ids"):
        _card(genae.create(toy_name), tmp_path / "bad", {"datasets": ["fashion mnist"]})


def test_bundled_cards_are_valid_hub_cards():
    from huggingface_hub import ModelCard

    from genae.registry import REGISTRY

    REGISTRY.discover()
    bundled = [s for s in REGISTRY.pretrained.values() if s.package_files and s.availability()[0]]
    assert bundled
    for spec in bundled:
        folder = spec.packaged_folder()
        data = ModelCard.load(str(folder.joinpath("README.md"))).data.to_dict()
        facts = json.loads(folder.joinpath("config.json").read_text())["card"]
        assert data["library_name"] == "genae" and data["license"] == facts.get("license", "unknown"), spec.name
        assert all("/" in dataset_id and " " not in dataset_id for dataset_id in data.get("datasets", [])), spec.name


def test_from_pretrained_on_the_class_checks_the_type(toy_name, tmp_path):
    from genae.interfaces import GenerativeAutoencoder
    from genae.testing.toy import ToyAutoencoder

    genae.create(toy_name).save_pretrained(tmp_path / "m")
    assert isinstance(ToyAutoencoder.from_pretrained(tmp_path / "m"), ToyAutoencoder)
    assert isinstance(GenerativeAutoencoder.from_pretrained(tmp_path / "m"), ToyAutoencoder)
    baselines = pytest.importorskip("genae_plugins.baselines.model")
    with pytest.raises(TypeError, match="holds a ToyAutoencoder.*not a VAE"):
        baselines.VAE.from_pretrained(tmp_path / "m")


def test_from_pretrained_and_load_take_hub_options(toy_name, tmp_path, monkeypatch):
    from genae.testing.toy import ToyAutoencoder

    cache, commit = tmp_path / "elsewhere", "c" * 40
    model = genae.create(toy_name)
    model.save_pretrained(tmp_path / "m")
    _populate_hub_cache(cache, "genae-test/toy2", commit, tmp_path / "m", ref="v1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    by_repo = ToyAutoencoder.from_pretrained("genae-test/toy2", revision="v1", cache_dir=cache)
    by_load = genae.load("hf-hub:genae-test/toy2", revision="v1", cache_dir=cache, token=False)
    assert torch.equal(_outputs(by_repo), _outputs(model)) and torch.equal(_outputs(by_load), _outputs(model))
    with pytest.raises(ValueError, match="pins 'v1' but revision='v2'"):
        genae.load("hf-hub:genae-test/toy2@v1", revision="v2", cache_dir=cache)
    with pytest.raises(ValueError, match="only hf-hub: names have revisions"):
        genae.load("vae-fashion-mnist-32", revision="v1")


def test_model_push_to_hub_uploads_a_saved_folder(toy_name, monkeypatch):
    uploads = []

    class RecordingApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private, exist_ok):
            pass

        def upload_folder(self, **kwargs):
            from pathlib import Path

            uploads.append((kwargs, sorted(p.name for p in Path(kwargs["folder_path"]).iterdir())))
            return type("Info", (), {"commit_url": "https://hub.example/commit/2"})()

    monkeypatch.setattr("huggingface_hub.HfApi", RecordingApi)
    url = genae.create(toy_name).push_to_hub("org/toy", commit_message="first", revision="main")
    assert url == "https://hub.example/commit/2"
    kwargs, files = uploads[0]
    assert files == ["README.md", "config.json", "model.safetensors"]
    assert kwargs["commit_message"] == "first" and kwargs["revision"] == "main"
