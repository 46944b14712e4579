"""Optimizers that update a whole network in one vectorized expression.

Each optimizer holds a network's flat parameter buffer ``params`` and its twin gradient
buffer ``grads`` (see ``Sequential.flat_params``) and updates ``params`` in place.  There
is no loop over layers: the layers' weights are views into ``params``, so they see the
update at once.  Scratch space is allocated once, so a step makes no new arrays.

``state_dict()`` returns the state a resumed run needs: the optimizer's own buffers (for
Adam the weighted sums ``m_sum`` and ``v_sum``, not copies) and the step count ``t``;
``load_state_dict`` copies them back, so a resumed run continues with the same state.
"""

from __future__ import annotations

import math

from .backend import xp


class Optimizer:
    """Base class: holds ``params``/``grads`` and updates them all at once.

    A subclass defines ``update(g)``: the formula for the whole flat buffer, with ``g``
    its gradient.  There is no loop over layers anywhere.
    """

    state_names: tuple = ()

    def __init__(self, params, grads, lr: float, weight_decay: float = 0.0):
        if params.shape != grads.shape or params.ndim != 1:
            raise ValueError(f"params {params.shape} and grads {grads.shape} must be equal 1-D shapes")
        # written so that NaN fails each check: every comparison with NaN is False
        if not 0 < lr < math.inf:
            raise ValueError(f"learning rate must be > 0 and finite, got {lr}")
        if not 0 <= weight_decay < math.inf:
            raise ValueError(f"weight_decay must be >= 0 and finite, got {weight_decay}")
        self.params, self.grads, self.lr, self.weight_decay = params, grads, lr, weight_decay
        self.t = 0  # steps taken
        # g + wd·θ needs a buffer of its own, made on the first step that decays
        self._decayed_grads = None

    def step(self):
        """One update of every parameter, in place."""
        # One expression over the whole buffer.  Cache-sized blocks split over one thread
        # per core were twice as fast for the update alone, but no faster inside a
        # training step on the 2-core machine (lesson 5 has the figures).
        self.t += 1
        self.update(self._gradient())

    def update(self, g):
        raise NotImplementedError

    def _gradient(self):
        """The gradient, with L2 weight decay ``g + wd·θ`` folded in."""
        if not self.weight_decay:
            return self.grads
        if self._decayed_grads is None:  # weight_decay may be switched on between steps, like lr
            self._decayed_grads = xp.empty_like(self.params)
        g = self._decayed_grads
        xp.multiply(self.params, self.weight_decay, out=g)
        g += self.grads
        return g

    def state_dict(self) -> dict:
        state = {name: getattr(self, name) for name in self.state_names}
        state["t"] = self.t
        return state

    def load_state_dict(self, state: dict) -> None:
        for name in self.state_names:
            src = state[name]
            dst = getattr(self, name)
            if tuple(src.shape) != tuple(dst.shape):
                raise ValueError(f"optimizer state {name!r} has shape {tuple(src.shape)}, "
                                 f"expected {tuple(dst.shape)}")
            dst[...] = xp.asarray(src, dtype=dst.dtype)
        self.t = int(state["t"])


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015, Algorithm 1), with bias correction.

    For gradient ``g`` at step ``t`` (``g += weight_decay · θ`` first if asked, the L2
    form that PyTorch's ``Adam`` uses)::

        m ← β1·m + (1 − β1)·g          first moment
        v ← β2·v + (1 − β2)·g²         second moment
        m̂ = m / (1 − β1^t),  v̂ = v / (1 − β2^t)
        θ ← θ − lr · m̂ / (sqrt(v̂) + eps)

    GANs usually use ``betas=(0.5, 0.999)`` (Radford et al. 2015): a short memory for
    the first moment follows the moving target of the adversarial game.

    What the code stores is the same thing written as weighted *sums* instead of
    averages, ``m_sum = m / (1 − β1)`` and ``v_sum = v / (1 − β2)``::

        m_sum ← β1·m_sum + g,          v_sum ← β2·v_sum + g²
        m̂ = m_sum / w1,  v̂ = v_sum / w2,  w = 1 + β + … + β^(t−1) = (1 − β^t)/(1 − β)

    Bias correction then reads as what it is: a weighted sum divided by the sum of its
    weights.  Each sum's update takes one pass over the buffer fewer, which matters
    because the update is a large share of a training step.  ``m`` and ``v`` return the
    moments of Algorithm 1 as new arrays (writing into them changes nothing).
    """

    state_names = ("m_sum", "v_sum")

    def __init__(self, params, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, grads, lr, weight_decay)
        b1, b2 = betas
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"Adam needs 0 <= beta < 1, got betas={betas}")
        if not 0 < eps < math.inf:
            raise ValueError(f"Adam needs a finite eps > 0, got {eps}")
        self.betas, self.eps = (b1, b2), eps
        self.m_sum = xp.zeros_like(params)
        self.v_sum = xp.zeros_like(params)
        self._scratch_update = xp.empty_like(params)

    @property
    def m(self):
        """The first moment ``m`` of Algorithm 1 (a new array)."""
        return self.m_sum * (1 - self.betas[0])

    @property
    def v(self):
        """The second moment ``v`` of Algorithm 1 (a new array)."""
        return self.v_sum * (1 - self.betas[1])

    def update(self, g):
        b1, b2 = self.betas
        m_sum, v_sum, scratch, theta = self.m_sum, self.v_sum, self._scratch_update, self.params
        m_sum *= b1
        m_sum += g
        xp.multiply(g, g, out=scratch)
        v_sum *= b2
        v_sum += scratch
        w1, w2 = (1 - b1 ** self.t) / (1 - b1), (1 - b2 ** self.t) / (1 - b2)  # sums of the weights
        # θ − lr·(m_sum/w1)/(sqrt(v_sum/w2) + eps) = θ − (lr·sqrt(w2)/w1)·m_sum/(sqrt(v_sum) + eps·sqrt(w2)):
        # the corrections become two scalars, and no m̂ or v̂ array is made
        xp.sqrt(v_sum, out=scratch)
        scratch += self.eps * math.sqrt(w2)
        xp.divide(m_sum, scratch, out=scratch)
        scratch *= self.lr * math.sqrt(w2) / w1
        theta -= scratch


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum, as in PyTorch::

        u ← μ·u + g,   θ ← θ − lr·u

    With ``momentum=0`` this is plain ``θ ← θ − lr·g``.
    """

    state_names = ("velocity",)

    def __init__(self, params, grads, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(params, grads, lr, weight_decay)
        if not 0 <= momentum < 1:
            raise ValueError(f"SGD needs 0 <= momentum < 1, got {momentum}")
        self.momentum = momentum
        self.velocity = xp.zeros_like(params)
        self._step = xp.empty_like(params)

    def update(self, g):
        u, step = self.velocity, self._step
        u *= self.momentum
        u += g
        xp.multiply(u, self.lr, out=step)
        self.params -= step


class RMSprop(Optimizer):
    """RMSprop (Tieleman & Hinton 2012), as in PyTorch::

        s ← α·s + (1 − α)·g²,   θ ← θ − lr · g / (sqrt(s) + eps)

    (``s`` is ``square_avg``, PyTorch's name for it.)
    """

    state_names = ("square_avg",)

    def __init__(self, params, grads, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(params, grads, lr, weight_decay)
        if not (0 <= alpha < 1 and 0 < eps < math.inf):
            raise ValueError(f"RMSprop needs 0 <= alpha < 1 and a finite eps > 0, got {alpha}, {eps}")
        self.alpha, self.eps = alpha, eps
        self.square_avg = xp.zeros_like(params)
        self._denom = xp.empty_like(params)

    def update(self, g):
        sq, denom = self.square_avg, self._denom
        sq *= self.alpha
        xp.multiply(g, g, out=denom)
        denom *= 1 - self.alpha
        sq += denom
        xp.sqrt(sq, out=denom)
        denom += self.eps
        xp.divide(g, denom, out=denom)
        denom *= self.lr
        self.params -= denom
