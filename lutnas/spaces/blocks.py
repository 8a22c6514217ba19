"""Block-key kinds: the registry every space's kinds join, and parsing of canonical strings.

A block key names what is measured, not how: ``encoder(tokens=197,dim=192,heads=3,head_dim=64,
mlp_ratio=4)`` is one transformer encoder layer over 197 tokens. Every key has one canonical
string, and :func:`parse_block_key` turns it back into the key of whichever registered kind
(built-in or a plug-in space's) it names.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from lutnas.errors import InputError
from lutnas.spaces.base import BlockKey, fmt_number

_KINDS: dict[str, type[BlockKey]] = {}
_fmt = fmt_number


def block_kind(cls: type[BlockKey]) -> type[BlockKey]:
    """Class decorator registering a block-key kind; refuses a second class with the same kind."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} must set a non-empty 'kind'")
    if cls.kind in _KINDS and _KINDS[cls.kind] is not cls:
        raise TypeError(f"block kind {cls.kind!r} is already registered by {_KINDS[cls.kind].__name__}")
    _KINDS[cls.kind] = cls
    return cls


def block_kinds() -> dict[str, type[BlockKey]]:
    """All registered kinds, name -> key class (plug-in spaces loaded first)."""
    from lutnas.spaces.registry import load_plugins

    load_plugins()
    return dict(_KINDS)


def kind_class(kind: str) -> type[BlockKey]:
    """The key class of ``kind``; one :class:`InputError` listing the known kinds otherwise."""
    kinds = block_kinds()
    if kind not in kinds:
        raise InputError(f"block kind {kind!r} is not known; known: {', '.join(sorted(kinds))}")
    return kinds[kind]


_KEY_RE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*\((.*)\)\s*$")


def parse_block_key(text: str) -> BlockKey:
    """Parse a canonical string back into its key.

    >>> parse_block_key("head(dim=192,classes=1000)")
    HeadKey(dim=192, classes=1000)
    """
    m = _KEY_RE.match(text)
    if not m:
        raise InputError(f"block key {text!r} is not of the form kind(name=value,...)")
    kind, inner = m.group(1), m.group(2)
    cls = kind_class(kind)
    values: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in inner.split(","))):
        if "=" not in part:
            raise InputError(f"block key {text!r}: {part!r} is not name=value")
        name, raw = (s.strip() for s in part.split("=", 1))
        try:
            values[name] = int(raw) if re.fullmatch(r"-?\d+", raw) else float(raw)
        except ValueError:
            raise InputError(f"block key {text!r}: {name}={raw!r} is not a number") from None
    expected = [f.name for f in dataclasses.fields(cls)]
    if set(values) != set(expected):
        raise InputError(f"block key {text!r}: {kind} needs fields {', '.join(expected)}; got {', '.join(values) or 'none'}")
    return cls(**values)


def key_from_fields(kind: str, fields: dict[str, Any]) -> BlockKey:
    """The key of ``kind`` from a mapping holding (at least) its fields, e.g. a LUT row."""
    cls = kind_class(kind)
    return cls(**{f.name: fields[f.name] for f in dataclasses.fields(cls)})


__all__ = ["BlockKey", "block_kind", "block_kinds", "key_from_fields", "kind_class", "parse_block_key"]
