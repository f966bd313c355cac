"""Learning curves as a PNG: train vs validation loss and metric per epoch.

matplotlib is optional (``pip install "fastmlp[plot]"``) and imported only
when a plot is drawn, so ``import fastmlp`` never pays for it.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence

INSTALL_HINT = 'plotting needs matplotlib: pip install "fastmlp[plot]"'


def require_matplotlib() -> None:
    """Raise ImportError with the install command if matplotlib is missing.

    Call it before a long training run that ends in a plot, to fail early.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc


def plot_history(
    history: Any,
    path: "str | os.PathLike[str]",
    *,
    title: Optional[str] = None,
    metrics: Optional[Sequence[str]] = None,
    val_label: str = "validation",
) -> str:
    """Draw the learning curves of a fit and save them as an image at ``path``.

    ``history`` is what ``model.fit`` returns (or its ``.history`` dict of
    per-epoch lists). One panel per quantity: the loss, then each metric
    (default: every key without a ``val_`` prefix), train and validation
    together; ``val_label`` names the ``val_`` curves (e.g. "test" when
    fit's validation_data was the test set). Returns the path written.
    """
    logs = _logs_of(history)
    names = list(metrics) if metrics is not None else [k for k in logs if not k.startswith("val_")]
    names = sorted(names, key=lambda k: k != "loss")  # loss first
    if not names:
        raise ValueError("plot_history: history has no per-epoch values to plot")
    require_matplotlib()
    import matplotlib

    matplotlib.use("Agg")  # file output only; no display needed
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 4), squeeze=False)
    try:
        for ax, name in zip(axes[0], names):
            _panel(ax, name, logs, val_label)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(os.fspath(path), dpi=100)
    finally:
        plt.close(fig)
    return os.fspath(path)


def _logs_of(history: Any) -> Mapping[str, Sequence[float]]:
    logs = getattr(history, "history", history)
    if not isinstance(logs, Mapping):
        raise TypeError(f"plot_history: expected a History or a dict of lists, got {type(history).__name__}")
    return logs


def _panel(ax: Any, name: str, logs: Mapping[str, Sequence[float]], val_label: str) -> None:
    if name not in logs:
        raise ValueError(f"plot_history: no {name!r} in history (keys: {', '.join(logs)})")
    train = list(logs[name])
    epochs = range(1, len(train) + 1)
    ax.plot(epochs, train, marker="o", markersize=3, label="train")
    val = logs.get("val_" + name)
    if val is not None and len(val):
        ax.plot(range(1, len(val) + 1), list(val), marker="o", markersize=3, label=val_label)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set_xlabel("epoch")
    ax.set_ylabel(name)
    ax.set_title(name)
    ax.grid(True, alpha=0.3)
    ax.legend()
