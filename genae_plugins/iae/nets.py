"""The IAE family's networks: implicit encoder / decoder (noise as an extra input) and the discriminators.

Every implicit net takes ``noise=`` (standard-normal draws). Without it the net uses ``noise = 0``, the mode
of the noise distribution, so ``encode``/``decode`` are deterministic and evaluation is reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genae.interfaces import Decoder, Encoder


def noise_input(noise: Tensor | None, reference: Tensor, size: int, name: str = "noise") -> Tensor | None:
    """``noise`` checked to be ``(B, size)``, zeros when it is None; None when the net has no noise input."""
    if size == 0:
        if noise is not None:
            raise ValueError(f"{name}: this net is deterministic (noise size 0), so it takes no noise")
        return None
    batch = reference.shape[0]
    if noise is None:
        return reference.new_zeros(batch, size)
    if not isinstance(noise, Tensor) or tuple(noise.shape) != (batch, size):
        shape = tuple(noise.shape) if isinstance(noise, Tensor) else type(noise).__name__
        raise ValueError(f"{name}: expected standard-normal draws of shape ({batch}, {size}), got {shape}")
    return noise.to(reference)


def _mlp(widths: Sequence[int], batch_norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
        if batch_norm:
            layers.append(nn.BatchNorm1d(b))
    return layers


class MLPEncoder(Encoder):
    """z = f(x, ε): the flattened image (and ε) through ReLU + batch-norm FC layers (Table 1's encoder).

    ``categorical``: the output is a softmax over ``latent_dim`` categories (clustering / semi-supervised
    IAE); :meth:`logits` gives the pre-softmax values for the cross-entropy on labelled batches.
    ``logit_batch_norm`` (not in the paper): batch-normalise those logits. Once a softmax saturates its
    gradient vanishes, so an encoder that has put every image into a few categories cannot leave them, whatever
    the regularisation GAN says; standardising each category's logit over the batch keeps every category in
    play (benchmarks/results/iae-cluster-ablation.md: 6-9 of 30 categories used without it, 22-30 with it).
    """

    def __init__(self, image_shape: tuple[int, int, int], latent_dim: int, widths: Sequence[int],
                 noise_size: int = 0, categorical: bool = False, logit_batch_norm: bool = False) -> None:
        super().__init__()
        self.latent_dim, self.noise_size, self.categorical = latent_dim, noise_size, categorical
        inputs = image_shape[0] * image_shape[1] * image_shape[2] + noise_size
        self.body = nn.Sequential(*_mlp([inputs, *widths], batch_norm=True))
        self.out = nn.Linear(widths[-1] if widths else inputs, latent_dim)
        self.logit_norm = nn.BatchNorm1d(latent_dim) if logit_batch_norm else None

    def logits(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        flat = x.flatten(1)
        eps = noise_input(noise, flat, self.noise_size)
        out = self.out(self.body(flat if eps is None else torch.cat([flat, eps], 1)))
        return self.logit_norm(out) if self.logit_norm is not None else out

    def forward(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        out = self.logits(x, noise)
        return out.softmax(dim=1) if self.categorical else out


class ConvDecoder(Decoder):
    """x = g(z, n): FC → FC to a C×s×s map → stride-2 4×4 up-convolutions → ``tanh`` (Table 1's decoder)."""

    def __init__(self, latent_dim: int, out_channels: int, hidden: int, channels: Sequence[int], start: int,
                 noise_size: int = 0) -> None:
        super().__init__()
        self.latent_dim, self.noise_size = latent_dim, noise_size
        self.start, self.first = start, channels[0]
        self.fc = nn.Sequential(*_mlp([latent_dim + noise_size, hidden, channels[0] * start * start], batch_norm=True))
        ups: list[nn.Module] = []
        for a, b in zip(channels[:-1], channels[1:]):
            ups += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.ReLU(), nn.BatchNorm2d(b)]
        ups += [nn.ConvTranspose2d(channels[-1], out_channels, 4, stride=2, padding=1), nn.Tanh()]
        self.ups = nn.Sequential(*ups)

    def forward(self, z: Tensor, noise: Tensor | None = None) -> Tensor:
        n = noise_input(noise, z, self.noise_size)
        h = self.fc(z if n is None else torch.cat([z, n], 1))
        return self.ups(h.view(z.shape[0], self.first, self.start, self.start))


class LatentBias(nn.Module):
    """How the reconstruction discriminator conditions on z (appendix B.1): an adaptive bias on its first conv.

    ``location-dependent``: a 1-hidden-layer ReLU net maps z to an ``H×W`` map broadcast over channels.
    ``location-invariant``: a linear map of z to one bias per channel, broadcast over positions.
    ``image``: z is itself an image (CycleIAE); it is concatenated to the input channels instead.
    """

    def __init__(self, kind: str, latent_dim: int, channels: int, size: int, hidden: int = 1000) -> None:
        super().__init__()
        self.kind, self.size = kind, size
        if kind == "location-dependent":
            self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.ReLU(), nn.Linear(hidden, size * size))
        elif kind == "location-invariant":
            self.net = nn.Linear(latent_dim, channels)
        else:
            raise ValueError(f"conditioning: expected 'location-dependent' or 'location-invariant', got {kind!r}")

    def forward(self, z: Tensor) -> Tensor:
        if self.kind == "location-dependent":
            return self.net(z).view(-1, 1, self.size, self.size)
        return self.net(z)[:, :, None, None]


