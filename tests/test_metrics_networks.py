"""Feature extractor and LPIPS wrappers.

The Fashion-MNIST extractor's weights ship with genae and are tested for real. AlexNet/VGG backbones are
not on this machine: those tests use untrained backbones (``random_backbone=True``) or write a
randomly initialised torchvision state dict under the real file name, to exercise the loading path.
The LPIPS heads are the published ones where the ``lpips`` package (which ships them) is installed;
there the distances are compared with that package's.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest
import torch
import torchvision

from genae.metrics import LPIPS, MissingWeightsError, get_extractor
from genae.metrics._files import PUBLISHED_WEIGHTS, sha256_file
from genae.metrics.perceptual import crop_images


def test_fashion_extractor_ships_with_a_card_and_classifies_real_images() -> None:
    from genae.data import open_dataset

    extractor = get_extractor("fashion-mnist-features")
    info = extractor.info()
    card = json.loads(Path(str(resources.files("genae.metrics").joinpath("weights/fashion_mnist_features.json")))
                      .read_text())
    assert info["weights_sha256"] == card["weights_sha256"] == sha256_file(extractor.weights_path)
    assert card["test_accuracy_resized_28_to_32"] >= 0.90 and card["test_accuracy_padded_28_to_32"] >= 0.90
    assert extractor.label == "fashion-mnist-features" and not info["random_init"]

    data = open_dataset("fashion-mnist-mini", split="test", resolution=32)  # padded 28 -> 32, as models see it
    images = torch.stack([data[i][0] for i in range(len(data))])
    labels = torch.tensor([data[i][1] for i in range(len(data))])
    logits = extractor.network(torch.nn.functional.interpolate(images, size=32))
    assert (logits.argmax(1) == labels).float().mean() > 0.85
    features = extractor(images[:4])
    assert features.shape == (4, 256) and features.dtype == torch.float32
    # grey RGB == grey, up to float32 rounding of the channel mean (measured 1e-6 at feature scale ~8)
    assert torch.allclose(extractor(images[:4].expand(-1, 3, -1, -1)), features, atol=1e-5)
    with pytest.raises(ValueError, match="B, 1 or 3"):
        extractor(images[:, :, 0])


def test_unknown_extractor_is_refused() -> None:
    with pytest.raises(ValueError, match="known: fashion-mnist-features, inception-v3-compat"):
        get_extractor("clip")


def test_lpips_without_backbone_weights_offline_explains_where_to_put_them(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GENAE_OFFLINE", "1")
    with pytest.raises(MissingWeightsError, match="alexnet-owt-7be5be79.pth") as error:
        LPIPS("alex", weights_dir=tmp_path / "empty")
    assert str(tmp_path / "torch" / "hub" / "checkpoints") in str(error.value)
    assert str(tmp_path / "empty") in str(error.value) and PUBLISHED_WEIGHTS["alexnet"].url in str(error.value)
    with pytest.raises(ValueError, match="net"):
        LPIPS("squeeze", random_backbone=True)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_equals_the_lpips_package_on_the_same_weights(net, tmp_path) -> None:
    lpips = pytest.importorskip("lpips", reason="the peer lpips is not installed (the lower-bound venv checks genae without it)")
    import shutil
    import warnings

    torch.manual_seed(0)
    name = {"alex": "alexnet", "vgg": "vgg16"}[net]  # torchvision's builder and the weights table's key
    backbone = getattr(torchvision.models, name)(weights=None)
    torch.save(backbone.state_dict(), tmp_path / PUBLISHED_WEIGHTS[name].file)
    heads = PUBLISHED_WEIGHTS[f"lpips-{net}-v0.1"]
    shutil.copy(Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth", tmp_path / heads.file)
    assert sha256_file(tmp_path / heads.file) == heads.sha256  # the package ships the published heads
    metric = LPIPS(net, weights_dir=tmp_path)
    with warnings.catch_warnings():  # torchvision's deprecation note about `pretrained=False`
        warnings.simplefilter("ignore", UserWarning)
        reference = lpips.LPIPS(net=net, version="0.1", pnet_rand=True, verbose=False).eval()
    slices = {str(i): s for s in reference.net.children() for i, _ in s.named_children()}
    for key, value in backbone.features.state_dict().items():
        index, param = key.split(".")
        if index in slices:
            getattr(slices[index], index).get_parameter(param).data.copy_(value)
    x, y = torch.rand(3, 3, 40, 40) * 2 - 1, torch.rand(3, 3, 40, 40) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(metric(x, y), reference(x, y).flatten(), rtol=1e-5, atol=1e-7)
    assert metric.label == f"lpips-{net}-v0.1" and metric.info()["backbone_sha256"]
    assert metric(x, x).abs().max() < 1e-6 and (metric(x, x.flip(-1)) > 0).all()


def test_lpips_random_backbone_is_labelled_and_handles_small_images_and_crops() -> None:
    metric = LPIPS("vgg", random_backbone=True)
    assert "RANDOM" in metric.label and metric.info()["random_backbone"]
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    y = x.clone()
    y[..., 8:, :] = 0  # differs only in the bottom half
    assert metric(x, y).shape == (2,)
    assert metric(x, y, crop=(0, 0, 8, 16)).abs().max() < 1e-6
    with pytest.raises(ValueError, match="does not fit"):
        crop_images(x, (10, 0, 8, 8))
    with pytest.raises(ValueError, match="same shape"):
        metric(x, y[:1])
