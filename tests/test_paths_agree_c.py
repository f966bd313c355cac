"""tests/c/paths_agree, the C-only check of every SIMD path, built and run here.

The program is what scripts/check-avx512 runs inside an emulated AVX-512
CPU; here it runs on the paths this CPU has, so a change that breaks it (or
that one path no longer agrees) fails the ordinary test run. It is built
from the same cmake/kernels.cmake as the extension: the same sources with
the same flags. Here it is linked dynamically (the emulator's copy is
static), so no static C library is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _tool(name: str) -> str:
    """A tool of the test extra (PyPI wheels: the binaries sit next to
    python's), else the one on PATH."""
    where = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    exe = shutil.which(name, path=where)
    if exe is None:
        pytest.fail(f"{name} not found: install the test extra (pip install '.[test]')")
    return exe


@pytest.fixture(scope="module")
def paths_agree(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("paths_agree")
    cmake = [_tool("cmake")]
    configure = ["-S", str(ROOT / "tests" / "c"), "-B", str(build), "-G", "Ninja",
                 f"-DCMAKE_MAKE_PROGRAM={_tool('ninja')}", "-DCMAKE_BUILD_TYPE=Release",
                 "-DFM_STATIC_LINK=OFF"]
    for args in (configure, ["--build", str(build), "-j", "2"]):
        done = subprocess.run(cmake + args, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    return build / "paths_agree"


def _run(program: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(program), *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("threads", [1, 2])
def test_every_path_of_this_cpu_agrees(paths_agree, threads):
    usable = _usable_archs()
    done = _run(paths_agree, "--threads", str(threads),
                *[arg for arch in usable for arg in ("--require", arch)])
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1].startswith(f"paths_agree: all paths agree ({len(usable)} path(s)"), done.stdout
    for arch in usable:
        assert any(line.startswith(f"{arch}: ") and line.endswith(" 0 failed") for line in lines)


def test_requiring_every_path_passes_only_where_the_cpu_has_them(paths_agree):
    # a path the CPU lacks must fail loudly when asked for, never pass quietly
    usable = _usable_archs()
    done = _run(paths_agree, "--require", "generic", "--require", "avx2", "--require", "avx512")
    missing = [a for a in ("avx2", "avx512") if a not in usable]
    assert done.returncode == (1 if missing else 0), done.stdout + done.stderr
    for arch in missing:
        assert f"FAIL {arch} was required but this CPU or build cannot run it" in done.stdout


def _usable_archs() -> tuple[str, ...]:
    import fastmlp

    return fastmlp.backends.get("c").available_archs()
