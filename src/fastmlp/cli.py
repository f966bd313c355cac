"""The ``fastmlp`` command: train an MLP on a dataset, evaluate a saved one.

    fastmlp train --dataset fashion-mnist --layers 256,128 --epochs 15 \\
        --save model.fmlp --plot curves.png
    fastmlp predict --model model.fmlp --dataset fashion-mnist
    fastmlp info

How data is prepared (the same steps are replayed by ``predict``):

* images (mnist, fashion-mnist): flattened to 784 features, divided by 255;
  labels one-hot encoded; softmax output, categorical cross-entropy.
* tables (friedman1, csv:PATH): a StandardScaler fitted on the training
  part scales the features. For regression the target is standardized too
  (so one learning rate suits any units); the loss printed during training
  is therefore on the standardized target, while the final report gives
  MSE, MAE and R^2 in the target's own units.

The preprocessing is saved inside the model file, in its metadata.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np

IMAGE_DATASETS = ("mnist", "fashion-mnist")
DATASETS_HELP = "mnist, fashion-mnist, friedman1, or csv:PATH (with --target COLUMN)"
# What train stores in the model file's metadata so predict can prepare
# data the same way (scalers, dataset, task).
PREP_FORMAT = "fastmlp-cli-preprocessing"
PREP_VERSION = 1


class CliError(Exception):
    """A problem the user can fix; printed without a traceback."""


# ----------------------------------------------------------------------------
# Argument parsing


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to render the docs)."""
    from fastmlp import __version__

    parser = argparse.ArgumentParser(
        prog="fastmlp",
        description="Train multilayer perceptrons on the CPU, fast.",
        epilog="Run 'fastmlp COMMAND --help' for the options of each command. "
        "Data: Fashion-MNIST comes from Debian's dataset-fashion-mnist package or "
        "$FASTMLP_DATA/fashion-mnist; MNIST is downloaded (SHA-256 checked) into "
        "~/.cache/fastmlp/mnist.",
    )
    parser.add_argument("--version", action="version", version=f"fastmlp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_train(sub)
    _add_predict(sub)
    sub.add_parser("info", help="print version, compiler, OpenMP, SIMD paths and threads",
                   description="Print fastmlp's build and run-time configuration.")
    return parser


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show '(default: X)' only where there is a default the help does not state."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is argparse.SUPPRESS or "default" in text:
            return text
        return super()._get_help_string(action)


def _add_data_args(p: argparse.ArgumentParser, dataset_required: bool) -> Any:
    g = p.add_argument_group("data")
    default = "" if dataset_required else " (default: the one the model was trained on)"
    g.add_argument("--dataset", required=dataset_required, metavar="NAME",
                   help=f"dataset: {DATASETS_HELP}{default}")
    g.add_argument("--target", metavar="COLUMN",
                   help="csv: the column to predict, by header name or index")
    g.add_argument("--data-dir", metavar="DIR",
                   help="mnist/fashion-mnist: directory holding the four IDX files "
                        "(default: search $FASTMLP_DATA, ~/.cache/fastmlp, system copies)")
    return g


def _add_train(sub: Any) -> None:
    p = sub.add_parser(
        "train", help="train a model and report test accuracy or R^2",
        description="Train an MLP, print a progress bar and a test report, optionally "
                    "save the model and plot learning curves.",
        formatter_class=_HelpFormatter)
    g = _add_data_args(p, dataset_required=True)
    g.add_argument("--task", choices=("auto", "classification", "regression"), default="auto",
                   help="csv only: auto means regression")
    g.add_argument("--test-size", type=float, default=None, metavar="FRAC",
                   help="friedman1/csv: fraction held out for the test report "
                        "(default 1/6 for friedman1, 0.2 for csv)")
    g.add_argument("--n-samples", type=int, default=6000, metavar="N",
                   help="friedman1: samples generated (train + test)")
    g.add_argument("--noise", type=float, default=1.0, metavar="SIGMA",
                   help="friedman1: standard deviation of the added noise")

    m = p.add_argument_group("model")
    m.add_argument("--layers", default="256,128", metavar="UNITS",
                   help="hidden layer sizes, comma-separated ('' for none)")
    m.add_argument("--activation", default="relu",
                   help="hidden activation: relu, tanh, sigmoid, leaky_relu")
    m.add_argument("--backend", choices=("c", "numpy"), default="c",
                   help="c: C/OpenMP kernels; numpy: the pure-NumPy reference")
    m.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="floating-point precision of weights and data")
    m.add_argument("--seed", type=int, default=0,
                   help="seed for weights, shuffling and data splits")

    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=15, help="passes over the training data")
    t.add_argument("--batch-size", type=int, default=128, metavar="N",
                   help="samples per gradient step")
    t.add_argument("--optimizer", default="adam", help="sgd, adam, rmsprop, adagrad")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    t.add_argument("--validation-split", type=float, default=0.0, metavar="FRAC",
                   help="fraction of the training data held out for validation curves; "
                        "0 (the default) trains on all of it and the curves follow the "
                        "test set per epoch (watched only: nothing is tuned on it)")
    t.add_argument("--threads", type=int, default=None, metavar="N",
                   help="OpenMP threads for the C kernels (default: OpenMP's choice)")
    t.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1, nargs="?", const=1,
                   help="0 silent, 1 progress bar (also plain --verbose), 2 one line per epoch")

    o = p.add_argument_group("output")
    o.add_argument("--save", metavar="PATH",
                   help="save the model, with its preprocessing, to this file")
    o.add_argument("--plot", metavar="PNG",
                   help='write learning curves to this PNG (needs pip install "fastmlp[plot]")')


