"""A learned inversion encoder for a frozen style-based decoder, on any timm backbone.

The backbone is ``timm.create_model(name, pretrained=False, features_only=True)``: its feature pyramid is
pooled to 2×2 per level (so position survives), concatenated, and read by a linear head giving one w, plus,
for ``output="w+"``, a small MLP whose zero-initialised last layer gives one offset per style slot (e4e's
"w + Δ_i"). The w
head's bias starts at the decoder's mean w, so an untrained encoder already decodes to the average image.
``active_offsets`` (set by the training recipe) lets the offsets in slot by slot, e4e's progressive training.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from genae.interfaces import Encoder

POOLED_SIDE = 2


def build_backbone(name: str, in_channels: int) -> nn.Module:
    """An untrained timm feature pyramid; a clear error for names timm does not know, or without timm."""
    try:
        import timm
    except ImportError as error:  # timm is an extra: only this encoder uses it
        raise ImportError("stylegan2's inversion encoder builds its backbone with timm, which is not installed: "
                          "pip install 'genae[timm]'") from error

    if name not in timm.list_models(name):
        raise ValueError(f"encoder_backbone: timm has no model {name!r} (see timm.list_models())")
    return timm.create_model(name, pretrained=False, features_only=True, in_chans=in_channels)


class TimmStyleEncoder(Encoder):
    """Images → w ``(B, D)`` (``forward``) or per-slot latents ``(B, S, D)`` (``forward_styles``)."""

    def __init__(self, backbone: str, in_channels: int, latent_dim: int, num_styles: int, output: str = "w+") -> None:
        super().__init__()
        self.latent_dim, self.num_styles, self.output = latent_dim, num_styles, output
        self.backbone = build_backbone(backbone, in_channels)
        width = sum(self.backbone.feature_info.channels()) * POOLED_SIDE**2
        self.to_w = nn.Linear(width, latent_dim)
        self.to_offsets = None
        if output == "w+":  # through a latent-wide bottleneck: a direct width × (slots·D) map would be huge
            last = nn.Linear(latent_dim, num_styles * latent_dim)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.to_offsets = nn.Sequential(nn.Linear(width, latent_dim), nn.LeakyReLU(0.2), last)
        #: Slots below this index get their offset (slot 0 never: it is w itself); all by default.
        self.register_buffer("active_offsets", torch.tensor(num_styles))

    def set_center(self, w_avg: Tensor) -> None:
        """Start the w head at the decoder's mean w."""
        with torch.no_grad():
            self.to_w.bias.copy_(w_avg.reshape(-1))

    def _features(self, x: Tensor) -> Tensor:
        levels = self.backbone(x)
        return torch.cat([F.adaptive_avg_pool2d(f, POOLED_SIDE).flatten(1) for f in levels], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.to_w(self._features(x))

    def forward_styles(self, x: Tensor) -> Tensor:
        features = self._features(x)
        w = self.to_w(features)[:, None, :].expand(-1, self.num_styles, -1)
        if self.to_offsets is None:
            return w
        offsets = self.to_offsets(features).view(-1, self.num_styles, self.latent_dim)
        mask = (torch.arange(self.num_styles, device=x.device) < self.active_offsets).to(offsets.dtype)
        mask[0] = 0  # slot 0 is w itself
        return w + offsets * mask[None, :, None]
