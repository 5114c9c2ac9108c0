"""The automodulator plugin: model, training recipe, bundled and official pretrained weights, converter.

Registered through the ``genae.plugins`` entry point like any third-party plugin. ``register`` imports
nothing heavy: the model, recipe, resolver and converter command are ``"module:attr"`` strings.
"""

from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass
from typing import Any

BUNDLED = "automodulator-fashion-mnist-32"
#: The defaults of the registered names (``automodulator``, ``vae``, ...): the "compact" width presets, sized to
#: train in minutes on a CPU; ``<name>-paper`` keeps the config's own (the authors' widths, latent 512).
COMPACT_DEFAULTS: dict[str, Any] = {"channels": "compact", "encoder_channels": "compact", "latent_dim": 128}
ZENODO_FILES = "https://zenodo.org/record/4298894/files"
BASE_URL_ENV = "GENAE_OFFICIAL_BASE_URL"


@dataclass(frozen=True)
class OfficialWeights:
    name: str
    file: str  # file name in the Zenodo record; the number is the training images seen
    hub_name: str  # the authors' torch.hub name
    dataset: str
    resolution: int
    arch: str | None  # decoder preset "large" or "small", checked against the shapes; None: read them
    fid: float | None  # FID-50k the authors report (their README)
    md5: str | None = None  # Zenodo's md5 for the file; None = not recorded (never guessed)
    hub_repo: str | None = None  # a converted genae folder on the Hugging Face Hub, once published
    aliases: tuple[str, ...] = ()


OFFICIAL: dict[str, OfficialWeights] = {
    entry.name: entry
    for entry in (
        OfficialWeights("automodulator-ffhq-256", "34740000_state.pth", "ffhq256", "ffhq", 256, "large", 31.64,
                        aliases=("automodulator-ffhq",)),
        OfficialWeights("automodulator-ffhq-512", "42420000_state.pth", "ffhq512", "ffhq", 512, "large", None),
        OfficialWeights("automodulator-celebahq-256", "31877148_state.pth", "celebahq256", "celeba-hq", 256, "small",
                        29.13),
        OfficialWeights("automodulator-lsun-cars-256", "32057140_state.pth", "lsuncars256", "lsun-cars", 256,
                        "large", 19.82),
        OfficialWeights("automodulator-lsun-bedrooms-256", "27574284_state.pth", "lsunbedrooms256", "lsun-bedrooms",
                        256, "large", 25.53),
    )
}


def download_url(entry: OfficialWeights, base_url: str | None = None) -> str:
    """Where ``entry``'s file is fetched: ``base_url``, else ``$GENAE_OFFICIAL_BASE_URL``, else Zenodo."""
    base = base_url or os.environ.get(BASE_URL_ENV) or ZENODO_FILES
    return f"{base.rstrip('/')}/{entry.file}"


def register_official(registry: Any) -> None:
    from genae.registry import PretrainedSpec

    for entry in OFFICIAL.values():
        checksum = f"md5 {entry.md5}" if entry.md5 else "no checksum recorded"
        registry.add_pretrained(PretrainedSpec(
            entry.name, architecture="automodulator", dataset=entry.dataset, resolution=entry.resolution,
            resolver=f"{__name__}.official:resolve", aliases=entry.aliases,
            source=f"authors' weights, Zenodo 4298894/{entry.file} (converted on first use; {checksum})",
            download_url=download_url(entry), checksum=f"md5:{entry.md5}" if entry.md5 else None,
            description=f"official automodulator ({entry.arch} decoder), {entry.dataset} {entry.resolution} px",
        ))


def _packaged(folder: str) -> bool:
    return importlib.resources.files(__name__).joinpath("pretrained", folder, "config.json").is_file()


def register(registry: Any) -> None:
    from genae.registry import CommandSpec, ModelSpec, PretrainedSpec

    description = "Deep Automodulators (Heljakka et al. 2020): style-based autoencoder, unit-sphere latent"
    for name, defaults, size in (("automodulator", COMPACT_DEFAULTS, "compact widths, latent 128"),
                                 ("automodulator-paper", {}, "the authors' widths, latent 512")):
        registry.add_model(ModelSpec(
            name, f"{__name__}.model:Automodulator", recipe=f"{__name__}.recipe:AutomodulatorRecipe",
            defaults=dict(defaults), description=f"{description}; {size}",
        ))
    registry.add_alias("automod", "automodulator")
    if _packaged(BUNDLED):  # only weights that ship are listed
        registry.add_pretrained(PretrainedSpec(
            BUNDLED, architecture="automodulator", dataset="fashion-mnist", resolution=32,
            package_files=f"{__name__}:pretrained/{BUNDLED}",
            source="trained on CPU by the script recorded in benchmarks/",
            description="automodulator trained on Fashion-MNIST 32×32 (bundled)",
        ))
    register_official(registry)
    registry.add_command(CommandSpec(name="convert.automodulator", command=f"{__name__}.convert:convert_command"))