def _add_predict(sub: Any) -> None:
    p = sub.add_parser(
        "predict", help="evaluate a saved model on a dataset",
        description="Load a model saved by 'fastmlp train --save', apply the saved "
                    "preprocessing, and report test loss and accuracy (or MSE/R^2). "
                    "mnist/fashion-mnist/friedman1: the test part; csv:PATH: every row.",
        formatter_class=_HelpFormatter)
    p.add_argument("--model", required=True, metavar="PATH", help="model file from train --save")
    _add_data_args(p, dataset_required=False)
    p.add_argument("--batch-size", type=int, default=256, metavar="N",
                   help="samples per forward pass")
    p.add_argument("--output", metavar="CSV",
                   help="also write the predictions (class or value per row) to this CSV")


# ----------------------------------------------------------------------------
# Data


@dataclass
class Data:
    """Model-ready arrays plus what is needed to report and to replay."""

    x_train: Optional[np.ndarray]
    y_train: Optional[np.ndarray]
    x_test: np.ndarray
    y_test: np.ndarray  # raw: integer labels or target values
    task: str  # "classification" or "regression"
    num_classes: int = 0
    prep: dict = field(default_factory=dict)


def _split_spec(spec: str) -> tuple[str, Optional[str]]:
    if spec.startswith("csv:"):
        if not spec[4:]:
            raise CliError("--dataset csv:PATH needs a file path after 'csv:'")
        return "csv", spec[4:]
    if spec in IMAGE_DATASETS or spec == "friedman1":
        return spec, None
    raise CliError(f"unknown dataset {spec!r}; expected {DATASETS_HELP}")


def load_raw(spec: str, args: Any, info: dict) -> tuple:
    """(x_train, y_train, x_test, y_test) as loaded, before scaling.

    ``info`` carries how the data was made (seed, split) so ``predict`` can
    regenerate the same test part; it is filled in by ``train``.
    """
    from fastmlp import datasets, preprocessing

    kind, path = _split_spec(spec)
    if kind in IMAGE_DATASETS:
        module = datasets.mnist if kind == "mnist" else datasets.fashion_mnist
        (x_tr, y_tr), (x_te, y_te) = module.load_data(path=getattr(args, "data_dir", None))
        return x_tr.reshape(len(x_tr), -1), y_tr, x_te.reshape(len(x_te), -1), y_te
    if kind == "friedman1":
        x, y = datasets.friedman1(info["n_samples"], noise=info["noise"], seed=info["seed"])
    else:
        if info.get("target") is None:
            raise CliError("--dataset csv:PATH needs --target COLUMN (name or index)")
        target = info["target"]
        x, y = datasets.load_csv(path, int(target) if target.lstrip("-").isdigit() else target)
        if info.get("whole_file"):
            return None, None, x, y
    x_tr, x_te, y_tr, y_te = preprocessing.train_test_split(
        x, y, test_size=info["test_size"], seed=info["seed"])
    return x_tr, y_tr, x_te, y_te


