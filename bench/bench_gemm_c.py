"""The compiled GEMM alone vs NumPy/OpenBLAS, in one process.

    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 PYTHONPATH=src \\
        python bench/bench_gemm_c.py [avx512|avx2|generic] [f32|f64]

Calls ``fastmlp._kernels.gemm`` directly (no op-contract checks), so the
numbers are those of csrc/gemm*.c plus the Cython call; bench/gemm_compare.py
measures the public ``backends.c.gemm`` against NumPy and PyTorch. Shapes:
the nine GEMMs of one training step of a 784-256-128-10 MLP at batch 128
(forward, weight gradient with trans_a, input gradient with trans_b) and
1024^3. GFLOP/s from the best single call of several rounds; each round is a
long block of NumPy calls, then of fastmlp calls, each after a pause:
OpenBLAS's idle threads busy-wait long after their last call and would steal
a core from the next library, and on this VM the first milliseconds of
2-thread calls after an idle spell run slow, which a training loop never sees.
Set both thread variables to the same count; if OPENBLAS_CORETYPE is set in
the environment, unset it for this run.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from fastmlp import _kernels

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import machine  # noqa: E402

SHAPES = [  # name, m, n, k, trans_a, trans_b
    ("fwd1 X@W1", 128, 256, 784, 0, 0),
    ("fwd2 H1@W2", 128, 128, 256, 0, 0),
    ("fwd3 H2@W3", 128, 10, 128, 0, 0),
    ("wg1 X^T@D1", 784, 256, 128, 1, 0),
    ("wg2 H1^T@D2", 256, 128, 128, 1, 0),
    ("wg3 H2^T@D3", 128, 10, 128, 1, 0),
    ("ig1 D1@W1^T", 128, 784, 256, 0, 1),
    ("ig2 D2@W2^T", 128, 256, 128, 0, 1),
    ("ig3 D3@W3^T", 128, 128, 10, 0, 1),
    ("1024^3", 1024, 1024, 1024, 0, 0),
]
PAUSE = float(os.environ.get("PAUSE", "0.1"))
ROUNDS = int(os.environ.get("ROUNDS", "5"))


def main(arch: str = "avx512", dtype_name: str = "f32") -> None:
    """Print the GFLOP/s table."""
    _kernels.select_arch(arch)
    dt = np.float64 if dtype_name == "f64" else np.float32
    rng = np.random.default_rng(0)
    print(f"arch={arch} threads={os.environ.get('OMP_NUM_THREADS')} dtype={dt.__name__} "
          f"numpy={np.__version__}")
    print(f"{'shape':13s} {'m':>5s} {'n':>5s} {'k':>5s} {'numpy':>8s} {'fastmlp':>8s}  ratio"
          "   (GFLOP/s)")
    step_np = step_fm = 0.0
    for name, m, n, k, ta, tb in SHAPES:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dt)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dt)
        c_np, c_fm = np.empty((m, n), dt), np.empty((m, n), dt)
        op_a, op_b = (a.T if ta else a), (b.T if tb else b)

        def run_np() -> None:
            np.matmul(op_a, op_b, out=c_np)

        def run_fm() -> None:
            _kernels.gemm(ta, tb, 1.0, a, b, 0.0, c_fm, None, 0, 0.0)

        flops = 2.0 * m * n * k
        calls = max(20, int(1e10 / flops))
        t_np = t_fm = float("inf")
        for _ in range(ROUNDS):
            time.sleep(PAUSE)
            run_np()
            t_np = min(t_np, machine.best_time(run_np, calls))
            time.sleep(PAUSE)
            run_fm()
            t_fm = min(t_fm, machine.best_time(run_fm, calls))
        np.testing.assert_allclose(c_fm, c_np, rtol=1e-3, atol=1e-3 * np.sqrt(k))
        if name != "1024^3":
            step_np += t_np
            step_fm += t_fm
        print(f"{name:13s} {m:5d} {n:5d} {k:5d} {flops / t_np / 1e9:8.1f} "
              f"{flops / t_fm / 1e9:8.1f}  {t_np / t_fm:5.2f}x")
    print(f"MLP step (9 GEMMs): numpy {step_np * 1e6:.0f} us, fastmlp {step_fm * 1e6:.0f} us, "
          f"ratio {step_np / step_fm:.2f}x")


if __name__ == "__main__":
    main(*sys.argv[1:3])
