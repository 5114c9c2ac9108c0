"""inception-v3-compat: torch-fidelity's network, with its weights file found offline.

The real weights file is not on this machine, so these tests use a randomly initialised network (the
labels say RANDOM-INIT) and a file of random weights written under the real name to exercise loading.
"""

from __future__ import annotations

import pytest
import torch

from genae.metrics import MissingWeightsError, get_extractor
from genae.metrics.extractors import INCEPTION_WEIGHTS


def test_missing_inception_weights_name_the_file_and_folders(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(MissingWeightsError, match=INCEPTION_WEIGHTS) as error:
        get_extractor("inception-v3-compat", weights_dir=tmp_path / "weights")
    assert str(tmp_path / "weights") in str(error.value)
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in str(error.value)


def test_random_init_inception_runs_and_weights_load_from_a_folder(tmp_path) -> None:
    random_net = get_extractor("inception-v3-compat", random_init=True)
    assert random_net.label == "inception-v3-compat RANDOM-INIT" and random_net.info()["weights_sha256"] is None
    images = torch.rand(2, 1, 32, 32) * 2 - 1
    features = random_net(images)
    assert features.shape == (2, 2048) and torch.isfinite(features).all()

    torch.save(random_net.network.state_dict(), tmp_path / INCEPTION_WEIGHTS)
    loaded = get_extractor("inception-v3-compat", weights_dir=tmp_path)
    assert loaded.label == "inception-v3-compat" and len(loaded.info()["weights_sha256"]) == 64
    assert torch.equal(loaded(images), features)
