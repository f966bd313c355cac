"""Race fastmlp against PyTorch, Keras, scikit-learn and NumPy on one MLP.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=src python bench/compare.py
    ... python bench/compare.py --quick          # smoke run on a subset
    ... python bench/compare.py --gemm           # GEMM GFLOP/s (bench/gemm_compare.py)

One invocation trains, on the same data, model and settings, every peer that
is installed: fastmlp (C backend), fastmlp's NumPy backend, PyTorch with its
default Adam and with fused Adam, Keras 3 on TensorFlow, scikit-learn's
MLPClassifier/MLPRegressor and a textbook NumPy MLP.

Classification: Fashion-MNIST (60,000 training images, x in [0, 1] float32),
784-256-128-10 ReLU/softmax, Adam(1e-3), sparse cross-entropy, batch
--batch-size (one or several). Each peer runs in its own process, limited to --threads
threads; it trains --warmup-epochs untimed epochs, then --epochs timed ones
(s/epoch is the fastest of them, as GEMM times are best-of; with --rounds N
every peer runs N times round-robin and its best round counts); then its test accuracy after all those epochs
and the best of --predict-repeats predictions on the 10,000 test images.

GFLOP/s counts only GEMM work: per training sample 2*sum(in*out) forward,
the same for the weight gradients and 2*sum(in*out) over the layers but the
first for the input gradients (1,006,976 FLOP; 60.4 GFLOP per epoch). The
machine GEMM rate is the best of numpy (OpenBLAS) and torch (MKL) on a
1024^3 sgemm with the same threads, measured in this run.

Memory: peak RSS is the child's whole-life peak (VmHWM: interpreter,
libraries, dataset, training; see run_peer.py for why not ru_maxrss); "training +MB" is how far the
RSS high-water mark rose above the RSS just before the first epoch
(Linux /proc/self/clear_refs), i.e. what training itself costs.

Regression: Friedman #1, 8 features, 16,512 rows, 8-64-64-1, MSE, Adam,
batch --regression-batch-size (32): microseconds per training step.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from typing import Optional, Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import machine  # noqa: E402
import peers  # noqa: E402
import workload  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MB = 1024 * 1024


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--gemm", action="store_true",
                   help="run bench/gemm_compare.py instead, passing it the other flags")
    p.add_argument("--peers", default=",".join(peers.PEERS),
                   help="comma-separated peers (default: all installed): " + ", ".join(peers.PEERS))
    p.add_argument("--batch-size", default="128",
                   help="classification batch size, or several: 32,128,512 (default 128)")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs (1)")
    p.add_argument("--warmup-epochs", type=int, default=1, help="untimed epochs first (1)")
    p.add_argument("--rounds", type=int, default=1,
                   help="run every peer this many times, round-robin, keeping its best (1); "
                        "on a busy machine this spreads load bursts over all peers")
    p.add_argument("--threads", type=int, default=2, help="threads for every library (2)")
    p.add_argument("--predict-batch-size", type=int, default=10000,
                   help="predict batch size (10000: the whole test set in one call)")
    p.add_argument("--predict-repeats", type=int, default=5, help="best of this many (5)")
    p.add_argument("--regression-batch-size", type=int, default=32, help="regression batch (32)")
    p.add_argument("--no-classification", action="store_true", help="skip Fashion-MNIST")
    p.add_argument("--no-regression", action="store_true", help="skip the regression case")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 10,000 training images, 4,096 regression rows, 2 predicts")
    p.add_argument("--output", help="also write the report (markdown) to this file")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per peer (1800)")
    return p.parse_args(argv)


def child_env(threads: int) -> dict[str, str]:
    """The environment of a peer's process: thread counts pinned for every
    runtime (the peers also set them through their own APIs), TF quiet."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_child(spec: dict, threads: int, timeout: float) -> dict:
    """Run one peer in its own process; return its result or {"error": ...}."""
    cmd = [sys.executable, os.path.join(HERE, "run_peer.py"), json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(threads),
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"peer": spec["peer"], "error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
    return {"peer": spec["peer"], "error": f"exit {proc.returncode}: {tail}"}


def fmt_table(head: list[str], rows: list[list[str]]) -> str:
    lines = [head, ["---"] + ["---:"] * (len(head) - 1)] + rows
    return "\n".join("| " + " | ".join(r) + " |" for r in lines)


def epoch_seconds(r: dict) -> float:
    """The fastest timed epoch: other processes can only slow a run down."""
    return min(r["epoch_seconds"])


def ratio(value: float, ref: Optional[float]) -> str:
    return f"{value / ref:.2f}" if ref else "-"


def training_table(results: list[dict], gemm_rate: float) -> str:
    ok = [r for r in results if "error" not in r]
    ref = next((epoch_seconds(r) for r in ok if r["peer"] == "fastmlp"), None)
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["peer"], "failed: " + r["error"]] + [""] * 6)
            continue
        s = epoch_seconds(r)
        gflops = workload.gemm_flops_per_sample(workload.CLASSIFIER_SIZES) * r["train_rows"] / s / 1e9
        peak = r["training_peak"]
        extra = f"{max(0, peak - r['rss_before_training']) / MB:.0f}" if peak else "-"
        rows.append([r["peer"], f"{s:.3f}", f"{gflops:.1f}", f"{100 * gflops / gemm_rate:.1f} %",
                     f"{r['score']:.4f}", f"{r['peak_rss'] / MB:.0f}", extra, ratio(s, ref)])
    head = ["peer", "s/epoch", "GFLOP/s", "% of machine GEMM", "test accuracy",
            "peak RSS MB", "training +MB", "time / fastmlp's"]
    return fmt_table(head, rows)


