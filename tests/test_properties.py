"""Property tests (hypothesis) over random shapes, dtypes and values.

Few examples per property keep the suite fast; the fixed-shape tests in the
other files cover the edges. Tolerances are those of the fixed-shape tests
and are restated at each property.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fastmlp.backends import ACTIVATIONS

# The backend fixture is function-scoped but holds a module, the same for
# every example, so sharing it across examples is safe.
FEW = settings(max_examples=25, deadline=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])

dtypes = st.sampled_from([np.float32, np.float64])
dims = st.integers(min_value=0, max_value=40)


def values(dtype, shape, bound=10.0):
    """Arrays of finite values in [-bound, bound]."""
    return hnp.arrays(dtype, shape, elements=st.floats(-bound, bound, width=32))


@FEW
@given(data=st.data(), m=dims, n=dims, k=dims, trans_a=st.booleans(), trans_b=st.booleans(),
       dtype=dtypes)
def test_gemm_equals_matmul(backend, data, m, n, k, trans_a, trans_b, dtype):
    a = data.draw(values(dtype, (k, m) if trans_a else (m, k)))
    b = data.draw(values(dtype, (n, k) if trans_b else (k, n)))
    got = backend.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
    opa = a.T.astype(np.float64) if trans_a else a.astype(np.float64)
    opb = b.T.astype(np.float64) if trans_b else b.astype(np.float64)
    # Higham's bound for a length-k dot product in any summation order, plus
    # (k + 1) times the smallest normal number for products that underflow
    # (hypothesis finds them; kernels may flush subnormals to zero)
    info = np.finfo(dtype)
    bound = (k + 1) * (info.eps * (np.abs(opa) @ np.abs(opb)) + info.tiny)
    assert got.shape == (m, n) and got.dtype == dtype
    assert np.all(np.abs(got - opa @ opb) <= bound)


@FEW
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=30),
       dtype=dtypes)
def test_softmax_rows_are_probabilities(backend, data, shape, dtype):
    x = data.draw(values(dtype, shape, bound=1e4))
    y = backend.softmax(x)
    assert np.all((y >= 0) & (y <= 1))
    # each row's sum is 1 up to the rounding of its n terms
    n = shape[-1]
    np.testing.assert_allclose(y.sum(axis=-1, dtype=np.float64), 1.0,
                               rtol=0, atol=(n + 2) * np.finfo(dtype).eps)
    # the largest logit gets the largest probability
    top = np.take_along_axis(y, x.argmax(axis=-1)[..., None], axis=-1)
    np.testing.assert_array_equal(top[..., 0], y.max(axis=-1))


@FEW
@given(data=st.data(), rows=st.integers(1, 20), cols=st.integers(1, 20),
       shift=st.floats(-100, 100))
def test_softmax_cross_entropy_ignores_a_constant_added_to_each_row(backend, data, rows, cols,
                                                                   shift):
    z = data.draw(values(np.float64, (rows, cols)))
    labels = data.draw(hnp.arrays(np.int64, rows, elements=st.integers(0, cols - 1)))
    loss, grad = backend.sparse_softmax_cross_entropy(z, labels)
    moved = backend.sparse_softmax_cross_entropy(z + shift, labels)
    # shifting logits by up to 100 costs up to |shift| * eps of precision per term
    assert moved[0] == pytest.approx(loss, rel=1e-12, abs=1e-12 * (abs(shift) + 20))
    np.testing.assert_allclose(moved[1], grad, rtol=0, atol=1e-12 * (abs(shift) + 20))
    # a gradient row of softmax - onehot sums to zero
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-15 * cols)


@FEW
@given(data=st.data(), rows=st.integers(0, 30), cols=st.integers(0, 30), dtype=dtypes)
def test_column_sum_equals_a_row_of_ones_times_x(backend, data, rows, cols, dtype):
    x = data.draw(values(dtype, (rows, cols)))
    by_gemm = backend.gemm(np.ones((1, rows), dtype), x)[0]
    info = np.finfo(dtype)
    bound = (rows + 1) * (info.eps * np.abs(x.astype(np.float64)).sum(axis=0) + info.tiny)
    assert np.all(np.abs(backend.column_sum(x) - by_gemm) <= 2 * bound)


@FEW
@given(data=st.data(), act=st.sampled_from(ACTIVATIONS),
       shape=hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=8))
def test_activation_backward_matches_central_differences(backend, data, act, shape):
    # float64, h = 1e-6: truncation error h^2 |f'''| ~ 1e-12 and rounding
    # error eps |f| / h ~ 1e-10, so 1e-7 absolute leaves a wide margin while
    # a wrong derivative is off by O(1). Inputs stay 1e-3 away from relu's
    # kink at 0 so the difference never straddles it.
    x = data.draw(values(np.float64, shape, bound=5.0))
    x = np.where(np.abs(x) < 1e-3, 0.5, x)
    w = data.draw(values(np.float64, shape, bound=1.0))  # upstream gradient
    y = backend.activation(act, x, alpha=0.1)
    analytic = backend.activation_backward(act, w, y, alpha=0.1)
    numeric = np.empty_like(x)
    h = 1e-6
    for i in np.ndindex(shape):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        f_up = np.sum(w * backend.activation(act, up, alpha=0.1))
        f_down = np.sum(w * backend.activation(act, down, alpha=0.1))
        numeric[i] = (f_up - f_down) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7)


@FEW
@given(data=st.data(), rows=st.integers(1, 50), cols=st.integers(1, 50), dtype=dtypes)
def test_c_backend_agrees_with_the_numpy_reference(c_backend, numpy_backend, data, rows, cols,
                                                   dtype):
    x = data.draw(values(dtype, (rows, cols), bound=20.0))
    t = data.draw(hnp.arrays(dtype, (rows, cols), elements=st.floats(0, 1, width=32)))
    labels = data.draw(hnp.arrays(np.int64, rows, elements=st.integers(0, cols - 1)))
    eps = float(np.finfo(dtype).eps)  # pytest.approx takes Python numbers only
    for act in ACTIVATIONS:
        # bounded outputs (or exact selections): 16 eps, as in test_activations
        np.testing.assert_allclose(c_backend.activation(act, x), numpy_backend.activation(act, x),
                                   rtol=16 * eps, atol=16 * eps)
    for loss in ("softmax_cross_entropy", "sigmoid_binary_cross_entropy",
                 "mean_squared_error", "mean_absolute_error", "sum_squared_error"):
        (lc, gc), (ln, gn) = (getattr(b, loss)(x, t) for b in (c_backend, numpy_backend))
        # A row's loss adds cols terms, each a few eps off relative to the
        # logits' size |x| + log(cols) times the target mass (kernels may
        # compute sum(t) * logsumexp - sum(t * z), cancelling): cols eps on that.
        # The mean adds rows * cols terms in float64, in an order of the
        # kernel's choosing: rows * cols * eps64 relative more.
        scale = float((np.abs(x).max() + np.log(cols) + 1) * max(1.0, t.sum(axis=1).max()))
        rel = 32 * eps + rows * cols * np.finfo(np.float64).eps
        assert lc == pytest.approx(ln, rel=rel, abs=(cols + 32) * eps * scale)
        np.testing.assert_allclose(gc, gn, rtol=32 * eps, atol=32 * eps * 25 / rows)
    (lc, gc), (ln, gn) = (b.sparse_softmax_cross_entropy(x, labels)
                          for b in (c_backend, numpy_backend))
    assert lc == pytest.approx(ln, rel=32 * eps, abs=32 * eps * 25)
    np.testing.assert_allclose(gc, gn, rtol=0, atol=32 * eps / rows)
