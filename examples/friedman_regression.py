"""Regression on Friedman #1 with scaled inputs and target.

    python examples/friedman_regression.py

y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4 + noise, ten inputs
of which five are irrelevant. The scalers are fitted on the training part
only and reused on the test part; predictions are mapped back to the
target's units before computing R^2. With noise 1.0 the best possible R^2
is about 0.96.
"""

import os

import numpy as np

import fastmlp as fm

EPOCHS = int(os.environ.get("FASTMLP_EXAMPLE_EPOCHS", "60"))

x, y = fm.datasets.friedman1(6000, noise=1.0, seed=0)
x_train, x_test, y_train, y_test = fm.preprocessing.train_test_split(
    x, y, test_size=1000, seed=0)

x_scaler = fm.preprocessing.StandardScaler().fit(x_train)
y_scaler = fm.preprocessing.StandardScaler().fit(y_train.reshape(-1, 1))

model = fm.Sequential([
    fm.Input(shape=(10,)),
    fm.Dense(64, activation="tanh"),
    fm.Dense(64, activation="tanh"),
    fm.Dense(1),
], seed=0)
model.compile(optimizer=fm.optimizers.Adam(learning_rate=1e-3), loss="mse")
x_fit = x_scaler.transform(x_train).astype("float32")
y_fit = y_scaler.transform(y_train.reshape(-1, 1)).astype("float32")
# Learning-rate decay by hand: a fast phase, then a tenth of the step size
# to settle into the minimum instead of bouncing around it.
model.fit(x_fit, y_fit, epochs=EPOCHS, batch_size=64, verbose=0)
model.optimizer.learning_rate = 1e-4
model.fit(x_fit, y_fit, epochs=EPOCHS // 2, batch_size=64, verbose=0)

scaled = model.predict(x_scaler.transform(x_test).astype("float32"), verbose=0)
y_pred = y_scaler.inverse_transform(scaled.astype("float64")).ravel()
mse = np.mean((y_pred - y_test) ** 2)
r2 = 1 - mse / np.var(y_test)
print(f"test MSE {mse:.3f}, R^2 {r2:.4f}")
