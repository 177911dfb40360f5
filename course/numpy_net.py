"""Chapter 6b's digits network in numpy: a whole learning-rate sweep trained in one loop.

The chapter races SGD, momentum, Adagrad, RMSprop and Adam on the digits (64 -> 32 -> 10, ReLU,
softmax, mean cross-entropy), 9 learning rates x 2 seeds x 5 optimizers, and probes each run for
chaos. In Keras that is minutes; here every array carries a leading axis with one network per
learning rate, so one loop of matrix products trains the whole sweep in seconds. Chapter 6b
replays one run in Keras and shows that the weights agree to float32 rounding.

Notation (the course's table): w a weight, g its gradient, alpha the learning rate (`lr`), t the
step counting from 1; v momentum's velocity, s the running mean of g^2 (Adagrad's accumulator,
RMSprop's and Adam's second moment), m Adam's first moment, rho, beta_1, beta_2, epsilon as Keras.

The update functions are the ones chapter 6 derives and checks against Keras, step for step:
all elementwise, so `lr` may be an array that broadcasts, one rate per network. Each returns
the new weights first, then the new state, and changes nothing in place.
tests/test_numpy_net.py checks the gradients against finite differences and the steps against
Keras.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Array = np.ndarray
Rate = float | Array   # one learning rate, or one per network (broadcasting against w)

OPTIMIZERS = ("SGD", "momentum", "Adagrad", "RMSprop", "Adam")
MOMENTUM = 0.9                 # "momentum" is Keras's SGD(momentum=0.9)
INITIAL_ACCUMULATOR = 0.1      # Keras's Adagrad(initial_accumulator_value=0.1)
LAYERS = (64, 32, 10)          # the digits network of chapter 2


# --- the optimizers, as Keras computes them ------------------------------------------------------

def sgd_step(w: Array, g: Array, velocity: Array, lr: Rate = 0.01,
             momentum: float = 0.0) -> tuple[Array, Array]:
    """Keras's SGD: v <- momentum * v - lr * g; w <- w + v. Returns (w, v)."""
    velocity = momentum * velocity - lr * g
    return w + velocity, velocity


def adagrad_step(w: Array, g: Array, accumulator: Array, lr: Rate = 0.001,
                 epsilon: float = 1e-7) -> tuple[Array, Array]:
    """Keras's Adagrad: s <- s + g^2; w <- w - lr * g / sqrt(s + eps). Returns (w, s)."""
    accumulator = accumulator + g**2
    return w - lr * g / np.sqrt(accumulator + epsilon), accumulator


def rmsprop_step(w: Array, g: Array, s: Array, lr: Rate = 0.001, rho: float = 0.9,
                 epsilon: float = 1e-7) -> tuple[Array, Array]:
    """Keras's RMSprop (momentum=0, centered=False):
    s <- rho * s + (1 - rho) * g^2; w <- w - lr * g / sqrt(s + eps). Returns (w, s)."""
    s = rho * s + (1 - rho) * g**2
    return w - lr * g / np.sqrt(s + epsilon), s


def adam_step(w: Array, g: Array, m: Array, s: Array, t: int,
              lr: Rate = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
              epsilon: float = 1e-7) -> tuple[Array, Array, Array]:
    """Keras's Adam, t counting from 1: both bias corrections folded into
    the rate, alpha_t = lr sqrt(1 - beta_2^t) / (1 - beta_1^t), and epsilon
    added after the root. Returns (w, m, s)."""
    m = m + (1 - beta_1) * (g - m)
    s = s + (1 - beta_2) * (g**2 - s)
    alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
    return w - alpha * m / (np.sqrt(s) + epsilon), m, s


def initial_state(name: str, w: Array) -> list[Array]:
    """A fresh optimizer's state for weights shaped like `w`, as Keras starts it."""
    _check_name(name)
    if name == "Adagrad":
        return [np.full_like(w, INITIAL_ACCUMULATOR)]
    if name == "Adam":
        return [np.zeros_like(w), np.zeros_like(w)]
    return [np.zeros_like(w)]


def step(name: str, w: Array, g: Array, state: Sequence[Array], t: int,
         lr: Rate) -> tuple[Array, list[Array]]:
    """One step of the named optimizer, Keras's defaults except the rate.
    Returns (w, new state)."""
    _check_name(name)
    if name == "SGD":
        w, *state = sgd_step(w, g, *state, lr)
    elif name == "momentum":
        w, *state = sgd_step(w, g, *state, lr, momentum=MOMENTUM)
    elif name == "Adagrad":
        w, *state = adagrad_step(w, g, *state, lr)
    elif name == "RMSprop":
        w, *state = rmsprop_step(w, g, *state, lr)
    else:
        w, *state = adam_step(w, g, *state, t, lr)
    return w, state


def _check_name(name: str) -> None:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}")


# --- the network: every array has a leading axis, one network per learning rate ---------------