def prepare(raw: tuple, task: str, dtype: str, prep: Optional[dict] = None) -> Data:
    """Scale inputs (and a regression target); fit on train unless ``prep`` is given."""
    from fastmlp import preprocessing

    x_tr, y_tr, x_te, y_te = raw
    prep = dict(prep or {})
    if "inputs" not in prep:
        if x_tr.dtype == np.uint8:  # images
            prep["inputs"] = {"divide": 255.0}
        else:
            prep["inputs"] = preprocessing.StandardScaler().fit(x_tr).to_dict()
    scale_x = _input_transform(prep["inputs"], dtype)
    data = Data(None, None, scale_x(x_te), y_te, task, prep=prep)
    if task == "classification":
        if "num_classes" not in prep:
            prep["num_classes"] = _num_classes(y_tr)
        data.num_classes = prep["num_classes"]
        _check_labels(y_te, data.num_classes)
    elif "target" not in prep:
        prep["target"] = preprocessing.StandardScaler().fit(y_tr.reshape(-1, 1)).to_dict()
    if x_tr is not None:
        data.x_train = scale_x(x_tr)
        data.y_train = _model_targets(data, y_tr).astype(dtype)
    return data


def _input_transform(spec: dict, dtype: str):
    """The saved input scaling as a function returning ``dtype`` arrays."""
    from fastmlp import preprocessing

    if "divide" in spec:
        # Straight to the model's dtype: no float64 copy of 60000 images.
        return lambda x: np.asarray(x).astype(dtype) / np.asarray(spec["divide"], dtype=dtype)
    scaler = preprocessing.scaler_from_dict(spec)
    return lambda x: scaler.transform(np.asarray(x, dtype=np.float64)).astype(dtype)


def _model_targets(data: Data, y: np.ndarray) -> np.ndarray:
    """What the model is fitted on: one-hot labels or the standardized target."""
    from fastmlp import preprocessing, utils

    if data.task == "classification":
        _check_labels(y, data.num_classes)
        return utils.to_categorical(y, data.num_classes)
    scaler = preprocessing.scaler_from_dict(data.prep["target"])
    return scaler.transform(np.asarray(y, dtype=np.float64).reshape(-1, 1))


def _num_classes(y: np.ndarray) -> int:
    if y.size == 0 or np.any(y != np.round(y)) or y.min() < 0:
        raise CliError("classification needs integer class labels 0, 1, 2, ... in the target")
    return int(y.max()) + 1


def _check_labels(y: np.ndarray, num_classes: int) -> None:
    if y.size and (np.any(y != np.round(y)) or y.min() < 0 or y.max() >= num_classes):
        raise CliError(f"labels must be integers in 0..{num_classes - 1}; "
                       f"got values from {y.min()} to {y.max()}")


def _task_for(spec: str, requested: str) -> str:
    kind, _ = _split_spec(spec)
    if kind in IMAGE_DATASETS:
        if requested == "regression":
            raise CliError(f"{spec} is a classification dataset")
        return "classification"
    if kind == "friedman1":
        if requested == "classification":
            raise CliError("friedman1 is a regression dataset")
        return "regression"
    return "classification" if requested == "classification" else "regression"


# ----------------------------------------------------------------------------
# train


