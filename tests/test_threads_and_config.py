"""Threads (set/get, OMP_NUM_THREADS, threadpoolctl), show_config, FASTMLP_ARCH."""

import os
import subprocess
import sys

import pytest
import threadpoolctl

import fastmlp
from fastmlp import _kernels


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with extra environment variables."""
    full_env = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full_env, timeout=120)


@pytest.fixture
def restore_threads():
    before = fastmlp.get_num_threads()
    yield
    fastmlp.set_num_threads(before)


def test_set_num_threads_round_trips(restore_threads):
    fastmlp.set_num_threads(1)
    assert fastmlp.get_num_threads() == 1
    fastmlp.set_num_threads(3)
    assert fastmlp.get_num_threads() == 3


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_num_threads_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="set_num_threads: n must be an integer >= 1"):
        fastmlp.set_num_threads(bad)


def test_omp_num_threads_is_honoured():
    result = run_python("import fastmlp; print(fastmlp.get_num_threads())", OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"


def test_threadpoolctl_sees_and_limits_our_openmp(restore_threads):
    fastmlp.set_num_threads(2)
    openmp = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "openmp"]
    assert openmp, "threadpoolctl lists no OpenMP library although fastmlp._kernels is loaded"
    # The library threadpoolctl reports is the one our extension links to.
    maps = open("/proc/self/maps").read() if os.path.exists("/proc/self/maps") else ""
    assert any(lib["filepath"] in maps for lib in openmp)
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert fastmlp.get_num_threads() == 1
    assert fastmlp.get_num_threads() == 2


def test_show_config_prints_the_facts(capsys):
    fastmlp.show_config()
    out = capsys.readouterr().out
    for key in ("fastmlp", "compiler", "openmp", "threads", "simd compiled", "simd selected"):
        assert key in out
    assert fastmlp.__version__ in out
    assert _kernels.selected_arch() in out


@pytest.mark.parametrize("arch", _kernels.supported_archs())
def test_fastmlp_arch_forces_a_path(arch):
    result = run_python("from fastmlp import _kernels as k; print(k.selected_arch())",
                        FASTMLP_ARCH=arch)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == arch


def test_unknown_fastmlp_arch_warns_and_uses_the_best():
    result = run_python("import warnings; warnings.simplefilter('always');"
                        "import fastmlp.backends.c as c; print(c._k.selected_arch())",
                        FASTMLP_ARCH="sse9")
    assert result.returncode == 0, result.stderr
    assert "FASTMLP_ARCH names no known SIMD path" in result.stderr
    assert result.stdout.strip() == _kernels.supported_archs()[-1]


def test_select_arch_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown SIMD path 'neon'"):
        _kernels.select_arch("neon")


def test_keras_style_models_namespace():
    assert fastmlp.models.Sequential is fastmlp.Sequential
    assert fastmlp.models.load_model is fastmlp.load_model


def test_short_openmp_spin_is_a_default_the_user_can_override():
    code = "import os, fastmlp; print(os.environ.get('GOMP_SPINCOUNT'))"
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    def run(**extra):
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**env, **extra}, timeout=120).stdout.strip()
    assert run() == fastmlp._config.DEFAULT_GOMP_SPINCOUNT == "10000"
    assert run(GOMP_SPINCOUNT="50") == "50"
    assert run(OMP_WAIT_POLICY="active") == "None"
