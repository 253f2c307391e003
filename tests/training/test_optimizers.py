"""Every configured optimizer against its update rule written out in numpy.

The rules are the lecture's (seed/000_07a52183ceecabe9.txt, "SGD and bells and
whistles") and, for AdamW / Nadam / Lion, their papers'. Where Keras' rule differs
from the lecture, a comment says how and the test checks Keras' exact rule (and, where
it matters, that the lecture's rule really is different).

The small problem: least squares ``L(x) = 0.5 * |A x - b|^2`` over two variables (a
matrix and a vector, so per-tensor and global clipping differ), three steps, each from
the gradient ``A^T (A x - b)`` at the current point. float64 variables keep the
comparison tight.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from builder.training.optimizers import build_optimizer, current_learning_rate

RNG = np.random.default_rng(7)
A = RNG.normal(size=(5, 3))
B = RNG.normal(size=(5,))
W0 = RNG.normal(size=(3,))          # the "vector" variable
M0 = RNG.normal(size=(2, 3))        # the "matrix" variable: loss 0.5 * |M|^2 * c
STEPS = 3


def grads(w, m):
    """Gradients of 0.5|A w - b|^2 + 0.25 |m|^2 (m's is only there to be clipped)."""
    return A.T @ (A @ w - B), 0.5 * m


def keras_run(training: dict, steps: int = STEPS, *, steps_per_epoch: int = 1):
    opt = build_optimizer(training, steps_per_epoch, 10)
    w = keras.Variable(W0.copy(), dtype="float64")
    m = keras.Variable(M0.copy(), dtype="float64")
    out = []
    for _ in range(steps):
        gw, gm = grads(np.asarray(w.numpy()), np.asarray(m.numpy()))
        opt.apply_gradients([(keras.ops.convert_to_tensor(gw), w),
                             (keras.ops.convert_to_tensor(gm), m)])
        out.append((np.asarray(w.numpy()).copy(), np.asarray(m.numpy()).copy()))
    return out


def numpy_run(step_fn, steps: int = STEPS, *, clip=lambda gs: gs):
    """Runs ``step_fn(x, dx, state, t) -> x`` on both variables (state per variable)."""
    xs = [W0.copy(), M0.copy()]
    states = [{}, {}]
    out = []
    for t in range(1, steps + 1):
        gs = clip(list(grads(*xs)))
        xs = [step_fn(x, dx, state, t) for x, dx, state in zip(xs, gs, states)]
        out.append((xs[0].copy(), xs[1].copy()))
    return out


def assert_same(keras_out, numpy_out, rtol=1e-6, atol=1e-9):
    # The learning rate lives in a float32 variable (0.05 is not exact there): that,
    # not the rule, limits agreement to ~1e-8 relative.
    for (kw, km), (nw, nm) in zip(keras_out, numpy_out):
        np.testing.assert_allclose(kw, nw, rtol=rtol, atol=atol)
        np.testing.assert_allclose(km, nm, rtol=rtol, atol=atol)


def test_sgd_is_the_vanilla_update():
    def vanilla(x, dx, state, t):
        return x + -0.05 * dx               # x += - learning_rate * dx
    assert_same(keras_run({"optimizer": {"name": "sgd", "learning_rate": 0.05}}),
                numpy_run(vanilla))


@pytest.mark.parametrize("mu", [0.5, 0.9, 0.99])
def test_momentum_is_the_lectures_velocity_update(mu):
    def momentum(x, dx, state, t):
        v = state.get("v", np.zeros_like(x))
        v = mu * v - 0.05 * dx              # integrate velocity
        state["v"] = v
        return x + v                         # integrate position
    assert_same(keras_run({"optimizer": {"name": "momentum", "learning_rate": 0.05,
                                         "momentum": mu}}),
                numpy_run(momentum))


def test_nesterov_is_the_lectures_preferred_form():
    # Keras writes it as v = mu v - lr dx; x += mu v - lr dx, which expands to the
    # lecture's x += -mu v_prev + (1 + mu) v; the numbers must agree.
    mu = 0.9

    def nesterov(x, dx, state, t):
        v_prev = state.get("v", np.zeros_like(x))
        v = mu * v_prev - 0.05 * dx
        state["v"] = v
        return x + -mu * v_prev + (1 + mu) * v
    assert_same(keras_run({"optimizer": {"name": "nesterov", "learning_rate": 0.05,
                                         "momentum": mu}}),
                numpy_run(nesterov))
    plain = keras_run({"optimizer": {"name": "momentum", "learning_rate": 0.05,
                                     "momentum": mu}})
    assert not np.allclose(plain[-1][0], numpy_run(nesterov)[-1][0])


@pytest.mark.parametrize("initial", [0.0, 0.1])
def test_adagrad_caches_squared_gradients(initial):
    # The lecture's cache starts at 0; Keras' at initial_accumulator_value (default
    # 0.1). With 0 the rules are identical, epsilon 1e-7 inside the sqrt in both.
    def adagrad(x, dx, state, t):
        cache = state.get("cache", np.full_like(x, initial)) + dx ** 2
        state["cache"] = cache
        return x + -0.1 * dx / np.sqrt(cache + 1e-7)
    assert_same(keras_run({"optimizer": {"name": "adagrad", "learning_rate": 0.1,
                                         "initial_accumulator_value": initial}}),
                numpy_run(adagrad))


@pytest.mark.parametrize("decay_rate", [0.9, 0.99, 0.999])
def test_rmsprop_is_the_lectures_leaky_cache(decay_rate):
    def rmsprop(x, dx, state, t):
        cache = state.get("cache", np.zeros_like(x))
        cache = decay_rate * cache + (1 - decay_rate) * dx ** 2
        state["cache"] = cache
        return x + -0.01 * dx / np.sqrt(cache + 1e-7)
    assert_same(keras_run({"optimizer": {"name": "rmsprop", "learning_rate": 0.01,
                                         "rho": decay_rate}}),
                numpy_run(rmsprop))


def _f32(value: float) -> float:
    # Keras turns the python betas into float32 tensors before casting them to the
    # variable's float64 for the bias correction: 1 - 0.999 then carries float32's
    # rounding (~1e-5 relative), so the oracle rounds the same way there.
    return float(np.float32(value))


def _adam_moments(dx, state, b1, b2):
    m = b1 * state.get("m", np.zeros_like(dx)) + (1 - b1) * dx
    v = b2 * state.get("v", np.zeros_like(dx)) + (1 - b2) * dx ** 2
    state["m"], state["v"] = m, v
    return m, v


def test_adam_is_the_lecture_rule_with_keras_bias_correction():
    # The lecture's slide drops the paper's bias correction ("check paper"). Keras
    # keeps it, folded into the step size, with epsilon outside the sqrt:
    #   alpha_t = lr * sqrt(1 - b2^t) / (1 - b1^t);  x -= alpha_t * m / (sqrt(v) + eps)
    # (the paper divides by sqrt(v_hat) + eps: the same up to where eps sits).
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7

    def keras_adam(x, dx, state, t):
        m, v = _adam_moments(dx, state, b1, b2)
        alpha = lr * np.sqrt(1 - _f32(b2) ** t) / (1 - _f32(b1) ** t)
        return x - alpha * m / (np.sqrt(v) + eps)

    def lecture_adam(x, dx, state, t):
        m, v = _adam_moments(dx, state, b1, b2)
        return x + -lr * m / (np.sqrt(v) + 1e-7)
    got = keras_run({"optimizer": {"name": "adam", "learning_rate": lr}})
    assert_same(got, numpy_run(keras_adam))
    # Without correction the first step is (1-b1)/sqrt(1-b2) ~ 3.2 times Keras' step.
    first_keras = got[0][0] - W0
    first_lecture = numpy_run(lecture_adam)[0][0] - W0
    np.testing.assert_allclose(first_lecture / first_keras,
                               (1 - b1) / np.sqrt(1 - b2), rtol=1e-4)


def test_adamw_is_the_paper_rule_with_decay_scaled_by_the_rate():
    # Loshchilov & Hutter (2019), Alg. 2: x -= eta * (alpha * m_hat / (sqrt(v_hat) +
    # eps) + lambda * x). Keras applies the decay first as x -= lr * wd * x, i.e. the
    # paper's lambda is lr * wd here (the PyTorch convention), then the Adam step.
    lr, wd, b1, b2, eps = 0.01, 0.05, 0.9, 0.999, 1e-7

    def adamw(x, dx, state, t):
        m, v = _adam_moments(dx, state, b1, b2)
        x = x - lr * wd * x
        alpha = lr * np.sqrt(1 - _f32(b2) ** t) / (1 - _f32(b1) ** t)
        return x - alpha * m / (np.sqrt(v) + eps)
    assert_same(keras_run({"optimizer": {"name": "adamw", "learning_rate": lr,
                                         "weight_decay": wd}}),
                numpy_run(adamw))


def test_nadam_is_dozats_rule_with_the_momentum_schedule():
    # Dozat (2016), with Keras' (and TF's) momentum schedule u_t = b1 (1 - 0.5 *
    # 0.96^t) and the running product of the u's in the bias terms.
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-7

    def u(t):
        return b1 * (1 - 0.5 * 0.96 ** t)

    def nadam(x, dx, state, t):
        m, v = _adam_moments(dx, state, b1, b2)
        prod_t = np.prod([u(i) for i in range(1, t + 1)])
        prod_t1 = prod_t * u(t + 1)
        m_hat = u(t + 1) * m / (1 - prod_t1) + (1 - u(t)) * dx / (1 - prod_t)
        v_hat = v / (1 - b2 ** t)
        return x - lr * m_hat / (np.sqrt(v_hat) + eps)
    assert_same(keras_run({"optimizer": {"name": "nadam", "learning_rate": lr}}),
                numpy_run(nadam))


def test_lion_is_the_papers_sign_update_with_decoupled_decay():
    # Chen et al. (2023), Program 1: c = b1 m + (1 - b1) g; x -= lr (sign(c) + wd x);
    # m = b2 m + (1 - b2) g. Keras' weight decay x -= lr * wd * x is exactly that term.
    lr, b1, b2, wd = 0.001, 0.9, 0.99, 0.1

    def lion(x, dx, state, t):
        m = state.get("m", np.zeros_like(x))
        c = b1 * m + (1 - b1) * dx
        x = x - lr * (np.sign(c) + wd * x)
        state["m"] = b2 * m + (1 - b2) * dx
        return x
    assert_same(keras_run({"optimizer": {"name": "lion", "learning_rate": lr,
                                         "beta_1": b1, "beta_2": b2,
                                         "weight_decay": wd}}),
                numpy_run(lion))


def test_weight_decay_shrinks_weights_by_rate_times_decay_each_step():
    lr, wd = 0.05, 0.2

    def sgd_wd(x, dx, state, t):
        return x - lr * wd * x - lr * dx
    assert_same(keras_run({"optimizer": {"name": "sgd", "learning_rate": lr,
                                         "weight_decay": wd}}),
                numpy_run(sgd_wd))


def test_weight_decay_follows_the_scheduled_rate():
    # Step decay halves the rate every step here; the decay term must halve too.
    wd = 0.2

    def sgd_wd(x, dx, state, t):
        lr = 0.05 * 0.5 ** (t - 1)
        return x - lr * wd * x - lr * dx
    assert_same(keras_run({"optimizer": {"name": "sgd", "learning_rate": 0.05,
                                         "weight_decay": wd},
                           "schedule": {"name": "step", "every_epochs": 1,
                                        "factor": 0.5}}),
                numpy_run(sgd_wd))


def _clip_norm(g, c):
    n = np.linalg.norm(g)
    return g * c / n if n > c else g


@pytest.mark.parametrize("key, clip", [
    ("clipnorm", lambda gs: [_clip_norm(g, 0.3) for g in gs]),
    ("global_clipnorm", lambda gs: [
        g * 0.3 / max(0.3, np.sqrt(sum(np.sum(h ** 2) for h in gs))) for g in gs]),
    ("clipvalue", lambda gs: [np.clip(g, -0.3, 0.3) for g in gs]),
])
def test_clipping_limits_the_gradient_before_the_update(key, clip):
    def sgd(x, dx, state, t):
        return x - 0.1 * dx
    got = keras_run({"optimizer": {"name": "sgd", "learning_rate": 0.1, key: 0.3}})
    assert_same(got, numpy_run(sgd, clip=clip))
    # The three rules really differ on this problem (so each test can fail).
    unclipped = numpy_run(sgd)
    assert not np.allclose(got[0][0], unclipped[0][0])


def test_current_learning_rate_reads_constant_and_scheduled_rates():
    opt = build_optimizer({"optimizer": {"name": "sgd", "learning_rate": 0.05}}, 4, 2)
    assert current_learning_rate(opt) == pytest.approx(0.05)
    opt = build_optimizer({"optimizer": {"name": "sgd", "learning_rate": 0.05},
                           "schedule": {"name": "step", "every_epochs": 1,
                                        "factor": 0.1}}, 2, 3)
    w = keras.Variable(np.ones(2), dtype="float64")
    seen = []
    for _ in range(4):
        seen.append(current_learning_rate(opt))
        opt.apply_gradients([(keras.ops.ones(2, dtype="float64"), w)])
    np.testing.assert_allclose(seen, [0.05, 0.05, 0.005, 0.005], rtol=1e-6)


def test_optimizer_classes_and_keras_arguments():
    cases = {
        "sgd": ("SGD", {"momentum": 0.0, "nesterov": False}),
        "momentum": ("SGD", {"momentum": 0.9, "nesterov": False}),
        "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}),
        "adagrad": ("Adagrad", {"initial_accumulator_value": 0.1, "epsilon": 1e-7}),
        "rmsprop": ("RMSprop", {"rho": 0.9, "momentum": 0.0, "centered": False}),
        "adam": ("Adam", {"beta_1": 0.9, "beta_2": 0.999, "amsgrad": False}),
        "adamw": ("AdamW", {"weight_decay": 0.004}),
        "nadam": ("Nadam", {"beta_1": 0.9, "beta_2": 0.999}),
        "lion": ("Lion", {"beta_1": 0.9, "beta_2": 0.99}),
    }
    for name, (cls, expected) in cases.items():
        opt = build_optimizer({"optimizer": {"name": name}}, 10, 1)
        assert type(opt).__name__ == cls
        config = opt.get_config()
        for key, value in expected.items():
            assert config[key] == pytest.approx(value), (name, key)
