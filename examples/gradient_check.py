"""Gradient check: backpropagation against numerical differentiation.

    python examples/gradient_check.py

For each weight w, (L(w + h) - L(w - h)) / 2h approximates dL/dw with an
error of order h^2. fm.gradcheck does this for every parameter of a model
(in float64) and reports the largest relative error per weight array:
about 1e-7 or less means backpropagation is right.
"""

import numpy as np

import fastmlp as fm

# The step h: too large and the h^2 truncation error shows, too small and
# float64 rounding of L (about 1e-16 / h) does; 1e-5 balances the two.
EPS = 1e-5

rng = np.random.default_rng(0)
x = rng.normal(size=(8, 5))

# A classifier: tanh hidden layer, softmax output, cross-entropy.
classifier = fm.Sequential([
    fm.Input(shape=(5,)),
    fm.Dense(7, activation="tanh"),
    fm.Dense(3, activation="softmax"),
], seed=0)
classifier.compile(optimizer="sgd", loss="categorical_crossentropy")
labels = fm.utils.to_categorical(rng.integers(0, 3, size=8), 3)

# A regressor: sigmoid hidden layer, linear output, mean squared error.
regressor = fm.Sequential([
    fm.Input(shape=(5,)),
    fm.Dense(6, activation="sigmoid"),
    fm.Dense(2),
], seed=1)
regressor.compile(optimizer="sgd", loss="mse")
targets = rng.normal(size=(8, 2))

worst = 0.0
for name, model, y in [("classifier", classifier, labels), ("regressor", regressor, targets)]:
    print(name)
    for param, err in fm.gradcheck(model, x, y, eps=EPS).items():
        print(f"  {param:20s} max relative error {err:.2e}")
        worst = max(worst, err)
print(f"worst relative error: {worst:.2e} ({'OK' if worst < 1e-6 else 'WRONG GRADIENT'})")
