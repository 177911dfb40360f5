"""course.numpy_net, the numpy network of chapter 6b: its gradients are the loss's, its steps are
Keras's, and training a sweep side by side is training each rate alone."""

from __future__ import annotations

import os

import numpy as np
import pytest

from course import numpy_net as net

KERAS_RTOL = 1e-5   # Keras computes in float32 (rounding 6e-8 per value); a few steps stay well inside


def batched(seed: int, n_nets: int) -> list[np.ndarray]:
    """n_nets different networks (biases not zero, so every gradient entry is exercised)."""
    rng = np.random.default_rng(seed)
    return [w[None] + 0.1 * rng.normal(size=(n_nets, *w.shape)) for w in net.init_weights(seed)]


def mean_loss(weights, x, y) -> np.ndarray:
    _, p = net.forward(weights, x)
    return -np.mean(np.log(p[:, np.arange(len(y)), y]), axis=1)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 1, size=(16, 64)), rng.integers(0, 10, size=16)
    weights = batched(1, n_nets=2)
    analytic = net.gradients(weights, x, y)
    h = 1e-6
    for k, w in enumerate(weights):
        for index in [tuple(rng.integers(0, n) for n in w.shape) for _ in range(25)]:
            plus = [a.copy() for a in weights]
            minus = [a.copy() for a in weights]
            plus[k][index] += h
            minus[k][index] -= h
            numeric = (mean_loss(plus, x, y) - mean_loss(minus, x, y)) / (2 * h)
            network = index[0]   # a weight of one network changes that network's loss only
            assert numeric[1 - network] == pytest.approx(0, abs=1e-12)
            assert analytic[k][index] == pytest.approx(numeric[network], rel=1e-5, abs=1e-9), (k, index)


def test_the_loss_is_keras_cross_entropy_with_its_clipping():
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 1, size=(30, 64)), rng.integers(0, 10, size=30)
    weights = batched(3, n_nets=1)
    loss, accuracy = net.evaluate(weights, x, y)
    _, p = net.forward(weights, x)
    assert np.allclose(p.sum(-1), 1) and np.all(p > 0)
    assert loss[0] == pytest.approx(mean_loss(weights, x, y)[0], rel=1e-12)
    assert accuracy[0] == np.mean(p[0].argmax(-1) == y)


def keras_steps(optimizer, gradients: np.ndarray, w0: np.ndarray) -> np.ndarray:
    import keras

    variable = keras.Variable(w0.astype("float32"))
    for g in gradients:
        optimizer.apply([g.astype("float32")], [variable])
    return variable.numpy().astype(float)


@pytest.mark.parametrize("name", net.OPTIMIZERS)
def test_each_step_is_the_keras_update(name):
    """Five steps on gradients of four sizes (10 to 1e-3), at a rate that is not the default."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    lr = 0.03
    optimizer = {
        "SGD": keras.optimizers.SGD(lr),
        "momentum": keras.optimizers.SGD(lr, momentum=0.9),
        "Adagrad": keras.optimizers.Adagrad(lr),
        "RMSprop": keras.optimizers.RMSprop(lr),
        "Adam": keras.optimizers.Adam(lr),
    }[name]
    rng = np.random.default_rng(4)
    gradients = rng.normal(size=(5, 4)) * np.array([10.0, 1.0, 0.1, 1e-3])
    w0 = rng.normal(size=4)
    w, state = w0.copy(), net.initial_state(name, w0)
    for t, g in enumerate(gradients, start=1):
        w, state = net.step(name, w, g, state, t, lr)
    assert np.allclose(w, keras_steps(optimizer, gradients, w0), rtol=KERAS_RTOL, atol=0)
    assert np.abs(w - w0).min() > 1e-4   # every weight moved: the comparison says something


def test_adam_step_is_the_papers_update_with_epsilon_hat():
    """Chapter 6's formula: Keras's Adam is Algorithm 1 of Kingma and Ba with epsilon replaced by
    epsilon / sqrt(1 - beta_2^t), and its first step is lr per weight whatever the gradient."""
    rng = np.random.default_rng(5)
    w, m, s = rng.normal(size=6), np.zeros(6), np.zeros(6)
    beta_1, beta_2, eps, lr = 0.9, 0.999, 1e-7, 0.01
    for t in range(1, 8):
        g = rng.normal(size=6) * 10.0 ** rng.integers(-6, 2, size=6)
        new_w, m_new, s_new = net.adam_step(w, g, m, s, t, lr, beta_1, beta_2, eps)
        m_paper = beta_1 * m + (1 - beta_1) * g
        s_paper = beta_2 * s + (1 - beta_2) * g**2
        m_hat, s_hat = m_paper / (1 - beta_1**t), s_paper / (1 - beta_2**t)
        eps_hat = eps / np.sqrt(1 - beta_2**t)
        assert np.allclose(new_w, w - lr * m_hat / (np.sqrt(s_hat) + eps_hat), rtol=1e-12, atol=1e-15)
        assert np.allclose([m_new, s_new], [m_paper, s_paper], rtol=1e-12)
        w, m, s = new_w, m_new, s_new
    first = net.adam_step(np.zeros(3), np.array([5.0, -0.2, 0.05]), np.zeros(3), np.zeros(3), 1, lr)[0]
    assert np.allclose(np.abs(first), lr, rtol=1e-4)


def test_a_sweep_side_by_side_is_each_rate_alone():
    from course.data import load_digits_split

    x, y, _, _ = load_digits_split()
    x = x[:300].astype(float)
    y = y[:300]
    rates = [1e-3, 3e-2]
    together, _, history = net.train("Adam", rates, x, y, seed=0, epochs=2)
    assert history.shape == (2, 2) and history[1, -1] < history[1, 0]   # it learns
    for i, lr in enumerate(rates):
        alone, _, _ = net.train("Adam", [lr], x, y, seed=0, epochs=2)
        for a, b in zip(alone, together):
            assert np.allclose(a[0], b[i], rtol=1e-12, atol=1e-15)


def test_bad_input_gets_a_clear_message():
    x, y = np.zeros((4, 64)), np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match="unknown optimizer 'Adamm'"):
        net.train("Adamm", [0.1], x, y, seed=0)
    with pytest.raises(ValueError, match="non-empty list of learning rates"):
        net.train("Adam", [], x, y, seed=0)
    with pytest.raises(ValueError, match=r"x must be \(n, 64\)"):
        net.train("Adam", [0.1], np.zeros((4, 8)), y, seed=0)
