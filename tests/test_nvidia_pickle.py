"""The safe reader of NVIDIA network pickles (genae/foreign/nvidia_pickle.py): the fixtures read structurally,
and hostile pickles built here in the same layout are refused (or read as data) without running anything."""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import sys
import types
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch

from genae.foreign.nvidia_pickle import (
    ModuleRecord,
    NetworkPickleError,
    UnsafePickleError,
    is_network_pickle,
    load_records,
    read_network_pickle,
)

FIXTURE = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "nvidia-stylegan2-ada"
needs_fixture = pytest.mark.skipif(not (FIXTURE / "ada_narrow32.pkl").is_file(), reason=f"fixture {FIXTURE} is absent")


@contextlib.contextmanager
def nvidia_persistence():
    """A stand-in ``torch_utils.persistence`` whose loader runs ``module_src`` as NVIDIA's does, so the
    pickles written here are genuinely dangerous for a plain ``pickle.load``. Re-entrant."""
    if "torch_utils.persistence" in sys.modules:
        yield sys.modules["torch_utils.persistence"]
        return
    package, module = types.ModuleType("torch_utils"), types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        exec(meta["module_src"], {})  # what NVIDIA's loader does with the stored source  # noqa: S102
        return meta["class_name"]

    _reconstruct_persistent_obj.__module__ = module.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    package.persistence = module
    dnnlib, util = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")
    util.EasyDict = type("EasyDict", (dict,), {"__module__": util.__name__})  # train.py's kwargs dicts
    dnnlib.util = util
    with mock.patch.dict(sys.modules, {"torch_utils": package, "torch_utils.persistence": module, "dnnlib": dnnlib,
                                       "dnnlib.util": util}):
        yield module


class Persistent:
    """Pickles as NVIDIA's persistent classes do: ``_reconstruct_persistent_obj(meta)``."""

    def __init__(self, class_name, state, module_src="pass"):
        self.meta = {"type": "class", "version": 6, "module_src": module_src, "class_name": class_name,
                     "state": state}

    def __reduce__(self):
        return sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (self.meta,)


def module_state(parameters=None, modules=None, **attributes):
    """A module's ``__dict__`` as NVIDIA pickles it (constructor kwargs in an EasyDict, as train.py passes them)."""
    kwargs = sys.modules["dnnlib.util"].EasyDict(z_dim=4) if "dnnlib.util" in sys.modules else {"z_dim": 4}
    return {"training": False, "_parameters": dict(parameters or {}), "_buffers": {}, "_modules": dict(modules or {}),
            "_init_kwargs": kwargs, **attributes}


def write_snapshot(path, generator, **extra):
    with nvidia_persistence():
        path.write_bytes(pickle.dumps({"G": generator, "D": None, "G_ema": generator, "augment_pipe": None,
                                       "training_set_kwargs": {"resolution": 8}, **extra}))
    return path


def test_persistent_objects_become_records_and_their_source_never_runs(tmp_path):
    marker = tmp_path / "marker"
    source = f"open({str(marker)!r}, 'w').write('ran')"
    with nvidia_persistence():
        generator = Persistent("Generator", module_state(
            {"weight": torch.arange(6.0).reshape(2, 3)},
            {"fc": Persistent("FullyConnectedLayer", module_state({"bias": torch.ones(2)}), source)},
            z_dim=4, lr=np.float64(0.5)), source)
        path = write_snapshot(tmp_path / "evil.pkl", generator)
        assert b"dnnlib.util" in path.read_bytes()
    with nvidia_persistence():  # the file is really hostile: NVIDIA's way of loading it runs the source
        pickle.loads(path.read_bytes())
    assert marker.read_text() == "ran"
    marker.unlink()

    networks = read_network_pickle(path)
    assert not marker.exists()
    g = networks.networks["G_ema"]
    assert g.class_name == "Generator" and g.init_kwargs == {"z_dim": 4}
    assert set(g.state_dict) == {"weight", "fc.bias"} and torch.equal(g.state_dict["weight"], torch.arange(6.0).reshape(2, 3))
    assert g.modules[""].attributes == {"training": False, "z_dim": 4, "lr": 0.5}
    assert g.modules["fc"].class_name == "FullyConnectedLayer"
    assert networks.skipped == ("D", "augment_pipe") and networks.extras == {"training_set_kwargs": {"resolution": 8}}
    assert is_network_pickle(path)


class SystemCall:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class Evaluate:
    def __reduce__(self):
        return eval, ("1 + 1",)


@pytest.mark.parametrize("payload, named", [
    (lambda marker: SystemCall(f"touch {marker}"), r"global posix\.system"),
    (lambda marker: Evaluate(), r"global builtins\.eval"),
    (lambda marker: __import__("collections").Counter("ab"), r"global collections\.Counter"),
])
def test_globals_outside_the_allow_list_are_refused_by_name(tmp_path, payload, named):
    marker = tmp_path / "marker"
    path = write_snapshot(tmp_path / "evil.pkl", Persistent("Generator", module_state(payload=payload(marker))))
    with pytest.raises(UnsafePickleError, match=rf"evil\.pkl: refused: names the {named}, which is not on .*nothing "
                                                 "from the file was run") as caught:
        read_network_pickle(path)
    assert "\n" not in str(caught.value) and not marker.exists()


