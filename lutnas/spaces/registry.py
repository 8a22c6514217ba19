"""The registry of spaces: built-ins and plug-ins (entry-point group ``lutnas.spaces``) alike.

A plug-in package declares, in its ``pyproject.toml``::

    [project.entry-points."lutnas.spaces"]
    mixer-tiny = "my_package:mixer_tiny"

The entry point's object is a :class:`~lutnas.spaces.base.Space` (or a callable returning one or
several); loading it imports the module that declares the space, its spec type and its block
kinds. Entry points are read on the first request, never at import. Spec strings are parsed by
the family they name (``autovit:...``, ``mixer:...``); strings without a family prefix are the
default family's (the ViT space's ``d=..,h=..``) or a named spec of any space.
"""

from __future__ import annotations

import re
import warnings
from importlib.metadata import entry_points
from typing import Any, Mapping, Sequence

from lutnas.errors import InputError
from lutnas.registry import Registry
from lutnas.spaces.base import Space, Spec

GROUP = "lutnas.spaces"
#: spaces with more specs than this are sampled, never enumerated (autovit-*: 6.9e8)
ENUMERATION_LIMIT = 200_000

#: name -> space; lookups go through the one plug-in registry (:mod:`lutnas.registry`), entry points
#: are read by :func:`load_plugins` (an entry point may declare several spaces)
_SPACES: Registry[Space] = Registry("space", GROUP, discover=False)
_FAMILIES: dict[str, type[Space]] = {}
_FAILED: dict[str, str] = {}
_state = {"builtins": False, "plugins": False}


def register_space(space: Space) -> Space:
    """Register a named space (and its spec family); refuses a duplicate name or family."""
    _builtins()
    _add(space)
    return space


def _add(space: Space) -> None:
    if not isinstance(space, Space):
        raise TypeError(f"{space!r} is not a lutnas.spaces.Space")
    if space.name in _SPACES:
        raise ValueError(f"space {space.name!r} is already registered")
    family = space.spec_type.family
    if not family:
        raise TypeError(f"{space.spec_type.__name__}.family must be a non-empty name")
    owner = _FAMILIES.setdefault(family, type(space))
    if owner is not type(space):
        raise ValueError(f"spec family {family!r} is already registered by {owner.__name__}")
    _SPACES.register(space.name, space)


def _builtins() -> None:
    if _state["builtins"]:
        return
    _state["builtins"] = True
    from lutnas.spaces.autovit import autovit_spaces
    from lutnas.spaces.space import vit_spaces

    for space in (*vit_spaces(), *autovit_spaces()):
        _add(space)


def load_plugins() -> None:
    """Load every ``lutnas.spaces`` entry point once; a failing one is reported, not fatal."""
    _builtins()
    if _state["plugins"]:
        return
    _state["plugins"] = True
    for ep in entry_points(group=GROUP):
        try:
            obj = ep.load()
            spaces = obj() if callable(obj) and not isinstance(obj, Space) else obj
            for space in [spaces] if isinstance(spaces, Space) else list(spaces):
                _add(space)
        except Exception as exc:  # a broken plug-in must not break lutnas
            _FAILED[ep.name] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"space plug-in {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2)


def list_spaces() -> dict[str, Space]:
    """Every registered space, name -> space."""
    load_plugins()
    return {name: _SPACES.get(name) for name in _SPACES.names()}


def families() -> dict[str, type[Space]]:
    """Spec family -> space class (``vit``, ``autovit``, plug-ins')."""
    load_plugins()
    return dict(_FAMILIES)


def get_space(name: str, values: Mapping[str, Sequence[float]] | None = None) -> Space:
    """A registered space by name, optionally narrowed by ``values``."""
    load_plugins()
    if name not in _SPACES and name in _FAILED:
        raise InputError(f"space {name!r} is installed but failed to load: {_FAILED[name]}")
    return _SPACES.get(name).narrow(values or {})


def space_from_dict(data: Mapping[str, Any]) -> Space:
    """The space recorded in a table's provenance (``type`` names its family; none: ViT)."""
    kind = data.get("type", "vit")
    cls = families().get(kind)
    if cls is None:
        raise InputError(f"space type {kind!r} (space {data.get('name')!r}) is not installed; "
                         f"known: {', '.join(sorted(_FAMILIES))}")
    return cls.from_dict(data)


def named_specs() -> dict[str, Spec]:
    """Named specs of every family (``deit-tiny``, ...)."""
    out: dict[str, Spec] = {}
    for cls in families().values():
        out.update(cls.named_specs)
    return out


def parse_spec(text: str) -> Spec:
    """A spec of any registered family: ``family:...``, a named spec, or the default family's string.

    Raises :class:`InputError` with one line naming what was wrong.
    """
    text = text.strip()
    fams = families()
    family, sep, _ = text.partition(":")
    if sep and family in fams:
        return fams[family].parse_spec(text)
    if sep and re.fullmatch(r"[A-Za-z][\w-]*", family):
        raise InputError(f"spec {text!r}: family {family!r} is not known; known: {', '.join(sorted(fams))} "
                         f"(a plug-in space's package may not be installed)")
    named = named_specs()
    if text in named:
        return named[text]
    default = [cls for cls in fams.values() if cls.default_family]
    if not default:
        raise InputError(f"spec {text!r} names no known family ({', '.join(sorted(fams))}) nor a named spec")
    return default[0].parse_spec(text)


def enumerable(space: Space) -> bool:
    """Whether ``space.grid()`` is cheap enough to call."""
    return space.supports("grid") and space.size <= ENUMERATION_LIMIT


def spec_pool(space: Space, n: int = 5000, seed: int = 0) -> list[Spec]:
    """Every spec of an enumerable space, else ``n`` sampled ones (for cheapest/fastest scans)."""
    return space.grid() if enumerable(space) else space.sample(n, seed)
