"""A one-line progress display for one pass over a known number of steps.

On a terminal (or in Jupyter) with ``verbose=1`` the line is redrawn in place
as work proceeds, at most every ``interval`` seconds::

    Epoch 2/5  120/375 [=========>....................] ETA: 3s - loss: 0.4123 - accuracy: 0.8812 - 30,512 samples/s

and once the pass ends it is replaced by the summary line, which stays::

    Epoch 2/5  375/375 [==============================] 4s 11ms/step - loss: 0.3910 - accuracy: 0.8874 - 30,977 samples/s

When the stream is not a terminal (a log file, a pipe, CI), or with
``verbose=2``, nothing is drawn while the pass runs and only the summary line
is written, without the bar. ``verbose=0`` writes nothing.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from typing import Callable, Iterable, Mapping, Optional, TextIO, Tuple, Union

Values = Optional[Union[Mapping[str, object], Iterable[Tuple[str, object]]]]


class Progbar:
    """Progress of one pass (an epoch, an evaluation) over ``target`` steps.

    Args:
        target: total number of steps, or None when unknown.
        width: characters of the bar itself.
        verbose: 0 silent, 1 live line on a terminal (summary line only
            elsewhere), 2 summary line only.
        interval: least number of seconds between two redraws of the live line.
        prefix: text put before the counter, e.g. ``"Epoch 2/5 "``.
        unit_name: what a step is called in the summary ("step").
        stream: where to write; ``sys.stdout`` at construction by default.
        live: force (True) or forbid (False) the in-place line; by default it
            is used when ``stream`` is a terminal or the code runs in Jupyter.
        clock: returns seconds; injectable so tests need no real time.
    """

    def __init__(self, target: int | None, *, width: int = 30, verbose: int = 1,
                 interval: float = 0.1, prefix: str = "", unit_name: str = "step",
                 stream: TextIO | None = None, live: bool | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if target is not None and (isinstance(target, bool) or int(target) != target or target < 0):
            raise ValueError(f"Progbar: target must be a non-negative integer or None, got {target!r}")
        if verbose not in (0, 1, 2):
            raise ValueError(f"Progbar: verbose must be 0, 1 or 2, got {verbose!r}")
        self.target = None if target is None else int(target)
        self.width = int(width)
        self.verbose = verbose
        self.interval = float(interval)
        self.prefix = prefix
        self.unit_name = unit_name
        self.stream = sys.stdout if stream is None else stream
        self.live = verbose == 1 and (_is_terminal(self.stream) if live is None else bool(live))
        self._clock = clock
        self._start = clock()
        self._last_draw: float | None = None
        self._drawn_chars = 0
        self._finished = False
        self.current = 0
        self.values: dict[str, object] = {}
        self.samples: int | None = None

    def update(self, current: int, values: Values = None, *, samples: int | None = None,
               finalize: bool | None = None) -> None:
        """Record that ``current`` steps are done, with the latest running
        values (loss, metrics, shown as given) and optionally the number of
        samples seen so far (shown as samples/s). ``finalize`` (by default:
        ``current >= target``) writes the summary line and ends the bar."""
        if self._finished:
            return
        self.current = int(current)
        if values is not None:
            self.values = dict(values.items() if isinstance(values, Mapping) else values)
        if samples is not None:
            self.samples = int(samples)
        if finalize is None:
            finalize = self.target is not None and self.current >= self.target
        if finalize:
            self._finish()
            return
        if not self.live:
            return
        now = self._clock()
        if self._last_draw is not None and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        self._draw(self._live_line(now), end="")

    def add(self, steps: int, values: Values = None, *, samples: int | None = None) -> None:
        """``update(current + steps, values)``, for loops that count steps."""
        self.update(self.current + int(steps), values, samples=samples)

    # -- rendering -----------------------------------------------------------

    def _finish(self) -> None:
        self._finished = True
        if self.verbose == 0:
            return
        self._draw(self._summary_line(self._clock()), end="\n")

    def _draw(self, line: str, end: str) -> None:
        if self.live:
            if end == "":
                line = line[: _columns() - 1]  # a wrapped line cannot be redrawn with \r
            pad = " " * max(0, self._drawn_chars - len(line))
            self.stream.write("\r" + line + pad + end)
            self._drawn_chars = 0 if end else len(line)
        else:
            self.stream.write(line + end)
        self.stream.flush()

    def _counter(self) -> str:
        if self.target is None:
            return f"{self.prefix}{self.current}/Unknown"
        digits = len(str(self.target))
        return f"{self.prefix}{self.current:>{digits}}/{self.target}"

    def _bar(self, width: int) -> str:
        if self.target is None or self.target == 0:
            return ""
        done = min(width, int(width * self.current / self.target))
        if done < width and self.current > 0:
            return "[" + "=" * max(0, done - 1) + ">" + "." * (width - max(done, 1)) + "]"
        return "[" + "=" * done + "." * (width - done) + "]"

    def _fitted(self, make_line: Callable[[int], str]) -> str:
        """``make_line(bar_width)``, with the bar narrowed (down to 10) when
        the line would be wider than the terminal."""
        line = make_line(self.width)
        overflow = len(line) - (_columns() - 1)
        if overflow > 0 and self.width > 10:
            line = make_line(max(10, self.width - overflow))
        return line

    def _live_line(self, now: float) -> str:
        elapsed = now - self._start
        if self.target is not None and self.current > 0:
            timing = f"ETA: {_duration(elapsed / self.current * (self.target - self.current))}"
        else:
            timing = _duration(elapsed)
        tail = self._tail(elapsed)
        return self._fitted(lambda width: " ".join(
            p for p in (self._counter(), self._bar(width), timing) if p) + tail)

    def _summary_line(self, now: float) -> str:
        elapsed = now - self._start
        timing = _duration(elapsed)
        if self.current > 0:
            timing += f" {_per_step(elapsed / self.current)}/{self.unit_name}"
        tail = self._tail(elapsed)
        if self.live:
            return self._fitted(lambda width: " ".join(
                p for p in (self._counter(), self._bar(width), timing) if p) + tail)
        return f"{self._counter()} - {timing}{tail}"

    def _tail(self, elapsed: float) -> str:
        parts = [f"{name}: {_format_value(v)}" for name, v in self.values.items()]
        if self.samples is not None and elapsed > 0:
            parts.append(f"{self.samples / elapsed:,.0f} samples/s")
        return "".join(" - " + p for p in parts)


def _format_value(value: object) -> str:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return str(x)
    return f"{x:.4f}" if abs(x) > 1e-3 or x == 0 else f"{x:.4e}"


def _duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds >= 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


def _per_step(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms"
    return f"{seconds * 1e6:.0f}us"


def _columns() -> int:
    return max(20, shutil.get_terminal_size(fallback=(80, 24)).columns)


def _is_terminal(stream: TextIO) -> bool:
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    # Jupyter's stdout is no TTY but honours \r, so the live bar works there.
    return "ipykernel" in sys.modules and stream in (sys.stdout, sys.stderr)