def init_weights(seed: int) -> list[Array]:
    """Glorot-uniform kernels and zero biases, as Keras's Dense starts: [W1, b1, W2, b2] for one
    network (no leading axis)."""
    rng = np.random.default_rng(seed)

    def glorot(n_in: int, n_out: int) -> Array:
        limit = np.sqrt(6 / (n_in + n_out))
        return rng.uniform(-limit, limit, (n_in, n_out))

    n_in, n_hidden, n_out = LAYERS
    return [glorot(n_in, n_hidden), np.zeros(n_hidden), glorot(n_hidden, n_out), np.zeros(n_out)]


def forward(weights: Sequence[Array], x: Array) -> tuple[Array, Array]:
    """The forward pass of every network:
    a = relu(x W1 + b1), p = softmax(a W2 + b2), with a the hidden layer.
    W1, b1, W2, b2 have shapes (n_nets, 64, 32), (n_nets, 32),
    (n_nets, 32, 10), (n_nets, 10); x is (batch, 64).
    Returns (a, p), shaped (n_nets, batch, 32) and (n_nets, batch, 10)."""
    W1, b1, W2, b2 = weights
    hidden = np.maximum(x @ W1 + b1[:, None], 0)
    logits = hidden @ W2 + b2[:, None]
    # softmax, shifted by the largest logit so that exp cannot overflow
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return hidden, p / p.sum(axis=-1, keepdims=True)


def evaluate(weights: Sequence[Array], x: Array, y: Array) -> tuple[Array, Array]:
    """Mean cross-entropy and accuracy of each network on (x, y), as two arrays of length n_nets.
    Probabilities are clipped at 1e-7 as Keras's loss clips them."""
    _, p = forward(weights, x)
    p_true = p[:, np.arange(len(y)), y]
    return (-np.mean(np.log(np.maximum(p_true, 1e-7)), axis=1),
            np.mean(p.argmax(-1) == y, axis=1))


def gradients(weights: Sequence[Array], x: Array, y: Array) -> list[Array]:
    """Back-propagation of the mean cross-entropy, for each network: the
    gradients of [W1, b1, W2, b2], shaped like the weights. Softmax and
    cross-entropy together give d loss / d logits = (p - onehot(y)) / batch.
    """
    W1, b1, W2, b2 = weights
    hidden, p = forward(weights, x)
    d_logits = p.copy()
    d_logits[:, np.arange(len(y)), y] -= 1
    d_logits /= len(y)
    # back through W2, then through the ReLU: it passes where a > 0
    d_hidden = (d_logits @ W2.transpose(0, 2, 1)) * (hidden > 0)
    return [
        x.T @ d_hidden,
        d_hidden.sum(1),
        hidden.transpose(0, 2, 1) @ d_logits,
        d_logits.sum(1),
    ]


def train(name: str, lrs: Sequence[float] | Array, x: Array, y: Array, seed: int,
          epochs: int = 10, batch_size: int = 64, shuffle: bool = True,
          nudge: float = 0.0) -> tuple[list[Array], list[list[Array]], Array]:
    """Train one network per learning rate in `lrs`, all from the same start (init_weights(seed))
    and on the same batches (shuffled by a generator seeded with `seed`), with the named optimizer
    at Keras's defaults. `nudge` scales the initial weights by (1 + nudge): a probe for chaos.

    Returns (weights, optimizer states, history): weights and states keep the leading axis, and
    history holds the training loss after each epoch, one row per rate. A diverging network
    overflows to inf or nan; that is a result, not an error.
    """
    _check_name(name)
    lrs = np.asarray(lrs, dtype=float)
    if lrs.ndim != 1 or len(lrs) == 0:
        raise ValueError(f"lrs must be a non-empty list of learning rates, got shape {lrs.shape}")
    if x.shape[1:] != (LAYERS[0],) or len(x) != len(y):
        raise ValueError(f"x must be (n, {LAYERS[0]}) and y (n,), got {x.shape} and {y.shape}")
    # every network starts from the same weights: a copy per rate
    weights = [np.repeat(w[None] * (1 + nudge), len(lrs), axis=0)
               for w in init_weights(seed)]
    states = [initial_state(name, w) for w in weights]
    order_rng, t, history = np.random.default_rng(seed), 0, []
    with np.errstate(all="ignore"):   # diverging networks overflow: fine
        for _ in range(epochs):
            order = (order_rng.permutation(len(y)) if shuffle
                     else np.arange(len(y)))
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                t += 1
                grads = gradients(weights, x[batch], y[batch])
                for k, g in enumerate(grads):
                    # one rate per network, broadcast over its weights
                    lr = lrs.reshape(-1, *[1] * (g.ndim - 1))
                    weights[k], states[k] = step(
                        name, weights[k], g, states[k], t, lr)
            history.append(evaluate(weights, x, y)[0])
    return weights, states, np.array(history).T
