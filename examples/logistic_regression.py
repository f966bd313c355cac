"""Logistic regression is one sigmoid neuron trained on cross-entropy.

    python examples/logistic_regression.py

Two Gaussian clouds in the plane; the neuron learns w and b so that
sigmoid(w . x + b) is the probability of class 1. Its decision boundary
w . x + b = 0 is a straight line, perpendicular to the line joining the
clouds' centres.
"""

import os

import numpy as np

import fastmlp as fm

EPOCHS = int(os.environ.get("FASTMLP_EXAMPLE_EPOCHS", "100"))

rng = np.random.default_rng(0)
n = 500
centre_0, centre_1 = np.array([-1.0, -1.0]), np.array([1.5, 1.0])
x = np.vstack([rng.normal(centre_0, 1.0, (n, 2)), rng.normal(centre_1, 1.0, (n, 2))])
y = np.concatenate([np.zeros(n), np.ones(n)]).reshape(-1, 1)
x, y = x.astype(np.float32), y.astype(np.float32)

x_train, x_test, y_train, y_test = fm.preprocessing.train_test_split(
    x, y, test_size=0.2, seed=0, stratify=y.ravel())

neuron = fm.Sequential([fm.Input(shape=(2,)), fm.Dense(1, activation="sigmoid")], seed=0)
neuron.compile(optimizer=fm.optimizers.SGD(learning_rate=0.1),
               loss="binary_crossentropy", metrics=["accuracy"])
neuron.fit(x_train, y_train, epochs=EPOCHS, batch_size=32, verbose=0)

kernel, bias = neuron.get_weights()
w = kernel.ravel()
direction = (centre_1 - centre_0) / np.linalg.norm(centre_1 - centre_0)
cosine = float(w @ direction / np.linalg.norm(w))
accuracy = float(np.mean((neuron.predict(x_test, verbose=0) > 0.5) == y_test))
print(f"w = {w.round(3)}, b = {bias[0]:.3f}")
print(f"cosine(w, centre_1 - centre_0) = {cosine:.3f}")
print(f"test accuracy: {accuracy:.3f}")
