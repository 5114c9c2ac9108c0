"""GAN losses on raw discriminator logits: non-saturating logistic (Goodfellow et al.) and R1 (Mescheder et al.).

StyleGAN and LIA train with exactly these: the generator minimises ``softplus(−D(G(z)))``, the discriminator
``softplus(D(fake)) + softplus(−D(real))`` plus ``γ/2 · E‖∇ₓD(x)‖²`` on real images.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from genae.precision import full_precision


def generator_logistic_loss(fake_logits: Tensor) -> Tensor:
    """Non-saturating generator loss ``mean softplus(−D(fake))``."""
    return F.softplus(-full_precision(fake_logits)).mean()


def discriminator_logistic_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``mean softplus(D(fake)) + mean softplus(−D(real))``."""
    return F.softplus(full_precision(fake_logits)).mean() + F.softplus(-full_precision(real_logits)).mean()


def r1_penalty(real_logits: Tensor, real_images: Tensor) -> Tensor:
    """``E‖∇ₓD(x)‖²`` over the batch (unweighted: the recipe multiplies by γ/2).

    ``real_images`` must require grad and ``real_logits`` must be computed from them; the gradient graph
    is kept so the penalty trains the discriminator.
    """
    if not real_images.requires_grad:
        raise ValueError("real_images: R1 needs the images the logits came from, with requires_grad=True")
    (grad,) = torch.autograd.grad(full_precision(real_logits).sum(), real_images, create_graph=True)
    return full_precision(grad).pow(2).flatten(1).sum(1).mean()
