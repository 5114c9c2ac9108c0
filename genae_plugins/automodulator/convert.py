"""Convert the authors' Deep Automodulators checkpoints (``*_state.pth``) into genae model folders.

The official file holds the decoder twice (``G_state_dict`` and its running average
``G_running_state_dict``, which the authors decode with; we take the running one), the encoder
(``D_state_dict``), the encoder's spectral-norm vectors (``SNU``) and training-only state (optimisers,
robust-loss parameters) that is ignored. Keys carry a ``module.`` prefix; ``adanorm_blocks.*`` are aliases
of the AdaIN layers and ``z_preprocess``/``label_embed`` are unused by the released models, so all are
dropped. Every width is read off the weight shapes, so narrow or unusual checkpoints convert too.

How the two weight re-parametrisations are carried over:

- equalised learning rate: the authors' run-time weight is ``weight_orig · sqrt(2/fan_in) · weight_gain``;
  genae's :class:`~genae.layers.EqualizedConv2d` applies ``sqrt(2/fan_in)`` itself, so the stored weight is
  ``weight_orig · weight_gain`` (bit-identical for the decoder convs, whose gain is 1).
- spectral norm: the authors run one power iteration from the frozen ``u`` at every forward:
  ``v = n(Wᵀu)``, ``u' = n(Wv)``, ``W / (u'ᵀWv)``. genae keeps torch's spectral-norm parametrisation (so a
  converted model can be fine-tuned like a fresh one) and stores that iteration's result as its cached
  ``_u = u'``, ``_v = v``; in eval mode torch then divides by exactly ``u'ᵀWv``.

The file is read with ``torch.load(weights_only=True)``: no pickled code runs. At most two copies of the
weights exist at any time (the loaded checkpoint and the model; then the model and what
``save_pretrained`` writes), so converting a 370 MB FFHQ-512 file needs well under 1 GB.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click
import torch
from torch import Tensor

from genae_plugins.automodulator.config import DECODER_PRESETS, ENCODER_PRESET, AutomodulatorConfig

log = logging.getLogger("genae.automodulator")

ZENODO_RECORD = "https://zenodo.org/record/4298894"
CODE_REPOSITORY = "https://github.com/heljakka/automodulator"
REQUIRED_TOP_KEYS = ("G_running_state_dict", "D_state_dict", "SNU", "phase")
PREFIX = "module."


class ConversionError(ValueError):
    """The file is not an official automodulator checkpoint, or not one this converter can map."""


# -- reading ------------------------------------------------------------------------------------------
def load_official(path: str | Path) -> dict[str, Any]:
    """Read an official checkpoint safely (``weights_only=True``; no mmap: its zip members are compressed)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"official checkpoint {str(path)!r} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ConversionError(
            f"{path}: not a readable PyTorch checkpoint ({type(error).__name__}: {str(error)[:200]}); expected an "
            f"official Deep Automodulators '*_state.pth' file from {ZENODO_RECORD}"
        ) from error
    missing = [key for key in REQUIRED_TOP_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise ConversionError(
            f"{path}: not an official Deep Automodulators checkpoint: top-level key(s) {missing} are missing "
            f"(expected {list(REQUIRED_TOP_KEYS)}, written by the authors' save_all)"
        )
    return checkpoint


class _StateDict:
    """One official state dict with the ``module.`` prefix stripped and missing keys reported clearly."""

    def __init__(self, state: Any, name: str) -> None:
        if not isinstance(state, Mapping):
            raise ConversionError(f"{name}: expected a state dict, got {type(state).__name__}")
        self.name = name
        self.tensors = {key.removeprefix(PREFIX): value for key, value in state.items()}

    def __contains__(self, key: str) -> bool:
        return key in self.tensors

    def __getitem__(self, key: str) -> Tensor:
        if key not in self.tensors:
            raise ConversionError(f"official checkpoint lacks key {PREFIX + key!r} in {self.name}")
        value = self.tensors[key]
        if not isinstance(value, Tensor):
            raise ConversionError(f"{self.name}[{PREFIX + key!r}]: expected a tensor, got {type(value).__name__}")
        return value

    def count(self, stem: str, suffix: str) -> int:
        """How many consecutive indices ``stem.{i}.suffix`` exist from 0."""
        n = 0
        while f"{stem}.{n}.{suffix}" in self.tensors:
            n += 1
        return n


# -- shapes → config -------------------------------------------------------------------------------
def official_config(checkpoint: Mapping[str, Any], arch: str | None = None,
                    resolution: int | None = None) -> AutomodulatorConfig:
    """The genae config that reproduces ``checkpoint`` at ``resolution`` (default: its trained resolution)."""
    g = _StateDict(checkpoint["G_running_state_dict"], "G_running_state_dict")
    d = _StateDict(checkpoint["D_state_dict"], "D_state_dict")
    total = d.count("from_rgb", "weight")
    if total < 1 or g.count("to_rgb", "weight") != total:
        raise ConversionError(f"checkpoint has {total} encoder from_rgb and {g.count('to_rgb', 'weight')} decoder "
                              "to_rgb layers; expected the same number (9 in the released models)")
    phase = checkpoint["phase"]
    if not isinstance(phase, int) or not 0 <= phase < total:
        raise ConversionError(f"checkpoint 'phase' is {phase!r}; expected an int in [0, {total - 1}]")
    trained = 4 * 2**phase
    contained = [4 * 2**p for p in range(phase + 1)]
    if resolution is None:
        resolution = trained
    if resolution not in contained:
        raise ConversionError(f"resolution {resolution!r} is not contained in this checkpoint: it was trained up to "
                              f"{trained} px (phase {phase}); valid resolutions: {contained}")
    blocks = int(math.log2(resolution)) - 1
    alpha = checkpoint.get("alpha", 1.0)
    if isinstance(alpha, (int, float)) and 0 <= alpha < 1 and blocks - 1 == phase:
        log.warning("checkpoint was saved mid fade-in (alpha=%s); the converted model runs block %d fully faded in",
                    alpha, phase)

    decoder = [_decoder_conv(g, b, second=True).shape[0] for b in range(blocks)]
    encoder = [d[f"from_rgb.{total - 1 - b}.weight"].shape[0] for b in range(blocks)]
    last_block = f"progression.{total - 1}.conv"
    final = d[f"{last_block}.0.conv.weight_orig"].shape[0]
    latent = d[f"{last_block}.2.conv.weight_orig"].shape[0]
    channels_in = d[f"from_rgb.{total - 1}.weight"].shape[1]
    if arch is not None:
        if arch not in DECODER_PRESETS:
            raise ConversionError(f"arch: expected one of {sorted(DECODER_PRESETS)} or None, got {arch!r}")
        expected = list(DECODER_PRESETS[arch][:blocks])
        if decoder != expected:
            raise ConversionError(f"unexpected shape: arch {arch!r} has decoder widths {expected} up to {resolution} "
                                  f"px, but the checkpoint's are {decoder}; pass the other --arch or none")
    try:
        return AutomodulatorConfig(
            resolution=resolution, channels_in=channels_in, latent_dim=latent,
            channels=arch if arch is not None else decoder,
            encoder_channels=None if encoder == list(ENCODER_PRESET[:blocks]) else encoder,
            encoder_final_channels=None if final == encoder[0] else final,
            use_noise=all(f"noise.{b}.0.noise_scale" in g for b in range(1, blocks)),
        )
    except ValueError as error:
        raise ConversionError(f"unexpected shape: the checkpoint's widths do not form an automodulator ({error})") from error


def _decoder_conv(g: _StateDict, block: int, second: bool) -> Tensor:
    if block == 0:
        return g["progression.0.conv.1.conv.weight_orig"]
    return g[f"progression.{block}.conv.{'1' if second else '0.0'}.conv.weight_orig"]


# -- weights ---------------------------------------------------------------------------------------
def _equalized(g: _StateDict, stem: str) -> Iterator[tuple[str, Tensor]]:
    gain = g[f"{stem}.weight_gain"]
    weight = g[f"{stem}.weight_orig"]
    yield "conv.weight", weight if bool((gain == 1).all()) else weight * gain
    yield "conv.bias", g[f"{stem}.bias"]


def _spectral(d: _StateDict, stem: str, u: Tensor) -> Iterator[tuple[str, Tensor]]:
    weight = d[f"{stem}.weight_orig"]
    matrix = weight.reshape(weight.shape[0], -1)
    if not isinstance(u, Tensor) or u.numel() != matrix.shape[0]:
        got = tuple(u.shape) if isinstance(u, Tensor) else type(u).__name__
        raise ConversionError(f"unexpected shape: SNU vector for {PREFIX + stem} is {got}, expected ({matrix.shape[0]}, 1)")
    u = u.reshape(-1, 1).to(matrix.dtype)
    v = matrix.t() @ u  # the authors' single power iteration, in their operation order
    v = v / v.norm()
    u = matrix @ v
    u = u / u.norm()
    yield "parametrizations.weight.original", weight
    yield "parametrizations.weight.0._u", u.reshape(-1)
    yield "parametrizations.weight.0._v", v.reshape(-1)
    yield "bias", d[f"{stem}.bias"]


def official_tensors(checkpoint: Mapping[str, Any], config: AutomodulatorConfig) -> Iterator[tuple[str, str, Tensor]]:
    """``(genae key, official key, tensor)`` for every genae weight, computed one at a time."""
    g = _StateDict(checkpoint["G_running_state_dict"], "G_running_state_dict")
    d = _StateDict(checkpoint["D_state_dict"], "D_state_dict")
    snu = checkpoint["SNU"]
    total = d.count("from_rgb", "weight")
    if not isinstance(snu, (list, tuple)) or len(snu) != 2 * total:
        raise ConversionError(f"checkpoint 'SNU' must be a list of {2 * total} spectral-norm vectors, "
                              f"got {type(snu).__name__} of length {len(snu) if hasattr(snu, '__len__') else '?'}")
    for b in range(config.num_blocks):
        # decoder block b is the authors' progression[b]; block 0 has one conv (their conv.1/conv.3)
        layers = [("progression.0.conv.1.conv", "progression.0.conv.3.mod", None)] if b == 0 else [
            (f"progression.{b}.conv.0.0.conv", f"progression.{b}.conv.0.3.mod", f"noise.{b}.0.noise_scale"),
            (f"progression.{b}.conv.1.conv", f"progression.{b}.conv.3.mod", f"noise.{b}.1.noise_scale"),
        ]
        for k, (conv, mod, noise) in enumerate(layers):
            here = f"decoder.blocks.{b}.convs.{k}"
            for name, tensor in _equalized(g, conv):
                yield f"{here}.{name}", PREFIX + conv, tensor
            for name in ("weight", "bias"):
                yield f"{here}.adain.affine.{name}", f"{PREFIX}{mod}.{name}", g[f"{mod}.{name}"]
            if noise is not None and config.use_noise:
                yield f"{here}.noise.scale", PREFIX + noise, g[noise]
        for name in ("weight", "bias"):
            yield f"decoder.to_rgb.{b}.{name}", f"{PREFIX}to_rgb.{b}.{name}", g[f"to_rgb.{b}.{name}"]
        # encoder block b is the authors' progression[total-1-b] (their index counts down from 1024 px)
        j = total - 1 - b
        for name in ("weight", "bias"):
            yield f"encoder.from_rgb.{b}.{name}", f"{PREFIX}from_rgb.{j}.{name}", d[f"from_rgb.{j}.{name}"]
        for k, position in ((0, 0), (1, 2)):
            stem = f"progression.{j}.conv.{position}.conv"
            for name, tensor in _spectral(d, stem, snu[2 * j + k]):
                yield f"encoder.blocks.{b}.conv{k + 1}.{name}", PREFIX + stem, tensor


def convert_checkpoint(checkpoint: Mapping[str, Any], arch: str | None = None,
                       resolution: int | None = None) -> Any:
    """Build a genae ``Automodulator`` (eval mode) holding an official checkpoint's weights."""
    import genae

    config = official_config(checkpoint, arch=arch, resolution=resolution)
    model = genae.create("automodulator", **config.to_dict())
    targets = model.state_dict()  # shares storage with the parameters: copy_ writes the model
    filled: set[str] = set()
    with torch.no_grad():
        for key, source, tensor in official_tensors(checkpoint, config):
            target = targets[key]
            if tuple(tensor.shape) != tuple(target.shape):
                raise ConversionError(f"unexpected shape for {source} (genae {key}): got {tuple(tensor.shape)}, "
                                      f"expected {tuple(target.shape)}")
            target.copy_(tensor)
            filled.add(key)
    unfilled = sorted(set(targets) - filled)
    if unfilled:  # a mapping bug, never the user's fault
        raise RuntimeError(f"converter left genae weights unset: {unfilled[:5]}")
    return model.eval()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def convert_official(path: str | Path, out_dir: str | Path, arch: str | None = None, resolution: int | None = None,
                     *, card: Mapping[str, Any] | None = None) -> Path:
    """Convert an official ``*_state.pth`` into a genae model folder at ``out_dir``; returns the folder.

    ``arch`` (``"large"``/``"small"``) is checked against the weight shapes and recorded; ``None`` infers
    the widths. ``resolution`` defaults to the resolution the checkpoint was trained to. ``card`` adds
    model-card facts (e.g. ``dataset``).
    """
    path = Path(path)
    checkpoint = load_official(path)
    model = convert_checkpoint(checkpoint, arch=arch, resolution=resolution)
    trained = 4 * 2 ** checkpoint["phase"]
    iteration = checkpoint.get("iteration")
    del checkpoint  # before saving, so at most two copies of the weights exist
    gc.collect()
    facts = {
        "name": f"automodulator (official, {model.resolution} px)",
        "description": (
            "Deep Automodulators (Heljakka, Hou, Kannala and Solin, NeurIPS 2020), the authors' trained weights "
            "converted to genae. Decoding uses their running-average (EMA) decoder, as their code does."
        ),
        "source": (f"official Deep Automodulators checkpoint {path.name}, in the format of {CODE_REPOSITORY} "
                   f"(the authors' trained models are Zenodo record 4298894, {ZENODO_RECORD})"),
        "license": "other",
        "license_note": (
            "The authors' code is MIT-licensed (LICENSE in github.com/heljakka/automodulator, Copyright (c) 2020 "
            "Ari Heljakka). The Zenodo record's own terms for the weights could not be checked offline: read "
            f"{ZENODO_RECORD} before redistributing. The training images keep their datasets' terms."
        ),
        "conversion": (
            f"genae convert automodulator {path.name} (sha256 {_sha256(path)}, {iteration} training images seen, "
            f"trained to {trained} px); G_running_state_dict decoder, equalised-lr gain and the spectral-norm power "
            "iteration baked as described in genae_plugins/automodulator/convert.py"
        ),
        "limitations": (
            "Weights license: see license_note in config.json. Works on images like its training data (aligned "
            "faces, or the LSUN scenes); per the authors, the FFHQ models reconstruct and mix far better than the others."
        ),
        **(card or {}),
    }
    return model.save_pretrained(out_dir, card=facts)


@click.command("automodulator")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--arch", type=click.Choice(sorted(DECODER_PRESETS)), default=None,
              help="Decoder preset the checkpoint uses (checked against its shapes); default: read from the shapes.")
@click.option("--resolution", type=int, default=None,
              help="Resolution to convert (default: the one the checkpoint was trained to).")
def convert_command(path: Path, out_dir: Path, arch: str | None, resolution: int | None) -> None:
    """Convert an official Deep Automodulators checkpoint (PATH, a *_state.pth) into a genae model folder."""
    try:
        folder = convert_official(path, out_dir, arch=arch, resolution=resolution)
    except (ConversionError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"wrote {folder}; load it with genae.load({str(folder)!r})")
