"""Arrow columns as numpy arrays, read from the Arrow buffers themselves.

pyarrow's own conversions (``to_numpy``, ``to_pylist``, even ``pa.array``) import pandas when it
is installed (~0.3 s here), which is most of a search's start-up. A table read from Parquet
holds plain buffers (the Arrow columnar format: a validity bitmap, then values, or offsets and
bytes for strings); this module reads those for the types a LUT stores and leaves every other
type to pyarrow.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_NUMERIC = {pa.int64(): np.int64, pa.int32(): np.int32, pa.float64(): np.float64, pa.float32(): np.float32}


def to_numpy(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """One column as numpy: int/float columns as their dtype (float64 with NaN where null), bool as
    bool (null → False), strings as an object array of ``str`` (null → None); other types through
    pyarrow (``to_numpy(zero_copy_only=False)``)."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    if not chunks:
        return column.to_numpy(zero_copy_only=False)
    parts = [_chunk(c) for c in chunks]
    if any(p is None for p in parts):
        return column.to_numpy(zero_copy_only=False)
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _valid(chunk: pa.Array) -> np.ndarray | None:
    """The chunk's validity as bools (None: no nulls)."""
    if chunk.null_count == 0:
        return None
    return _bits(chunk.buffers()[0], chunk.offset, len(chunk))


def _bits(buf: pa.Buffer, offset: int, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(buf, np.uint8), bitorder="little")[offset:offset + n].astype(bool)


def _chunk(chunk: pa.Array) -> np.ndarray | None:
    n, off, typ = len(chunk), chunk.offset, chunk.type
    if n == 0:
        return None
    valid = _valid(chunk)
    if typ in _NUMERIC:
        values = np.frombuffer(chunk.buffers()[1], _NUMERIC[typ])[off:off + n].copy()
        if valid is not None:
            values = values.astype(np.float64)
            values[~valid] = np.nan
        return values
    if typ == pa.bool_():
        values = _bits(chunk.buffers()[1], off, n)
        return values & valid if valid is not None else values
    if typ in (pa.string(), pa.large_string()):
        _, offsets, data = chunk.buffers()
        ends = np.frombuffer(offsets, np.int32 if typ == pa.string() else np.int64)[off:off + n + 1].tolist()
        raw = data.to_pybytes() if data is not None else b""
        out = np.empty(n, object)
        out[:] = [raw[a:b].decode() for a, b in zip(ends, ends[1:])]
        if valid is not None:
            out[~valid] = None
        return out
    return None
