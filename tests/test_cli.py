"""The fastmlp command: train, save, plot, predict, help and clear errors."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastmlp
import fastmlp as fm
from fastmlp import cli
from fastmlp.datasets import mnist, save_idx

SRC = str(Path(fastmlp.__file__).resolve().parent.parent)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FASTMLP_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def run(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def report_line(out):
    return next(line for line in out.splitlines() if line.startswith("Test:"))


@pytest.fixture
def image_dir(tmp_path):
    """A tiny Fashion-MNIST-format dataset: class k images are bright in row k."""
    rng = np.random.default_rng(0)

    def images(labels):
        x = rng.integers(0, 40, (len(labels), 28, 28), dtype=np.uint8)
        for i, k in enumerate(labels):
            x[i, 2 * k: 2 * k + 3] = 250
        return x

    y_train = np.tile(np.arange(10, dtype=np.uint8), 30)
    y_test = np.tile(np.arange(10, dtype=np.uint8), 5)
    d = tmp_path / "images"
    d.mkdir()
    save_idx(d / "train-images-idx3-ubyte.gz", images(y_train))
    save_idx(d / "train-labels-idx1-ubyte.gz", y_train)
    save_idx(d / "t10k-images-idx3-ubyte.gz", images(y_test))
    save_idx(d / "t10k-labels-idx1-ubyte.gz", y_test)
    return d


def test_train_images_save_plot_then_predict_gives_the_same_report(capsys, image_dir):
    code, out, err = run(capsys, "train", "--dataset", "fashion-mnist", "--data-dir", image_dir,
                         "--layers", "32", "--epochs", "8", "--batch-size", "32", "--lr", "0.01",
                         "--save", "m.fmlp", "--plot", "curves.png", "--verbose", "2")
    assert code == 0, err
    line = report_line(out)
    assert float(re.search(r"accuracy (\S+)", line).group(1)) > 0.9
    assert re.search(r"Time: .* s/epoch, [\d,]+ samples/s", out)
    assert "threads" in out and "SIMD" in out
    assert "Epoch 8/8" in out  # one line per epoch with --verbose 2
    assert Path("m.fmlp").is_file() and not Path("m.fmlp.json").exists()  # one file
    assert Path("curves.png").read_bytes()[:8] == PNG_MAGIC

    code, out2, err = run(capsys, "predict", "--model", "m.fmlp", "--data-dir", image_dir,
                          "--output", "pred.csv")
    assert code == 0, err
    assert report_line(out2) == line
    rows = Path("pred.csv").read_text().split()
    assert rows[0] == "class" and len(rows) == 51


def test_regression_reports_r2_in_target_units_and_predict_replays_it(capsys):
    args = ["train", "--dataset", "friedman1", "--n-samples", "600", "--layers", "16",
            "--activation", "tanh", "--epochs", "3", "--batch-size", "32", "--backend", "numpy",
            "--save", "r.fmlp", "--verbose", "0"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    line = report_line(out)
    assert re.search(r"MSE \S+  MAE \S+  R\^2 \S+  \(100 samples", line)
    assert "numpy" in out
    code, out2, _ = run(capsys, "predict", "--model", "r.fmlp")
    assert code == 0 and report_line(out2) == line


def test_same_seed_same_result(capsys):
    args = ["train", "--dataset", "friedman1", "--n-samples", "300", "--layers", "8",
            "--epochs", "2", "--backend", "numpy", "--verbose", "0", "--seed", "3"]
    first = report_line(run(capsys, *args)[1])
    assert report_line(run(capsys, *args)[1]) == first


def write_csv(path, n=120, bad=None):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3))
    y = 2 * x[:, 0] - x[:, 1]
    label = (y > 0).astype(int)
    lines = ["a,b,c,y,label"] + [f"{r[0]},{r[1]},{r[2]},{t},{k}" for r, t, k in zip(x, y, label)]
    if bad:
        lines[bad[0] - 1] = bad[1]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_regression_and_classification(capsys, tmp_path):
    data = write_csv(tmp_path / "t.csv")
    code, out, err = run(capsys, "train", "--dataset", f"csv:{data}", "--target", "y",
                         "--layers", "8", "--epochs", "2", "--backend", "numpy", "--verbose", "0",
                         "--save", "c.fmlp")
    assert code == 0, err
    assert "R^2" in report_line(out)
    # predict on a CSV evaluates every row of the file
    code, out, err = run(capsys, "predict", "--model", "c.fmlp", "--dataset", f"csv:{data}")
    assert code == 0, err
    assert "(120 samples" in report_line(out)

    code, out, err = run(capsys, "train", "--dataset", f"csv:{data}", "--target", "label",
                         "--task", "classification", "--layers", "8", "--epochs", "2",
                         "--backend", "numpy", "--verbose", "0")
    assert code == 0, err
    assert "accuracy" in report_line(out)


def test_csv_bad_cell_is_reported_with_row_and_column(capsys, tmp_path):
    data = write_csv(tmp_path / "t.csv", bad=(5, "1,2,x?,4,0"))
    code, _, err = run(capsys, "train", "--dataset", f"csv:{data}", "--target", "y",
                       "--backend", "numpy", "--verbose", "0")
    assert code == 1
    assert "row 5, column 2 ('c')" in err and "'x?'" in err


def test_plot_without_matplotlib_fails_before_training(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    code, out, err = run(capsys, "train", "--dataset", "friedman1", "--plot", "x.png",
                         "--backend", "numpy")
    assert code == 2
    assert 'pip install "fastmlp[plot]"' in err
    assert "Epoch" not in out and "fastmlp: friedman1" not in out
    assert not Path("x.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [(["train", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
     (["train", "--dataset", "csv:"], "needs a file path"),
     (["train", "--dataset", "friedman1", "--layers", "64,x"], "--layers must be"),
     (["train", "--dataset", "friedman1", "--epochs", "0"], "--epochs must be >= 1"),
     (["train", "--dataset", "friedman1", "--validation-split", "1"], "--validation-split"),
     (["train", "--dataset", "fashion-mnist", "--task", "regression"], "classification dataset"),
     (["predict", "--model", "missing.fmlp"], "no such file")],
)
def test_usage_errors_exit_2_with_a_message(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_csv_without_target_is_explained(capsys, tmp_path):
    data = write_csv(tmp_path / "t.csv")
    code, _, err = run(capsys, "train", "--dataset", f"csv:{data}", "--backend", "numpy")
    assert code == 2 and "--target" in err


def test_predict_on_a_model_saved_without_preprocessing_says_so(capsys, tmp_path):
    model = fm.Sequential([fm.Input(shape=(4,)), fm.Dense(2)], backend="numpy")
    model.save("plain.fmlp")
    code, _, err = run(capsys, "predict", "--model", "plain.fmlp")
    assert code == 2 and "holds no preprocessing from 'fastmlp train --save'" in err


def test_predict_on_a_damaged_file_is_a_clear_error(capsys, tmp_path):
    Path("lonely.fmlp").write_bytes(b"x")
    code, _, err = run(capsys, "predict", "--model", "lonely.fmlp")
    assert code == 1 and "lonely.fmlp: not a fastmlp model file" in err


def test_missing_mnist_lists_where_it_looked(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(mnist, "MIRRORS", [])
    code, _, err = run(capsys, "train", "--dataset", "mnist", "--backend", "numpy")
    assert code == 1
    assert "FASTMLP_DATA" in err and ".cache/fastmlp/mnist" in err
    assert "ossci-datasets" in err  # how to get the files


def python_m_fastmlp(*args):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "fastmlp", *args], capture_output=True,
                          text=True, env=env, timeout=120)


def test_python_m_fastmlp_help_lists_commands():
    proc = python_m_fastmlp("--help")
    assert proc.returncode == 0
    for word in ("train", "predict", "info", "FASTMLP_DATA"):
        assert word in proc.stdout


@pytest.mark.parametrize("command", ["train", "predict"])
def test_every_option_has_help_text(command):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        assert action.help, f"{command} {action.option_strings} has no help"
    proc = python_m_fastmlp(command, "--help")
    assert proc.returncode == 0
    for action in sub._actions:
        for flag in action.option_strings:
            assert flag in proc.stdout


def test_info_prints_the_configuration():
    proc = python_m_fastmlp("info")
    assert proc.returncode == 0, proc.stderr
    assert fastmlp.__version__ in proc.stdout


def test_plot_history_accepts_a_dict_and_rejects_an_empty_one(tmp_path):
    pytest.importorskip("matplotlib")  # the no-matplotlib path is tested above
    from fastmlp import plotting

    path = plotting.plot_history({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "mae": [0.9, 0.6]},
                                 tmp_path / "h.png")
    assert Path(path).read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="no per-epoch values"):
        plotting.plot_history({}, tmp_path / "empty.png")
    with pytest.raises(ValueError, match="no 'accuracy' in history"):
        plotting.plot_history({"loss": [1.0]}, tmp_path / "x.png", metrics=["loss", "accuracy"])
