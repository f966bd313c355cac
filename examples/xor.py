"""XOR: the function one neuron cannot learn and one hidden layer can.

    python examples/xor.py

No straight line separates {(0,1), (1,0)} from {(0,0), (1,1)}, so logistic
regression fails; a hidden layer of a few tanh units bends the boundary.
"""

import os

import numpy as np

import fastmlp as fm

EPOCHS = int(os.environ.get("FASTMLP_EXAMPLE_EPOCHS", "500"))

x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
y = np.array([[0], [1], [1], [0]], dtype=np.float32)

model = fm.Sequential([
    fm.Input(shape=(2,)),
    fm.Dense(8, activation="tanh"),
    fm.Dense(1, activation="sigmoid"),
], seed=0)
model.compile(optimizer=fm.optimizers.Adam(learning_rate=0.05),
              loss="binary_crossentropy", metrics=["accuracy"])

# All four points in every step: full-batch gradient descent.
history = model.fit(x, y, epochs=EPOCHS, batch_size=4, verbose=0)

print(f"loss after {EPOCHS} epochs: {history.history['loss'][-1]:.4f}")
for xi, p in zip(x, model.predict(x, verbose=0)):
    print(f"  {int(xi[0])} xor {int(xi[1])} -> {p[0]:.3f}")
predicted = (model.predict(x, verbose=0) > 0.5).astype(np.float32)
print(f"accuracy: {np.mean(predicted == y):.2f}")
