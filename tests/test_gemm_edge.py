"""The M edge of the C GEMM: tiles with fewer valid rows than the kernel's MR.

The AVX-512 (and AVX2) kernels have shorter variants for such tiles (chosen
in gemm.c by the tile's row count). They must compute what the full kernel
computes, bit for bit: a row of C has to come out the same whether it lies in
an edge tile or in a full one, so that results do not depend on where a batch
(or a thread's share of it) happens to end. Each M below puts rows in an edge
tile of some arch (MR = 12, 6 or 4): 1-4 and 13, 16, 64 (4 past a multiple of
12) the 4-row edge, 5, 8, 65 others.
"""

from __future__ import annotations

import numpy as np
import pytest

from test_gemm import TRANS_IDS, TRANSPOSES, assert_within, reference

EDGE_MS = [1, 2, 3, 4, 5, 8, 9, 13, 16, 64, 65]
# 37 columns: a full 32-wide panel and an edge one; 10: the narrow kernels.
# k = 300 spans two K blocks (KC = 256), so the second adds into C (beta 1).
COLS = [37, 10]
K = 300


def tall_rows(m: int) -> int:
    """A row count more than m and a multiple of every wide kernel's MR (12,
    6, 4), so there the first m rows all lie in full tiles."""
    return (m // 12 + 2) * 12


@pytest.mark.parametrize("n", COLS)
@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES, ids=TRANS_IDS)
def test_edge_rows_match_numpy_and_the_same_rows_of_full_tiles(c_backend, dtype, make, n,
                                                               trans_a, trans_b):
    big = tall_rows(max(EDGE_MS))
    a_big = make((K, big) if trans_a else (big, K), dtype)
    b = make((n, K) if trans_b else (K, n), dtype)
    bias = make((n,), dtype)
    c_big = make((big, n), dtype)
    for arch in c_backend.available_archs():
        with c_backend.forced_arch(arch):
            for m in EDGE_MS:
                # the first m rows of op(a), and a product of tall_rows(m) rows
                # whose first m rows are the same products in full tiles
                a = np.ascontiguousarray(a_big[:, :m] if trans_a else a_big[:m])
                tall = tall_rows(m)
                a_tall = np.ascontiguousarray(a_big[:, :tall] if trans_a else a_big[:tall])
                for act, beta in (("identity", 0.0), ("tanh", 0.5)):
                    kw = dict(trans_a=trans_a, trans_b=trans_b, alpha=1.5, beta=beta,
                              bias=bias, activation=act)
                    got = c_backend.gemm(a, b, c_big[:m].copy(), **kw)
                    whole = c_backend.gemm(a_tall, b, c_big[:tall].copy(), **kw)
                    where = f"{arch} m={m} {act}"
                    expected, err = reference(a, b, trans_a, trans_b, alpha=1.5, beta=beta,
                                              c=c_big[:m], bias=bias, act=act)
                    assert_within(got, expected, err)
                    np.testing.assert_array_equal(got, whole[:m], err_msg=where)


def test_edge_rows_are_identical_on_one_and_two_threads(c_backend, dtype, make, threads):
    """Each thread owns whole MR panels, so the edge tile is the same tile
    whatever the split; large enough (M*N*K) to run threaded."""
    a, b, bias = make((64, 784), dtype), make((784, 256), dtype), make((256,), dtype)
    for arch in c_backend.available_archs():
        with c_backend.forced_arch(arch):
            results = []
            for nt in (1, 2):
                with threads(nt):
                    results.append(c_backend.gemm(a, b, bias=bias, activation="relu"))
            np.testing.assert_array_equal(results[0], results[1], err_msg=arch)
