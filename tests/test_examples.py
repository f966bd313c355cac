"""Every program in examples/ runs and reaches its textbook result.

Each runs as a user would run it (a fresh Python process); long ones are
shortened with FASTMLP_EXAMPLE_EPOCHS / FASTMLP_EXAMPLE_SAMPLES.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fastmlp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SRC = str(Path(fastmlp.__file__).resolve().parent.parent)


def run_example(name, tmp_path, **env):
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = SRC + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update({k: str(v) for k, v in env.items()})
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=tmp_path, env=full_env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def number_after(label, text):
    match = re.search(re.escape(label) + r"\s*(-?[\d.]+)", text)
    assert match, f"{label!r} not in output:\n{text}"
    return float(match.group(1))


def test_every_example_has_a_test():
    tested = {"xor.py", "logistic_regression.py", "linear_regression.py", "gradient_check.py",
              "mnist_classifier.py", "friedman_regression.py"}
    assert {p.name for p in EXAMPLES.glob("*.py")} == tested


def test_xor_is_solved(tmp_path):
    out = run_example("xor.py", tmp_path)
    assert number_after("accuracy:", out) == 1.0


def test_logistic_regression_finds_the_separating_direction(tmp_path):
    out = run_example("logistic_regression.py", tmp_path)
    assert number_after("centre_0) =", out) > 0.95
    assert number_after("test accuracy:", out) > 0.9


def test_linear_regression_recovers_the_coefficients(tmp_path):
    out = run_example("linear_regression.py", tmp_path)
    learned = re.search(r"learned\s+w = \[([^\]]*)\], b = (\S+)", out)
    values = [float(v) for v in learned.group(1).split()] + [float(learned.group(2))]
    for got, want in zip(values, [3.0, -2.0, 0.5, 4.0]):
        assert abs(got - want) < 0.02, out


def test_gradient_check_passes(tmp_path):
    out = run_example("gradient_check.py", tmp_path)
    worst = float(re.search(r"worst relative error: (\S+)", out).group(1))
    assert worst < 1e-6, out
    assert out.count("max relative error") == 8


def test_mnist_classifier_learns_and_draws_curves(tmp_path):
    out = run_example("mnist_classifier.py", tmp_path, FASTMLP_EXAMPLE_EPOCHS=2,
                      FASTMLP_EXAMPLE_SAMPLES=5000, FASTMLP_EXAMPLE_OUT=tmp_path)
    assert number_after("test accuracy", out) > 0.7
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert 'pip install "fastmlp[plot]"' in out
    else:
        png = tmp_path / "learning_curves.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_friedman_regression_fits(tmp_path):
    out = run_example("friedman_regression.py", tmp_path, FASTMLP_EXAMPLE_EPOCHS=10)
    assert number_after("R^2", out) > 0.8
