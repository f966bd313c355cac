"""Threads and build facts: set_num_threads, get_num_threads, show_config.

The C kernels use OpenMP's default team size, so this, OMP_NUM_THREADS and
threadpoolctl's limits on the OpenMP library all act on the same setting.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from typing import Any

from fastmlp._version import __version__

# The _OPENMP macro is the date of the spec the compiler implements.
_OPENMP_SPEC = {200505: "2.5", 200805: "3.0", 201107: "3.1", 201307: "4.0", 201511: "4.5",
                201811: "5.0", 202011: "5.1", 202111: "5.2"}

_ENV_MESSAGES = {
    -2: "FASTMLP_ARCH names no known SIMD path (expected avx512, avx2 or generic)",
    -3: "FASTMLP_ARCH asks for a SIMD path this CPU or OS cannot run",
}


# libgomp's idle threads spin up to GOMP_SPINCOUNT pause loops (300,000 by
# default, ~10 ms here) before sleeping. On a busy machine a spinning thread
# holds a core the descheduled sibling needs, and parallel regions then wait
# for time slices. Epoch of 784-256-128-10 at batch 128, 2 threads, seconds
# (quiet machine / one other busy process / 1 thread with that process):
#   300,000: 0.36 / 1.45     10,000: 0.355 / 1.03     3,000: 0.385 / 0.75
#   1,000: 0.45 / 0.58       (1 thread: 0.51 with the busy process)
# 10,000 costs nothing on a quiet machine and takes a third off the busy
# case; on a busy machine fewer threads (or OMP_WAIT_POLICY=passive) are
# better still. Only a default: the user's own setting wins.
DEFAULT_GOMP_SPINCOUNT = "10000"


def prefer_short_openmp_spin() -> None:
    """Set GOMP_SPINCOUNT before libgomp loads, unless the user chose a wait policy."""
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = DEFAULT_GOMP_SPINCOUNT


def _kernels():
    from fastmlp import _kernels

    return _kernels


def set_num_threads(n: int) -> None:
    """Use ``n`` OpenMP threads in the C kernels (n >= 1)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be an integer >= 1, got {n!r}")
    _kernels().set_num_threads(n)


def get_num_threads() -> int:
    """The number of OpenMP threads the C kernels will use."""
    return _kernels().get_num_threads()


def warn_on_bad_env_arch() -> None:
    """Warn once if FASTMLP_ARCH could not be honoured (the best path is used)."""
    k = _kernels()
    code = k.env_arch_request()
    if code in _ENV_MESSAGES:
        warnings.warn(f"{_ENV_MESSAGES[code]}; using {k.selected_arch()!r}", RuntimeWarning,
                      stacklevel=3)


def config_info() -> dict[str, Any]:
    """The facts show_config prints, as a dict."""
    k = _kernels()
    omp = k.openmp_version()
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "compiler": k.compiler(),
        "openmp": f"OpenMP {_OPENMP_SPEC.get(omp, '?')} ({omp})" if omp else "not available",
        "threads": k.get_num_threads(),
        "simd_compiled": list(k.compiled_archs()),
        "simd_supported": list(k.supported_archs()),
        "simd_selected": k.selected_arch(),
    }


def show_config() -> None:
    """Print fastmlp's version, compiler, OpenMP, SIMD paths and threads."""
    info = config_info()
    rows = [
        ("fastmlp", info["version"]),
        ("python", info["python"]),
        ("platform", info["platform"]),
        ("compiler", info["compiler"]),
        ("openmp", info["openmp"]),
        ("threads", str(info["threads"])),
        ("simd compiled", ", ".join(info["simd_compiled"])),
        ("simd supported", ", ".join(info["simd_supported"])),
        ("simd selected", info["simd_selected"]),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}} : {value}")
