"""Losses on discriminator *logits*, each returning the loss and its gradient.

The discriminator outputs a logit ``a``; its probability that the input is real is
``D = σ(a)``.  Working on logits instead of probabilities is what keeps the losses finite:

    −log σ(a)     = softplus(−a)
    −log(1 − σ(a)) = softplus(a)
    softplus(a)   = log(1 + e^a) = max(a, 0) + log(1 + e^{−|a|})

The right-hand form never exponentiates a large positive number, so it is accurate to
rounding and finite for logits of any size in float32, where ``log(sigmoid(a))`` would
give ``log(0) = −inf`` once ``σ(a)`` rounds to 0.  The derivatives are just as simple:
``d softplus(a)/da = σ(a)``.  (``bce_with_logits`` writes its loss as
``softplus(a) − t·a``, which cancels for ``t = 1`` and large ``a``: at ``a = 20``
float32 gives 0 for the true 2e-9.  The GAN losses use ``softplus(−a)`` there instead.)

Every loss is a mean over the batch, and every gradient is ``∂loss/∂logits`` with the
``1/N`` of that mean included, ready to feed into ``Sequential.backward``.
"""

from __future__ import annotations

from .backend import xp
from .nn import sigmoid

LOSSES = ("nonsaturating", "minimax")


def softplus(a):
    """``log(1 + e^a)``, stable for any ``a``."""
    return xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a)))


def bce_with_logits(logits, targets):
    """Binary cross-entropy ``−[t log σ(a) + (1 − t) log(1 − σ(a))]``, summed over every
    entry and divided by the batch size ``N = logits.shape[0]`` (for ``(batch, 1)``
    logits, the mean over the batch).

    logits, targets: (batch, k), equal shapes; targets in [0, 1].
    Returns ``(loss, dlogits)`` with ``dlogits = (σ(a) − t) / N``.

    Derivation: the loss is ``t·softplus(−a) + (1 − t)·softplus(a)``
    = ``softplus(a) − t·a``, whose derivative is ``σ(a) − t``.
    """
    if tuple(targets.shape) != tuple(logits.shape):  # (N, 1) against (N,) would broadcast to (N, N)
        raise ValueError(f"bce_with_logits needs targets of the logits' shape {tuple(logits.shape)}, "
                         f"got {tuple(targets.shape)}")
    n = logits.shape[0]
    loss = (softplus(logits) - targets * logits).sum() / n
    dlogits = (sigmoid(logits) - targets) / n
    return loss, dlogits


def discriminator_loss(real_logits, fake_logits, real_target: float = 1.0):
    """``L_D = −mean log D(x) − mean log(1 − D(G(z)))`` on logits.

    real_logits: (n_real, 1) from real data x; fake_logits: (n_fake, 1) from G(z).
    ``real_target < 1`` is one-sided label smoothing (Salimans et al. 2016): the real
    batch is scored against ``t = real_target`` instead of 1.  Returns
    ``(loss, dreal, dfake)``, the gradients w.r.t. each batch of logits::

        dreal = (σ(a_real) − t) / n_real,   dfake = σ(a_fake) / n_fake
    """
    n_real, n_fake = real_logits.shape[0], fake_logits.shape[0]
    real_target = float(real_target)  # a NumPy float64 scalar would make the float32 gradients float64
    if real_target == 1.0:
        loss_real = softplus(-real_logits).sum() / n_real
    else:
        loss_real = (softplus(real_logits) - real_target * real_logits).sum() / n_real
    loss_fake = softplus(fake_logits).sum() / n_fake
    dreal = (sigmoid(real_logits) - real_target) / n_real
    dfake = sigmoid(fake_logits) / n_fake
    return loss_real + loss_fake, dreal, dfake


def generator_loss_minimax(fake_logits):
    """The saturating loss of the original minimax game: ``L_G = mean log(1 − D(G(z)))``.

    fake_logits: (batch, 1).  ``log(1 − σ(a)) = −softplus(a)``, so
    ``dloss/da = −σ(a) / N``, which goes to 0 as ``a → −∞``: when D confidently rejects
    the fakes (early in training) the generator gets almost no gradient.
    """
    n = fake_logits.shape[0]
    loss = -softplus(fake_logits).sum() / n
    return loss, -sigmoid(fake_logits) / n


def generator_loss_nonsaturating(fake_logits):
    """The non-saturating loss Goodfellow et al. recommend: ``L_G = −mean log D(G(z))``.

    fake_logits: (batch, 1).  ``−log σ(a) = softplus(−a)``, so
    ``dloss/da = (σ(a) − 1) / N``, which tends to ``−1/N`` as ``a → −∞``: a strong
    gradient exactly when the generator is losing.
    """
    n = fake_logits.shape[0]
    loss = softplus(-fake_logits).sum() / n
    return loss, (sigmoid(fake_logits) - 1) / n


def generator_loss(fake_logits, kind: str = "nonsaturating"):
    """Dispatch on ``kind``: ``"nonsaturating"`` (default) or ``"minimax"``."""
    if kind == "nonsaturating":
        return generator_loss_nonsaturating(fake_logits)
    if kind == "minimax":
        return generator_loss_minimax(fake_logits)
    raise ValueError(f"unknown generator loss {kind!r}; choose one of: {', '.join(LOSSES)}")


def softmax_cross_entropy(logits, labels):
    """Multi-class cross-entropy ``−mean log softmax(a)[y]`` on logits, for classifiers.

    logits: (batch, classes); labels: (batch,) integer class indices.
    Returns ``(loss, dlogits)`` with ``dlogits = (softmax(a) − onehot(y)) / N``.

    Stability: with ``m = max_k a_k``, ``log Σ_k e^{a_k} = m + log Σ_k e^{a_k − m}``
    (log-sum-exp), so every exponent is ≤ 0 and nothing overflows; the largest term is
    ``e^0 = 1``, so the sum never underflows to 0 and the log stays finite.
    """
    n, classes = logits.shape
    labels = xp.asarray(labels)
    if labels.shape != (n,):  # (N, 1) labels would index N×N pairs
        raise ValueError(f"softmax_cross_entropy needs labels of shape ({n},), got {labels.shape}")
    # whole numbers of any dtype (np.loadtxt reads floats); but −1 would index the last
    # class, and 2.9 would truncate to 2, without a word
    whole = labels.dtype.kind in "iu" or labels.dtype.kind == "f" and bool((labels == xp.floor(labels)).all())
    if not whole or n and not (0 <= float(labels.min()) and float(labels.max()) < classes):
        raise ValueError(f"softmax_cross_entropy needs labels that are whole numbers in [0, {classes}), got "
                         f"{labels.dtype} labels" + (f" from {labels.min()} to {labels.max()}" if n else ""))
    labels = labels.astype("int64", copy=False)
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = xp.exp(shifted)
    sum_exp = exp.sum(axis=1, keepdims=True)
    rows = xp.arange(n)
    # −log softmax(a)[y] = log Σ e^{a − m} − (a_y − m)
    loss = (xp.log(sum_exp[:, 0]) - shifted[rows, labels]).sum() / n
    dlogits = exp / sum_exp
    dlogits[rows, labels] -= 1
    dlogits /= n
    return loss, dlogits
