"""NVIDIA network pickles (stylegan2-ada-pytorch, stylegan3) read without running anything they contain.

NVIDIA's loader rebuilds every network by ``exec``-ing the Python source stored in the pickle
(``torch_utils.persistence``); plain ``pickle.load`` would also run whatever global a hostile file names.
:class:`SafeUnpickler` resolves only an explicit allow-list of globals, each mapped to a function of ours
that builds data: a persistent network becomes a :class:`ModuleRecord` (class name, constructor kwargs,
attributes, tensors, children; the stored source is never looked at), tensor storages are read with
``torch.load(weights_only=True)`` (torch's own ``_load_from_bytes`` uses ``weights_only=False``), numpy
values are rebuilt from raw bytes. Any other global refuses the whole file with one line naming it.
"""

from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: The keys of a training snapshot (``network-snapshot-*.pkl`` and NVIDIA's published files).
SNAPSHOT_NETWORKS = ("G", "D", "G_ema", "augment_pipe")
#: How a pickle starts (protocol 2+), used to tell a network pickle from other files.
PICKLE_MAGIC = b"\x80"
#: The first bytes of a legacy (non-zip) ``torch.save`` file: protocol 2, then torch's magic number.
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19"


class UnsafePickleError(pickle.UnpicklingError):
    """The file names something genae will not resolve; nothing from it ran."""


class NetworkPickleError(ValueError):
    """The file is not a readable NVIDIA network pickle."""


@dataclass
class ModuleRecord:
    """What a pickled ``torch.nn.Module`` stores, as data: its class name and ``__dict__``."""

    class_name: str
    state: dict[str, Any] = field(default_factory=dict)

    def __setstate__(self, state: Any) -> None:  # BUILD of a plain torch.nn module
        if not isinstance(state, dict):
            raise UnsafePickleError(f"a {self.class_name} module's state is a {type(state).__name__}, not a dict")
        self.state = dict(state)

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """The constructor's keyword arguments (NVIDIA's persistence stores them as ``_init_kwargs``)."""
        kwargs = self.state.get("_init_kwargs")
        return dict(kwargs) if isinstance(kwargs, dict) else {}

    @property
    def attributes(self) -> dict[str, Any]:
        """The module's own plain attributes (``conv_clamp``, ``use_fp16``, ...), numpy scalars as Python."""
        return {k: _plain(v) for k, v in self.state.items()
                if not k.startswith("_") and not isinstance(v, (torch.Tensor, ModuleRecord))}

    @property
    def children(self) -> dict[str, ModuleRecord]:
        return {k: v for k, v in (self.state.get("_modules") or {}).items() if isinstance(v, ModuleRecord)}

    def tensors(self) -> dict[str, torch.Tensor]:
        """This module's parameters and buffers (not its children's), by name."""
        found = {}
        for table in ("_parameters", "_buffers"):
            for name, value in (self.state.get(table) or {}).items():
                if isinstance(value, torch.Tensor):
                    found[name] = value.detach()
        return found


def _plain(value: Any) -> Any:
    """Numpy scalars as Python numbers, numpy arrays (StyleGAN3 stores some) as ndarrays."""
    if isinstance(value, np.generic):
        return value.item()
    return value.array if isinstance(value, NumpyArray) else value


@dataclass
class NetworkDescription:
    """One network of a pickle: class name, constructor kwargs, flat state dict (NVIDIA's key names), and the
    record of every submodule by dotted path (``""`` is the network itself)."""

    class_name: str
    init_kwargs: dict[str, Any]
    state_dict: dict[str, torch.Tensor]
    modules: dict[str, ModuleRecord]

    @classmethod
    def from_record(cls, record: ModuleRecord) -> NetworkDescription:
        modules: dict[str, ModuleRecord] = {}
        state: dict[str, torch.Tensor] = {}
        pending = [("", record)]
        while pending:
            path, module = pending.pop()
            modules[path] = module
            for name, tensor in module.tensors().items():
                state[f"{path}.{name}" if path else name] = tensor
            pending += [(f"{path}.{n}" if path else n, child) for n, child in module.children.items()]
        return cls(record.class_name, record.init_kwargs, dict(sorted(state.items())), modules)


@dataclass
class NetworkPickle:
    """A whole file: its networks by snapshot key (a bare network is stored as ``"network"``) and the
    snapshot's other plain entries (``training_set_kwargs``)."""

    path: Path
    networks: dict[str, NetworkDescription]
    extras: dict[str, Any]
    skipped: tuple[str, ...] = ()  # snapshot keys that hold None


def _persistent_object(meta: Any) -> ModuleRecord:
    """Stand-in for ``torch_utils.persistence._reconstruct_persistent_obj``: records, never ``exec``s."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise UnsafePickleError("a persistent object without NVIDIA's {type: 'class', class_name, state} record")
    record = ModuleRecord(meta["class_name"])
    record.__setstate__(meta.get("state") or {})
    return record


def _storage_from_bytes(data: Any) -> Any:
    """Stand-in for ``torch.storage._load_from_bytes``, reading the bytes with ``weights_only=True``."""
    if not isinstance(data, bytes):
        raise UnsafePickleError(f"a tensor storage given {type(data).__name__}, not bytes")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = next((line for line in str(error).splitlines() if "WeightsUnpickler error" in line), "")
        raise UnsafePickleError(f"a tensor's bytes hold more than a storage, which torch's weights_only reader "
                                f"refuses ({reason.strip()[:160]})") from None


def _check_hooks(hooks: Any) -> None:
    if hooks:
        raise UnsafePickleError("a tensor with backward hooks (code), which genae does not restore")


def _tensor(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False, hooks: Any = None,
            metadata: Any = None) -> torch.Tensor:
    """Stand-in for ``torch._utils._rebuild_tensor_v2``: a view of an already-read storage."""
    _check_hooks(hooks)
    if not isinstance(storage, torch.storage.TypedStorage) or not isinstance(offset, int):
        raise UnsafePickleError("a tensor whose storage was not read from its bytes")
    return torch.empty(0, dtype=storage.dtype).set_(storage._untyped_storage, offset, tuple(size), tuple(stride))


def _parameter(data: Any, requires_grad: Any = False, hooks: Any = None, *state: Any) -> torch.Tensor:
    """Stand-in for ``torch._utils._rebuild_parameter``: the plain tensor (genae decides what trains)."""
    _check_hooks(hooks)
    if not isinstance(data, torch.Tensor):
        raise UnsafePickleError(f"a parameter built from {type(data).__name__}, not a tensor")
    return data


class NumpyDtype:
    """``numpy.dtype(code)`` for plain numeric type codes; BUILD may set only the byte order. (numpy's own
    ``dtype.__setstate__`` also takes fields and flags, which could describe object memory.)"""

    def __init__(self, spec: Any, align: Any = False, copy: Any = False) -> None:
        if not isinstance(spec, str):
            raise UnsafePickleError(f"numpy.dtype({spec!r}): only type codes are read")
        self.dtype = np.dtype(spec)
        if self.dtype.hasobject or self.dtype.fields is not None:
            raise UnsafePickleError(f"numpy.dtype({spec!r}): only plain numeric types are read")

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) < 5 or state[1] not in "<>|=" or any(state[2:5]):
            raise UnsafePickleError(f"a numpy dtype state other than a byte order: {str(state)[:80]}")
        if state[1] in "<>":
            self.dtype = self.dtype.newbyteorder(state[1])


def _numpy_dtype(value: Any) -> np.dtype:
    if not isinstance(value, NumpyDtype):
        raise UnsafePickleError(f"a numpy value whose dtype is a {type(value).__name__}")
    return value.dtype


def _scalar(dtype: Any, data: Any = b"") -> np.generic:
    """``numpy.core.multiarray.scalar`` rebuilt from its raw bytes."""
    dtype = _numpy_dtype(dtype)
    if not isinstance(data, bytes) or len(data) != dtype.itemsize:
        raise UnsafePickleError("a numpy scalar that is not a plain number")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


class NumpyArray:
    """``numpy.core.multiarray._reconstruct(ndarray, ...)`` then BUILD: an array copied from its raw bytes
    (``array``); object arrays, whose state is a list of objects, are refused."""

    def __init__(self, cls: Any, shape: Any = (0,), typecode: Any = b"b") -> None:
        if cls is not NdarrayName:
            raise UnsafePickleError("numpy _reconstruct of something other than an ndarray")
        self.array = np.empty(0)

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) != 5 or not isinstance(state[4], bytes):
            raise UnsafePickleError("a numpy array state other than (version, shape, dtype, fortran, bytes)")
        _, shape, dtype, fortran, data = state
        dtype = _numpy_dtype(dtype)
        if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape) or (
                int(np.prod(shape)) * dtype.itemsize != len(data)):
            raise UnsafePickleError(f"a numpy array whose shape {shape!r} does not match its {len(data)} bytes")
        self.array = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()


class NdarrayName:
    """``numpy.ndarray`` as the argument of ``_reconstruct`` only; the file cannot construct one directly."""

    def __new__(cls, *args: Any) -> NdarrayName:
        raise UnsafePickleError("numpy.ndarray constructed directly")


class PlainDict(dict):
    """Stand-in for ``dnnlib.util.EasyDict`` (train.py's constructor kwargs): the items, as a plain dict."""


def _numpy_spellings(name: str, target: Any) -> dict[tuple[str, str], Any]:
    return {(module, name): target for module in ("numpy.core.multiarray", "numpy._core.multiarray")}


ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_object,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("torch._utils", "_rebuild_tensor_v2"): _tensor,
    ("torch._utils", "_rebuild_parameter"): _parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,  # protocol 3 (Python 3.7's default) has no EMPTY_SET opcode
    ("dnnlib.util", "EasyDict"): PlainDict,
    ("numpy", "dtype"): NumpyDtype,
    ("numpy", "ndarray"): NdarrayName,
    **_numpy_spellings("scalar", _scalar),
    **_numpy_spellings("_reconstruct", NumpyArray),
}
#: Plain torch modules inside a network (``torch.nn.modules.*``) become records named after their class.
TORCH_MODULES = "torch.nn.modules."


class SafeUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that resolves only :data:`ALLOWED` globals (and ``torch.nn`` module classes, as
    records); anything else raises :class:`UnsafePickleError` naming the global before it can run."""

    def find_class(self, module: str, name: str) -> Any:
        target = ALLOWED.get((module, name))
        if target is not None:
            return target
        if module.startswith(TORCH_MODULES) and name.isidentifier() and name[0].isupper():
            return type(name, (_TorchModuleStandIn,), {"__module__": __name__})
        raise UnsafePickleError(f"names the global {module}.{name}, which is not on genae's allow-list for "
                                "NVIDIA network pickles")

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("uses a persistent id, which NVIDIA network pickles do not")


class _TorchModuleStandIn(ModuleRecord):
    """NEWOBJ of a ``torch.nn`` module class gives a record named after the class; BUILD fills its state."""

    def __new__(cls, *args: Any) -> ModuleRecord:
        return ModuleRecord(cls.__name__)


def load_records(path: str | Path) -> Any:
    """The unpickled object tree of ``path``: plain Python, tensors and :class:`ModuleRecord`\\ s only."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"network pickle {str(path)!r} does not exist")
    with open(path, "rb") as handle:
        try:
            return SafeUnpickler(handle).load()
        except UnsafePickleError as error:
            raise UnsafePickleError(f"{path}: refused: {error}; nothing from the file was run") from None
        except RecursionError:
            raise NetworkPickleError(f"{path}: nested too deeply to be an NVIDIA network pickle") from None
        except Exception as error:  # noqa: BLE001 - any malformed file gets one line that names it
            raise NetworkPickleError(f"{path}: not a readable NVIDIA network pickle ({type(error).__name__}: "
                                     f"{str(error).splitlines()[0][:160] if str(error) else ''})") from None


def read_network_pickle(path: str | Path) -> NetworkPickle:
    """Read a training snapshot ``{G, D, G_ema, augment_pipe, training_set_kwargs}`` or a bare network."""
    path = Path(path)
    content = load_records(path)
    if isinstance(content, ModuleRecord):
        return NetworkPickle(path, {"network": NetworkDescription.from_record(content)}, {})
    if not isinstance(content, dict) or not any(isinstance(content.get(k), ModuleRecord) for k in SNAPSHOT_NETWORKS):
        got = sorted(map(str, content)) if isinstance(content, dict) else type(content).__name__
        raise NetworkPickleError(f"{path}: expected an NVIDIA snapshot with networks {list(SNAPSHOT_NETWORKS)} or "
                                 f"a bare network; found {got}")
    networks = {k: NetworkDescription.from_record(v) for k, v in content.items() if isinstance(v, ModuleRecord)}
    skipped = tuple(k for k in SNAPSHOT_NETWORKS if k in content and content[k] is None)
    extras = {k: v for k, v in content.items() if not isinstance(v, ModuleRecord) and k not in SNAPSHOT_NETWORKS}
    return NetworkPickle(path, networks, extras, skipped)


def is_network_pickle(path: str | Path) -> bool:
    """Whether ``path`` is a bare pickle stream, as NVIDIA writes (``torch.save`` writes a zip archive, or in
    its legacy format a pickle that starts with torch's magic number)."""
    with open(path, "rb") as handle:
        head = handle.read(len(TORCH_LEGACY_MAGIC))
    return head[:1] == PICKLE_MAGIC and head != TORCH_LEGACY_MAGIC
