"""Load a numeric table from a CSV file with a header row."""

from __future__ import annotations

import csv as _csv
import os
from typing import Union

import numpy as np


def load_csv(
    path: Union[str, "os.PathLike[str]"],
    target: Union[str, int],
    delimiter: str = ",",
    *,
    dtype: "np.typing.DTypeLike" = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """Read a CSV file into ``(X, y)`` float arrays.

    The first row is the header. ``target`` names the column to predict, by
    header name or by index (negative counts from the end); every other
    column becomes a feature, in file order. Blank lines are skipped.

    Raises ``ValueError`` naming the file, row (line number, the header being
    line 1) and column of any value that is not a number, and for rows with
    the wrong number of fields.
    """
    path = os.fspath(path)
    with open(path, newline="") as f:
        rows = _csv.reader(f, delimiter=delimiter)
        header = next(rows, None)
        if header is None:
            raise ValueError(f"{path}: file is empty; expected a header row")
        header = [h.strip() for h in header]
        t = _target_index(path, header, target)
        values = []
        for row in rows:
            line = rows.line_num
            if not row or all(not v.strip() for v in row):
                continue
            if len(row) != len(header):
                raise ValueError(
                    f"{path}: row {line} has {len(row)} fields but the header has {len(header)}"
                )
            values.append([_number(path, line, header, c, v) for c, v in enumerate(row)])
    if not values:
        raise ValueError(f"{path}: no data rows after the header")
    table = np.array(values, dtype=dtype)
    features = [c for c in range(len(header)) if c != t]
    return table[:, features], table[:, t]


def _target_index(path: str, header: list, target: Union[str, int]) -> int:
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        if not -len(header) <= target < len(header):
            raise ValueError(
                f"{path}: target column index {target} out of range for {len(header)} columns"
            )
        return int(target) % len(header)
    if isinstance(target, str):
        if target in header:
            return header.index(target)
        if target.lstrip("-").isdigit():
            return _target_index(path, header, int(target))
        raise ValueError(
            f"{path}: no column named {target!r}; columns are {', '.join(header)}"
        )
    raise TypeError(f"load_csv: target must be a column name or index, got {target!r}")


def _number(path: str, line: int, header: list, col: int, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(
            f"{path}: row {line}, column {col} ({header[col]!r}): "
            f"cannot read {text!r} as a number"
        ) from None
