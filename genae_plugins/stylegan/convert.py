"""Convert rosinality/stylegan2-pytorch generator checkpoints (the format pSp, e4e, ReStyle, HyperStyle and
PTI consume) into genae ``stylegan2`` model folders.

The file is a dict holding ``g_ema`` (the EMA generator, which is what everyone samples with; ``g`` is the
raw training generator and is ignored) and optionally ``latent_avg`` (``[D]`` or ``[1, D]``; computed
through the mapping when absent). It is read with ``torch.load(weights_only=True)`` only: no pickled code
runs, so a ``train.py`` checkpoint, which also pickles its ``argparse`` ``args``, is refused with the
one-liner that strips it. Nothing about the architecture is stored: size = 2^(number of ``to_rgbs`` + 2),
style width from ``style.1.weight``, mapping depth from the number of ``style.K.weight``, channel widths
from the conv weights; ``lr_mlp`` = 0.01 is assumed (rosinality's default, not stored). genae's module
names follow rosinality's, so the mapping is a renaming: ``style.K.*`` → ``prior.mapping.K.*``, every
synthesis key → ``decoder.*``; the FIR kernels (constants) are checked and dropped.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import torch
from torch import Tensor

from genae.metrics._files import sha256_file
from genae_plugins.stylegan.config import StyleGAN2Config
from genae_plugins.stylegan.generator import default_widths, fir_kernel

CODE_REPOSITORY = "https://github.com/rosinality/stylegan2-pytorch"
#: How torch's weights_only reader names the global it refused.
UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")
CONSTANT_KEY = re.compile(r"^(convs\.\d+\.conv\.blur\.kernel|to_rgbs\.\d+\.upsample\.kernel)$")


class ConversionError(ValueError):
    """The file is not a StyleGAN2 generator checkpoint this converter can map; ``detail`` (several lines,
    shown by ``genae --debug``) says more where there is more to say."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


def strip_command(path: str | Path) -> str:
    """The one-liner that keeps only what genae reads. It allows torch's tensors and ``argparse.Namespace`` (what
    train.py pickles) and nothing else, so it runs no code from the file either."""
    return (
        f"python -c \"import argparse, torch; torch.serialization.add_safe_globals([argparse.Namespace]); "
        f"c = torch.load('{path}', weights_only=True); "
        f"torch.save({{k: c[k] for k in ('g_ema', 'latent_avg') if k in c}}, '{path}.g_ema.pt')\""
    )


def strip_detail(path: str | Path, error: Exception) -> str:
    """The ``--debug`` text of a pickled-extras refusal: torch's reason, the recipe and what it cannot do."""
    return (
        f"torch.load(weights_only=True) refused {path}: {UNSUPPORTED_GLOBAL.search(str(error)).group(0)}\n"
        f"Strip it to g_ema (+ latent_avg), allowing only argparse.Namespace besides tensors:\n"
        f"  {strip_command(path)}\n"
        f"then: genae convert stylegan2 {path}.g_ema.pt OUT_DIR\n"
        "If torch still refuses a global, the file holds more than rosinality's train.py writes. Stripping it then "
        "needs weights_only=False, which runs whatever code the file names: do that only for a file you trust "
        "(genae never does it for you)."
    )


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; clear errors for pickled extras and other formats."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        refused = UNSUPPORTED_GLOBAL.search(str(error))
        if refused is None:
            raise ConversionError(f"{path}: not a readable PyTorch checkpoint ({str(error).splitlines()[0][:120]}); "
                                  "expected a rosinality stylegan2-pytorch .pt file or an NVIDIA .pkl") from error
        raise ConversionError(
            f"{path}: holds pickled Python objects besides tensors ({refused.group(1)}; train.py pickles its "
            "argparse 'args'), which genae does not unpickle; strip it to g_ema first (`genae --debug convert "
            "stylegan2 ...` prints a recipe that runs nothing from the file; docs/inversion.md)",
            detail=strip_detail(path, error),
        ) from error
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ConversionError(f"{path}: not a readable PyTorch checkpoint ({type(error).__name__}: "
                              f"{str(error)[:200]}); expected a rosinality stylegan2-pytorch .pt file") from error
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("g_ema"), Mapping):
        keys = sorted(checkpoint) if isinstance(checkpoint, Mapping) else type(checkpoint).__name__
        raise ConversionError(f"{path}: expected a dict with a 'g_ema' state dict (rosinality format, {CODE_REPOSITORY}); "
                              f"found {keys}")
    return dict(checkpoint)


