"""Compute backends: one op contract, two implementations.

``fastmlp.backends.c`` runs the C/OpenMP kernels; ``fastmlp.backends.numpy``
is the same contract in plain NumPy, written to be read, and is the reference
the C is tested against. Layers, losses and optimizers call only these ops,
so ``backend="numpy"`` exercises exactly the same model code.

The contract (identical names and signatures in both modules):

Every op takes NumPy arrays of one floating dtype (float32 or float64; all
array arguments of one call share it) and, called with only its inputs,
returns a new array like NumPy does. Given ``out=`` (or ``grad=``) it writes
into that C-contiguous array of the right shape and dtype and returns it.
Bad input raises ``TypeError`` (dtype) or ``ValueError`` (shape, value),
naming the argument and the shapes it got. Non-contiguous inputs are
accepted (copied); ``out`` buffers must be C-contiguous.

GEMM
    ``gemm(a, b, out=None, *, trans_a=False, trans_b=False, alpha=1.0,
    beta=0.0, bias=None, activation="identity", slope=0.01)``
    returns ``act(alpha * op(a) @ op(b) + beta * out + bias)`` where op
    transposes when asked; ``gemm(a, b)`` equals ``a @ b``. ``beta`` needs
    ``out``; when ``beta == 0`` the old contents of ``out`` are ignored.
    ``slope`` is the leaky_relu negative slope.

Activations (``ACTIVATIONS``: identity, sigmoid, tanh, relu, leaky_relu,
softmax). Forward on any shape, softmax row-wise over the last axis:
    ``identity(x, out=None)``, ``sigmoid(x, out=None)``, ``tanh(x, out=None)``,
    ``relu(x, out=None)``, ``leaky_relu(x, alpha=0.01, out=None)``,
    ``softmax(x, out=None)``;
    ``activation(name, x, out=None, *, alpha=0.01)`` dispatches by name.
Backward, through the forward *output* ``y`` (``y = act(x)``), multiplying
by the upstream gradient in the same pass:
    ``<name>_backward(grad, y, out=None)`` for each, with
    ``leaky_relu_backward(grad, y, alpha=0.01, out=None)``;
    ``activation_backward(name, grad, y, out=None, *, alpha=0.01)``.
``out`` may be ``x`` (forward) or ``grad`` (backward): in-place is allowed.

Bias gradient
    ``column_sum(x, out=None)``: sum over axis 0 of a 2-D array.

Fused losses: ``loss, grad = f(inputs, target, grad=None)``; ``loss`` is a
Python float, the mean loss as Keras reduces it; ``grad`` is d(loss)/d(inputs):
    ``softmax_cross_entropy(logits, target)``  (target one-hot / probabilities)
    ``sparse_softmax_cross_entropy(logits, labels)``  (integer labels, 1-D)
    ``sigmoid_binary_cross_entropy(logits, target)``
    ``mean_squared_error(y, target)``, ``mean_absolute_error(y, target)``
    ``sum_squared_error(y, target)``  (1/2 sum per sample, mean over samples)

Optimizer updates, in place on flat 1-D buffers, returning None:
    ``sgd_update(params, grads, *, learning_rate, weight_decay=0.0)``
    ``momentum_update(params, grads, velocity, *, learning_rate, momentum,
    nesterov=False, weight_decay=0.0)``
    ``adagrad_update(params, grads, accumulator, *, learning_rate, epsilon,
    weight_decay=0.0)``
    ``rmsprop_update(params, grads, mean_square, *, learning_rate, rho,
    epsilon, weight_decay=0.0)``
    ``adam_update(params, grads, m, v, *, step, learning_rate, beta_1,
    beta_2, epsilon, weight_decay=0.0)``
The formulas are in csrc/fastmlp.h and optimizers.py.
"""

from __future__ import annotations

import importlib
from types import ModuleType

NAMES = ("c", "numpy")

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "softmax")

# Every public op of the contract; tests check both backends define them all
# with identical signatures.
OPS = (
    "gemm",
    *ACTIVATIONS,
    *(f"{a}_backward" for a in ACTIVATIONS),
    "activation",
    "activation_backward",
    "column_sum",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "mean_squared_error",
    "mean_absolute_error",
    "sum_squared_error",
    "sgd_update",
    "momentum_update",
    "adagrad_update",
    "rmsprop_update",
    "adam_update",
)


def get(name: str) -> ModuleType:
    """Return the backend module called ``name`` ("c" or "numpy")."""
    if name not in NAMES:
        raise ValueError(f"unknown backend {name!r}; expected one of {NAMES}")
    return importlib.import_module(f"fastmlp.backends.{name}")
