"""Layers with hand-written backward passes, and ``Sequential`` to compose them.

The protocol every layer follows::

    out, cache = layer.forward(x, train=True)
    dx = layer.backward(dout, cache)

``forward`` returns everything its backward pass needs in ``cache``; nothing about a
batch is kept on the layer.  That is what lets a GAN run the discriminator on a real
batch and on a fake batch, then call backward on each, in any order: each call brings
its own cache.  ``backward`` returns the gradient with respect to the input and **adds**
the parameter gradients into ``layer.grads`` (so two backward calls accumulate the sum).
With ``accumulate=False`` it *writes* them instead, replacing whatever was there: the
first backward of a step can then skip both ``zero_grad()`` and the temporary that
``grads += ...`` needs.

Notation used in the docstrings: ``x`` is the layer input ``(batch, in)``, ``y`` the
output, ``dy = ∂L/∂y`` the upstream gradient ``dout`` and ``dx = ∂L/∂x``.

Parameters are dicts from a short name (``W``, ``b``, ``gamma``, ``beta``) to arrays.
A layer built alone owns its arrays; ``Sequential`` copies them into one contiguous
buffer and rebinds each ``layer.params[name]`` to a view of it, so an optimizer updates
a whole network with one vectorized expression.  Layer code therefore always reads
``self.params["W"]`` at call time and writes gradients in place (``+=``).
"""

from __future__ import annotations

import math

from .backend import Random, xp

INITS = ("xavier", "he", "normal", "pytorch")


class Layer:
    """Base class: a layer with no parameters and no state."""

    def __init__(self):
        self.params: dict = {}  # name -> trainable array
        self.grads: dict = {}  # name -> gradient array, same shape as params[name]
        self.state: dict = {}  # name -> non-trained array (BatchNorm running statistics)

    def forward(self, x, train: bool = True):
        raise NotImplementedError

    def backward(self, dout, cache, *, param_grads: bool = True, accumulate: bool = True):
        # The flags are keyword-only: ``Sequential.backward`` has one more (``input_grad``),
        # and ``net.backward(d, c, True, False)`` would otherwise mean different things.
        raise NotImplementedError

    def zero_grad(self):
        for g in self.grads.values():
            g[...] = 0

    def __repr__(self):
        return f"{type(self).__name__}()"