def _count(state: Mapping[str, Any], pattern: str, start: int = 0) -> int:
    n = start
    while pattern.format(n) in state:
        n += 1
    return n - start


def _tensor(state: Mapping[str, Any], key: str) -> Tensor:
    value = state.get(key)
    if not isinstance(value, Tensor):
        raise ConversionError(f"g_ema lacks tensor {key!r}" if value is None else
                              f"g_ema[{key!r}]: expected a tensor, got {type(value).__name__}")
    return value


def infer_config(g_ema: Mapping[str, Any], **encoder: Any) -> StyleGAN2Config:
    """The genae config whose generator has exactly ``g_ema``'s shapes (``encoder`` sets encoder fields)."""
    n_rgbs = _count(g_ema, "to_rgbs.{}.bias")
    n_mlp = _count(g_ema, "style.{}.weight", start=1)
    if n_mlp < 1 or n_rgbs < 1:
        raise ConversionError(f"g_ema has {n_mlp} mapping layers (style.K.weight) and {n_rgbs} to_rgbs; "
                              "expected at least one of each (a rosinality Generator state dict)")
    resolution = 2 ** (n_rgbs + 2)
    style_dim = _tensor(g_ema, "style.1.weight").shape[1]
    widths = [_tensor(g_ema, "input.input").shape[1]]
    widths += [_tensor(g_ema, f"convs.{2 * b}.conv.weight").shape[1] for b in range(n_rgbs)]
    channels_out = _tensor(g_ema, "to_rgb1.conv.weight").shape[1]
    multiplier = next((m for m in (2, 1) if resolution <= 1024 and default_widths(resolution, m) == widths), None)
    try:
        return StyleGAN2Config(
            resolution=resolution, channels_in=channels_out, latent_dim=style_dim, n_mlp=n_mlp,
            channel_multiplier=multiplier or 2, channels=None if multiplier else widths, **encoder,
        )
    except ValueError as error:
        raise ConversionError(f"unexpected shapes: g_ema does not describe a StyleGAN2 generator ({error})") from error


def genae_key(key: str) -> str | None:
    """The genae key for a rosinality ``g_ema`` key (None: a constant that genae does not store)."""
    if CONSTANT_KEY.match(key):
        return None
    if key.startswith("style."):
        return "prior.mapping." + key[len("style."):]
    return "decoder." + key


def _squeezed(shape: torch.Size) -> list[int]:
    return [d for d in shape if d != 1]


def copy_weights(model: Any, pairs: Mapping[str, tuple[str, Tensor]], where: str, reshape: bool = False,
                 required: tuple[str, ...] = ("decoder.", "prior.mapping.")) -> None:
    """Copy ``{source key: (genae key, tensor)}`` into ``model``; every tensor under ``required`` must be filled once.

    ``reshape``: tensors may differ from genae's by singleton dimensions only (NVIDIA's layout).
    """
    targets = model.state_dict()
    filled: set[str] = set()
    with torch.no_grad():
        for key, (target_key, tensor) in pairs.items():
            if target_key not in targets:
                raise ConversionError(f"{where} key {key!r} has no place in a {model.config.resolution} px stylegan2 "
                                      f"(looked for {target_key!r})")
            target = targets[target_key]
            same = tuple(tensor.shape) == tuple(target.shape)
            if not same and not (reshape and _squeezed(tensor.shape) == _squeezed(target.shape)):
                raise ConversionError(f"unexpected shape for {key!r}: got {tuple(tensor.shape)}, "
                                      f"expected {tuple(target.shape)}")
            if target_key in filled:
                raise ConversionError(f"{where} key {key!r} fills {target_key!r} a second time")
            target.copy_(tensor.reshape(target.shape))
            filled.add(target_key)
    missing = sorted(k for k in targets if k.startswith(required) and k not in filled)
    if missing:
        raise ConversionError(f"{where} lacks {len(missing)} tensors genae needs, e.g. {missing[:3]}")


