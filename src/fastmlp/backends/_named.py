"""The twelve named activation ops (``relu``, ``relu_backward``, ...), written once.

Each is a one-line call to a backend's ``activation`` or
``activation_backward``, the same in both backends; ``named_activation_ops``
builds them for one backend module, which sets them as its own attributes, so
``fastmlp.backends.c.relu`` stays a plain function with the signature and
docstring the op contract gives it.
"""

from __future__ import annotations

from typing import Any, Callable


def named_activation_ops(namespace: dict[str, Any]) -> dict[str, Callable]:
    """Return {name: op} for the named forward and backward activation ops of
    the backend module whose globals() is ``namespace``.

    Each op looks up the module's ``activation`` / ``activation_backward``
    when called, as a function written in that module would (so patching
    them in a test reaches ``relu`` too), and presents itself as a function
    of that module (for repr, pickling and help()).
    """

    def activation(*args, **kwargs):
        return namespace["activation"](*args, **kwargs)

    def activation_backward(*args, **kwargs):
        return namespace["activation_backward"](*args, **kwargs)

    def identity(x, out=None):
        """Identity: y = x (a copy, or written into out)."""
        return activation("identity", x, out)

    def sigmoid(x, out=None):
        """Logistic sigmoid 1 / (1 + exp(-x)), stable for large |x|."""
        return activation("sigmoid", x, out)

    def tanh(x, out=None):
        """Hyperbolic tangent."""
        return activation("tanh", x, out)

    def relu(x, out=None):
        """max(x, 0)."""
        return activation("relu", x, out)

    def leaky_relu(x, alpha=0.01, out=None):
        """x where x > 0, else alpha * x (alpha >= 0)."""
        return activation("leaky_relu", x, out, alpha=alpha)

    def softmax(x, out=None):
        """Softmax over the last axis, max-subtracted for stability."""
        return activation("softmax", x, out)

    def identity_backward(grad, y, out=None):
        """grad (the identity's derivative is 1)."""
        return activation_backward("identity", grad, y, out)

    def sigmoid_backward(grad, y, out=None):
        """grad * y * (1 - y)."""
        return activation_backward("sigmoid", grad, y, out)

    def tanh_backward(grad, y, out=None):
        """grad * (1 - y**2)."""
        return activation_backward("tanh", grad, y, out)

    def relu_backward(grad, y, out=None):
        """grad where y > 0, else 0."""
        return activation_backward("relu", grad, y, out)

    def leaky_relu_backward(grad, y, alpha=0.01, out=None):
        """grad where y > 0, else alpha * grad."""
        return activation_backward("leaky_relu", grad, y, out, alpha=alpha)

    def softmax_backward(grad, y, out=None):
        """y * (grad - sum(grad * y, axis=-1, keepdims=True))."""
        return activation_backward("softmax", grad, y, out)

    ops = (identity, sigmoid, tanh, relu, leaky_relu, softmax,
           identity_backward, sigmoid_backward, tanh_backward, relu_backward,
           leaky_relu_backward, softmax_backward)
    for op in ops:
        op.__module__ = namespace["__name__"]
        op.__qualname__ = op.__name__
    return {op.__name__: op for op in ops}
