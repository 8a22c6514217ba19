"""One plug-in registry for every kind: devices, searchers, objectives, parsers and spaces.

A :class:`Registry` maps names to plug-ins found two ways: built-ins (a ``module:attribute``
string, loaded on first use, or the object itself) and the entry points of one group
(``lutnas.devices``, ``lutnas.searchers``, ...), looked up on request and never at import. A
name given twice with different targets is refused (nevergrad's ``Registry``): a built-in cannot
be shadowed (the entry point is refused with a warning, the built-in stays) and two packages
cannot both claim one name (that name is refused until one is uninstalled).

    >>> reg = Registry("tool", "lutnas.no-such-group", builtins={"echo": "builtins:print"})
    >>> reg.get("echo") is print
    True
    >>> reg.get("nope")
    Traceback (most recent call last):
    lutnas.errors.InputError: tool 'nope' is not known; available: echo
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any, Generic, Iterator, TypeVar

from lutnas.errors import InputError

T = TypeVar("T")


def load_target(target: str) -> Any:
    """Import ``module:attribute`` (``attribute`` may be dotted)."""
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


class Registry(Generic[T]):
    """Name -> plug-in over built-ins and one entry-point group.

    Parameters
    ----------
    kind : str
        What a plug-in is called in messages (``device``, ``searcher``...).
    group : str
        The entry-point group (``lutnas.devices``).
    builtins : dict of str -> str or object, optional
        Built-in plug-ins: a ``module:attribute`` target (imported lazily) or the object itself.
    base : type, optional
        A loaded class must subclass it (checked on load).
    prefixed : bool, default=False
        ``NAME:ARG`` is served by the plug-in registered as ``NAME`` when ``NAME:ARG`` itself is
        not registered (``adb:SERIAL``, ``table:FILE``); :meth:`resolve` returns the argument.
    discover : bool, default=True
        Read the group's entry points. False where the kind loads its entry points itself and
        registers what they yield (spaces: one entry point may declare several spaces).
    """

    def __init__(self, kind: str, group: str, builtins: dict[str, str | T] | None = None, base: type | None = None,
                 prefixed: bool = False, discover: bool = True) -> None:
        self.kind = kind
        self.group = group
        self.base = base
        self.prefixed = prefixed
        self.discover = discover
        self._targets: dict[str, str | T] = {}
        self._loaded: dict[str, T] = {}
        self._entry_points: dict[str, str | Exception] | None = None
        for name, target in (builtins or {}).items():
            self.register(name, target)

    # -- registration -------------------------------------------------------------------------
    def register(self, name: str, target: str | T) -> str | T:
        """Add a plug-in; a name already taken by another target is refused."""
        old = self._targets.get(name)
        if old is not None and old is not target and old != target:
            raise InputError(f"{self.kind} {name!r} is already registered ({_describe(old)}); "
                             f"refusing a second one ({_describe(target)}) of that name")
        self._targets[name] = target
        return target

    def _entries(self) -> dict[str, str | Exception]:
        """Entry points of the group (read once); a name claimed twice maps to the refusal."""
        if self._entry_points is None:
            import importlib.metadata  # only when a name is not a built-in (~30 ms)

            found: dict[str, str | Exception] = {}
            for ep in importlib.metadata.entry_points(group=self.group) if self.discover else ():
                old = found.get(ep.name)
                if isinstance(old, str) and old != ep.value:
                    found[ep.name] = InputError(f"{self.kind} {ep.name!r} is provided twice ({old} and {ep.value}); "
                                                f"uninstall one")
                elif old is None:
                    found[ep.name] = ep.value
            self._entry_points = found
        return self._entry_points

    def names(self) -> list[str]:
        """Every registered name, built-ins and entry points, sorted."""
        return sorted(set(self._targets) | set(self._entries()))

    def __contains__(self, name: object) -> bool:
        return name in self._targets or name in self._entries()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    # -- lookup ----------------------------------------------------------------------------------
    def resolve(self, name: str) -> tuple[str, str]:
        """``(registered name, argument)``: ``adb:SERIAL`` -> ``("adb", "SERIAL")`` when prefixed."""
        if name in self:
            return name, ""
        base, sep, arg = name.partition(":")
        if self.prefixed and sep and base in self:
            return base, arg
        raise self.unknown(name)

    def unknown(self, name: str) -> InputError:
        """The one sentence for an unknown name."""
        shown = [f"{n}:{self._argument(n)}" if self.prefixed and self._argument(n) else n for n in self.names()]
        return InputError(f"{self.kind} {name!r} is not known; available: {', '.join(shown) or 'none'}")

    def _argument(self, name: str) -> str:
        """The argument a plug-in takes after ``NAME:`` (objective kinds declare ``argument``)."""
        obj = self._loaded.get(name, self._targets.get(name))
        return "" if isinstance(obj, str) else str(getattr(obj, "argument", "") or "")

    def get(self, name: str) -> T:
        """The plug-in registered as ``name`` (``NAME:ARG`` served by ``NAME`` when prefixed)."""
        key, _ = self.resolve(name)
        return self.load(key)

    def load(self, key: str) -> T:
        if key in self._loaded:
            return self._loaded[key]
        entries = self._entries()
        builtin = self._targets.get(key)
        entry = entries.get(key)
        if isinstance(entry, Exception):
            raise entry
        if builtin is not None and entry is not None and entry != builtin:  # the built-in keeps its name
            warnings.warn(f"{self.kind} {key!r} is built in ({_describe(builtin)}); refusing the entry point {entry} "
                          f"of the same name (rename it)", stacklevel=2)
        target = builtin if builtin is not None else entry
        try:
            obj = load_target(target) if isinstance(target, str) else target
        except Exception as exc:  # a broken third-party plug-in: one line naming it
            raise InputError(f"{self.kind} {key!r} ({target}) could not be loaded: {exc}") from None
        if self.base is not None and not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise InputError(f"{self.kind} {key!r} ({target}) is not a {self.base.__module__}.{self.base.__name__} "
                             f"subclass")
        self._loaded[key] = obj
        return obj

    def items(self) -> dict[str, T | Exception]:
        """Every name -> its plug-in, or the error that stopped it from loading (for listings)."""
        out: dict[str, T | Exception] = {}
        for name in self.names():
            try:
                out[name] = self.load(name)
            except InputError as exc:
                out[name] = exc
        return out

    def refresh(self) -> None:
        """Forget the entry points read so far (tests that install a plug-in at run time)."""
        self._entry_points = None
        self._loaded = {}


def _describe(target: Any) -> str:
    """``module:attribute`` of a target or a loaded class/function; the type of anything else."""
    if isinstance(target, str):
        return target
    if hasattr(target, "__qualname__"):
        return f"{getattr(target, '__module__', '?')}:{target.__qualname__}"
    return f"a {type(target).__module__}.{type(target).__qualname__}"


__all__ = ["Registry", "load_target"]