def test_tensor_bytes_are_read_with_weights_only(tmp_path):
    """torch's own ``_load_from_bytes`` would unpickle these bytes with weights_only=False."""
    marker = tmp_path / "marker"
    buffer = io.BytesIO()
    torch.save(SystemCall(f"touch {marker}"), buffer)

    class Storage:
        def __reduce__(self):
            return torch.storage._load_from_bytes, (buffer.getvalue(),)

    path = write_snapshot(tmp_path / "evil.pkl", Persistent("Generator", module_state(storage=Storage())))
    with pytest.raises(UnsafePickleError, match="weights_only"):
        read_network_pickle(path)
    assert not marker.exists()


def test_plain_torch_modules_and_both_numpy_spellings_are_data(tmp_path):
    linear = torch.nn.Linear(3, 2)
    content = {"G_ema": linear, "scale": np.float32(0.25)}
    stream = pickle.dumps(content, protocol=3)  # GLOBAL opcodes: module names are plain text lines
    assert b"numpy._core.multiarray\nscalar" in stream or b"numpy.core.multiarray\nscalar" in stream
    for spelling in (b"numpy._core.multiarray\nscalar", b"numpy.core.multiarray\nscalar"):
        stream = stream.replace(b"numpy._core.multiarray\nscalar", spelling).replace(b"numpy.core.multiarray\nscalar",
                                                                                      spelling)
        path = tmp_path / "plain.pkl"
        path.write_bytes(stream)
        networks = read_network_pickle(path)
        record = networks.networks["G_ema"]
        assert record.class_name == "Linear" and isinstance(networks.extras["scale"], np.float32)
        assert torch.equal(record.state_dict["weight"], linear.weight.detach())
        assert float(networks.extras["scale"]) == 0.25


def test_numpy_arrays_are_copied_from_bytes_and_object_dtypes_refused(tmp_path):
    """StyleGAN3 layers keep numpy arrays as attributes; numpy's own reducers are never called."""
    sizes = np.array([[36, 36], [52, 52]], dtype=">i8")
    path = write_snapshot(tmp_path / "arrays.pkl", Persistent("SynthesisLayer", module_state(in_size=sizes)))
    read = read_network_pickle(path).networks["G_ema"].modules[""].attributes["in_size"]
    assert isinstance(read, np.ndarray) and read.dtype == sizes.dtype and np.array_equal(read, sizes)
    for hostile, reason in ((np.array([None, 1], dtype=object), "only plain numeric types"),
                            (np.dtype([("a", "f4")]), "dtype state other than a byte order")):
        path = write_snapshot(tmp_path / "hostile.pkl", Persistent("Generator", module_state(value=hostile)))
        with pytest.raises(UnsafePickleError, match=reason):
            read_network_pickle(path)


def test_other_files_are_refused_in_one_line(tmp_path):
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"\x80\x04garbage")
    with pytest.raises(NetworkPickleError, match=r"broken\.pkl: not a readable NVIDIA network pickle"):
        read_network_pickle(broken)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"weights": [1, 2]}))
    with pytest.raises(NetworkPickleError, match=r"plain\.pkl: expected an NVIDIA snapshot .* found \['weights'\]"):
        read_network_pickle(plain)
    with pytest.raises(FileNotFoundError, match="missing.pkl"):
        load_records(tmp_path / "missing.pkl")
    legacy, archive = tmp_path / "legacy.pt", tmp_path / "archive.pt"
    torch.save({"g_ema": {}}, legacy, _use_new_zipfile_serialization=False)
    torch.save({"g_ema": {}}, archive)
    assert not is_network_pickle(legacy) and not is_network_pickle(archive)


@needs_fixture
def test_fixture_snapshots_read_structurally():
    networks = read_network_pickle(FIXTURE / "ada_cond16.pkl")
    assert {k: v.class_name for k, v in networks.networks.items()} == {"G": "Generator", "D": "Discriminator",
                                                                        "G_ema": "Generator"}
    assert networks.skipped == ("augment_pipe",)
    g = networks.networks["G_ema"]
    assert g.init_kwargs["c_dim"] == 10 and g.init_kwargs["mapping_kwargs"] == {"num_layers": 2}
    assert tuple(g.state_dict["mapping.embed.weight"].shape) == (32, 10)
    assert tuple(g.state_dict["synthesis.b4.const"].shape) == (32, 4, 4)
    assert g.modules["synthesis.b16.conv0"].attributes["up"] == 2
    assert isinstance(g.modules["mapping"], ModuleRecord) and g.modules["mapping"].attributes["w_avg_beta"] == 0.995
    assert any(k.startswith("b16.") for k in networks.networks["D"].state_dict)