def _parse_layers(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        units = [int(p) for p in parts]
    except ValueError:
        raise CliError(f"--layers must be comma-separated integers like 256,128; got {text!r}") from None
    if any(u < 1 for u in units):
        raise CliError(f"--layers sizes must be >= 1; got {text!r}")
    return units


def _check_train_args(args: Any) -> None:
    for name, value, ok, rule in [
        ("--epochs", args.epochs, args.epochs >= 1, ">= 1"),
        ("--batch-size", args.batch_size, args.batch_size >= 1, ">= 1"),
        ("--lr", args.lr, args.lr > 0, "> 0"),
        ("--validation-split", args.validation_split, 0 <= args.validation_split < 1, "in [0, 1)"),
        ("--threads", args.threads, args.threads is None or args.threads >= 1, ">= 1"),
        ("--n-samples", args.n_samples, args.n_samples >= 2, ">= 2"),
    ]:
        if not ok:
            raise CliError(f"{name} must be {rule}, got {value}")
    if args.test_size is not None and not 0 < args.test_size < 1:
        raise CliError(f"--test-size must be in (0, 1), got {args.test_size}")


def build_model(n_inputs: int, hidden: Sequence[int], outputs: int, *, activation: str,
                output_activation: str, backend: str, dtype: str, seed: int) -> Any:
    """A Sequential MLP: Input, one Dense per hidden size, the output Dense."""
    from fastmlp.layers import Dense, Input
    from fastmlp.model import Sequential

    layers = [Input(shape=(n_inputs,))]
    layers += [Dense(u, activation=activation) for u in hidden]
    layers.append(Dense(outputs, activation=output_activation))
    return Sequential(layers, backend=backend, dtype=dtype, seed=seed)


def cmd_train(args: Any) -> int:
    """Train, report, save, plot."""
    _check_train_args(args)
    hidden = _parse_layers(args.layers)
    if args.plot:
        from fastmlp import plotting

        try:
            plotting.require_matplotlib()  # fail now, not after training
        except ImportError as exc:
            raise CliError(f"--plot: {exc}") from None
    import fastmlp as fm
    from fastmlp import optimizers

    if args.threads is not None:
        fm.set_num_threads(args.threads)
    task = _task_for(args.dataset, args.task)
    kind, _ = _split_spec(args.dataset)
    info = {"dataset": args.dataset, "seed": args.seed, "target": args.target,
            "n_samples": args.n_samples, "noise": args.noise,
            "test_size": args.test_size or (1 / 6 if kind == "friedman1" else 0.2)}
    data = prepare(load_raw(args.dataset, args, info), task, args.dtype)

    outputs = data.num_classes if task == "classification" else 1
    model = build_model(data.x_train.shape[1], hidden, outputs, activation=args.activation,
                        output_activation="softmax" if task == "classification" else "linear",
                        backend=args.backend, dtype=args.dtype, seed=args.seed)
    optimizer = optimizers.deserialize({"class_name": args.optimizer, "learning_rate": args.lr})
    if task == "classification":
        model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    else:
        model.compile(optimizer=optimizer, loss="mse", metrics=["mae"])

    n_fit = len(data.x_train) - int(len(data.x_train) * args.validation_split)
    held_out = args.validation_split > 0
    if args.verbose:
        watched = f"{len(data.x_train) - n_fit} validation" if held_out else "all fitted"
        print(f"fastmlp: {args.dataset}: {len(data.x_train)} train ({watched}), "
              f"{len(data.x_test)} test; "
              f"layers {data.x_train.shape[1]}-{'-'.join(map(str, hidden + [outputs]))}")
    # Without a held-out split the per-epoch curve follows the test set, as
    # textbooks plot it; training never looks at it.
    watch = None if held_out else (data.x_test, _model_targets(data, data.y_test).astype(model.dtype))
    start = time.perf_counter()
    history = model.fit(data.x_train, data.y_train, epochs=args.epochs,
                        batch_size=args.batch_size, validation_split=args.validation_split,
                        validation_data=watch, verbose=args.verbose)
    seconds = time.perf_counter() - start
    epochs_run = len(history.history.get("loss", [])) or args.epochs

    print(_report(model, data, args.batch_size))
    print(_speed_line(seconds, epochs_run, n_fit))
    print(_config_line(args.backend, args.dtype))
    if args.save:
        _save(model, args.save, data.prep, info, task)
        print(f"Saved model and its preprocessing to {args.save}")
    if args.plot:
        from fastmlp import plotting

        sizes = "-".join(map(str, [data.x_train.shape[1], *hidden, outputs]))
        plotting.plot_history(history, args.plot,
                              title=f"{args.dataset}: {sizes} MLP, {args.optimizer} lr {args.lr:g}",
                              val_label="validation" if held_out else "test")
        print(f"Learning curves written to {args.plot}")
    return 0


def _report(model: Any, data: Data, batch_size: int) -> str:
    pred = np.asarray(model.predict(data.x_test, batch_size=batch_size, verbose=0))
    if data.task == "classification":
        labels = np.asarray(data.y_test).astype(np.int64)
        target = _model_targets(data, labels).astype(pred.dtype)
        loss = _scalar_loss(model.evaluate(data.x_test, target, batch_size=batch_size, verbose=0))
        acc = float(np.mean(pred.argmax(axis=1) == labels))
        return f"Test: loss {loss:.4f}  accuracy {acc:.4f}  ({len(labels)} samples)"
    from fastmlp import preprocessing

    scaler = preprocessing.scaler_from_dict(data.prep["target"])
    y_hat = scaler.inverse_transform(pred.reshape(-1, 1).astype(np.float64)).ravel()
    y = np.asarray(data.y_test, dtype=np.float64)
    mse = float(np.mean((y_hat - y) ** 2))
    mae = float(np.mean(np.abs(y_hat - y)))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - mse * len(y) / ss_tot if ss_tot > 0 else float("nan")
    return f"Test: MSE {mse:.4f}  MAE {mae:.4f}  R^2 {r2:.4f}  ({len(y)} samples, target units)"


def _scalar_loss(result: Any) -> float:
    if isinstance(result, (list, tuple)):
        return float(result[0])
    if isinstance(result, dict):
        return float(result["loss"])
    return float(result)


def _speed_line(seconds: float, epochs: int, n_fit: int) -> str:
    per_epoch = seconds / max(epochs, 1)
    rate = n_fit * epochs / seconds if seconds > 0 else float("inf")
    return (f"Time: {seconds:.1f} s for {epochs} epoch{'s' if epochs != 1 else ''}, "
            f"{per_epoch:.2f} s/epoch, "
            f"{rate:,.0f} samples/s")


def _config_line(backend: str, dtype: str) -> str:
    if backend != "c":
        return f"Backend: numpy reference ({dtype}); threads and SIMD are NumPy's own"
    try:
        from fastmlp import _config

        info = _config.config_info()
    except Exception as exc:  # the report must not fail on a missing build fact
        return f"Backend: c ({dtype}); configuration unavailable: {exc}"
    compiled = ", ".join(info.get("simd_compiled", []))
    return (f"Backend: c ({dtype}), threads {info.get('threads')}, SIMD "
            f"{info.get('simd_selected')} (compiled: {compiled}), {info.get('openmp')}")


def _save(model: Any, path: str, prep: dict, info: dict, task: str) -> None:
    from fastmlp.io import save_model

    save_model(model, path, metadata={"format": PREP_FORMAT, "version": PREP_VERSION,
                                      "task": task, "data": info, "preprocessing": prep})


# ----------------------------------------------------------------------------
# predict


def _saved_preprocessing(model: Any, path: str) -> dict:
    meta = getattr(model, "metadata", None) or {}
    if meta.get("format") != PREP_FORMAT or meta.get("version") != PREP_VERSION:
        raise CliError(f"{path}: the model holds no preprocessing from 'fastmlp train --save' "
                       f"(version {PREP_VERSION}); save it with the command line to use predict")
    return meta


def cmd_predict(args: Any) -> int:
    """Evaluate a saved model with its saved preprocessing."""
    import fastmlp as fm

    if not os.path.isfile(args.model):
        raise CliError(f"--model {args.model}: no such file")
    model = fm.load_model(args.model)
    saved = _saved_preprocessing(model, args.model)
    info = dict(saved["data"])
    spec = args.dataset or info["dataset"]
    kind, _ = _split_spec(spec)
    if args.target is not None:
        info["target"] = args.target
    if kind == "csv":
        info["whole_file"] = True
    task = saved["task"]
    data = prepare(load_raw(spec, args, info), task, str(np.dtype(model.dtype)),
                   prep=saved["preprocessing"])
    n_in = data.x_test.shape[1]
    expected = _model_inputs(model)
    if expected is not None and expected != n_in:
        raise CliError(f"the model takes {expected} features but {spec} has {n_in}")
    print(_report(model, data, args.batch_size))
    if args.output:
        _write_predictions(model, data, args.output, args.batch_size)
        print(f"Predictions written to {args.output}")
    return 0


def _model_inputs(model: Any) -> Optional[int]:
    shape = getattr(model, "input_shape", None)
    if shape and shape[-1] is not None:
        return int(shape[-1])
    return None


def _write_predictions(model: Any, data: Data, path: str, batch_size: int) -> None:
    from fastmlp import preprocessing

    pred = np.asarray(model.predict(data.x_test, batch_size=batch_size, verbose=0))
    if data.task == "classification":
        np.savetxt(path, pred.argmax(axis=1), fmt="%d", header="class", comments="")
    else:
        scaler = preprocessing.scaler_from_dict(data.prep["target"])
        values = scaler.inverse_transform(pred.reshape(-1, 1).astype(np.float64)).ravel()
        np.savetxt(path, values, fmt="%.9g", header="prediction", comments="")


# ----------------------------------------------------------------------------


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``fastmlp`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return cmd_train(args)
        if args.command == "predict":
            return cmd_predict(args)
        import fastmlp as fm

        fm.show_config()
        return 0
    except CliError as exc:
        print(f"fastmlp {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError, ImportError) as exc:
        # Missing or damaged data files, bad model files, bad CSV cells.
        print(f"fastmlp {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastmlp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