class ImageDiscriminator(nn.Module):
    """Stride-2 4×4 convs, an FC layer and one logit (Table 1's reconstruction discriminator).

    ``conditioning`` None: an unconditional image discriminator (regularisation GAN of flipped IAE /
    CycleIAE). Otherwise the logit is of the pair (x, z): ``"image"`` concatenates the code image as
    channels, the two appendix-B options add :class:`LatentBias` to the first conv's pre-activation.
    Leaky ReLU and no batch norm (the paper: ReLU and BN), so real and fake batches never share statistics.
    """

    def __init__(self, image_shape: tuple[int, int, int], channels: Sequence[int], hidden: int,
                 conditioning: str | None = None, latent_dim: int = 0, condition_hidden: int = 1000,
                 code_channels: int = 0) -> None:
        super().__init__()
        in_channels, resolution = image_shape[0], image_shape[1]
        self.code_shape = (code_channels, resolution, resolution) if conditioning == "image" else None
        first_in = in_channels + (code_channels if conditioning == "image" else 0)
        self.first = nn.Conv2d(first_in, channels[0], 4, stride=2, padding=1)
        self.bias = (LatentBias(conditioning, latent_dim, channels[0], resolution // 2, condition_hidden)
                     if conditioning not in (None, "image") else None)
        convs: list[nn.Module] = []
        for a, b in zip(channels[:-1], channels[1:]):
            convs += [nn.Conv2d(a, b, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        self.convs = nn.Sequential(*convs)
        side = resolution >> len(channels)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels[-1] * side * side, hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(hidden, 1))

    def forward(self, x: Tensor, z: Tensor | None = None) -> Tensor:
        """Logits ``(B,)``: "real" for positive values."""
        if self.code_shape is not None:
            x = torch.cat([x, z.view(-1, *self.code_shape)], 1)  # type: ignore[union-attr]
        h = self.first(x)
        if self.bias is not None:
            h = h + self.bias(z)
        return self.head(self.convs(F.leaky_relu(h, 0.2)))[:, 0]


class CodeDiscriminator(nn.Module):
    """The regularisation GAN's discriminator on codes: ReLU FC layers (2 × 2000 in the paper), one logit.

    ``batch_mean``: each code is also shown the mean code of the batch it came in (not in the paper). A
    per-code discriminator can only tell "one-hot or not", so an encoder that puts every image in 4 of 30
    categories passes it; the batch mean of one-hot prior draws is close to uniform, so with it the
    discriminator sees unequal category use at once and the encoder is pushed to spread over the categories
    (the minibatch-statistics remedy for mode collapse, as in progressive GANs' minibatch standard deviation).
    """

    def __init__(self, latent_dim: int, widths: Sequence[int], batch_mean: bool = False) -> None:
        super().__init__()
        self.batch_mean = batch_mean
        inputs = latent_dim * (2 if batch_mean else 1)
        self.net = nn.Sequential(*_mlp([inputs, *widths], batch_norm=False), nn.Linear(widths[-1], 1))

    def forward(self, z: Tensor) -> Tensor:
        if self.batch_mean:
            z = torch.cat([z, z.mean(0, keepdim=True).expand_as(z)], 1)
        return self.net(z)[:, 0]