def memory_line(results: list[dict]) -> Optional[str]:
    """fastmlp's peak memory against issue 5's target: no more than the
    dataset plus 64 MB plus the parameters, gradients and Adam's two slots."""
    r = next((r for r in results if r["peer"] == "fastmlp" and "error" not in r), None)
    if r is None:
        return None
    state = 4 * workload.n_params(workload.CLASSIFIER_SIZES) * 4  # params, grads, m, v (float32)
    over = r["peak_rss"] - r["data_bytes"]
    budget = 64 * MB + state
    training = r["training_peak"] - r["rss_before_training"] if r["training_peak"] else None
    return (f"fastmlp memory: peak RSS {r['peak_rss'] / MB:.0f} MB = dataset "
            f"{r['data_bytes'] / MB:.0f} MB + {over / MB:.0f} MB (interpreter, numpy, fastmlp "
            f"and training; training alone +{(training or 0) / MB:.0f} MB); issue 5's budget is "
            f"dataset + {budget / MB:.1f} MB (64 MB + {state / MB:.1f} MB of parameters, "
            f"gradients and Adam state): {'within' if over <= budget else 'OVER'} budget.")


def predict_table(results: list[dict]) -> str:
    ok = [r for r in results if "error" not in r]
    ref = next((r["predict_seconds"] for r in ok if r["peer"] == "fastmlp"), None)
    rows = []
    for r in ok:
        s = r["predict_seconds"]
        gflops = workload.gemm_flops_per_sample(workload.CLASSIFIER_SIZES, train=False) \
            * r["predict_rows"] / s / 1e9
        rows.append([r["peer"], f"{1000 * s:.2f}", f"{gflops:.1f}", ratio(s, ref)])
    return fmt_table(["peer", "ms", "GFLOP/s", "time / fastmlp's"], rows)


