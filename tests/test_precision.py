"""Native-bf16 detection and precision resolution: no silent 25x trap on devices without bf16 units."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from torch.utils.data import TensorDataset

import genae
from genae import precision
from genae.metrics.speed import measure_speed
from genae.precision import Bf16Support, bf16_support, resolve_precision
from genae.testing.toy_recipe import ToyRecipe, register_toy
from genae.training import Trainer, cli
from genae.training.cli import train_command

pytestmark = pytest.mark.numerics  # re-run by `make test` on an emulated AVX2 CPU


def cpu_with(monkeypatch, flags: set[str], onednn: bool) -> None:
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(flags))
    monkeypatch.setattr(precision, "onednn_bf16_supported", lambda: onednn)


@pytest.fixture
def no_bf16_units(monkeypatch):
    cpu_with(monkeypatch, {"avx2", "fma"}, onednn=True)


def test_avx2_only_cpu_is_not_native_and_says_why(no_bf16_units):
    support = bf16_support("cpu")
    assert not support.native
    assert "no bf16 units" in support.reason and "avx512_bf16" in support.reason


@pytest.mark.parametrize("flag", ["avx512_bf16", "amx_bf16"])
def test_bf16_flag_with_onednn_is_native(monkeypatch, flag):
    cpu_with(monkeypatch, {"avx2", flag}, onednn=True)
    support = bf16_support("cpu")
    assert support.native and flag in support.reason


def test_bf16_flag_that_onednn_may_not_use_is_not_native(monkeypatch):
    cpu_with(monkeypatch, {"avx512_bf16"}, onednn=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    support = bf16_support("cpu")
    assert not support.native and "ONEDNN_MAX_CPU_ISA=AVX2" in support.reason


def test_auto_falls_back_to_fp32_and_bf16_is_refused_without_units(no_bf16_units):
    chosen, reason = resolve_precision("auto", "cpu")
    assert chosen == "fp32" and "no bf16 units" in reason
    with pytest.raises(ValueError, match=r"precision='bf16' refused on cpu: this CPU has no bf16 units"):
        resolve_precision("bf16", "cpu")
    assert resolve_precision("fp32", "cpu") == ("fp32", "requested")


def test_auto_picks_bf16_where_native(monkeypatch):
    cpu_with(monkeypatch, {"amx_bf16"}, onednn=True)
    assert resolve_precision("auto", "cpu")[0] == "bf16"
    assert resolve_precision("bf16", "cpu")[0] == "bf16"


@pytest.mark.parametrize(("capability", "native"), [((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_cuda_needs_compute_capability_8(monkeypatch, capability, native):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Test GPU")
    assert bf16_support("cuda").native is native
    assert resolve_precision("auto", "cuda")[0] == ("bf16" if native else "fp32")
    assert resolve_precision("fp16", "cuda")[0] == "fp16"


def test_bad_requests_name_the_input():
    with pytest.raises(ValueError, match=r"precision: expected one of \['auto', 'fp32', 'bf16', 'fp16'\], got 'fp64'"):
        resolve_precision("fp64", "cpu")
    with pytest.raises(ValueError, match="precision='fp16' needs a CUDA device"):
        resolve_precision("fp16", "cpu")
    assert not bf16_support("meta").native


def _support_in_subprocess(**env: str) -> dict:
    code = "import json; from genae.precision import bf16_support as s; b = s('cpu'); print(json.dumps(b.__dict__))"
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_real_detection_follows_onednn_isa_limit_and_ignores_aten_level():
    """On this machine, for real: oneDNN limited to AVX2 has no bf16 kernels; ATen's AVX2 level alone keeps them."""
    has_units = bool(precision.CPU_BF16_FLAGS & precision.cpu_flags())
    limited = _support_in_subprocess(ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2")
    assert limited["native"] is False
    aten_only = _support_in_subprocess(ATEN_CPU_CAPABILITY="avx2")
    assert aten_only["native"] is (has_units and precision.onednn_bf16_supported()), aten_only["reason"]


def _toy_trainer(tmp_path, **kwargs) -> Trainer:
    model = genae.create(register_toy(), resolution=8, width=4)
    data = TensorDataset(torch.rand(8, 1, 8, 8) * 2 - 1)
    return Trainer(model, ToyRecipe(model), data, out_dir=tmp_path, steps=1, progress=False, **kwargs)


def test_trainer_refuses_emulated_bf16_and_auto_falls_back(tmp_path, no_bf16_units):
    with pytest.raises(ValueError, match="refused on cpu"):
        _toy_trainer(tmp_path, precision="bf16")
    trainer = _toy_trainer(tmp_path, precision="auto")
    assert trainer.precision == "fp32" and "no bf16 units" in trainer.precision_reason


def test_trainer_auto_uses_bf16_where_native(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "bf16_support", lambda device: Bf16Support(True, "test units"))
    assert _toy_trainer(tmp_path, precision="auto").precision == "bf16"


def test_train_cli_refuses_bf16_and_reports_the_auto_choice(tmp_path, no_bf16_units, monkeypatch):
    monkeypatch.setattr(cli, "open_dataset", lambda name, resolution, channels: TensorDataset(
        torch.rand(8, channels, resolution, resolution) * 2 - 1))
    name = register_toy()
    common = [name, "--data", "x", "--resolution", "8", "--steps", "1", "--set", "width=4", "--no-progress"]
    refused = CliRunner().invoke(train_command, [*common, "--out", str(tmp_path / "a"), "--precision", "bf16"])
    assert refused.exit_code == 2 and "refused on cpu: this CPU has no bf16 units" in refused.output
    auto = CliRunner().invoke(train_command, [*common, "--out", str(tmp_path / "b"), "--precision", "auto"])
    assert auto.exit_code == 0, auto.output
    assert "precision: auto chose fp32 on cpu: this CPU has no bf16 units" in auto.output


def test_measure_speed_refuses_emulated_bf16_and_records_the_precision(no_bf16_units):
    model = genae.create(register_toy(), resolution=8, width=4).eval()
    images = torch.rand(4, 1, 8, 8) * 2 - 1
    with pytest.raises(ValueError, match="refused on cpu"):
        measure_speed(model, images, batch_size=2, precision="bf16")
    result = measure_speed(model, images, batch_size=2, precision="auto")
    assert result["precision"] == "fp32" and "no bf16 units" in result["precision_reason"]


def test_measure_speed_runs_under_bf16_autocast_where_native(monkeypatch):
    monkeypatch.setattr(precision, "bf16_support", lambda device: Bf16Support(True, "test units"))
    model = genae.create(register_toy(), resolution=8, width=4).eval()
    seen = []
    model.decoder.register_forward_hook(lambda module, args, out: seen.append(torch.get_autocast_dtype("cpu")
                                                                               if torch.is_autocast_enabled("cpu")
                                                                               else None))
    result = measure_speed(model, torch.rand(4, 1, 8, 8) * 2 - 1, batch_size=2, precision="bf16")
    assert result["precision"] == "bf16" and seen and set(seen) == {torch.bfloat16}