class Dense(Layer):
    """Fully connected layer ``y = x @ W + b``.

    ``W: (in, out)``, ``b: (out,)``.  Backward, for ``dy: (batch, out)``::

        ∂L/∂W = xᵀ dy        (in, out)
        ∂L/∂b = Σ_batch dy   (out,)
        ∂L/∂x = dy Wᵀ        (batch, in)

    ``init`` chooses how ``W`` starts (``b`` starts at zero):

    - ``"xavier"`` (Glorot & Bengio 2010): uniform on ±sqrt(6 / (in + out)), keeps the
      variance of activations and gradients about equal across tanh/sigmoid layers;
    - ``"he"`` (He et al. 2015): normal with std sqrt(2 / in), the same idea for ReLU;
    - ``"normal"``: normal with std 0.02, as in DCGAN (Radford et al. 2015);
    - ``"pytorch"``: uniform on ±1/sqrt(in), what PyTorch's ``nn.Linear`` does by default
      (there the bias is drawn the same way; here it starts at zero).

    Without ``rng`` the weights come from a fresh ``Random(0)``, so two layers of one
    shape built that way start equal: pass one ``rng`` to every layer of a network.
    """

    def __init__(self, n_in: int, n_out: int, init: str = "xavier", rng: Random | None = None,
                 dtype="float32"):
        super().__init__()
        if n_in < 1 or n_out < 1:
            raise ValueError(f"Dense needs positive sizes, got n_in={n_in}, n_out={n_out}")
        if init not in INITS:
            raise ValueError(f"unknown init {init!r}; choose one of: {', '.join(INITS)}")
        rng = rng if rng is not None else Random(0)
        if init == "xavier":
            limit = math.sqrt(6.0 / (n_in + n_out))
            W = rng.uniform((n_in, n_out), -limit, limit, dtype=dtype)
        elif init == "he":
            W = rng.normal((n_in, n_out), dtype=dtype, scale=math.sqrt(2.0 / n_in))
        elif init == "normal":
            W = rng.normal((n_in, n_out), dtype=dtype, scale=0.02)
        else:
            limit = 1 / math.sqrt(n_in)
            W = rng.uniform((n_in, n_out), -limit, limit, dtype=dtype)
        self.n_in, self.n_out, self.init = n_in, n_out, init
        self.params = {"W": W, "b": xp.zeros(n_out, dtype=dtype)}
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}

    def forward(self, x, train=True):
        """x: (batch, in) -> y: (batch, out); cache = x."""
        W = self.params["W"]
        if x.ndim != 2 or x.shape[1] != self.n_in or x.dtype != W.dtype:
            # a single row as (in,) would pass the product and make a wrong weight
            # gradient; a float64 batch would silently turn a float32 network's work float64
            raise ValueError(f"{self!r} needs x: (batch, {self.n_in}) of {W.dtype}, got shape "
                             f"{tuple(x.shape)} of {x.dtype}")
        y = x @ W
        y += self.params["b"]
        return y, x

    def backward(self, dout, cache, *, param_grads=True, accumulate=True, input_grad=True):
        """dout: (batch, out) -> dx: (batch, in), or None when ``input_grad=False``.

        Skipping ``dx`` saves one of the backward pass's two matrix products when the
        input is data, which nothing differentiates (the first layer of D on a real or detached fake batch).
        """
        x = cache
        if param_grads and accumulate:
            self.grads["W"] += x.T @ dout
            self.grads["b"] += dout.sum(axis=0)
        elif param_grads:
            # The product goes straight into the gradient buffer: for a 1024x784 layer
            # at batch 64 that measured 16-40% faster than making x.T @ dout and adding it
            # (timeit, on the 2-core development machine, in separate sessions).
            xp.matmul(x.T, dout, out=self.grads["W"])
            xp.sum(dout, axis=0, out=self.grads["b"])
        if not input_grad:
            return None
        if self.n_out == 1:
            # dy: (batch, 1), so dy Wᵀ is an outer product.  BLAS is slow at a product
            # with an inner size of 1 (107 µs against 23 µs at batch 256 here); a
            # broadcast multiply is the same arithmetic, bit for bit.
            return dout * self.params["W"][:, 0]
        return dout @ self.params["W"].T

    def __repr__(self):
        return f"Dense({self.n_in}, {self.n_out}, init={self.init!r})"


class ReLU(Layer):
    """``y = max(x, 0)``; ``dx = dy · [x > 0]``.

    At ``x = 0`` the derivative is undefined; we use 0 there, as every framework does.
    """

    def forward(self, x, train=True):
        return xp.maximum(x, 0), x

    def backward(self, dout, cache, *, param_grads=True, accumulate=True):
        dx = (cache > 0).astype(dout.dtype)  # the 0/1 slope, as floats: see LeakyReLU
        dx *= dout
        return dx


class LeakyReLU(Layer):
    """``y = x`` for ``x > 0`` and ``alpha·x`` otherwise; ``dx = dy · (1 or alpha)``."""

    def __init__(self, alpha: float = 0.2):
        super().__init__()
        if not 0 <= alpha < math.inf:  # NaN fails this too
            raise ValueError(f"LeakyReLU needs a finite alpha >= 0, got {alpha}")
        self.alpha = float(alpha)  # a NumPy float64 scalar would make float32 work float64

    # The hot-path activations write into one new array with ``out=`` instead of building
    # temporaries: each temporary is one more allocation, and one more array written to
    # memory that is not yet in the cache (lesson 13, section 3, measures one).

    def forward(self, x, train=True):
        y = x * self.alpha
        if self.alpha <= 1:  # then max(x, αx) is the definition
            xp.maximum(y, x, out=y)
        else:
            xp.copyto(y, x, where=x > 0)
        return y, x

    def backward(self, dout, cache, *, param_grads=True, accumulate=True):
        # slope = 1 where x > 0, alpha elsewhere, built by arithmetic on the 0/1 mask:
        # a masked copy (np.where) branches on every element and measured 7-10x slower
        # on the random signs of a hidden layer (timeit, 2-core development machine).
        if self.alpha > 1:  # there (1 − α) + α can miss 1 by a rounding: copy the slopes in
            dx = xp.full_like(dout, self.alpha)
            xp.copyto(dx, 1, where=cache > 0)
        else:  # for 0 <= α <= 1, (1 − α) + α rounds to exactly 1 (tests/test_layers.py checks)
            dx = (cache > 0).astype(dout.dtype)
            dx *= 1 - self.alpha
            dx += self.alpha
        dx *= dout
        return dx

    def __repr__(self):
        return f"LeakyReLU({self.alpha})"


