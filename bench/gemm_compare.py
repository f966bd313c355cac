"""GEMM GFLOP/s: fastmlp vs NumPy (OpenBLAS) vs PyTorch (MKL), in one process.

    PYTHONPATH=src python bench/gemm_compare.py [--threads 1,2] [--batch-size 128]
    PYTHONPATH=src python bench/compare.py --gemm      # the same

Shapes: every GEMM of one training step of the 784-256-128-10 MLP at the
given batch size, exactly as fastmlp's Dense layers issue them (forward
``x @ W``, weight gradient ``x.T @ delta`` with ``trans_a``, input gradient
``delta @ W.T`` with ``trans_b``; no input gradient for the first layer),
plus a square 1024^3 product. Each library gets the same float32 operands and
a preallocated output; transposes are views, so every library may absorb
them in its own packing. Time per call is the best of ``--repeats`` runs of a
loop long enough to take ``--min-time`` seconds; the runs of all libraries
are interleaved, with a pause at each switch (see SETTLE).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import machine  # noqa: E402
import workload  # noqa: E402

LIBRARIES = ("fastmlp", "numpy", "torch")


@dataclass(frozen=True)
class Gemm:
    """``out (m x n) = op(a) @ op(b)`` with inner dimension k."""

    label: str
    m: int
    n: int
    k: int
    trans_a: bool = False
    trans_b: bool = False

    @property
    def flops(self) -> int:
        return 2 * self.m * self.n * self.k

    @property
    def a_shape(self) -> tuple[int, int]:
        return (self.k, self.m) if self.trans_a else (self.m, self.k)

    @property
    def b_shape(self) -> tuple[int, int]:
        return (self.n, self.k) if self.trans_b else (self.k, self.n)


def training_step_gemms(sizes: Sequence[int], batch: int) -> list[Gemm]:
    """The GEMMs of one training step of an MLP with these widths."""
    out: list[Gemm] = []
    pairs = list(zip(sizes[:-1], sizes[1:]))
    for i, (fan_in, fan_out) in enumerate(pairs, 1):
        out.append(Gemm(f"fwd {i}: x({batch}x{fan_in}) @ W({fan_in}x{fan_out})",
                        batch, fan_out, fan_in))
    for i, (fan_in, fan_out) in enumerate(pairs, 1):
        out.append(Gemm(f"dW {i}: x^T({fan_in}x{batch}) @ d({batch}x{fan_out})",
                        fan_in, fan_out, batch, trans_a=True))
    for i, (fan_in, fan_out) in reversed(list(enumerate(pairs, 1))):
        if i > 1:
            out.append(Gemm(f"dx {i}: d({batch}x{fan_out}) @ W^T({fan_out}x{fan_in})",
                            batch, fan_in, fan_out, trans_b=True))
    return out


SQUARE = Gemm("square: (1024x1024) @ (1024x1024)", 1024, 1024, 1024)


def available_libraries() -> list[str]:
    """The libraries of LIBRARIES that import here."""
    found = []
    for lib in LIBRARIES:
        try:
            __import__(lib)
            found.append(lib)
        except ImportError:
            pass
    return found


def set_threads(threads: int) -> None:
    """Limit every library in this process to ``threads`` threads."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")  # numpy's OpenBLAS
    try:
        import fastmlp

        fastmlp.set_num_threads(threads)
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def operands(g: Gemm, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random float32 ``a``, ``b`` (stored as op() expects) and an output."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(g.a_shape, dtype=np.float32)
    b = rng.standard_normal(g.b_shape, dtype=np.float32)
    return a, b, np.empty((g.m, g.n), dtype=np.float32)


def runner(lib: str, g: Gemm) -> Callable[[], object]:
    """A no-argument call computing ``g`` with ``lib`` into a preallocated output."""
    a, b, c = operands(g)
    if lib == "fastmlp":
        from fastmlp import backends

        gemm = backends.get("c").gemm
        ta, tb = g.trans_a, g.trans_b
        return lambda: gemm(a, b, out=c, trans_a=ta, trans_b=tb)
    if lib == "numpy":
        av = a.T if g.trans_a else a
        bv = b.T if g.trans_b else b
        return lambda: np.matmul(av, bv, out=c)
    if lib == "torch":
        import torch

        at, bt, ct = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        av = at.t() if g.trans_a else at
        bv = bt.t() if g.trans_b else bt
        return lambda: torch.mm(av, bv, out=ct)
    raise ValueError(f"unknown library {lib!r}; expected one of {LIBRARIES}")


def calibrate(call: Callable[[], object], min_time: float) -> int:
    """How many calls make a loop last at least ``min_time`` seconds."""
    call()  # first call: packing buffers, thread pools, page faults
    loops = 1
    while True:
        t = _loop(call, loops)
        if t >= min_time:
            return loops
        loops = max(loops * 2, int(loops * min_time / max(t, 1e-9)) + 1)


def _loop(call: Callable[[], object], loops: int) -> float:
    start = time.perf_counter()
    for _ in range(loops):
        call()
    return time.perf_counter() - start


# Seconds to wait when switching libraries: idle worker threads of the
# previous library keep spinning for a while (OpenBLAS for about 2^28 cycles,
# ~70 ms here; libgomp briefly) and would steal a core from the next one.
SETTLE = 0.25


def measure(gemms: Sequence[Gemm], libs: Sequence[str], threads: int, repeats: int,
            min_time: float) -> dict[str, list[float]]:
    """Best seconds per call, per library, in the order of ``gemms``.

    Each repeat is a sweep over the libraries and, within one library, over
    every shape, so a burst of load from another process hits one loop of
    several libraries rather than every loop of one library. The best of the
    sweeps is kept.
    """
    set_threads(threads)
    calls = {lib: [runner(lib, g) for g in gemms] for lib in libs}
    loops = {}
    for lib in libs:
        time.sleep(SETTLE)
        loops[lib] = [calibrate(call, min_time) for call in calls[lib]]
    best = {lib: [float("inf")] * len(gemms) for lib in libs}
    for _ in range(repeats):
        for lib in libs:
            time.sleep(SETTLE)
            for i, call in enumerate(calls[lib]):
                best[lib][i] = min(best[lib][i], _loop(call, loops[lib][i]) / loops[lib][i])
    return best


def machine_gemm_rate(threads: int, repeats: int = 5, min_time: float = 0.1) -> dict[str, float]:
    """sgemm 1024^3 GFLOP/s of each vendor BLAS (numpy/OpenBLAS, torch/MKL)."""
    libs = [lib for lib in available_libraries() if lib != "fastmlp"]
    secs = measure([SQUARE], libs, threads, repeats, min_time)
    return {lib: SQUARE.flops / s[0] / 1e9 for lib, s in secs.items()}


def table(gemms: Sequence[Gemm], secs: dict[str, list[float]]) -> str:
    """A markdown table: GFLOP/s per shape and library, the aggregate of one
    training step, and how many times faster fastmlp is than each peer."""
    libs = list(secs)
    peers = [lib for lib in libs if lib != "fastmlp"] if "fastmlp" in libs else []
    head = ["GEMM (m x n x k)"] + [f"{lib} GFLOP/s" for lib in libs]
    head += [f"fastmlp / {p}" for p in peers]
    rows = [head, ["---"] + ["---:"] * (len(head) - 1)]
    step = [g for g in gemms if g is not SQUARE]
    for i, g in enumerate(gemms):
        rows.append(_row(f"{g.label} [{g.m}x{g.n}x{g.k}]", g.flops,
                         {lib: secs[lib][i] for lib in libs}, peers))
    if len(step) > 1:
        idx = [i for i, g in enumerate(gemms) if g is not SQUARE]
        total = {lib: sum(secs[lib][i] for i in idx) for lib in libs}
        rows.append(_row("**one training step (sum of the above)**",
                         sum(g.flops for g in step), total, peers))
    return "\n".join("| " + " | ".join(r) + " |" for r in rows)


def _row(label: str, flops: int, secs: dict[str, float], peers: list[str]) -> list[str]:
    cells = [label] + [f"{flops / s / 1e9:.1f}" for s in secs.values()]
    cells += [f"{secs[p] / secs['fastmlp']:.2f}x" for p in peers]
    return cells


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    p.add_argument("--batch-size", type=int, default=128, help="MLP batch size (default 128)")
    p.add_argument("--repeats", type=int, default=7, help="best of this many loops (default 7)")
    p.add_argument("--min-time", type=float, default=0.05,
                   help="seconds each timed loop lasts at least (default 0.05)")
    p.add_argument("--quick", action="store_true", help="3 repeats of 0.01 s: a smoke run")
    return p.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.repeats, args.min_time = 3, 0.01
    threads = [int(t) for t in args.threads.split(",")]
    libs = available_libraries()
    gemms = training_step_gemms(workload.CLASSIFIER_SIZES, args.batch_size) + [SQUARE]
    print(f"# GEMM, float32: {machine.describe()}")
    for warning in (machine.load_warning(), machine.openblas_env_warning()):
        if warning:
            print(warning)
    set_threads(max(threads))
    print(f"numpy {np.__version__}: {machine.describe_blas()}")
    if "torch" in libs:
        import torch

        print(f"torch {torch.__version__}: MKL {torch.backends.mkl.is_available()}")
    if "fastmlp" in libs:
        import fastmlp

        info = fastmlp._config.config_info()
        print(f"fastmlp {fastmlp.__version__}: SIMD path {info['simd_selected']}, "
              f"{info['compiler']}")
    print(f"best of {args.repeats} loops of >= {args.min_time} s each; ratios are time(peer) / "
          "time(fastmlp), > 1 means fastmlp is faster")
    for t in threads:
        secs = measure(gemms, libs, t, args.repeats, args.min_time)
        print(f"\n## {t} thread{'s' if t > 1 else ''}, batch {args.batch_size}\n")
        print(table(gemms, secs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
