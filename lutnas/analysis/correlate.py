"""Assemble the cost table that ``lutnas correlate`` ranks: one row per model, one column per cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from lutnas.errors import InputError
from lutnas.spaces.vit import FACTORS, ViTSpec


def specs_from_option(space: Any, option: str, seed: int = 0) -> list[ViTSpec]:
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


def analytic_columns(specs: Sequence[ViTSpec]) -> pd.DataFrame:
    return pd.DataFrame({"spec": [s.canonical() for s in specs], "FLOPs": [s.macs() for s in specs],
                         "params": [s.params() for s in specs]})


def read_measured_table(path: str | Path) -> pd.DataFrame:
    """A CSV/Parquet with spec columns d,h,e,r,I,p (or a ``spec`` column) and numeric cost columns."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"table {str(path)!r} does not exist")
    try:
        df = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for bad files
        raise InputError(f"table {str(path)!r} could not be read: {exc}") from None
    if "spec" not in df.columns:
        missing = [f for f in FACTORS if f not in df.columns]
        if missing:
            raise InputError(f"table {str(path)!r} needs a 'spec' column or columns {', '.join(FACTORS)}; missing {', '.join(missing)}")
        df["spec"] = [ViTSpec(*(row[f] for f in FACTORS)).canonical() for row in df[list(FACTORS)].to_dict("records")]
    return df


def cost_table(luts: Sequence[Any], specs: Sequence[ViTSpec], measured: Sequence[pd.DataFrame] = ()) -> pd.DataFrame:
    """Rows = models, columns = FLOPs, params, each LUT's predicted latency, each measured cost column."""
    table = analytic_columns(specs) if specs else pd.DataFrame(columns=["spec"])
    names = set(table.columns)
    for lut in luts:
        name = lut.device
        if name in names or sum(other.device == lut.device for other in luts) > 1:
            name = f"{lut.device} ({Path(lut.path).stem})" if lut.path else name
        while name in names:
            name = f"{name}'"
        names.add(name)
        table[name] = lut.predict(specs).calibrated_ms if specs else []
    for df in measured:
        numeric = [c for c in df.columns if c not in (*FACTORS, "spec", "classes") and np.issubdtype(df[c].dtype, np.number)]
        if not specs:
            base = df[["spec"]].drop_duplicates()
            table = base.merge(analytic_columns([_spec(s) for s in base["spec"]]), on="spec")
        table = table.merge(df[["spec", *numeric]].rename(columns={c: c if c not in table.columns else f"{c}'" for c in numeric}),
                            on="spec", how="inner")
    return table.set_index("spec")


def _spec(text: str) -> ViTSpec:
    from lutnas.spaces.vit import parse_spec

    return parse_spec(text)
