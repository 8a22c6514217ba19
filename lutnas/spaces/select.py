"""Which specs a command covers: the whole grid, a seeded sample, or a file of specs."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from lutnas.errors import InputError
from lutnas.spaces.base import Space, Spec


class Provenance(Protocol):
    """Anything that knows the space it was made for (a LUT)."""

    def space(self) -> Space | None: ...


def sample_specs(space: Space, how: str, n: int | None = None, seed: int = 0, path: str | None = None) -> list[Spec]:
    """The specs a build or validation covers: ``grid``, ``sample`` (n, seed) or a file of specs."""
    from lutnas.spaces.registry import parse_spec

    if how == "grid":
        return space.grid()
    if how == "sample":
        if not n or n < 1:
            raise InputError("--sample needs a positive count")
        return space.sample(n, np.random.default_rng(seed))
    if how == "file":
        p = Path(path or "")
        if not p.exists():
            raise InputError(f"specs file {str(p)!r} does not exist")
        specs = [parse_spec(line.split("#", 1)[0].strip()) for line in p.read_text().splitlines() if line.split("#", 1)[0].strip()]
        if not specs:
            raise InputError(f"specs file {str(p)!r} holds no specs")
        return specs
    raise InputError(f"unknown spec selection {how!r}")


def resolve_space(space: str | None, values: tuple[str, ...] = (), values_file: str | None = None,
                  table: Provenance | None = None) -> Space:
    """The named space, else the table's own (``table.space()``), else ``vit-scaling``; narrowed by
    ``values`` (``NAME=V1,V2`` strings) and a TOML ``values_file``."""
    from lutnas.spaces.registry import get_space
    from lutnas.spaces.values import load_values_toml, parse_values

    narrowed = load_values_toml(values_file) if values_file else {}
    narrowed.update(parse_values(values))
    if space:
        return get_space(space, narrowed)
    own = table.space() if table is not None else None
    return own.narrow(narrowed) if own is not None else get_space("vit-scaling", narrowed)
