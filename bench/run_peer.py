"""Child process of compare.py: train one peer on one task, print one JSON line.

    python bench/run_peer.py '{"peer": "torch", "task": "classify", ...}'

Running each peer in a process of its own keeps their memory peaks, thread
pools and imported libraries apart. The peak is the child's ``VmHWM`` (the
high-water mark of its own address space since exec), not ``ru_maxrss``:
Linux carries the parent's high-water mark into ``ru_maxrss`` across
fork+exec, so a child of a parent holding the dataset and torch would report
the parent's peak. The result is the last stdout line,
``RESULT {...}``.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import machine  # noqa: E402
import peers  # noqa: E402
import workload  # noqa: E402


def score(task: str, pred: np.ndarray, y: np.ndarray) -> float:
    """Accuracy (classify) or R^2 (regress) of predictions against y."""
    if task == "classify":
        return float(np.mean(np.argmax(pred, axis=1) == y))
    pred = pred.reshape(-1).astype(np.float64)
    return float(1.0 - np.sum((pred - y) ** 2) / np.sum((y - y.mean()) ** 2))


def run(spec: dict) -> dict:
    """Train as ``spec`` says; return timings, score and memory."""
    rss_start = machine.rss_bytes()
    data = workload.load(spec["data_dir"], spec.get("train_rows", 0))
    x, y = data["x_train"], data["y_train"]
    peer = peers.create(spec["peer"], sizes=spec["sizes"], task=spec["task"],
                        batch_size=spec["batch_size"], learning_rate=spec["learning_rate"],
                        threads=spec["threads"], seed=spec["seed"])
    # From here on, every byte more is training's: reset the high-water mark.
    setup_peak = machine.hwm_bytes()
    rss_before = machine.rss_bytes()
    reset = machine.reset_peak()
    for _ in range(spec["warmup_epochs"]):
        peer.train_epoch(x, y)
    epochs = []
    for _ in range(spec["epochs"]):
        start = time.perf_counter()
        peer.train_epoch(x, y)
        epochs.append(time.perf_counter() - start)
    train_peak = machine.hwm_bytes() if reset else None
    pb = spec["predict_batch_size"]
    pred = peer.predict(data["x_test"], pb)  # also the predict warm-up
    result = {
        "peer": spec["peer"], "task": spec["task"], "version": peer.version,
        "train_rows": len(x), "batch_size": spec["batch_size"],
        "epoch_seconds": epochs, "score": score(spec["task"], pred, data["y_test"]),
        "predict_seconds": machine.best_time(lambda: peer.predict(data["x_test"], pb),
                                     spec["predict_repeats"]),
        "predict_rows": len(data["x_test"]),
        "data_bytes": workload.nbytes(data),
        "rss_start": rss_start, "rss_before_training": rss_before,
        "training_peak": train_peak,
        "peak_rss": max(setup_peak or 0, train_peak or 0) or machine.max_rss_bytes(),
    }
    return result


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    result = run(json.loads(argv[1]))
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
