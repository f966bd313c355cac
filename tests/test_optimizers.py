"""Optimizers: Keras defaults and argument checks, trajectories against the
formulas written out here independently, state save/restore, and (when
PyTorch is installed) trajectories against torch.optim."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

from fastmlp import optimizers
from fastmlp.optimizers import SGD, Adagrad, Adam, RMSprop


def _backend(name):
    try:
        return importlib.import_module(f"fastmlp.backends.{name}")
    except ImportError as err:  # the C extension is not built in this checkout
        pytest.skip(f"backend {name!r} unavailable: {err}")


@pytest.fixture(params=["numpy", "c"])
def ops(request):
    return _backend(request.param)


NUMPY_OPS = importlib.import_module("fastmlp.backends.numpy")

# A separable quadratic: loss = 1/2 sum a (w - c)^2, gradient a (w - c).
A = np.array([0.5, 1.0, 2.0, 4.0, 0.25, 3.0])
C = np.array([1.0, -2.0, 0.5, 0.0, 3.0, -1.0])
W0 = np.array([0.3, 0.7, -1.2, 2.0, -0.4, 1.5])


def grad_of(w):
    return A * (w - C)


def run(opt, ops_module, steps, dtype=np.float64):
    """Drive ``opt`` through the backend for ``steps`` steps; return the
    trajectory (steps+1, n)."""
    w = W0.astype(dtype)
    path = [w.copy()]
    for _ in range(steps):
        opt.apply(ops_module, w, grad_of(w).astype(dtype))
        path.append(w.copy())
    return np.array(path)


# -- the formulas, written independently, one scalar at a time --------------

def ref_sgd(lr, momentum, nesterov, wd, steps):
    out = []
    for w0, a, c in zip(W0, A, C):
        w, v, col = w0, 0.0, [w0]
        for _ in range(steps):
            g = a * (w - c) + wd * w
            if momentum == 0:
                w = w - lr * g
            else:
                v = momentum * v - lr * g
                w = w + momentum * v - lr * g if nesterov else w + v
            col.append(w)
        out.append(col)
    return np.array(out).T


def ref_adagrad(lr, init, eps, wd, steps):
    out = []
    for w0, a, c in zip(W0, A, C):
        w, acc, col = w0, init, [w0]
        for _ in range(steps):
            g = a * (w - c) + wd * w
            acc = acc + g * g
            w = w - lr * g / math.sqrt(acc + eps)
            col.append(w)
        out.append(col)
    return np.array(out).T


def ref_rmsprop(lr, rho, eps, wd, steps):
    out = []
    for w0, a, c in zip(W0, A, C):
        w, ms, col = w0, 0.0, [w0]
        for _ in range(steps):
            g = a * (w - c) + wd * w
            ms = rho * ms + (1 - rho) * g * g
            w = w - lr * g / math.sqrt(ms + eps)
            col.append(w)
        out.append(col)
    return np.array(out).T


def ref_adam(lr, b1, b2, eps, wd, steps):
    out = []
    for w0, a, c in zip(W0, A, C):
        w, m, v, col = w0, 0.0, 0.0, [w0]
        for t in range(1, steps + 1):
            g = a * (w - c) + wd * w
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
            w = w - alpha * m / (math.sqrt(v) + eps)
            col.append(w)
        out.append(col)
    return np.array(out).T


CASES = [
    ("sgd", lambda wd: SGD(0.1, weight_decay=wd), lambda wd, n: ref_sgd(0.1, 0.0, False, wd, n)),
    ("momentum", lambda wd: SGD(0.05, momentum=0.9, weight_decay=wd),
     lambda wd, n: ref_sgd(0.05, 0.9, False, wd, n)),
    ("nesterov", lambda wd: SGD(0.05, momentum=0.8, nesterov=True, weight_decay=wd),
     lambda wd, n: ref_sgd(0.05, 0.8, True, wd, n)),
    ("adagrad", lambda wd: Adagrad(0.3, initial_accumulator_value=0.2, epsilon=1e-3, weight_decay=wd),
     lambda wd, n: ref_adagrad(0.3, 0.2, 1e-3, wd, n)),
    ("rmsprop", lambda wd: RMSprop(0.02, rho=0.8, epsilon=1e-3, weight_decay=wd),
     lambda wd, n: ref_rmsprop(0.02, 0.8, 1e-3, wd, n)),
    ("adam", lambda wd: Adam(0.05, beta_1=0.8, beta_2=0.95, epsilon=1e-2, weight_decay=wd),
     lambda wd, n: ref_adam(0.05, 0.8, 0.95, 1e-2, wd, n)),
]


@pytest.mark.parametrize("wd", [None, 0.1])
@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_trajectory_matches_keras_formula_float64(ops, name, make, ref, wd):
    steps = 12
    got = run(make(wd), ops, steps)
    want = ref(wd or 0.0, steps)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_trajectory_matches_keras_formula_float32(ops, name, make, ref):
    steps = 12
    got = run(make(None), ops, steps, dtype=np.float32)
    want = ref(0.0, steps)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("opt", [SGD(0.1), SGD(0.05, momentum=0.9), Adagrad(0.5),
                                 RMSprop(0.01), Adam(0.05)], ids=repr)
def test_every_optimizer_decreases_a_quadratic(opt):
    def loss(w):
        return 0.5 * float(np.sum(A * (w - C) ** 2))

    path = run(opt, NUMPY_OPS, 60)
    assert loss(path[-1]) < 0.5 * loss(path[0])


def test_defaults_and_names_are_keras():
    assert SGD().get_config() == {"name": "sgd", "learning_rate": 0.01, "weight_decay": None,
                                  "momentum": 0.0, "nesterov": False}
    assert Adagrad().get_config() == {"name": "adagrad", "learning_rate": 0.001,
                                      "weight_decay": None, "initial_accumulator_value": 0.1,
                                      "epsilon": 1e-7}
    assert RMSprop().get_config() == {"name": "rmsprop", "learning_rate": 0.001,
                                      "weight_decay": None, "rho": 0.9, "epsilon": 1e-7}
    assert Adam().get_config() == {"name": "adam", "learning_rate": 0.001, "weight_decay": None,
                                   "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}


@pytest.mark.parametrize("make,message", [
    (lambda: SGD(learning_rate=-0.1), "learning_rate"),
    (lambda: SGD(learning_rate=float("nan")), "learning_rate"),
    (lambda: SGD(momentum=1.0), "momentum"),
    (lambda: SGD(momentum=-0.5), "momentum"),
    (lambda: Adagrad(initial_accumulator_value=-1), "initial_accumulator_value"),
    (lambda: Adagrad(epsilon=0), "epsilon"),
    (lambda: RMSprop(rho=1.5), "rho"),
    (lambda: RMSprop(epsilon=-1e-7), "epsilon"),
    (lambda: Adam(beta_1=1.0), "beta_1"),
    (lambda: Adam(beta_2=-0.1), "beta_2"),
    (lambda: Adam(epsilon=float("inf")), "epsilon"),
    (lambda: Adam(weight_decay=-1e-4), "weight_decay"),
])
def test_bad_hyperparameter_is_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("make,message", [
    (lambda: SGD(learning_rate="0.1"), "learning_rate must be a number"),
    (lambda: SGD(learning_rate=lambda: 0.1), "schedules are not supported"),
    (lambda: SGD(momentum=True), "momentum must be a number"),
    (lambda: SGD(nesterov="yes"), "nesterov"),
    (lambda: Adam(lr=0.1), "use learning_rate"),
    (lambda: Adam(clipnorm=1.0), "clipnorm"),
])
def test_wrong_argument_type_is_named(make, message):
    with pytest.raises(TypeError, match=message):
        make()


@pytest.mark.parametrize("make", [lambda: SGD(0.0, momentum=0.9), lambda: Adam(0.0),
                                  lambda: RMSprop(0.0), lambda: Adagrad(0.0)])
def test_learning_rate_zero_moves_nothing(make):
    path = run(make(), NUMPY_OPS, 3)
    np.testing.assert_array_equal(path[-1], W0)


def test_learning_rate_can_be_changed_between_steps_and_is_validated():
    opt = SGD(0.1)
    w = np.array([1.0])
    opt.apply(NUMPY_OPS, w, np.array([1.0]))
    opt.learning_rate = 0.5
    opt.apply(NUMPY_OPS, w, np.array([1.0]))
    assert w[0] == pytest.approx(1.0 - 0.1 - 0.5)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0
    assert opt.learning_rate == 0.5


@pytest.mark.parametrize("name,cls", [("sgd", SGD), ("Adam", Adam), ("RMSPROP", RMSprop),
                                      ("adagrad", Adagrad)])
def test_get_by_name_any_case(name, cls):
    opt = optimizers.get(name)
    assert type(opt) is cls
    assert opt.get_config() == cls().get_config()


def test_get_returns_instances_as_is_and_instantiates_classes():
    opt = Adam(0.01)
    assert optimizers.get(opt) is opt
    assert isinstance(optimizers.get(Adam), Adam)


def test_get_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamw'.*'adagrad', 'adam', 'rmsprop', 'sgd'"):
        optimizers.get("adamw")
    with pytest.raises(ValueError, match="could not interpret optimizer"):
        optimizers.get(3)


@pytest.mark.parametrize("opt", [SGD(0.2, momentum=0.5, nesterov=True, weight_decay=1e-3),
                                 Adagrad(0.1, initial_accumulator_value=0.0, epsilon=1e-6),
                                 RMSprop(0.01, rho=0.5, name="my_rms"),
                                 Adam(0.002, beta_1=0.5, beta_2=0.9, epsilon=1e-8)], ids=repr)
def test_config_round_trips_in_every_form(opt):
    cfg = opt.get_config()
    assert type(opt).from_config(cfg).get_config() == cfg
    assert optimizers.deserialize(optimizers.serialize(opt)).get_config() == cfg
    flat = {"class_name": type(opt).__name__, **cfg}
    assert optimizers.get(flat).get_config() == cfg


def test_deserialize_rejects_unknown_classes_without_importing():
    with pytest.raises(ValueError, match="unknown optimizer 'os.system'"):
        optimizers.deserialize({"class_name": "os.system", "config": {}})
    with pytest.raises(ValueError, match="class_name"):
        optimizers.deserialize({"config": {}})


def test_slots_are_flat_and_start_as_keras_does():
    opt = Adagrad(initial_accumulator_value=0.25)
    opt.build(7, np.float32)
    acc = opt.variables()["accumulator"]
    assert acc.shape == (7,) and acc.dtype == np.float32 and np.all(acc == 0.25)
    adam = Adam()
    adam.build(3, "float64")
    assert sorted(adam.variables()) == ["iterations", "m", "v"]
    assert adam.variables()["iterations"].dtype == np.int64
    assert sorted(SGD().variables()) == ["iterations"]
    assert sorted(SGD(momentum=0.9).variables()) == ["iterations"]  # unbuilt: no slots yet


@pytest.mark.parametrize("make", [lambda: SGD(0.05, momentum=0.9), lambda: Adagrad(0.2),
                                  lambda: RMSprop(0.01), lambda: Adam(0.05)])
def test_state_restored_into_a_new_optimizer_continues_the_same_trajectory(make):
    whole = run(make(), NUMPY_OPS, 10)

    first = make()
    w = W0.copy()
    for _ in range(4):
        first.apply(NUMPY_OPS, w, grad_of(w))
    saved = first.variables()
    second = make()
    second.build(w.size, w.dtype)
    second.set_variables(saved)
    assert second.iterations == 4
    for _ in range(6):
        second.apply(NUMPY_OPS, w, grad_of(w))
    np.testing.assert_array_equal(w, whole[-1])


def test_set_variables_checks_names_shapes_and_dtypes_and_changes_nothing_on_error():
    opt = Adam()
    opt.build(4, np.float64)
    good = opt.variables()
    with pytest.raises(ValueError, match=r"expected variables \['iterations', 'm', 'v'\]"):
        opt.set_variables({"m": good["m"], "iterations": good["iterations"]})
    with pytest.raises(ValueError, match=r"'v' has shape \(5,\)"):
        opt.set_variables({**good, "m": np.ones(4), "v": np.ones(5)})
    with pytest.raises(ValueError, match="'m' has shape .* dtype float32"):
        opt.set_variables({**good, "m": np.ones(4, np.float32)})
    with pytest.raises(ValueError, match="iterations must be >= 0"):
        opt.set_variables({**good, "iterations": np.array(-3, np.int64)})
    assert np.all(opt.variables()["m"] == 0) and opt.iterations == 0
    with pytest.raises(RuntimeError, match="build the optimizer first"):
        Adam().set_variables(good)


def test_apply_rejects_a_buffer_of_another_size_and_counts_no_step():
    opt = Adam()
    opt.build(4, np.float64)
    with pytest.raises(ValueError, match="built for 4 of float64"):
        opt.apply(NUMPY_OPS, np.zeros(5), np.zeros(5))
    assert opt.iterations == 0


def test_rejected_op_call_counts_no_step():
    opt = SGD(0.1)
    w = np.zeros(3)
    with pytest.raises((ValueError, TypeError)):
        opt.apply(NUMPY_OPS, w, np.zeros(4))
    assert opt.iterations == 0


def test_rebuilding_with_the_same_shape_keeps_state():
    opt = Adam(0.1)
    w = W0.copy()
    opt.apply(NUMPY_OPS, w, grad_of(w))
    m = opt.variables()["m"]
    opt.build(w.size, w.dtype)
    np.testing.assert_array_equal(opt.variables()["m"], m)
    assert opt.iterations == 1


# -- against PyTorch, when installed ----------------------------------------

def _torch_path(make_torch_opt, steps, on_step=None):
    torch = pytest.importorskip("torch", exc_type=ImportError)
    w = torch.tensor(W0.copy(), dtype=torch.float64, requires_grad=True)
    a, c = torch.tensor(A), torch.tensor(C)
    opt = make_torch_opt(torch, [w])
    path = [w.detach().numpy().copy()]
    for t in range(1, steps + 1):
        opt.zero_grad()
        loss = 0.5 * torch.sum(a * (w - c) ** 2)
        loss.backward()
        if on_step is not None:
            on_step(opt, t)
        opt.step()
        path.append(w.detach().numpy().copy())
    return np.array(path)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("wd", [None, 0.05])
def test_sgd_momentum_matches_torch(ops, nesterov, wd):
    want = _torch_path(lambda torch, p: torch.optim.SGD(
        p, lr=0.05, momentum=0.9, nesterov=nesterov, weight_decay=wd or 0.0), 25)
    got = run(SGD(0.05, momentum=0.9, nesterov=nesterov, weight_decay=wd), ops, 25)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("wd", [None, 0.05])
def test_adam_matches_torch_with_epsilon_translated_each_step(ops, wd):
    b2, eps = 0.999, 1e-1  # a large epsilon, so its placement matters

    def match_eps(opt, t):
        # Keras adds eps to sqrt(v); torch to sqrt(v / (1 - b2^t)).
        opt.param_groups[0]["eps"] = eps / math.sqrt(1 - b2**t)

    want = _torch_path(lambda torch, p: torch.optim.Adam(
        p, lr=0.05, betas=(0.9, b2), eps=eps, weight_decay=wd or 0.0), 25, match_eps)
    got = run(Adam(0.05, beta_1=0.9, beta_2=b2, epsilon=eps, weight_decay=wd), ops, 25)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_adam_differs_from_torch_when_epsilon_is_not_translated():
    want = _torch_path(lambda torch, p: torch.optim.Adam(p, lr=0.05, eps=1e-1), 25)
    got = run(Adam(0.05, epsilon=1e-1), NUMPY_OPS, 25)
    assert np.max(np.abs(got - want)) > 1e-3


def test_rmsprop_matches_torch_when_epsilon_is_negligible(ops):
    want = _torch_path(lambda torch, p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-14), 25)
    got = run(RMSprop(0.01, rho=0.9, epsilon=1e-28), ops, 25)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_adagrad_matches_torch_with_keras_initial_accumulator(ops):
    want = _torch_path(lambda torch, p: torch.optim.Adagrad(
        p, lr=0.3, initial_accumulator_value=0.1, eps=1e-14), 25)
    got = run(Adagrad(0.3, initial_accumulator_value=0.1, epsilon=1e-28), ops, 25)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make", [lambda wd: SGD(0.05, momentum=0.9, weight_decay=wd),
                                  lambda wd: Adam(0.01, weight_decay=wd)])
def test_weight_decay_equals_a_halved_l2_regularizer_on_kernels(make):
    import fastmlp as fm

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))

    def train(weight_decay, l2):
        reg = None if l2 is None else fm.regularizers.l2(l2)
        model = fm.Sequential([fm.Input(shape=(3,)),
                               fm.Dense(4, activation="tanh", use_bias=False, kernel_regularizer=reg),
                               fm.Dense(2, use_bias=False, kernel_regularizer=reg)],
                              backend="numpy", dtype="float64", seed=5)
        model.compile(optimizer=make(weight_decay), loss="mse")
        model.fit(x, y, epochs=3, batch_size=10, shuffle=False, verbose=0)
        return model.get_weights()

    for a, b in zip(train(0.1, None), train(None, 0.05)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["sgd", "adam", "rmsprop", "adagrad"])
def test_every_optimizer_by_name_with_keras_defaults_lowers_a_models_loss(name):
    import fastmlp as fm

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 5))
    labels = (x[:, 0] - x[:, 1] > 0).astype(np.int64)
    model = fm.Sequential([fm.Input(shape=(5,)), fm.Dense(8, activation="relu"),
                           fm.Dense(2, activation="softmax")], backend="numpy", seed=0)
    model.compile(optimizer=name, loss="sparse_categorical_crossentropy")
    before = model.evaluate(x, labels)
    model.fit(x, labels, epochs=5, batch_size=16, verbose=0)
    assert model.evaluate(x, labels) < before - 1e-3


def test_momentum_switched_on_after_the_first_steps_starts_from_rest():
    opt = SGD(0.1)
    w = W0.copy()
    opt.apply(NUMPY_OPS, w, grad_of(w))
    opt.momentum = 0.5
    before = w.copy()
    opt.apply(NUMPY_OPS, w, grad_of(before))
    np.testing.assert_allclose(w, before - 0.1 * grad_of(before), rtol=1e-15)
    assert sorted(opt.variables()) == ["iterations", "velocity"]
