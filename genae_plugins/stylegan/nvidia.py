"""Convert NVIDIA StyleGAN2-ADA network pickles (``ffhq.pkl``, ``cifar10.pkl``, any stylegan2-ada-pytorch
snapshot) into genae ``stylegan2`` model folders.

The file is read by :mod:`genae.foreign.nvidia_pickle`, which runs nothing from it. The generator is
``G_ema`` (else ``G``, else a bare ``Generator``); every shape (resolution, widths, mapping depth and
width, z/w/c dims, 1 or 3 channels, ``conv_clamp``) comes from the stored tensors and attributes. The key
mapping is :func:`genae_key`: NVIDIA's ``synthesis.b{res}.conv0/conv1/torgb`` are genae's (rosinality's)
``convs``/``to_rgbs``, ``mapping.fc{i}`` the mapping's layer ``i+1``, ``mapping.w_avg`` the mean w; tensors
differ only by singleton dimensions (``const`` [C,4,4] is [1,C,4,4] here). NVIDIA's synthesis convs apply no
equalised-lr gain before demodulation, genae's do: demodulation cancels it (up to the 1e-8 epsilon).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genae.downloads import file_digest
from genae.foreign.nvidia_pickle import NetworkDescription, NetworkPickle, read_network_pickle
from genae_plugins.stylegan.config import StyleGAN2Config
from genae_plugins.stylegan.convert import ConversionError, copy_weights
from genae_plugins.stylegan.generator import fir_kernel

CODE_REPOSITORY = "https://github.com/NVlabs/stylegan2-ada-pytorch"
GENERATOR_KEYS = ("G_ema", "G", "network")
BLOCK = re.compile(r"^b(\d+)$")
CONV_PARTS = {"affine.weight": "conv.modulation.weight", "affine.bias": "conv.modulation.bias",
              "weight": "conv.weight", "bias": "activate.bias", "noise_strength": "noise.weight"}
TORGB_PARTS = {"affine.weight": "conv.modulation.weight", "affine.bias": "conv.modulation.bias",
               "weight": "conv.weight", "bias": "bias"}
#: NVIDIA's ``setup_filter([1, 3, 3, 1])``: the FIR filter normalised to sum 1 (a constant genae rebuilds).
RESAMPLE_FILTER = fir_kernel(2) / 4


def generator_of(networks: NetworkPickle) -> NetworkDescription:
    """The generator to convert: ``G_ema`` (what NVIDIA's own scripts sample with), else ``G``."""
    for key in GENERATOR_KEYS:
        network = networks.networks.get(key)
        if network is not None and network.class_name == "Generator":
            if "synthesis" not in network.modules or not any(BLOCK.match(n) for n in network.modules["synthesis"].children):
                raise ConversionError(f"{networks.path}: StyleGAN3 generators are not supported yet (its {key} has "
                                      "no StyleGAN2 synthesis blocks b4 … b<res>)")
            return network
    found = {k: v.class_name for k, v in networks.networks.items()}
    raise ConversionError(f"{networks.path}: no StyleGAN2 Generator in the pickle (networks: {found})")


def block_resolutions(generator: NetworkDescription) -> list[int]:
    resolutions = sorted(int(BLOCK.match(n).group(1)) for n in generator.modules["synthesis"].children if BLOCK.match(n))
    if resolutions != [4 * 2**i for i in range(len(resolutions))] or len(resolutions) < 2:
        raise ConversionError(f"synthesis blocks at {resolutions} px; expected 4, 8, … doubling up to the image size")
    return resolutions


def genae_key(key: str) -> str | None:
    """The genae state-dict key for an NVIDIA ``G_ema`` key (None: the FIR filter constant, checked and dropped)."""
    if key.endswith("resample_filter"):
        return None
    if key == "mapping.w_avg":
        return "prior.w_avg"
    mapping = re.match(r"^mapping\.(fc(\d+)|embed)\.(weight|bias)$", key)
    if mapping:
        layer = "embed" if mapping.group(1) == "embed" else str(int(mapping.group(2)) + 1)
        return f"prior.mapping.{layer}.{mapping.group(3)}"
    if key == "synthesis.b4.const":
        return "decoder.input.input"
    layer = re.match(r"^synthesis\.b(\d+)\.(conv0|conv1|torgb)\.(.+)$", key)
    if not layer:
        raise ConversionError(f"G_ema key {key!r} is not part of a StyleGAN2 generator")
    block = int(layer.group(1)).bit_length() - 3  # 0 for the 4 px block
    name, part = layer.group(2), layer.group(3)
    if name == "torgb":
        target = "decoder.to_rgb1" if block == 0 else f"decoder.to_rgbs.{block - 1}"
        parts = TORGB_PARTS
    else:
        index = 2 * block - (1 if name == "conv0" else 0)  # layer order: b4.conv1, b8.conv0, b8.conv1, ...
        if part == "noise_const":
            return f"decoder.noises.noise_{index}"
        target = "decoder.conv1" if index == 0 else f"decoder.convs.{index - 1}"
        parts = CONV_PARTS
    if part not in parts:
        raise ConversionError(f"G_ema key {key!r}: unknown {name} tensor {part!r}")
    return f"{target}.{parts[part]}"


def _tensor(generator: NetworkDescription, key: str) -> Tensor:
    tensor = generator.state_dict.get(key)
    if tensor is None:
        raise ConversionError(f"G_ema lacks tensor {key!r}")
    return tensor


def _uniform(generator: NetworkDescription, class_names: tuple[str, ...], attribute: str) -> set[Any]:
    return {m.attributes.get(attribute) for m in generator.modules.values() if m.class_name in class_names}


def infer_config(generator: NetworkDescription, **encoder: Any) -> StyleGAN2Config:
    """The genae config whose generator has exactly this NVIDIA generator's shapes."""
    n_mlp = sum(1 for k in generator.state_dict if re.match(r"^mapping\.fc\d+\.weight$", k))
    if n_mlp < 1:
        raise ConversionError("G_ema has no mapping layers (mapping.fc0.weight)")
    embed = generator.state_dict.get("mapping.embed.weight")
    c_dim, embed_dim = (embed.shape[1], embed.shape[0]) if embed is not None else (0, None)
    first, last = _tensor(generator, "mapping.fc0.weight"), _tensor(generator, f"mapping.fc{n_mlp - 1}.weight")
    resolutions = block_resolutions(generator)
    widths = [_tensor(generator, "synthesis.b4.const").shape[0]]
    widths += [_tensor(generator, f"synthesis.b{r}.conv0.weight").shape[0] for r in resolutions[1:]]
    architectures = {generator.modules[f"synthesis.b{r}"].attributes.get("architecture", "skip") for r in resolutions}
    if architectures != {"skip"}:
        raise ConversionError(f"synthesis architecture {sorted(map(str, architectures))}: genae's StyleGAN2 is the "
                              "'skip' generator (NVIDIA's default)")
    num_ws = generator.modules["synthesis"].attributes.get("num_ws", 2 * len(widths))
    if num_ws != 2 * len(widths):
        raise ConversionError(f"synthesis reads {num_ws} ws; a StyleGAN2 'skip' generator of {len(widths)} blocks "
                              f"reads {2 * len(widths)}")
    activations = {m.attributes.get("activation") for path, m in generator.modules.items()
                   if m.class_name == "SynthesisLayer" or re.match(r"^mapping\.fc\d+$", path)}
    if activations != {"lrelu"}:
        raise ConversionError(f"activations {sorted(map(str, activations))}: genae's StyleGAN2 uses lrelu throughout")
    clamps = _uniform(generator, ("SynthesisLayer", "ToRGBLayer"), "conv_clamp")
    if len(clamps) != 1:
        raise ConversionError(f"layers use different conv_clamp values {sorted(map(str, clamps))}; genae supports one")
    lr_mlp = {getattr(generator.modules.get(f"mapping.fc{i}"), "attributes", {}).get("bias_gain") for i in range(n_mlp)}
    if len(lr_mlp) != 1 or None in lr_mlp:
        raise ConversionError(f"mapping layers' lr multipliers (bias_gain) are {sorted(map(str, lr_mlp))}; "
                              "expected one value stored on every mapping.fc layer")
    try:
        return StyleGAN2Config(
            resolution=resolutions[-1], channels_in=_tensor(generator, f"synthesis.b{resolutions[-1]}.torgb.weight").shape[0],
            latent_dim=last.shape[0], n_mlp=n_mlp, lr_mlp=float(lr_mlp.pop()), channels=widths,
            z_dim=first.shape[1] - (embed_dim or 0), mapping_dim=first.shape[0] if n_mlp > 1 else None,
            c_dim=c_dim, embed_dim=embed_dim, conv_clamp=clamps.pop(), **encoder,
        )
    except ValueError as error:
        raise ConversionError(f"unexpected shapes: G_ema does not describe a StyleGAN2 generator ({error})") from error


def discriminator_key(key: str) -> str | None:
    """The genae key for an NVIDIA ``D`` key: the same name under ``discriminator.`` (the label mapping's
    ``fc{i}`` is layer ``i+1``, as in the generator's mapping); None for the FIR filter constants."""
    if key.endswith("resample_filter"):
        return None
    mapping = re.match(r"^mapping\.fc(\d+)\.(weight|bias)$", key)
    return f"discriminator.mapping.{int(mapping.group(1)) + 1}.{mapping.group(2)}" if mapping else f"discriminator.{key}"


def infer_discriminator(d: NetworkDescription) -> dict[str, Any]:
    """The :class:`StyleGAN2Discriminator` arguments for NVIDIA's ``D`` (its 'resnet' architecture only)."""
    if d.class_name != "Discriminator":
        raise ConversionError(f"a {d.class_name}, not NVIDIA's Discriminator")
    blocks = sorted(int(BLOCK.match(n).group(1)) for n in d.modules[""].children if BLOCK.match(n))
    resolutions = [4 * 2**i for i in range(len(blocks))]
    if blocks != resolutions or len(blocks) < 2:
        raise ConversionError(f"blocks at {blocks} px; expected 4, 8, … doubling up to the image size")
    architectures = {d.modules[f"b{r}"].attributes.get("architecture") for r in blocks[1:]}
    mbstd = d.modules.get("b4.mbstd")
    if architectures != {"resnet"} or mbstd is None or mbstd.attributes.get("num_channels") != 1:
        raise ConversionError(f"architecture {sorted(map(str, architectures))} / minibatch std "
                              f"{getattr(mbstd, 'attributes', None)}: genae's is 'resnet' with one mbstd channel")
    widths = [_tensor(d, "b4.conv.weight").shape[0]] + [_tensor(d, f"b{r}.conv0.weight").shape[0] for r in blocks[1:]]
    clamps = _uniform(d, ("Conv2dLayer",), "conv_clamp") - {None}  # the 1×1 skips are never clamped
    if len(clamps) > 1:
        raise ConversionError(f"layers use different conv_clamp values {sorted(clamps)}; genae supports one")
    kwargs: dict[str, Any] = {"widths": widths, "channels_in": _tensor(d, f"b{blocks[-1]}.fromrgb.weight").shape[1],
                              "mbstd_group_size": mbstd.attributes["group_size"], "conv_clamp": next(iter(clamps), None)}
    embed = d.state_dict.get("mapping.embed.weight")
    if embed is not None:
        layers = sum(1 for k in d.state_dict if re.match(r"^mapping\.fc\d+\.weight$", k))
        kwargs.update(c_dim=embed.shape[1], embed_dim=embed.shape[0], mapping_layers=layers,
                      cmap_dim=_tensor(d, "b4.out.weight").shape[0], mapping_dim=_tensor(d, "mapping.fc0.weight").shape[0],
                      mapping_lr=float(d.modules["mapping.fc0"].attributes.get("bias_gain", 0.01)))
    return kwargs


def fp16_resolutions(generator: NetworkDescription) -> list[int]:
    """Resolutions of the blocks NVIDIA's config runs in float16 (``num_fp16_res``)."""
    return [r for r in block_resolutions(generator) if generator.modules[f"synthesis.b{r}"].attributes.get("use_fp16")]


def convert_generator(generator: NetworkDescription, discriminator: NetworkDescription | None = None,
                      **encoder: Any) -> Any:
    """A genae ``StyleGAN2`` (eval mode) holding this NVIDIA generator's weights and ``w_avg`` (and ``D``'s)."""
    import genae

    config = infer_config(generator, **encoder)
    if discriminator is not None:
        config.discriminator = infer_discriminator(discriminator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the (untrained) inversion encoder is the same in every conversion
        model = genae.create("stylegan2", **config.to_dict())
    pairs = {}
    for key, tensor in generator.state_dict.items():
        target = genae_key(key)
        if target is None:
            if tuple(tensor.shape) != (4, 4) or not torch.allclose(tensor.float(), RESAMPLE_FILTER, atol=1e-6):
                raise ConversionError(f"G_ema[{key!r}] is not the [1,3,3,1] resample filter this converter assumes")
            continue
        pairs[key] = (target, tensor)
    copy_weights(model, pairs, "G_ema", reshape=True)
    if discriminator is not None:
        d_pairs = {k: (discriminator_key(k), t) for k, t in discriminator.state_dict.items() if discriminator_key(k)}
        copy_weights(model, d_pairs, "D", required=("discriminator.",))
    if "mapping.w_avg" not in generator.state_dict:  # a generator built with w_avg_beta=None tracks no mean
        with torch.no_grad():
            model.prior.w_avg.copy_(model.mean_w()[0])
    model.encoder.set_center(model.prior.w_avg)
    return model.eval()


def skipped_networks(networks: NetworkPickle, used: str, discriminator_problem: str | None) -> dict[str, str]:
    """What the file holds besides the converted networks, and why each is not converted."""
    why = {"D": f"not converted: {discriminator_problem}", "augment_pipe": "training-only augmentation",
           "G": "the raw training generator (G_ema is converted)"}
    found = {k: f"{v.class_name}: {why.get(k, 'not a generator genae converts')}"
             for k, v in networks.networks.items() if k != used and (k != "D" or discriminator_problem)}
    found.update({k: "empty (None) in the file" for k in networks.skipped})
    return found


def convert_nvidia(path: str | Path, out_dir: str | Path, *, card: Mapping[str, Any] | None = None,
                   **encoder: Any) -> Path:
    """Convert an NVIDIA network pickle into a genae model folder at ``out_dir``; returns the folder."""
    path = Path(path)
    networks = read_network_pickle(path)
    generator = generator_of(networks)
    used = next(k for k in GENERATOR_KEYS if networks.networks.get(k) is generator)
    discriminator, problem = networks.networks.get("D"), None
    if discriminator is not None:
        try:
            infer_discriminator(discriminator)
        except ConversionError as error:
            discriminator, problem = None, str(error)
    model = convert_generator(generator, discriminator, **encoder)
    fp16 = fp16_resolutions(generator)
    skipped = skipped_networks(networks, used, problem)
    precision = ("NVIDIA's config runs the blocks at " + ", ".join(f"{r}" for r in fp16) + " px in float16; genae runs "
                 "every block in float32, so images match NVIDIA's force_fp32 output (to ~1e-5) and differ from "
                 "its default-dtype output by fp16 rounding (4.5e-3 max on a 32 px test model)") if fp16 else (
        "float32 throughout, as in NVIDIA's config")
    facts = {
        "name": f"stylegan2 ({model.resolution} px, converted from an NVIDIA pickle)",
        "description": ("A StyleGAN2 generator (Karras et al. 2020) converted from an NVIDIA stylegan2-ada-pytorch "
                        f"network pickle ({used}), read without running the code stored in the pickle. The inversion "
                        "encoder is untrained: invert with genae.invert, or train it with this architecture's recipe."),
        "source": f"{path.name}, NVIDIA network pickle ({CODE_REPOSITORY})",
        "source_sha256": file_digest(path, "sha256"),
        "conversion": (f"genae convert stylegan2 {path.name}; {used} with its w_avg"
                       f"{', D as model.discriminator' if discriminator is not None else ''}; "
                       f"conv_clamp {model.config.conv_clamp}, c_dim {model.config.c_dim}"),
        "not_converted": "; ".join(f"{k} ({v})" for k, v in skipped.items()) or "nothing",
        "precision": precision,
        "license": "other",
        "license_note": "The weights keep the terms of whoever trained them (NVIDIA's are Nvidia Source Code License-NC).",
        "limitations": "Encoder untrained (random timm backbone); decode/sample/invert are the converted generator's.",
        **(card or {}),
    }
    return model.save_pretrained(out_dir, card=facts)
