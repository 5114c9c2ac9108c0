"""inception-v3-compat: genae's FID Inception network, with its weights file found or downloaded.

The real weights file is not on this machine, so these tests use a randomly initialised network (the
labels say RANDOM-INIT) and a state dict made from the network itself to exercise loading. Where
torch-fidelity is installed, the features are compared with its network on identical random weights.
"""

from __future__ import annotations

import pytest
import torch

from genae.metrics import MissingWeightsError, get_extractor
from genae.metrics._files import PUBLISHED_WEIGHTS
from genae.metrics.inception import FIDInceptionV3, load_fid_inception

WEIGHTS = PUBLISHED_WEIGHTS["inception-v3-compat"]


def _perturbed_network(seed: int = 0) -> FIDInceptionV3:
    """Random weights with batch-norm statistics away from their (0, 1) defaults, so they matter."""
    torch.manual_seed(seed)
    network = FIDInceptionV3().eval()
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    return network


def test_missing_inception_weights_offline_name_the_url_and_folders(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GENAE_OFFLINE", "1")
    with pytest.raises(MissingWeightsError, match=WEIGHTS.file) as error:
        get_extractor("inception-v3-compat", weights_dir=tmp_path / "weights")
    assert WEIGHTS.url in str(error.value) and str(tmp_path / "weights") in str(error.value)
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / WEIGHTS.file) in str(error.value)


def test_random_init_inception_runs_and_weights_load_from_a_folder(tmp_path) -> None:
    random_net = get_extractor("inception-v3-compat", random_init=True)
    assert random_net.label == "inception-v3-compat RANDOM-INIT" and random_net.info()["weights_sha256"] is None
    images = torch.rand(2, 1, 32, 32) * 2 - 1
    features = random_net(images)
    assert features.shape == (2, 2048) and torch.isfinite(features).all()

    torch.save(random_net.network.state_dict(), tmp_path / WEIGHTS.file)
    loaded = get_extractor("inception-v3-compat", weights_dir=tmp_path)
    assert loaded.label == "inception-v3-compat" and len(loaded.info()["weights_sha256"]) == 64
    assert torch.equal(loaded(images), features)


def test_a_file_that_is_not_inception_weights_is_refused(tmp_path) -> None:
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not FID Inception weights"):
        load_fid_inception(tmp_path / "other.pth")
    with pytest.raises(ValueError, match="uint8"):
        FIDInceptionV3()(torch.zeros(1, 3, 8, 8))


def test_features_equal_torch_fidelity_on_identical_weights(tmp_path) -> None:
    fidelity = pytest.importorskip("torch_fidelity.feature_extractor_inceptionv3", reason="the peer torch-fidelity is not installed (the lower-bound venv checks genae without it)")
    network = _perturbed_network()
    state = network.state_dict()
    # the published file also holds the 1008-way classifier, which FID does not use
    state |= {"fc.weight": torch.randn(1008, 2048), "fc.bias": torch.randn(1008)}
    torch.save(state, tmp_path / WEIGHTS.file)
    reference = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                     feature_extractor_weights_path=str(tmp_path / WEIGHTS.file))
    images = (torch.rand(3, 3, 37, 45) * 255).to(torch.uint8)  # odd sizes exercise the TF1 resize
    with torch.no_grad():
        ours = load_fid_inception(tmp_path / WEIGHTS.file).eval()(images)
        assert torch.equal(ours, reference(images)[0])
        assert torch.equal(ours, network(images))