class Tanh(Layer):
    """``y = tanh(x)``; ``dx = dy · (1 − y²)`` (the cache is ``y``)."""

    def forward(self, x, train=True):
        y = xp.tanh(x)
        return y, y

    def backward(self, dout, cache, *, param_grads=True, accumulate=True):
        y = cache
        dx = y * y
        xp.subtract(1, dx, out=dx)  # 1 − y²
        dx *= dout
        return dx


def sigmoid(x):
    """Logistic function ``σ(x) = 1 / (1 + e^{−x})`` without overflow for any ``x``.

    Uses ``e = exp(−|x|) ∈ [0, 1]`` (0 only where it underflows): ``σ(x) = 1/(1+e)`` for
    ``x ≥ 0`` and ``e/(1+e)`` otherwise, so ``exp`` never sees a large positive argument.
    """
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Sigmoid(Layer):
    """``y = σ(x)``; ``dx = dy · y (1 − y)`` (the cache is ``y``)."""

    def forward(self, x, train=True):
        y = sigmoid(x)
        return y, y

    def backward(self, dout, cache, *, param_grads=True, accumulate=True):
        y = cache
        dx = xp.subtract(1, y)  # 1 − y
        dx *= y
        dx *= dout
        return dx


class BatchNorm1d(Layer):
    """Batch normalization over the batch axis (Ioffe & Szegedy 2015).

    Train mode, for ``x: (batch, features)`` with batch size ``N``::

        μ = mean(x), σ² = mean((x − μ)²)          (biased, over the batch)
        x̂ = (x − μ) / sqrt(σ² + eps)
        y = gamma · x̂ + beta

    and the running statistics move towards the batch ones::

        running_mean ← (1 − momentum) · running_mean + momentum · μ
        running_var  ← (1 − momentum) · running_var  + momentum · σ² · N/(N − 1)

    (``momentum`` as in PyTorch: the weight of the *new* batch; the unbiased variance goes
    into ``running_var``).  Eval mode uses the running statistics instead of μ and σ².

    Backward in train mode, with ``g = dy · gamma`` and ``s = 1/sqrt(σ² + eps)``::

        ∂L/∂gamma = Σ dy · x̂,  ∂L/∂beta = Σ dy
        ∂L/∂x = (s / N) · (N·g − Σ g − x̂ · Σ(g · x̂))
              = gamma·s · (dy − Σ dy / N − x̂ · Σ(dy · x̂) / N)

    The two sums come from μ and σ² depending on every row of the batch.  The second line,
    the one the code computes (``scale = gamma·s``), follows because gamma is the same for
    every row (Σ g = gamma·Σ dy), so it reuses the sums of ``∂L/∂beta`` and ``∂L/∂gamma``.
    In eval mode the statistics are constants, so ``∂L/∂x = g · s = dy · scale``.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, dtype="float32"):
        super().__init__()
        if num_features < 1:
            raise ValueError(f"BatchNorm1d needs a positive num_features, got {num_features}")
        if not 0 < eps < math.inf:  # NaN fails this too
            raise ValueError(f"BatchNorm1d needs a finite eps > 0, got {eps}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"BatchNorm1d needs 0 <= momentum <= 1, got {momentum}")
        self.num_features, self.eps, self.momentum = num_features, float(eps), float(momentum)
        self.params = {"gamma": xp.ones(num_features, dtype=dtype),
                       "beta": xp.zeros(num_features, dtype=dtype)}
        self.grads = {k: xp.zeros_like(v) for k, v in self.params.items()}
        self.state = {"running_mean": xp.zeros(num_features, dtype=dtype),
                      "running_var": xp.ones(num_features, dtype=dtype)}

    def forward(self, x, train=True):
        """x: (batch, features) -> y: (batch, features); cache = (x̂, s, train)."""
        if train:
            n = x.shape[0]
            if n < 2:
                raise ValueError("BatchNorm1d in train mode needs a batch of at least 2 rows")
            mean = x.mean(axis=0)
            centered = x - mean
            var = (centered * centered).mean(axis=0)
            m = self.momentum
            running_mean, running_var = self.state["running_mean"], self.state["running_var"]
            running_mean *= 1 - m
            running_mean += m * mean
            running_var *= 1 - m
            running_var += (m * n / (n - 1)) * var
        else:
            centered = x - self.state["running_mean"]
            var = self.state["running_var"]
        inv_std = 1 / xp.sqrt(var + self.eps)
        x_hat = centered
        x_hat *= inv_std  # in place: ``centered`` is not needed again
        y = x_hat * self.params["gamma"]
        y += self.params["beta"]
        return y, (x_hat, inv_std, train)

    def backward(self, dout, cache, *, param_grads=True, accumulate=True):
        """dout: (batch, features) -> dx: (batch, features)."""
        x_hat, inv_std, train = cache
        scale = self.params["gamma"] * inv_std  # gamma · s, per feature
        if not train and not param_grads:
            return dout * scale
        # The two batch sums of the formula are this batch's own beta and gamma gradients:
        # Σ g = gamma · Σ dy and Σ g·x̂ = gamma · Σ dy·x̂, so each is computed once.
        sum_dy = dout.sum(axis=0)  # ∂L/∂beta
        sum_dy_xhat = (dout * x_hat).sum(axis=0)  # ∂L/∂gamma
        if param_grads and accumulate:
            self.grads["gamma"] += sum_dy_xhat
            self.grads["beta"] += sum_dy
        elif param_grads:
            self.grads["gamma"][...] = sum_dy_xhat
            self.grads["beta"][...] = sum_dy
        if not train:
            return dout * scale
        # ∂L/∂x = gamma·s · (dy − Σdy/N − x̂ · Σ(dy·x̂)/N): four passes over the batch
        n = dout.shape[0]
        dx = x_hat * (sum_dy_xhat / -n)
        dx += dout
        dx -= sum_dy / n
        dx *= scale
        return dx

    def __repr__(self):
        return f"BatchNorm1d({self.num_features}, eps={self.eps}, momentum={self.momentum})"


class Dropout(Layer):
    """Inverted dropout: in train mode ``y = x · m / (1 − p)`` with ``m ~ Bernoulli(1 − p)``.

    ``dx = dy · m / (1 − p)`` with the same mask; the cache carries ``m / (1 − p)``
    (``keep`` is ``m`` in the code, ``scale`` is ``m / (1 − p)``).
    In eval mode ``y = x``.  The mask comes from the layer's own seeded :class:`Random`, whose state
    ``Sequential.get_rng_states`` hands to checkpoints; two layers given the same ``seed``
    drop the same units, so give each its own (``models.build_gan`` does).
    """

    def __init__(self, p: float = 0.5, seed: int = 0):
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout needs 0 <= p < 1, got {p}")
        self.p = float(p)
        self.rng = Random(seed)

    def forward(self, x, train=True):
        if not train or self.p == 0:
            return x, None
        keep = self.rng.uniform(x.shape, dtype=x.dtype) >= self.p
        scale = xp.asarray(keep, dtype=x.dtype)
        scale *= 1 / (1 - self.p)
        return x * scale, scale

    def backward(self, dout, cache, *, param_grads=True, accumulate=True):
        return dout if cache is None else dout * cache

    def __repr__(self):
        return f"Dropout({self.p})"


class MinibatchSpread(Layer):
    """Base of the layers that append one measure of the batch's spread to every row.

    For ``x: (batch, F)`` with ``N`` rows, ``y = [x, spread(x)]``: ``(batch, F + 1)``,
    where ``spread`` is one number for the whole batch, defined by a subclass's
    ``spread(x)``, which returns it with its gradient ``∂spread/∂x: (batch, F)``.  All N
    entries of the last column are the same ``spread``, so their upstream gradients add::

        ∂L/∂x = dy[:, :F] + (Σ_n dy[n, F]) · ∂spread/∂x

    The cache is ``∂spread/∂x``: each call keeps its own batch's.
    """

    def spread(self, x):
        """x: (batch, F) -> (spread: 0-d, dspread_dx: (batch, F))."""
        raise NotImplementedError

    def forward(self, x, train=True):
        """x: (batch, F) -> y: (batch, F + 1); cache = ∂spread/∂x."""
        n, f = x.shape
        spread, dspread_dx = self.spread(x)
        y = xp.empty((n, f + 1), dtype=x.dtype)
        y[:, :f] = x
        y[:, f] = spread
        return y, dspread_dx

    def backward(self, dout, cache, *, param_grads=True, accumulate=True):
        """dout: (batch, F + 1) -> dx: (batch, F)."""
        dspread_dx = cache
        dx = dspread_dx * dout[:, -1].sum()
        dx += dout[:, :-1]
        return dx


class MinibatchStd(MinibatchSpread):
    """Minibatch standard deviation (Karras et al. 2018, section 3), for flat features.

    Appends one feature to every row, the batch's ``spread``: the average over features
    of the batch's standard deviation.  For ``x: (batch, features)`` with ``N`` rows and
    ``F`` features::

        μ_f = mean_n x[n, f],  σ²_f = mean_n (x[n, f] − μ_f)²     per feature f
        std_f = sqrt(σ²_f + eps)
        spread = mean_f std_f                                      one number
        y = [x, spread]                                            (batch, F + 1)

    A discriminator with this layer sees how varied a batch is, so a generator that
    sends every z to the same image, or nearly, makes a batch whose ``spread`` gives it
    away.  ``spread`` depends on every row, as BatchNorm's statistics do; it is the same
    in train and eval mode (there are no running statistics).  Backward (see
    :class:`MinibatchSpread` for the rest)::

        ∂spread/∂x[n, f] = (x[n, f] − μ_f) / (N · F · std_f)

    (the μ term drops out of ∂σ²/∂x because Σ_n (x[n, f] − μ_f) = 0).  ``eps`` keeps
    ``std_f`` above 0, and so its derivative finite, when a feature is constant over the
    batch.  The push on a row grows with its distance from the batch mean, so a generator
    can raise ``spread`` most cheaply with a few far-out samples; lesson 12 measured
    that happening in long runs, and :class:`MinibatchMeanAbsDev` does not reward it.
    """

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        if not 0 < eps < math.inf:  # NaN fails this too
            raise ValueError(f"MinibatchStd needs a finite eps > 0, got {eps}")
        self.eps = eps

    def spread(self, x):
        n, f = x.shape
        centered = x - x.mean(axis=0)
        std = xp.sqrt((centered * centered).mean(axis=0) + self.eps)
        centered /= std * (n * f)  # now ∂spread/∂x
        return std.mean(), centered

    def __repr__(self):
        return f"MinibatchStd(eps={self.eps})"


class MinibatchMeanAbsDev(MinibatchSpread):
    """The batch's mean absolute deviation as one more feature of every row.

    Like :class:`MinibatchStd`, with the spread of feature ``f`` measured by the mean
    absolute deviation instead of the standard deviation::

        μ_f = mean_n x[n, f]
        spread = mean_f mean_n |x[n, f] − μ_f|                     one number
        y = [x, spread]                                            (batch, F + 1)

    Backward, with ``s[n, f] = sign(x[n, f] − μ_f)`` (the path through ``μ_f`` gives the
    second term; unlike the deviations themselves, the signs need not sum to 0)::

        ∂spread/∂x[n, f] = (s[n, f] − mean_m s[m, f]) / (N · F)

    So no row is pushed by more than ``2/(N·F)``, however far it lies from the mean,
    where ``MinibatchStd`` pushes a row in proportion to its distance.  That is why the
    ``default`` preset uses this one: with the standard deviation, the generator learned
    to raise the spread with a growing share of far-out blots, and runs got worse after
    five minutes (lesson 12 has the measurements).  ``|·|`` has a kink where ``x[n, f] = μ_f``;
    there the derivative used is that of ``sign(0) = 0``, as in PyTorch.  No ``eps`` is
    needed: a constant feature has spread 0 (up to the rounding of its mean) and gradient 0.
    """

    def spread(self, x):
        n, f = x.shape
        centered = x - x.mean(axis=0)
        signs = xp.sign(centered)
        spread = xp.abs(centered, out=centered).mean()  # centered is not needed again
        signs -= signs.mean(axis=0)
        signs *= 1 / (n * f)  # now ∂spread/∂x
        return spread, signs

    def __repr__(self):
        return "MinibatchMeanAbsDev()"


class Sequential:
    """Layers applied in order, with all parameters in one contiguous buffer.

    ``flat_params`` and ``flat_grads`` are 1-D arrays of the network's dtype; every
    ``layer.params[name]`` and ``layer.grads[name]`` is a reshaped view into them, and
    ``flat_state`` does the same for BatchNorm running statistics.  An optimizer reads
    and writes the two flat arrays; a checkpoint saves ``flat_params`` and ``flat_state``.
    """

    def __init__(self, *layers: Layer, dtype=None):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        self.layers = list(layers)
        arrays = [a for layer in self.layers for a in (*layer.params.values(), *layer.state.values())]
        if dtype is None:
            dtype = arrays[0].dtype if arrays else "float32"
        self.dtype = xp.dtype(dtype)
        self.flat_params = self._pack("params")
        self.flat_grads = self._pack("grads")
        self.flat_state = self._pack("state")

    def _pack(self, attr):
        """Move every ``layer.<attr>`` array into one buffer; rebind the dicts to views."""
        total = sum(int(a.size) for layer in self.layers for a in getattr(layer, attr).values())
        flat = xp.zeros(total, dtype=self.dtype)
        offset = 0
        for layer in self.layers:
            table = getattr(layer, attr)
            for name, a in table.items():
                view = flat[offset:offset + a.size].reshape(a.shape)
                view[...] = a
                table[name] = view
                offset += a.size
        return flat

    def forward(self, x, train: bool = True):
        """x: (batch, in) -> (y: (batch, out), caches: one per layer)."""
        caches = []
        for layer in self.layers:
            x, cache = layer.forward(x, train=train)
            caches.append(cache)
        return x, caches

    def backward(self, dout, caches, *, param_grads: bool = True, input_grad: bool = True,
                 accumulate: bool = True):
        """dout: (batch, out) -> dx: (batch, in).

        Adds into ``flat_grads`` unless ``param_grads=False`` (a frozen network: only the
        input gradient is computed); ``accumulate=False`` overwrites ``flat_grads``
        instead, so no ``zero_grad()`` is needed first.  ``input_grad=False`` returns
        None and lets a first Dense layer skip computing ``dx``; an activation's backward
        *is* its input gradient, so only Dense has work to skip.
        """
        first = self.layers[0]
        for layer, cache in zip(reversed(self.layers[1:]), reversed(caches[1:])):
            dout = layer.backward(dout, cache, param_grads=param_grads, accumulate=accumulate)
        if not input_grad and isinstance(first, Dense):
            return first.backward(dout, caches[0], param_grads=param_grads, accumulate=accumulate,
                                  input_grad=False)
        dx = first.backward(dout, caches[0], param_grads=param_grads, accumulate=accumulate)
        return dx if input_grad else None

    def __call__(self, x, train: bool = False):
        """Forward pass without keeping caches, in eval mode by default (for sampling)."""
        return self.forward(x, train=train)[0]

    def zero_grad(self):
        self.flat_grads[...] = 0

    def num_params(self) -> int:
        return int(self.flat_params.size)

    def named_params(self):
        """Yield ``("3.W", array)`` pairs: layer index and parameter name."""
        for i, layer in enumerate(self.layers):
            for name, a in layer.params.items():
                yield f"{i}.{name}", a

    def get_rng_states(self) -> list:
        """The states of every layer that draws random numbers (Dropout), in order."""
        return [layer.rng.get_state() for layer in self.layers if hasattr(layer, "rng")]

    def set_rng_states(self, states: list) -> None:
        owners = [layer for layer in self.layers if hasattr(layer, "rng")]
        if len(owners) != len(states):
            raise ValueError(f"network has {len(owners)} random layers, got {len(states)} states")
        for layer, state in zip(owners, states):
            layer.rng.set_state(state)

    def __repr__(self):
        inner = ",\n  ".join(repr(layer) for layer in self.layers)
        return f"Sequential(\n  {inner}\n)  # {self.num_params():,} parameters, {self.dtype}"
