"""lutnas.luts.columns reads Arrow buffers exactly as pyarrow converts them (nulls, slices, chunks)."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lutnas.luts.columns import to_numpy

ROOT = Path(__file__).resolve().parents[1]


def _same(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours.tolist(), theirs.tolist()):
        if isinstance(b, float) and b != b:
            assert a != a
        else:
            assert a == b and type(a) is type(b)


@pytest.mark.parametrize("values", [
    [1, 2, None, 4, 5, 6, 7, 8, 9, None, 11], [1.5, None, -2.0, 3.25] * 5, [True, None, False, True] * 3,
    ["encoder", None, "", "héad", "patch_embed"] * 3, list(range(20)), [0.1 * i for i in range(17)],
])
@pytest.mark.parametrize("cut", [None, (3, 9)])
def test_to_numpy_matches_pyarrow(values, cut):
    arr = pa.array(values)
    if cut:
        arr = arr.slice(*cut)  # an offset into the buffers and the validity bitmap
    expected = arr.to_numpy(zero_copy_only=False)
    if arr.type == pa.bool_() and arr.null_count:
        expected = np.array([bool(v) for v in arr.to_pylist()])  # null -> False
    _same(to_numpy(arr), expected)
    chunked = pa.chunked_array([arr, arr])
    _same(to_numpy(chunked), np.concatenate([expected, expected]))


def test_other_types_fall_back_to_pyarrow():
    ts = pa.array([0, 10**6], pa.timestamp("us", tz="UTC"))
    assert (to_numpy(ts) == ts.to_numpy(zero_copy_only=False)).all()
    assert to_numpy(pa.chunked_array([], pa.int64())).shape == (0,)


@pytest.mark.parametrize("path", sorted((ROOT / "luts").glob("*.parquet")), ids=lambda p: p.name)
def test_every_column_of_the_shipped_tables(path):
    table = pq.read_table(path)
    for name in table.column_names:
        col = table.column(name)
        if col.type == pa.bool_() and col.null_count:
            expected = np.array([bool(v) for v in col.to_pylist()])
        else:
            expected = col.to_numpy()
        _same(to_numpy(col), expected)
