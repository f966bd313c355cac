"""load_csv reads numeric tables and points at the exact bad cell."""

import numpy as np
import pytest

from fastmlp.datasets import load_csv


def write(tmp_path, text, name="t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_target_by_name_and_by_index(tmp_path):
    path = write(tmp_path, "a,b,price\n1,2,3.5\n4,5e1,-6\n\n")
    x, y = load_csv(path, "price")
    np.testing.assert_array_equal(x, [[1, 2], [4, 50]])
    np.testing.assert_array_equal(y, [3.5, -6])
    assert x.dtype == y.dtype == np.float64
    x2, y2 = load_csv(path, 0)
    np.testing.assert_array_equal(y2, [1, 4])
    np.testing.assert_array_equal(x2, [[2, 3.5], [50, -6]])
    _, y3 = load_csv(path, -1)
    np.testing.assert_array_equal(y3, y)


def test_other_delimiter_and_dtype(tmp_path):
    path = write(tmp_path, "x;y\n1;2\n3;4\n")
    x, y = load_csv(path, "y", delimiter=";", dtype=np.float32)
    assert x.shape == (2, 1) and x.dtype == np.float32


def test_bad_value_names_row_and_column(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n4,oops,6\n")
    with pytest.raises(ValueError, match=r"row 3, column 1 \('b'\).*'oops'") as info:
        load_csv(path, "c")
    assert str(path) in str(info.value)


def test_ragged_row_is_reported(tmp_path):
    with pytest.raises(ValueError, match="row 3 has 2 fields but the header has 3"):
        load_csv(write(tmp_path, "a,b,c\n1,2,3\n4,5\n"), "c")


@pytest.mark.parametrize(
    "text, target, message",
    [("a,b\n1,2\n", "z", "no column named 'z'; columns are a, b"),
     ("a,b\n1,2\n", 5, "index 5 out of range"),
     ("", "a", "empty"),
     ("a,b\n", "a", "no data rows")],
)
def test_bad_target_or_empty_file(tmp_path, text, target, message):
    with pytest.raises(ValueError, match=message):
        load_csv(write(tmp_path, text), target)