def regression_table(results: list[dict]) -> str:
    def us_per_step(r: dict) -> float:
        return 1e6 * epoch_seconds(r) / -(-r["train_rows"] // r["batch_size"])

    ref = next((us_per_step(r) for r in results if r["peer"] == "fastmlp" and "error" not in r),
               None)
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["peer"], "failed: " + r["error"], "", "", ""])
            continue
        us = us_per_step(r)
        rows.append([r["peer"], f"{us:.1f}", f"{epoch_seconds(r):.3f}", f"{r['score']:.4f}",
                     ratio(us, ref)])
    return fmt_table(["peer", "µs/step", "s/epoch", "test R²", "time / fastmlp's"], rows)


def versions(results: list[dict]) -> str:
    seen = {}
    for r in results:
        if "version" in r:
            seen.setdefault(r["peer"], r["version"])
    return "\n".join(f"- {peer}: {v}" for peer, v in seen.items())


def prepare_data(directory: str) -> tuple[str, str]:
    """Write both workloads' arrays under ``directory``; return their dirs."""
    cls_dir, reg_dir = os.path.join(directory, "fashion"), os.path.join(directory, "friedman")
    workload.save(workload.load_fashion_mnist(), cls_dir)
    workload.save(workload.make_regression(), reg_dir)
    return cls_dir, reg_dir


def run_task(args, names: list[str], task: str, data_dir: str, train_rows: int,
             batch: int) -> list[dict]:
    """Every peer in ``names`` on one task, one process each, ``--rounds``
    times round-robin; per peer, the round with the fastest epoch is kept
    (with the fastest predict of all rounds)."""
    sizes = workload.CLASSIFIER_SIZES if task == "classify" else workload.REGRESSOR_SIZES
    best: dict[str, dict] = {}
    for rnd in range(args.rounds):
        for name in names:
            spec = {"peer": name, "task": task, "data_dir": data_dir, "train_rows": train_rows,
                    "sizes": sizes, "batch_size": batch, "learning_rate": 1e-3,
                    "threads": args.threads, "seed": args.seed, "epochs": args.epochs,
                    "warmup_epochs": args.warmup_epochs,
                    "predict_batch_size": args.predict_batch_size,
                    "predict_repeats": args.predict_repeats}
            print(f"  {task}, batch {batch}, round {rnd + 1}/{args.rounds}: {name} ...",
                  file=sys.stderr, flush=True)
            best[name] = better(best.get(name), run_child(spec, args.threads, args.timeout))
    return [best[name] for name in names]


def better(old: Optional[dict], new: dict) -> dict:
    """Of two results of one peer, the one with the faster epoch (a success
    beats a failure); the predict time is the faster of the two."""
    if old is None or "error" in old:
        return new
    if "error" in new:
        return old
    keep = new if epoch_seconds(new) < epoch_seconds(old) else old
    return {**keep, "predict_seconds": min(old["predict_seconds"], new["predict_seconds"])}


def summary_table(by_batch: dict[int, list[dict]]) -> str:
    """s/epoch of every peer at every batch size, with time / fastmlp's."""
    names = list(dict.fromkeys(r["peer"] for res in by_batch.values() for r in res))
    rows = []
    for name in names:
        row = [name]
        for res in by_batch.values():
            ref = next((epoch_seconds(r) for r in res if r["peer"] == "fastmlp"
                        and "error" not in r), None)
            r = next((r for r in res if r["peer"] == name), None)
            if r is None or "error" in r:
                row.append("-")
            else:
                row.append(f"{epoch_seconds(r):.3f} ({ratio(epoch_seconds(r), ref)})")
        rows.append(row)
    head = ["peer"] + [f"batch {b}: s/epoch (/ fastmlp)" for b in by_batch]
    return fmt_table(head, rows)


