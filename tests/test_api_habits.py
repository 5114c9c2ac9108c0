"""timm / diffusers habits of the public API (issue 21 item 7)."""

import subprocess
import sys

import pytest
import torch

import genae
from genae.hub import ModelFolderError

BUNDLED = "vae-fashion-mnist-32"


def test_create_takes_pretrained_second_and_device_by_keyword_only(toy_name):
    model = genae.create(BUNDLED, True)
    assert model.architecture == "vae" and not model.training
    assert genae.create(toy_name, device="cpu").device.type == "cpu"
    with pytest.raises(TypeError, match="pretrained: expected True or False"):
        genae.create(toy_name, "cpu")


def test_list_models_pretrained_gives_architectures_and_list_pretrained_weights():
    architectures = genae.list_models(pretrained=True)
    assert "vae" in architectures and BUNDLED not in architectures
    assert set(architectures) < set(genae.list_models())
    assert BUNDLED in genae.list_pretrained() and genae.list_pretrained("vae-f*") == [BUNDLED]
    with pytest.raises(TypeError, match="pattern"):
        genae.list_pretrained(3)


def test_calling_the_model_reconstructs(toy_name):
    model = genae.create(toy_name).eval()
    x = torch.linspace(-1, 1, 2 * 16 * 16).reshape(2, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), model.reconstruct(x))


def test_repo_id_without_prefix_hints_at_hf_hub():
    with pytest.raises(FileNotFoundError, match=r"genae.load\('hf-hub:some-org/some-model'\)"):
        genae.load("some-org/some-model")


def test_create_hf_hub_name_loads_pretrained(toy_name, tmp_path, monkeypatch):
    from test_hub import _outputs, _populate_hub_cache

    model = genae.create(toy_name)
    model.save_pretrained(tmp_path / "m")
    _populate_hub_cache(tmp_path / "hub", "org/toy", "d" * 40, tmp_path / "m")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    again = genae.create("hf-hub:org/toy", pretrained=True)
    assert torch.equal(_outputs(again), _outputs(model))
    with pytest.raises(ValueError, match="pass pretrained=True"):
        genae.create("hf-hub:org/toy")


def test_load_options_dtype_local_files_only_force_download(toy_name, tmp_path, monkeypatch):
    from test_hub import _populate_hub_cache

    genae.create(toy_name).save_pretrained(tmp_path / "m")
    assert genae.load(tmp_path / "m", dtype="float16").dtype == torch.float16
    assert genae.load(tmp_path / "m", dtype=torch.bfloat16).dtype == torch.bfloat16
    with pytest.raises(TypeError, match="dtype"):
        genae.load(tmp_path / "m", dtype="int8")
    with pytest.raises(ValueError, match="pick one"):
        genae.load("hf-hub:org/toy", local_files_only=True, force_download=True)
    # local_files_only answers from the cache without HF_HUB_OFFLINE, and fails offline when absent.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    _populate_hub_cache(tmp_path / "hub", "org/toy", "e" * 40, tmp_path / "m")
    assert genae.load("hf-hub:org/toy", cache_dir=tmp_path / "hub", local_files_only=True).architecture == "toy"
    with pytest.raises(ModelFolderError, match="local_files_only=True"):
        genae.load("hf-hub:org/absent", cache_dir=tmp_path / "hub", local_files_only=True)
    calls = []
    monkeypatch.setattr("huggingface_hub.snapshot_download", lambda *a, **k: calls.append(k) or str(tmp_path / "m"))
    genae.load("hf-hub:org/toy", force_download=True)
    assert calls[0]["force_download"] is True and calls[0]["local_files_only"] is False


def test_local_files_only_reaches_download_and_convert_weights(tmp_path, monkeypatch):
    from genae.downloads import WeightsUnavailableError

    monkeypatch.setenv("GENAE_HOME", str(tmp_path))
    monkeypatch.delenv("GENAE_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(WeightsUnavailableError, match="offline"):
        genae.load("automodulator-ffhq-256", local_files_only=True)
    with pytest.raises(ValueError, match="force_download: the resolver of pretrained 'automodulator-ffhq-256'"):
        genae.load("automodulator-ffhq-256", force_download=True)


def test_local_folder_shadowing_a_registered_name_is_said(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / BUNDLED).mkdir()
    with pytest.raises(ModelFolderError, match=f"shadows the registered name '{BUNDLED}'.*baselines:{BUNDLED}"):
        genae.load(BUNDLED)
    assert genae.load(f"baselines:{BUNDLED}").architecture == "vae"


def test_dir_and_type_checkers_see_the_lazy_api():
    import importlib.resources

    assert {"create", "load", "list_models", "list_pretrained", "invert", "register_model"} <= set(dir(genae))
    assert "Any" not in dir(genae)
    assert importlib.resources.files("genae").joinpath("py.typed").is_file()
    code = "import genae, sys; dir(genae); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # dir() stays lazy
