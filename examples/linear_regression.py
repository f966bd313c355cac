"""Linear regression by gradient descent recovers the true coefficients.

    python examples/linear_regression.py

Data: y = 3 x0 - 2 x1 + 0.5 x2 + 4 + small noise. A Dense(1) layer with no
activation is exactly y = x W + b; minimizing the mean squared error with
full-batch gradient descent finds W close to (3, -2, 0.5) and b close to 4,
the same answer as least squares.
"""

import os

import numpy as np

import fastmlp as fm

EPOCHS = int(os.environ.get("FASTMLP_EXAMPLE_EPOCHS", "300"))

rng = np.random.default_rng(0)
true_w, true_b = np.array([3.0, -2.0, 0.5]), 4.0
x = rng.normal(size=(1000, 3))
y = x @ true_w + true_b + rng.normal(scale=0.1, size=1000)

model = fm.Sequential([fm.Input(shape=(3,)), fm.Dense(1)], dtype="float64", seed=0)
model.compile(optimizer=fm.optimizers.SGD(learning_rate=0.1), loss="mse")
# batch_size = all samples: each epoch is one step of plain gradient descent.
history = model.fit(x, y.reshape(-1, 1), epochs=EPOCHS, batch_size=len(x), verbose=0)

kernel, bias = model.get_weights()
least_squares = np.linalg.lstsq(np.column_stack([x, np.ones(len(x))]), y, rcond=None)[0]
print(f"final mse: {history.history['loss'][-1]:.5f}")
print(f"learned   w = {kernel.ravel().round(4)}, b = {bias[0]:.4f}")
print(f"lstsq     w = {least_squares[:3].round(4)}, b = {least_squares[3]:.4f}")
print(f"true      w = {true_w}, b = {true_b}")
