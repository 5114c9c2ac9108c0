import json
import shutil
from pathlib import Path

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
    assert config["architecture"] == "toy" and config["plugin"] == "user"
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


class RecordingApi:
    """Stands in for HfApi (no network in tests): records create_repo and create_commit calls."""

    calls: list = []

    def __init__(self, token=None):
        RecordingApi.calls.append(("init", token))

    def create_repo(self, repo_id, private, exist_ok):
        RecordingApi.calls.append(("create", repo_id, private, exist_ok))

    def create_commit(self, repo_id, operations, **kwargs):
        files = {}
        for op in operations:
            data = op.path_or_fileobj
            files[op.path_in_repo] = data if isinstance(data, bytes) else Path(data).read_bytes()
        RecordingApi.calls.append(("commit", repo_id, files, kwargs))
        return type("Info", (), {"commit_url": "https://hub.example/commit/1", "pr_url": None})()


@pytest.fixture
def recording_api(monkeypatch):
    RecordingApi.calls = []
    monkeypatch.setattr("huggingface_hub.HfApi", RecordingApi)
    return RecordingApi


def test_push_uploads_the_folder_by_allow_list_with_a_hub_card(toy_name, tmp_path, recording_api):
    from genae.hub import push_to_hub

    genae.create(toy_name).save_pretrained(tmp_path / "m")
    (tmp_path / "m" / "samples.png").write_bytes(b"png")
    (tmp_path / "m" / "eval").mkdir()
    (tmp_path / "m" / "eval" / "metrics.jsonl").write_text("{}\n")
    (tmp_path / "m" / "checkpoint.pt").write_bytes(b"pickle")
    (tmp_path / "m" / ".secret.json").write_text("{}")
    url = push_to_hub(tmp_path / "m", "org/toy", private=True, token="t", revision="dev", commit_message="hi",
                      create_pr=True)
    assert url == "https://hub.example/commit/1"
    _, repo, files, options = recording_api.calls[-1]
    assert recording_api.calls[1] == ("create", "org/toy", True, True) and repo == "org/toy"
    assert sorted(files) == ["README.md", "config.json", "eval/metrics.jsonl", "model.safetensors", "samples.png"]
    assert options == {"commit_message": "hi", "revision": "dev", "create_pr": True}
    card = files["README.md"].decode()
    assert "genae.load('hf-hub:org/toy')" in card and "pip install genae" in card
    assert "PATH_OR_NAME" not in card and "hf-hub" not in (tmp_path / "m" / "README.md").read_text()
    with pytest.raises(ModelFolderError, match="not a genae model folder"):
        push_to_hub(tmp_path, "org/toy")


@pytest.mark.parametrize("repo_id", ["toy", "org/to y", "a/b/c", "org/--bad..", 42])
def test_repo_id_is_checked_before_the_network(toy_name, tmp_path, recording_api, repo_id):
    from genae.cli import main
    from genae.hub import push_to_hub

    genae.create(toy_name).save_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match="repo_id"):
        push_to_hub(tmp_path / "m", repo_id)
    if isinstance(repo_id, str):
        assert main(["push", str(tmp_path / "m"), repo_id]) == 2
    assert recording_api.calls == []


def test_push_cli_takes_revision_message_and_pr(toy_name, tmp_path, recording_api, capsys):
    from genae.cli import main
    from genae.hub import PUSH_ALLOW

    genae.create(toy_name).save_pretrained(tmp_path / "m")
    assert main(["push", str(tmp_path / "m"), "org/toy", "--revision", "v2", "--commit-message", "m",
                 "--create-pr"]) == 0
    assert recording_api.calls[-1][3] == {"commit_message": "m", "revision": "v2", "create_pr": True}
    assert capsys.readouterr().out.strip() == "https://hub.example/commit/1"
    from genae.cli import push_command

    assert all(pattern in push_command.help for pattern in PUSH_ALLOW)  # the help states the allow-list


def test_save_pretrained_push_to_hub(toy_name, tmp_path, recording_api):
    model = genae.create(toy_name)
    with pytest.raises(ValueError, match="repo_id"):
        model.save_pretrained(tmp_path / "m", push_to_hub=True)
    with pytest.raises(ValueError, match="need push_to_hub=True"):
        model.save_pretrained(tmp_path / "m", repo_id="org/toy")
    assert not (tmp_path / "m").exists() and recording_api.calls == []
    model.save_pretrained(tmp_path / "m", push_to_hub=True, repo_id="org/toy", commit_message="c")
    _, repo, files, options = recording_api.calls[-1]
    assert repo == "org/toy" and "model.safetensors" in files and options["commit_message"] == "c"


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
        "metrics": {"test MSE": 0.05, "FID[fashion-mnist-features]": 110.6, "per block": {"b0": 1.0},
                    "coarse swap mix keeps A's 8x8 silhouette": 0.9},
    })
    assert data["library_name"] == "genae" and data["license"] == "unknown"
    assert data["tags"][:3] == ["genae", "generative-autoencoder", "toy"]
    assert data["datasets"] == ["zalando-datasets/fashion_mnist"]
    results = data["model-index"][0]["results"]
    assert sorted((r["task"]["type"], m["type"], m["name"], m["value"]) for r in results for m in r["metrics"]) == [
        ("image-to-image", "mixing", "coarse swap mix keeps A's 8x8 silhouette", 0.9),  # short Hub ids as the type,
        ("image-to-image", "mse", "test MSE", 0.05),                                   # the full name as the name
        ("unconditional-image-generation", "fid", "FID[fashion-mnist-features]", 110.6)]
    assert all(r["dataset"] == {"name": "Fashion-MNIST", "type": "zalando-datasets/fashion_mnist"} for r in results)
    assert data["pipeline_tag"] == "image-to-image"
    assert "/usr/share" not in text  # no local paths anywhere in the card
    assert "- dataset: Fashion-MNIST from fashion-mnist: 60000 images" in text
    assert "```bash\npip install genae\n```" in text
    assert "| per block | {'b0': 1.0} |" in text


def test_card_license_from_the_model_and_unknown_datasets_omitted(toy_name, tmp_path):
    data, _ = _card(genae.create(toy_name), tmp_path, {"license": "apache-2.0", "dataset": "my photos in /home/me",
                                                       "metrics": {"mse": 0.1}})
    assert data["license"] == "apache-2.0" and "datasets" not in data and "model-index" not in data
    assert "/home/me" not in (tmp_path / "README.md").read_text()
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


def test_model_push_to_hub_uploads_a_saved_folder(toy_name, recording_api):
    url = genae.create(toy_name).push_to_hub("org/toy", commit_message="first", revision="main")
    assert url == "https://hub.example/commit/1"
    _, _, files, kwargs = recording_api.calls[-1]
    assert sorted(files) == ["README.md", "config.json", "model.safetensors"]
    assert kwargs["commit_message"] == "first" and kwargs["revision"] == "main"


def test_card_install_line_names_the_plugin_package(tmp_path):
    from genae.registry import REGISTRY

    REGISTRY.discover()
    if "example-ae" not in REGISTRY.models:
        pytest.skip("the example plugin (examples/plugin) is not installed")
    genae.create("example-ae").save_pretrained(tmp_path / "m")
    assert "```bash\npip install genae genae-example-plugin\n```" in (tmp_path / "m" / "README.md").read_text()
