"""Facts about the machine and the process: CPU, load, memory, environment;
and the best-of-N timer the benchmarks share.

Memory is read from Linux's ``/proc/self/status``: ``VmRSS`` is the resident
set now, ``VmHWM`` its high-water mark. Writing ``5`` to
``/proc/self/clear_refs`` resets the high-water mark to the current RSS, which
lets a benchmark measure the peak of training alone, after imports and data
loading. ``getrusage(RUSAGE_SELF).ru_maxrss`` is the whole process's peak.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import subprocess
import time
from typing import Callable, Optional

MB = 1024 * 1024

# Environment variables that change what numpy's OpenBLAS does; the benchmark
# should run without them (see bench/README.md).
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def cpu_model() -> str:
    """``lscpu``'s model name, or the platform's processor string."""
    for line in _lscpu().splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _lscpu() -> str:
    try:
        return subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return ""


def cores() -> int:
    """Logical CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cpu_flags_summary() -> str:
    """The SIMD levels the CPU reports (AVX-512F, AVX2, FMA)."""
    flags = set()
    for line in _lscpu().splitlines():
        if line.startswith("Flags:"):
            flags = set(line.split(":", 1)[1].split())
    found = [name for flag, name in (("avx512f", "AVX-512F"), ("avx2", "AVX2"), ("fma", "FMA"))
             if flag in flags]
    return ", ".join(found) or "no AVX"


def describe() -> str:
    """One line: CPU model, cores, SIMD, load average, date (UTC)."""
    load = os.getloadavg()[0]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{cpu_model()}, {cores()} cores ({cpu_flags_summary()}), "
            f"load average {load:.2f}, {now}")


def load_warning() -> Optional[str]:
    """A warning when other work is running: timings would then mean little."""
    load = os.getloadavg()[0]
    if load > 0.5 * cores():
        return (f"WARNING: the 1-minute load average is {load:.1f} on {cores()} cores; "
                "other processes compete for the CPU, so timings are not reliable")
    return None


def openblas_env_warning() -> Optional[str]:
    """A warning when OpenBLAS overrides are set in the environment."""
    found = [f"{k}={os.environ[k]}" for k in OPENBLAS_OVERRIDES if k in os.environ]
    if found:
        return ("WARNING: " + " ".join(found) + " is set; it changes (slows) numpy's OpenBLAS. "
                "Run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` for the real numbers")
    return None


def _status_kb(field: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> Optional[int]:
    """Resident set size now, or None where /proc is unavailable."""
    kb = _status_kb("VmRSS")
    return None if kb is None else kb * 1024


def hwm_bytes() -> Optional[int]:
    """Peak resident set size since start or the last :func:`reset_peak`."""
    kb = _status_kb("VmHWM")
    return None if kb is None else kb * 1024


def reset_peak() -> bool:
    """Reset the RSS high-water mark to the current RSS; False if unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def max_rss_bytes() -> int:
    """The process's peak RSS over its whole life (getrusage; kB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def openblas_info() -> list[dict]:
    """threadpoolctl's view of the BLAS libraries loaded now (numpy's OpenBLAS:
    which kernel it picked, its version and threads)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    return [i for i in threadpool_info() if i.get("user_api") == "blas"]


def describe_blas() -> str:
    """One line per BLAS library loaded: API, version, kernel, threads."""
    lines = []
    for info in openblas_info():
        lines.append(f"{info.get('internal_api')} {info.get('version')} "
                     f"(kernel {info.get('architecture', '?')}, "
                     f"{info.get('num_threads')} threads) from {os.path.basename(info['filepath'])}")
    return "; ".join(lines) or "no BLAS seen by threadpoolctl"


def best_time(call: Callable[[], object], repeats: int) -> float:
    """Best wall time in seconds of ``repeats`` back-to-back calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return best
