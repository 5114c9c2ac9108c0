"""Reusable network pieces shared by genae's models (style-based decoders, progressive encoders)."""

from genae.layers.adain import AdaIN
from genae.layers.blur import Blur
from genae.layers.equalized import EqualizedConv2d, EqualizedLinear
from genae.layers.flow import AdditiveCoupling, NICEFlow
from genae.layers.minibatch_std import MinibatchStdDev
from genae.layers.noise import NoiseInjection

__all__ = [
    "AdaIN", "AdditiveCoupling", "Blur", "EqualizedConv2d", "EqualizedLinear", "MinibatchStdDev", "NICEFlow",
    "NoiseInjection",
]
