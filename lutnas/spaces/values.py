"""``--values NAME=V1,V2`` options and TOML files that narrow a space without code."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Iterable

from lutnas.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def parse_values(options: Iterable[str]) -> dict[str, list[float]]:
    """Parse repeatable ``NAME=V1,V2,...`` options (``d=3,6``) into a mapping."""
    out: dict[str, list[float]] = {}
    for opt in options:
        if "=" not in opt:
            raise InputError(f"--values {opt!r} is not NAME=V1,V2,...")
        name, raw = (s.strip() for s in opt.split("=", 1))
        if name in out:
            raise InputError(f"--values: factor {name!r} given twice")
        vals = []
        for tok in filter(None, (t.strip() for t in raw.split(","))):
            try:
                v = float(tok)
            except ValueError:
                raise InputError(f"--values {name}: {tok!r} is not a number") from None
            if not math.isfinite(v):
                raise InputError(f"--values {name}: {tok!r} is not finite")
            vals.append(int(v) if v.is_integer() else v)
        if not vals:
            raise InputError(f"--values {name}: no values given")
        out[name] = vals
    return out


def load_values_toml(path: str | Path) -> dict[str, list[float]]:
    """Read ``[values]`` (or top-level) ``NAME = [V1, V2]`` entries from a TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"values file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"values file {str(path)!r} is not valid TOML: {exc}") from None
    table = data.get("values", data)
    out: dict[str, list[float]] = {}
    for name, vals in table.items():
        if not isinstance(vals, list) or not vals or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            raise InputError(f"values file {str(path)!r}: {name} must be a non-empty list of numbers")
        out[name] = vals
    return out
