"""The stylegan plugin: the StyleGAN2 generator as a genae model, its converter, official generators and the
learned inversion encoder's training recipe. Registered through the ``genae.plugins`` entry point;
``register`` imports nothing heavy (every target is a ``"module:attr"`` string).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

BASE_URL_ENV = "GENAE_STYLEGAN2_BASE_URL"
CONVERT_WEIGHT = "https://github.com/rosinality/stylegan2-pytorch/blob/master/convert_weight.py"


@dataclass(frozen=True)
class PublicGenerator:
    """One of NVIDIA's published StyleGAN2 generators (config F) and where a genae copy comes from."""

    name: str
    nvidia_file: str  # the TensorFlow pickle NVIDIA published
    dataset: str
    resolution: int
    sha256: str | None = None  # of the rosinality-format .pt; None: not recorded (never guessed)
    aliases: tuple[str, ...] = ()

    @property
    def nvidia_url(self) -> str:
        return f"https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/{self.nvidia_file}"

    @property
    def converted_file(self) -> str:
        """The name rosinality's convert_weight.py gives the converted generator."""
        return self.nvidia_file.replace(".pkl", ".pt")


PUBLIC: dict[str, PublicGenerator] = {
    entry.name: entry
    for entry in (
        PublicGenerator("stylegan2-ffhq-1024", "stylegan2-ffhq-config-f.pkl", "ffhq", 1024, aliases=("stylegan2-ffhq",)),
        PublicGenerator("stylegan2-lsun-church-256", "stylegan2-church-config-f.pkl", "lsun-church", 256),
        PublicGenerator("stylegan2-lsun-car-512", "stylegan2-car-config-f.pkl", "lsun-car", 512),
        PublicGenerator("stylegan2-lsun-cat-256", "stylegan2-cat-config-f.pkl", "lsun-cat", 256),
    )
}


@dataclass(frozen=True)
class AdaGenerator:
    """One of NVIDIA's published stylegan2-ada-pytorch network pickles, converted on first use.

    NVIDIA publishes no checksums for these files: the card of a downloaded conversion records the SHA-256 of
    what was downloaded instead (``source_sha256``).
    """

    name: str
    file: str
    dataset: str
    resolution: int
    conditional: bool = False
    sha256: str | None = None  # None: none published

    @property
    def url(self) -> str:
        return f"https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/{self.file}"


ADA: dict[str, AdaGenerator] = {
    entry.name: entry
    for entry in (
        AdaGenerator("stylegan2-ada-ffhq-1024", "ffhq.pkl", "ffhq", 1024),
        AdaGenerator("stylegan2-ada-metfaces-1024", "metfaces.pkl", "metfaces", 1024),
        AdaGenerator("stylegan2-ada-afhq-cat-512", "afhqcat.pkl", "afhq-cat", 512),
        AdaGenerator("stylegan2-ada-afhq-dog-512", "afhqdog.pkl", "afhq-dog", 512),
        AdaGenerator("stylegan2-ada-afhq-wild-512", "afhqwild.pkl", "afhq-wild", 512),
        AdaGenerator("stylegan2-ada-brecahad-512", "brecahad.pkl", "brecahad", 512),
        AdaGenerator("stylegan2-ada-cifar10-32", "cifar10.pkl", "cifar10", 32, conditional=True),
    )
}


def register(registry: Any) -> None:
    from genae.io import cache_root
    from genae.registry import CommandSpec, FileFormatSpec, ModelSpec, PretrainedSpec

    registry.add_model(ModelSpec(
        "stylegan2", f"{__name__}.model:StyleGAN2", recipe=f"{__name__}.recipe:InversionEncoderRecipe",
        description="StyleGAN2 generator (mapping prior + synthesis, W+ slots) with a timm inversion encoder; "
                    "`genae train` trains the encoder for the frozen generator",
    ))
    mirror = os.environ.get(BASE_URL_ENV)
    for entry in PUBLIC.values():
        checksum = f"sha256 {entry.sha256}" if entry.sha256 else "no checksum recorded"
        manual = (f"convert NVIDIA's TensorFlow pickle {entry.nvidia_url} with rosinality's convert_weight.py "
                  f"(needs TensorFlow), then `genae convert stylegan2 {entry.converted_file} "
                  f"{cache_root() / 'official' / entry.name}`; or set {BASE_URL_ENV} to a server holding "
                  f"{entry.converted_file}")
        registry.add_pretrained(PretrainedSpec(
            entry.name, architecture="stylegan2", dataset=entry.dataset, resolution=entry.resolution,
            resolver=f"{__name__}.official:resolve", aliases=entry.aliases,
            source=f"NVIDIA {entry.nvidia_url}, via rosinality's convert_weight.py ({checksum})",
            download_url=f"{mirror.rstrip('/')}/{entry.converted_file}" if mirror else None,
            checksum=f"sha256:{entry.sha256}" if entry.sha256 else None, manual_step=None if mirror else manual,
            description=f"NVIDIA's StyleGAN2 config-F generator, {entry.dataset} {entry.resolution} px",
        ))
    for ada in ADA.values():
        kind = "class-conditional (10 classes) " if ada.conditional else ""
        registry.add_pretrained(PretrainedSpec(
            ada.name, architecture="stylegan2", dataset=ada.dataset, resolution=ada.resolution,
            resolver=f"{__name__}.official:resolve_ada", download_url=ada.url,
            source=f"NVIDIA {ada.url} (network pickle, read without running its code; no checksum published)",
            description=f"NVIDIA's StyleGAN2-ADA {kind}generator, {ada.dataset} {ada.resolution} px",
        ))
    registry.add_command(CommandSpec(name="convert.stylegan2", command=f"{__name__}.convert:convert_command"))
    registry.add_file_format(FileFormatSpec(
        "nvidia-network-pickle", sniff="genae.foreign.nvidia_pickle:is_network_pickle",
        convert=f"{__name__}.nvidia:convert_nvidia",
        description="NVIDIA stylegan2-ada-pytorch network pickle (.pkl), converted to stylegan2",
    ))