def report_classification(args, names: list[str], data_dir: str, gemm_rate: float, say) -> None:
    rows = 10000 if args.quick else 0
    by_batch = {}
    for batch in args.batch_sizes:
        res = by_batch[batch] = run_task(args, names, "classify", data_dir, rows, batch)
        n = next((r["train_rows"] for r in res if "train_rows" in r), 0)
        data_mb = next((r["data_bytes"] / MB for r in res if "data_bytes" in r), 0)
        say(f"\n### Fashion-MNIST, 784-256-128-10, Adam, batch {batch}, {args.threads} threads "
            f"({n} training images; {args.warmup_epochs} warm-up + {args.epochs} timed "
            f"epoch(s); dataset in memory {data_mb:.0f} MB)\n")
        say(training_table(res, gemm_rate))
        line = memory_line(res)
        if line:
            say("\n" + line)
    if len(by_batch) > 1:
        say("\n### Summary: seconds per epoch (time / fastmlp's)\n")
        say(summary_table(by_batch))
    res = by_batch[args.batch_sizes[0]]
    say(f"\n### predict, {res[0].get('predict_rows', 10000)} test images, batch "
        f"{args.predict_batch_size} (best of {args.predict_repeats})\n")
    say(predict_table(res))
    say("\n" + versions(res))


def report_regression(args, names: list[str], data_dir: str, say) -> None:
    rows = 4096 if args.quick else 0
    res = run_task(args, names, "regress", data_dir, rows, args.regression_batch_size)
    n = next((r["train_rows"] for r in res if "train_rows" in r), 0)
    say(f"\n### Regression, Friedman #1 ({n} rows, 8 features), 8-64-64-1, Adam, batch "
        f"{args.regression_batch_size}, {args.threads} threads\n")
    say(regression_table(res))


def report(args, names: list[str], out) -> None:
    """Run everything asked for, writing markdown to ``out`` as it goes."""
    import gemm_compare

    def say(text: str = "") -> None:
        out(text)
        print(text, flush=True)

    say(f"Machine: {machine.describe()}")
    for warning in (machine.load_warning(), machine.openblas_env_warning()):
        if warning:
            say(warning)
    # Best of 10 sweeps spread over ~10 s: one burst of load must not set it.
    rates = gemm_compare.machine_gemm_rate(args.threads, repeats=3 if args.quick else 10)
    best = max(rates.values())
    say(f"Machine GEMM rate (sgemm 1024^3, {args.threads} threads): "
        + ", ".join(f"{lib} {g:.0f} GFLOP/s" for lib, g in rates.items())
        + f" -> {best:.0f} GFLOP/s; numpy BLAS: {machine.describe_blas()}")
    with tempfile.TemporaryDirectory(prefix="fastmlp-bench-") as tmp:
        cls_dir, reg_dir = prepare_data(tmp)
        if not args.no_classification:
            report_classification(args, names, cls_dir, best, say)
        if not args.no_regression:
            report_regression(args, names, reg_dir, say)
    end = max(gemm_compare.machine_gemm_rate(args.threads, repeats=3).values())
    say(f"\nMachine GEMM rate again at the end: {end:.0f} GFLOP/s"
        + (" (higher than at the start: the start was disturbed, so the % column is too high)"
           if end > 1.1 * best else ""))
    if machine.load_warning():
        say(machine.load_warning() + " (at the end of the run)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--gemm" in argv:
        import gemm_compare

        argv.remove("--gemm")
        return gemm_compare.main(argv)
    args = parse_args(argv)
    try:
        args.batch_sizes = [int(b) for b in args.batch_size.split(",")]
    except ValueError:
        print(f"compare.py: --batch-size takes integers, got {args.batch_size!r}", file=sys.stderr)
        return 2
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    unknown = [n for n in names if n not in peers.PEERS]
    if unknown:
        print(f"compare.py: unknown peers {unknown}; known: {list(peers.PEERS)}", file=sys.stderr)
        return 2
    missing = [n for n in names if not peers.available(n)]
    names = [n for n in names if n not in missing]
    if missing:
        print(f"not installed, skipped: {', '.join(missing)}", file=sys.stderr)
    lines: list[str] = []
    report(args, names, lines.append)
    if args.output:
        with open(args.output, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
