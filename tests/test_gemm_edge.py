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
# k = 600 is cut into two depth blocks of 304 (every path's KC is 256; K
# goes in equal blocks near it, and 300 would stay one), so the second
# block's kernel call adds into C (beta 1).
COLS = [37, 10]
K = 600


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


# The N edge: a C of at most 10 (AVX2) or 16 (AVX-512) columns runs a narrow
# kernel, some with vectors along M instead of N; every kernel of an arch
# sums each element's products in the same order over the same depth
# blocks, so a column of C must not depend on how wide C is.
NARROW_NS = [1, 2, 7, 8, 9, 10, 16]
WIDE_N = 37


@pytest.mark.parametrize("trans_a,trans_b", TRANSPOSES, ids=TRANS_IDS)
def test_narrow_columns_equal_the_same_columns_of_a_wide_product(c_backend, dtype, make,
                                                                  trans_a, trans_b):
    big = tall_rows(max(EDGE_MS))
    a_big = make((K, big) if trans_a else (big, K), dtype)
    b_wide = make((WIDE_N, K) if trans_b else (K, WIDE_N), dtype)
    bias_wide, c_wide = make((WIDE_N,), dtype), make((big, WIDE_N), dtype)
    for arch in c_backend.available_archs():
        with c_backend.forced_arch(arch):
            for m in EDGE_MS:
                a = np.ascontiguousarray(a_big[:, :m] if trans_a else a_big[:m])
                # beta 0.3, not a power of two: beta * C is then rounded
                # inside an FMA, or twice by a separate multiply and add
                for act, beta in (("identity", 0.0), ("tanh", 0.3)):
                    kw = dict(trans_a=trans_a, trans_b=trans_b, alpha=1.7, beta=beta,
                              activation=act)
                    wide = c_backend.gemm(a, b_wide, c_wide[:m].copy(), bias=bias_wide, **kw)
                    for n in NARROW_NS:
                        b = np.ascontiguousarray(b_wide[:n] if trans_b else b_wide[:, :n])
                        got = c_backend.gemm(a, b, c_wide[:m, :n].copy(), bias=bias_wide[:n], **kw)
                        np.testing.assert_array_equal(got, wide[:, :n],
                                                      err_msg=f"{arch} m={m} n={n} {act}")
