"""The LUT file: plain, unit-suffixed Parquet columns plus one JSON provenance blob.

Columns (one row per device × block key × batch)::

    device, kind, key, <key fields of every kind present: image, patch, dim, tokens, ...>,
    batch, copies, method, median_ms, mean_ms, p10_ms, p90_ms, std_ms, cv, n, flagged,
    cat_mlp_ms ... cat_others_ms (7 categories, null when not profiled), protocol, timestamp

File metadata: key ``lutnas`` holds JSON ``{"creator": "lutnas X", "schema_version", "device",
"fingerprint", "protocol", "space", "method", "calibration"}`` (pyarrow's own ``pandas`` key is the
model). Readers need nothing but pyarrow/pandas/polars/DuckDB; lutnas refuses newer schema versions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.parquet as pq

import lutnas
from lutnas.categories import CATEGORIES, column_name
from lutnas.errors import InputError

SCHEMA_VERSION = 1
META_KEY = b"lutnas"
STAT_COLUMNS = ("median_ms", "mean_ms", "p10_ms", "p90_ms", "std_ms", "cv")
CATEGORY_COLUMNS = tuple(column_name(c) for c in CATEGORIES)
#: key-field columns tables have always carried (ViT kinds, then AutoViT's hybrid kinds); every
#: table keeps them so readers of earlier files find the same columns. Any other kind's fields are
#: added after them, typed by the kind (``BlockKey.field_types``): nothing to edit for a new kind.
KEY_FIELDS: tuple[str, ...] = ("image", "patch", "dim", "tokens", "heads", "head_dim", "mlp_ratio", "classes",
                               "res", "cin", "cout", "stride", "expand")
_HEAD = [("device", pa.string()), ("kind", pa.string()), ("key", pa.string())]
_TAIL = ([("batch", pa.int64()), ("copies", pa.int64()), ("method", pa.string())]
         + [(c, pa.float64()) for c in STAT_COLUMNS]
         + [("n", pa.int64()), ("flagged", pa.bool_()), ("flag_reason", pa.string()), ("host_ratio", pa.float64()),
            ("uncertainty", pa.float64()), ("measure_s", pa.float64())]
         + [(c, pa.float64()) for c in CATEGORY_COLUMNS]
         + [("protocol", pa.string()), ("timestamp", pa.timestamp("us", tz="UTC"))])
_FIXED = {name for name, _ in _HEAD + _TAIL}


def key_field_types(kinds: Iterable[str]) -> dict[str, pa.DataType]:
    """Column name -> Arrow type of every key field of ``kinds`` (the standing columns first)."""
    from lutnas.spaces.blocks import kind_class

    types: dict[str, pa.DataType] = {f: pa.float64() if f == "mlp_ratio" else pa.int64() for f in KEY_FIELDS}
    for kind in kinds:
        for name, typ in kind_class(kind).field_types().items():
            if name in _FIXED:
                raise InputError(f"block kind {kind!r}: field {name!r} clashes with a LUT column; rename it")
            if typ is float:
                types[name] = pa.float64()
            elif name not in types:
                types[name] = pa.int64()
    return types


def schema_for(kinds: Iterable[str]) -> pa.Schema:
    """The table schema for rows of these block kinds."""
    return pa.schema(_HEAD + list(key_field_types(kinds).items()) + _TAIL)


#: the schema of a table holding only the built-in kinds
SCHEMA = pa.schema(_HEAD + [(f, pa.float64() if f == "mlp_ratio" else pa.int64()) for f in KEY_FIELDS] + _TAIL)


def write_table(rows: list[dict[str, Any]], meta: dict[str, Any], path: str | Path) -> None:
    """Write rows and provenance atomically: temp file in the same folder, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = schema_for(sorted({r["kind"] for r in rows}))
    table = pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema)
    # this writer's provenance wins over the creator/schema version of the metadata it was handed
    blob = {**meta, "creator": f"lutnas {lutnas.__version__}", "schema_version": SCHEMA_VERSION}
    table = table.replace_schema_metadata({META_KEY: json.dumps(blob, default=str).encode()})
    write_parquet_atomic(table, path)


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Temp file in the same folder, fsync, rename: a reader sees the old file or the new one,
    never half of one (a crash or a full disk leaves the old file intact)."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            pq.write_table(table, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_table(path: str | Path) -> tuple[pa.Table, dict[str, Any]]:
    """Read a LUT file; one clear :class:`InputError` for a missing, truncated or foreign file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"LUT {str(path)!r} does not exist")
    try:
        table = pq.ParquetFile(path).read()  # no pyarrow.dataset: it imports pandas (~0.3 s)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"LUT {str(path)!r} is not a readable Parquet file (truncated or corrupt?): {exc}") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    meta: dict[str, Any] = {}
    if raw is not None:
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError:
            raise InputError(f"LUT {str(path)!r}: the 'lutnas' metadata is not valid JSON") from None
    version = meta.get("schema_version", SCHEMA_VERSION)
    if version > SCHEMA_VERSION:
        raise InputError(f"LUT {str(path)!r} has schema version {version}; this lutnas reads up to {SCHEMA_VERSION} (upgrade lutnas)")
    missing = [c for c in ("kind", "key", "batch", "median_ms") if c not in table.column_names]
    if missing:
        raise InputError(f"LUT {str(path)!r} lacks column(s) {', '.join(missing)}; is it a lutnas table?")
    check_rows(table, path)
    return table, meta


def check_rows(table: pa.Table, path: str | Path) -> None:
    """Refuse rows no lookup can trust, naming the file and the first bad rows: a missing,
    infinite or (unflagged) negative median, a missing key or batch, one key twice at one batch."""
    import numpy as np

    from lutnas.luts.columns import to_numpy

    keys = to_numpy(table.column("key")).tolist()
    batch = [None if b != b else int(b) for b in to_numpy(table.column("batch")).tolist()]  # NaN: a missing batch
    med = np.asarray(to_numpy(table.column("median_ms")), dtype=float)
    flagged = (np.asarray(to_numpy(table.column("flagged")), dtype=bool) if "flagged" in table.column_names
               else np.zeros(len(med), bool))
    bad = [i for i in range(len(med)) if keys[i] is None or batch[i] is None or not np.isfinite(med[i])
           or (med[i] < 0 and not flagged[i])]
    if bad:
        shown = ", ".join(f"{keys[i]} (batch {batch[i]}, median_ms {med[i]!r})" for i in bad[:3])
        raise InputError(f"LUT {str(path)!r}: {len(bad)} row(s) with a missing key or a missing, infinite or "
                         f"negative median: {shown}{' ...' if len(bad) > 3 else ''}; rebuild them or remove the rows")
    seen: dict[tuple[str, int], int] = {}
    for i, k in enumerate(zip(keys, batch)):
        if k in seen:
            j = seen[k]
            raise InputError(f"LUT {str(path)!r}: key {k[0]} at batch {k[1]} appears twice (median_ms {med[j]:.4g} and "
                             f"{med[i]:.4g}); a table holds one row per key and batch")
        seen[k] = i
