"""One training iteration of a GAN: k discriminator steps, then one generator step.

This is Algorithm 1 of Goodfellow et al. (2014), with the non-saturating generator
loss by default.  Any data works, MNIST or the toy sets in ``tinygan.toy``::

    for each of k steps:                       # discriminator_step
        z ~ p(z), x ~ data
        D ← D − ∇_D [ −log D(x) − log(1 − D(G(z))) ]
    G ← G − ∇_G L_G(D(G(z)))                    # generator_step, D frozen

The discriminator sees the real batch and the fake batch in two forward calls and is
differentiated for each with its own cache: the first backward writes ``D.flat_grads``
(``accumulate=False``, so no ``zero_grad()`` pass is needed), the second adds to it.
The generator step reuses the fake batch (and G's caches) of the last discriminator step,
as the PyTorch examples do, so it adds no forward pass of G: G runs forward once per
discriminator step, once per iteration when k = 1.  That is one departure from Algorithm 1,
which draws a fresh noise minibatch for the generator step; the other is that each
``D ←`` and ``G ←`` above is one step of the optimizer (Adam by default), not plain SGD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from . import losses
from .nn import sigmoid


@dataclass
class StepStats:
    """What one iteration measured; the losses and mean probabilities are 0-d values
    (NumPy scalars on the CPU, 0-d arrays on the GPU), read with ``float()``.

    ``loss_d``, ``d_real`` and ``d_fake`` come from the last discriminator step, before
    D's update; ``loss_g`` from the generator step, through the updated D and before
    G's update."""

    loss_d: object
    loss_g: object
    d_real: object  # mean D(x) on the last real batch
    d_fake: object  # mean D(G(z)) before the generator step


class DiscriminatorStep(NamedTuple):
    """What :func:`discriminator_step` returns (a tuple, so it also unpacks in this order)."""

    loss_d: object
    d_real: object  # mean D(x)
    d_fake: object  # mean D(G(z))
    fake: object  # G(z): (batch, data_dim), which the generator step reuses ...
    g_caches: list  # ... with G's caches from the same forward pass


def discriminator_step(G, D, opt_d, x_real, z, real_target: float = 1.0) -> DiscriminatorStep:
    """One update of D on a real batch and a fake batch made from noise ``z``.

    x_real: (batch, data_dim); z: (batch, z_dim).  Returns a :class:`DiscriminatorStep`,
    ``(loss_d, d_real, d_fake, fake, g_caches)``; the last two let the generator step
    reuse this fake batch.
    """
    fake, g_caches = G.forward(z, train=True)
    real_logits, real_caches = D.forward(x_real, train=True)
    fake_logits, fake_caches = D.forward(fake, train=True)
    loss_d, dreal, dfake = losses.discriminator_loss(real_logits, fake_logits, real_target)
    # input_grad=False: nothing upstream of data is differentiated, and G is not updated here
    D.backward(dreal, real_caches, input_grad=False, accumulate=False)  # writes flat_grads
    D.backward(dfake, fake_caches, input_grad=False)  # adds to them
    opt_d.step()
    return DiscriminatorStep(loss_d, sigmoid(real_logits).mean(), sigmoid(fake_logits).mean(), fake, g_caches)


def generator_step(G, D, opt_g, fake, g_caches, loss: str = "nonsaturating"):
    """One update of G through the frozen D, on the fake batch ``fake = G(z)``.

    fake: (batch, data_dim) with ``g_caches`` from the same ``G.forward``.  D is only
    differentiated with respect to its input: its parameters and gradients stay as they
    are.  D still runs in train mode, as in PyTorch's examples: its Dropout layers draw
    fresh masks and its BatchNorm running statistics (``D.flat_state``) see this batch.
    Returns ``loss_g``.
    """
    logits, d_caches = D.forward(fake, train=True)
    loss_g, dlogits = losses.generator_loss(logits, loss)
    dfake = D.backward(dlogits, d_caches, param_grads=False)
    G.backward(dfake, g_caches, input_grad=False, accumulate=False)  # z is noise: no dz
    opt_g.step()
    return loss_g


def train_step(G, D, opt_g, opt_d, real_batches, noise, d_steps: int = 1,
               loss: str = "nonsaturating", real_target: float = 1.0) -> StepStats:
    """k = ``d_steps`` discriminator steps, then one generator step.

    ``real_batches()`` returns the next real batch ``(batch, data_dim)``; ``noise()``
    returns a noise batch ``(batch, z_dim)``.
    """
    if d_steps < 1:
        raise ValueError(f"d_steps must be >= 1, got {d_steps}")
    if loss not in losses.LOSSES:  # before D's steps, which the generator step's check would follow
        raise ValueError(f"unknown generator loss {loss!r}; choose one of: {', '.join(losses.LOSSES)}")
    for _ in range(d_steps):
        d_step = discriminator_step(G, D, opt_d, real_batches(), noise(), real_target)
    loss_g = generator_step(G, D, opt_g, d_step.fake, d_step.g_caches, loss)  # the last D step's fake batch
    return StepStats(d_step.loss_d, loss_g, d_step.d_real, d_step.d_fake)


def ema_update(target, source, decay: float):
    """``target ← decay·target + (1 − decay)·source`` in place (flat buffers).

    Used for an exponential moving average of the generator's weights, which gives
    smoother samples than the last iterate (Yazıcı et al. 2019).
    """
    # decay·target + (1 − decay)·source = decay·(target − source) + source: no temporary
    target -= source
    target *= decay
    target += source
    return target


__all__ = ["StepStats", "DiscriminatorStep", "discriminator_step", "generator_step", "train_step", "ema_update"]