def convert_state(checkpoint: Mapping[str, Any], **encoder: Any) -> Any:
    """A genae ``StyleGAN2`` (eval mode) holding the checkpoint's ``g_ema`` and ``latent_avg``."""
    import genae

    g_ema = checkpoint["g_ema"]
    config = infer_config(g_ema, **encoder)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the (untrained) inversion encoder is the same in every conversion
        model = genae.create("stylegan2", **config.to_dict())
    pairs = {}
    expected_kernel = fir_kernel(2)
    for key in g_ema:
        target_key = genae_key(key)
        if target_key is None:
            if not torch.allclose(_tensor(g_ema, key).float(), expected_kernel, atol=1e-6):
                raise ConversionError(f"g_ema[{key!r}] is not StyleGAN2's [1,3,3,1] FIR kernel; this converter "
                                      "assumes the default blur_kernel")
            continue
        pairs[key] = (target_key, _tensor(g_ema, key))
    copy_weights(model, pairs, "g_ema")
    with torch.no_grad():
        latent_avg = checkpoint.get("latent_avg")
        if latent_avg is None:
            latent_avg = model.mean_w(4096)
        if not isinstance(latent_avg, Tensor) or latent_avg.numel() != config.latent_dim:
            raise ConversionError(f"latent_avg: expected [{config.latent_dim}] or [1, {config.latent_dim}], "
                                  f"got {getattr(latent_avg, 'shape', type(latent_avg).__name__)}")
        model.prior.w_avg.copy_(latent_avg.reshape(-1))
        model.encoder.set_center(model.prior.w_avg)
    return model.eval()


def convert_rosinality(path: str | Path, out_dir: str | Path, *, card: Mapping[str, Any] | None = None,
                       **encoder: Any) -> Path:
    """Convert a rosinality ``.pt`` into a genae model folder at ``out_dir``; returns the folder."""
    path = Path(path)
    checkpoint = load_checkpoint(path)
    had_avg = "latent_avg" in checkpoint
    model = convert_state(checkpoint, **encoder)
    del checkpoint
    facts = {
        "name": f"stylegan2 ({model.resolution} px, converted)",
        "description": ("A StyleGAN2 generator (Karras et al. 2020) converted from the rosinality/stylegan2-pytorch "
                        "checkpoint format (its g_ema). The inversion encoder is untrained: invert with "
                        "genae.invert, or train the encoder with this architecture's recipe."),
        "source": f"{path.name}, rosinality format ({CODE_REPOSITORY})",
        "conversion": (f"genae convert stylegan2 {path.name} (sha256 {sha256_file(path)}); g_ema, "
                       f"latent_avg {'from the file' if had_avg else 'computed from 4096 seeded mapping draws'}; "
                       "lr_mlp 0.01 assumed"),
        "license": "other",
        "license_note": "The weights keep the terms of whoever trained them (NVIDIA's are Nvidia Source Code License-NC).",
        "limitations": "Encoder untrained (random timm backbone); decode/sample/invert are the converted generator's.",
        **(card or {}),
    }
    return model.save_pretrained(out_dir, card=facts)


@click.command("stylegan2")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--encoder-backbone", default="resnet18", show_default=True,
              help="timm model for the (untrained) inversion encoder stored with the generator.")
@click.pass_context
def convert_command(ctx: click.Context, path: Path, out_dir: Path, encoder_backbone: str) -> None:
    """Convert a StyleGAN2 generator (PATH) into a genae model folder: a rosinality stylegan2-pytorch checkpoint
    (.pt) or an NVIDIA stylegan2-ada network pickle (.pkl, read without running the code it stores)."""
    from genae.foreign.nvidia_pickle import NetworkPickleError, UnsafePickleError, is_network_pickle
    from genae_plugins.stylegan.nvidia import convert_nvidia

    try:
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
        nvidia = is_network_pickle(path)
        folder = (convert_nvidia if nvidia else convert_rosinality)(path, out_dir, encoder_backbone=encoder_backbone)
    except (ConversionError, FileNotFoundError, NetworkPickleError, UnsafePickleError) as error:
        if getattr(error, "detail", "") and (ctx.find_root().obj or {}).get("debug"):
            click.echo(error.detail, err=True)
        raise click.ClickException(str(error)) from error
    if nvidia:
        from genae.hub import read_config

        click.echo(f"not converted: {read_config(folder)['card']['not_converted']}")
    click.echo(f"wrote {folder}; load it with genae.load({str(folder)!r})")
