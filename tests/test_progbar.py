"""Progbar: live redraws on a terminal (throttled), one summary line
elsewhere, nothing when silent. A fake clock replaces real time."""

from __future__ import annotations

import io

import pytest

from fastmlp.progbar import Progbar


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch):
    """Tests see a 200-column terminal unless they set COLUMNS themselves."""
    monkeypatch.setenv("COLUMNS", "200")


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def drive(bar, clock, steps, dt, **values):
    for i in range(1, steps + 1):
        clock.now += dt
        bar.update(i, {"loss": 1.0 / i, **values}, samples=32 * i)


def test_not_a_terminal_writes_one_summary_line():
    out, clock = io.StringIO(), Clock()
    bar = Progbar(10, prefix="Epoch 1/3 ", stream=out, clock=clock)
    drive(bar, clock, 10, 0.5, accuracy=0.75)
    assert out.getvalue() == ("Epoch 1/3 10/10 - 5s 500ms/step - loss: 0.1000 - accuracy: 0.7500"
                              " - 64 samples/s\n")


def test_verbose_2_writes_only_the_summary_even_when_live_is_possible():
    out, clock = io.StringIO(), Clock()
    bar = Progbar(4, verbose=2, stream=out, live=True, clock=clock)
    drive(bar, clock, 4, 0.01)
    assert out.getvalue().count("\n") == 1 and "\r" not in out.getvalue()
    assert out.getvalue().startswith("4/4 - 0s 10ms/step - loss: 0.2500")


def test_verbose_0_writes_nothing():
    out, clock = io.StringIO(), Clock()
    drive(Progbar(5, verbose=0, stream=out, live=True, clock=clock), clock, 5, 1.0)
    assert out.getvalue() == ""


def test_live_line_is_redrawn_in_place_with_eta_and_throughput():
    out, clock = io.StringIO(), Clock()
    bar = Progbar(4, stream=out, live=True, clock=clock, width=8)
    clock.now += 2.0
    bar.update(1, {"loss": 0.5}, samples=100)
    assert out.getvalue() == "\r1/4 [=>......] ETA: 6s - loss: 0.5000 - 50 samples/s"
    clock.now += 2.0
    bar.update(2, {"loss": 0.25}, samples=200)
    assert out.getvalue().endswith("\r2/4 [===>....] ETA: 4s - loss: 0.2500 - 50 samples/s")


def test_live_redraws_are_throttled_but_the_summary_always_comes():
    out, clock = io.StringIO(), Clock()
    bar = Progbar(100, stream=out, live=True, clock=clock, interval=0.1)
    drive(bar, clock, 100, 0.01)  # 1 s in all: about 10 redraws, not 100
    text = out.getvalue()
    redraws = text.count("\r") - 1  # the summary also starts with \r
    assert 9 <= redraws <= 11
    assert text.endswith("100/100 [" + "=" * 30 + "] 1s 10ms/step - loss: 0.0100 - 3,200 samples/s\n")


def test_a_shorter_redraw_blanks_the_rest_of_the_previous_line():
    out, clock = io.StringIO(), Clock()
    bar = Progbar(3, stream=out, live=True, clock=clock, width=4)
    clock.now += 1
    bar.update(1, {"loss": 123.456789})
    clock.now += 1
    bar.update(2, {})
    first, second = out.getvalue().split("\r")[1:]
    assert len(second) == len(first) and second.rstrip() == "2/3 [=>..] ETA: 1s"


def test_live_line_fits_the_terminal_by_narrowing_the_bar(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    out, clock = io.StringIO(), Clock()
    bar = Progbar(1000, stream=out, live=True, clock=clock)
    clock.now += 1
    bar.update(10, {"loss": 0.5, "accuracy": 0.5, "val_loss": 0.7})
    line = out.getvalue().lstrip("\r")
    assert len(line) <= 59
    assert line.startswith("  10/1000 [>.........] ETA:")


def test_unknown_target_counts_steps_and_finalizes_on_request():
    out, clock = io.StringIO(), Clock()
    bar = Progbar(None, stream=out, clock=clock)
    drive(bar, clock, 3, 1.0)
    assert out.getvalue() == ""
    bar.update(3, {"loss": 0.2}, finalize=True)
    assert out.getvalue() == "3/Unknown - 3s 1s/step - loss: 0.2000 - 32 samples/s\n"
    bar.update(4, {"loss": 0.1}, finalize=True)  # a finished bar stays finished
    assert out.getvalue().count("\n") == 1


@pytest.mark.parametrize("value,text", [(0.5, "0.5000"), (1234.5, "1234.5000"), (2e-5, "2.0000e-05"),
                                        (0.0, "0.0000"), (float("nan"), "nan"),
                                        (float("inf"), "inf")])
def test_values_are_formatted_like_keras(value, text):
    out, clock = io.StringIO(), Clock()
    bar = Progbar(1, stream=out, clock=clock)
    clock.now += 0.25
    bar.update(1, {"loss": value})
    assert out.getvalue() == f"1/1 - 0s 250ms/step - loss: {text}\n"


@pytest.mark.parametrize("seconds,text", [(59, "59s"), (61, "1:01"), (3725, "1:02:05")])
def test_long_times_read_as_clock_times(seconds, text):
    out, clock = io.StringIO(), Clock()
    bar = Progbar(2, stream=out, clock=clock)
    clock.now += seconds
    bar.update(2)
    assert out.getvalue().startswith(f"2/2 - {text} ")


@pytest.mark.parametrize("kwargs,message", [({"target": -1}, "target"), ({"target": 2.5}, "target"),
                                            ({"target": 3, "verbose": 3}, "verbose")])
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Progbar(**kwargs)


def test_terminal_detection_uses_isatty():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert Progbar(3, stream=Tty()).live
    assert not Progbar(3, stream=io.StringIO()).live
    assert not Progbar(3, stream=Tty(), verbose=2).live


def test_live_summary_line_also_narrows_its_bar(monkeypatch):
    monkeypatch.setenv("COLUMNS", "70")
    out, clock = io.StringIO(), Clock()
    bar = Progbar(10, stream=out, live=True, clock=clock)
    clock.now += 2
    bar.update(10, {"loss": 0.5, "val_loss": 0.7})
    summary = out.getvalue().split("\r")[-1]
    assert summary.startswith("10/10 [==========") and summary.endswith("val_loss: 0.7000\n")
    assert len(summary) <= 70


def test_add_counts_on_from_the_current_step():
    out, clock = io.StringIO(), Clock()
    bar = Progbar(4, stream=out, clock=clock)
    bar.add(1, [("loss", 1.0)])
    bar.add(3, [("loss", 0.5)])
    assert bar.current == 4 and out.getvalue().startswith("4/4 - ") and "loss: 0.5000" in out.getvalue()
