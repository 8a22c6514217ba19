"""Assemble the cost table that ``lutnas correlate`` ranks: one row per model, one column per cost."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from lutnas.errors import InputError
from lutnas.luts.table import LUT
from lutnas.spaces.base import Space, Spec
from lutnas.spaces.vit import FACTORS, ViTSpec


def specs_from_option(space: Space, option: str, seed: int = 0) -> list[Spec]:
    """``grid``, ``sample:N`` or a file of specs (one per line)."""
    from lutnas.spaces.select import sample_specs

    if option == "grid":
        return space.grid()
    if option.startswith("sample:"):
        try:
            n = int(option.split(":", 1)[1])
        except ValueError:
            raise InputError(f"--specs {option!r}: expected sample:N") from None
        return sample_specs(space, "sample", n, seed)
    return sample_specs(space, "file", path=option)


def analytic_columns(specs: Sequence[Spec]) -> pd.DataFrame:
    return pd.DataFrame({"spec": [s.canonical() for s in specs], "FLOPs": [s.macs() for s in specs],
                         "params": [s.params() for s in specs]})


def read_measured_table(path: str | Path, key: str | None = None) -> pd.DataFrame:
    """A peer's CSV/Parquet: one row per model, numeric cost columns (any names, any units).

    The model key is ``key`` when given, else a ``spec`` column, else a spec built from columns
    d,h,e,r,I,p, else the first non-numeric column (``model``, ``name``...), else the row number.
    Specs are resolved only when present: a table of named models (a paper's comparison table)
    is read as it is. Returns the table with its key in ``attrs["key"]`` and its file stem in
    ``attrs["source"]``; a key that repeats (two rows for one model) is refused.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"table {str(path)!r} does not exist")
    try:
        df = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for bad files
        raise InputError(f"table {str(path)!r} could not be read: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    if key is not None and key not in df.columns:
        raise InputError(f"table {str(path)!r} has no column {key!r}; columns: {', '.join(map(str, df.columns))}")
    if key is None and "spec" not in df.columns and all(f in df.columns for f in FACTORS):
        try:
            df["spec"] = [ViTSpec(*(row[f] for f in FACTORS)).canonical() for row in df[list(FACTORS)].to_dict("records")]
        except (TypeError, ValueError) as exc:
            raise InputError(f"table {str(path)!r}: columns {', '.join(FACTORS)} do not form specs ({exc})") from None
    if key is None:
        text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
        key = "spec" if "spec" in df.columns else (text[0] if text else None)
    if key is None:
        df.insert(0, "row", [f"row {i + 1}" for i in range(len(df))])
        key = "row"
    df[key] = df[key].astype(str)
    repeated = df[key][df[key].duplicated()]
    if len(repeated):
        raise InputError(f"table {str(path)!r}: {key} {repeated.iloc[0]!r} appears on several rows; one row per model")
    if not cost_columns(df, key):
        raise InputError(f"table {str(path)!r} has no numeric column to rank (columns: {', '.join(map(str, df.columns))})")
    df.attrs.update(key=key, source=path.stem)
    return df


def cost_columns(df: pd.DataFrame, key: str) -> list[str]:
    """The numeric columns of a peer's table, its key and spec factors excluded."""
    return [c for c in df.columns if c not in (key, *FACTORS, "spec", "classes")
            and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]


def cost_table(luts: Sequence[LUT], specs: Sequence[Spec], measured: Sequence[pd.DataFrame] = (),
               join: str | None = None) -> pd.DataFrame:
    """Rows = models, columns = costs: FLOPs and params of the specs, each LUT's predicted latency
    (ms), each peer table's numeric columns.

    Peer tables are joined (inner) on ``join`` (default: ``spec`` when LUTs are given, else each
    table's own key); spec strings are compared in canonical form.
    """
    table: pd.DataFrame | None = None
    if luts or specs:
        table = analytic_columns(specs).set_index("spec")
        names = set(table.columns)
        for lut in luts:
            name = lut.device
            if name in names or sum(other.device == lut.device for other in luts) > 1:
                name = f"{lut.device} ({Path(lut.path).stem})" if lut.path else name
            while name in names:
                name = f"{name}'"
            names.add(name)
            table[name] = lut.predict(specs).calibrated_ms if specs else []
        join = join or "spec"
    for df in measured:
        key = join or df.attrs.get("key", "spec")
        if key not in df.columns:
            raise InputError(f"table {df.attrs.get('source', '')!r} has no {key!r} column to join on "
                             f"(its models are keyed by {df.attrs.get('key')!r}); use --join or add a spec column")
        part = df[cost_columns(df, key)].set_axis(_keys(df[key], key), axis=0)
        part.index.name = key
        if table is None:
            table = part
            if key == "spec":
                table = _with_analytic(table)
            continue
        clash = {c: f"{c} ({df.attrs.get('source', 'table')})" for c in part.columns if c in table.columns}
        table = table.join(part.rename(columns=clash), how="inner")
    if table is None:
        return pd.DataFrame(index=pd.Index([], name="spec"))
    return table


def _keys(values: pd.Series, key: str) -> list[str]:
    """Keys as written, spec strings in canonical form when they parse."""
    if key != "spec":
        return [str(v) for v in values]
    out = []
    for v in values:
        try:
            out.append(_spec(str(v)).canonical())
        except (InputError, ValueError, TypeError):
            out.append(str(v))
    return out


def _with_analytic(table: pd.DataFrame) -> pd.DataFrame:
    """FLOPs and params in front of a spec-keyed table, when every key is a spec of the space."""
    try:
        specs = [_spec(s) for s in table.index]
    except (InputError, ValueError, TypeError):
        return table
    return analytic_columns(specs).set_index("spec").join(table, how="inner")


def _spec(text: str) -> Spec:
    from lutnas.spaces.registry import parse_spec

    return parse_spec(text)
