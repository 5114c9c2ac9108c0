"""CycleIAE's image-to-image nets: small ResNet generators whose noise enters through conditional batch norm.

Appendix B.2: "for each layer, the noise vector is passed through a linear layer to predict the γ and β
parameters of the batch-normalization for that layer". A translator works at full resolution, goes down
once to half resolution for its residual blocks, and comes back up; both the CycleIAE's encoder (domain A
→ domain-B code image) and decoder (code image → domain A) are translators.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from genae.interfaces import Decoder, Encoder
from genae_plugins.iae.nets import noise_input


class ConditionalBatchNorm(nn.Module):
    """Batch norm whose scale and shift are predicted from the noise (plain learned ones without noise)."""

    def __init__(self, channels: int, noise_size: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=noise_size == 0)
        self.affine = nn.Linear(noise_size, 2 * channels) if noise_size else None
        if self.affine is not None:
            nn.init.zeros_(self.affine.weight)
            nn.init.zeros_(self.affine.bias)

    def forward(self, x: Tensor, noise: Tensor | None) -> Tensor:
        x = self.norm(x)
        if self.affine is None:
            return x
        gamma, beta = self.affine(noise).chunk(2, dim=1)  # type: ignore[arg-type]
        return x * (1 + gamma[:, :, None, None]) + beta[:, :, None, None]


class ConvNormAct(nn.Module):
    def __init__(self, conv: nn.Module, channels: int, noise_size: int, act: bool = True) -> None:
        super().__init__()
        self.conv, self.norm, self.act = conv, ConditionalBatchNorm(channels, noise_size), act

    def forward(self, x: Tensor, noise: Tensor | None) -> Tensor:
        x = self.norm(self.conv(x), noise)
        return F.relu(x) if self.act else x


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, noise_size: int) -> None:
        super().__init__()
        self.a = ConvNormAct(nn.Conv2d(channels, channels, 3, padding=1), channels, noise_size)
        self.b = ConvNormAct(nn.Conv2d(channels, channels, 3, padding=1), channels, noise_size, act=False)

    def forward(self, x: Tensor, noise: Tensor | None) -> Tensor:
        return F.relu(x + self.b(self.a(x, noise), noise))


class Translator(nn.Module):
    """in → conv 3×3 → stride-2 conv → residual blocks → up-conv → conv 3×3 → ``tanh``."""

    def __init__(self, in_channels: int, out_channels: int, width: int, res_blocks: int, noise_size: int) -> None:
        super().__init__()
        self.noise_size = noise_size
        self.layers = nn.ModuleList([
            ConvNormAct(nn.Conv2d(in_channels, width, 3, padding=1), width, noise_size),
            ConvNormAct(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), 2 * width, noise_size),
            *(ResidualBlock(2 * width, noise_size) for _ in range(res_blocks)),
            ConvNormAct(nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), width, noise_size),
        ])
        self.out = nn.Conv2d(width, out_channels, 3, padding=1)

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        n = noise_input(noise, x, self.noise_size)
        for layer in self.layers:
            x = layer(x, n)
        return self.out(x).tanh()


class TranslatorEncoder(Encoder):
    """Domain-A image (and ε) → domain-B code image, flattened to ``(B, latent_dim)``."""

    def __init__(self, channels_a: int, channels_b: int, resolution: int, width: int, res_blocks: int,
                 noise_size: int) -> None:
        super().__init__()
        self.latent_dim = channels_b * resolution * resolution
        self.net = Translator(channels_a, channels_b, width, res_blocks, noise_size)

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        return self.net(x, noise).flatten(1)


class TranslatorDecoder(Decoder):
    """Flattened domain-B code image (and n) → domain-A image."""

    def __init__(self, channels_a: int, channels_b: int, resolution: int, width: int, res_blocks: int,
                 noise_size: int) -> None:
        super().__init__()
        self.code_shape = (channels_b, resolution, resolution)
        self.latent_dim = channels_b * resolution * resolution
        self.net = Translator(channels_b, channels_a, width, res_blocks, noise_size)

    def forward(self, z: Tensor, noise: Tensor | None = None) -> Tensor:
        return self.net(z.view(-1, *self.code_shape), noise)
