"""Fashion-MNIST classifier: 784-256-128-10 MLP with validation curves.

    sudo apt-get install dataset-fashion-mnist   # or see fm.datasets.fashion_mnist
    python examples/mnist_classifier.py

Holds out 10% of the training images for validation, prints the test
accuracy, and writes learning_curves.png if matplotlib is installed.
Use fm.datasets.mnist instead for the handwritten digits.
"""

import os

import fastmlp as fm

EPOCHS = int(os.environ.get("FASTMLP_EXAMPLE_EPOCHS", "15"))
SAMPLES = int(os.environ.get("FASTMLP_EXAMPLE_SAMPLES", "60000"))  # fewer: faster demo
OUT = os.environ.get("FASTMLP_EXAMPLE_OUT", ".")

(x_train, y_train), (x_test, y_test) = fm.datasets.fashion_mnist.load_data()
x_train, y_train = x_train[:SAMPLES], y_train[:SAMPLES]

# Pixels 0..255 -> 0..1, images flattened to 784 features; labels one-hot.
x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255
x_test = x_test.reshape(len(x_test), 784).astype("float32") / 255
y_train = fm.utils.to_categorical(y_train, 10)
y_test = fm.utils.to_categorical(y_test, 10)

model = fm.Sequential([
    fm.Input(shape=(784,)),
    fm.Dense(256, activation="relu"),
    fm.Dense(128, activation="relu"),
    fm.Dense(10, activation="softmax"),
], seed=0)
model.compile(optimizer=fm.optimizers.Adam(learning_rate=1e-3),
              loss="categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=128,
                    validation_split=0.1, verbose=1)

loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f}")

try:
    from fastmlp import plotting

    path = plotting.plot_history(history, os.path.join(OUT, "learning_curves.png"),
                                 title="Fashion-MNIST, 784-256-128-10")
    print(f"learning curves written to {path}")
except ImportError as exc:
    print(f"no plot: {exc}")
