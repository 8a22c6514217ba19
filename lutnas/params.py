"""Parameter constraints declared per plug-in class, checked at construction (scikit-learn's manner).

A plug-in class declares ``_parameter_constraints = {"population": [Interval(Integral, 2, None)]}``;
:func:`validate_params` checks a value against the list (any one may match) and raises
:class:`~lutnas.errors.InputError` with one sentence::

    The 'population' parameter of Evolutionary must be an int in the range [2, inf). Got 'abc' instead.

:func:`convert_params` turns command-line strings (``--param population=100``,
``--device-option xnnpack=no``) into values of the declared types before that check.
"""

from __future__ import annotations

import json
import math
from numbers import Integral
from typing import Any, Iterable, Mapping, Sequence

from lutnas.errors import InputError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class Constraint:
    """One allowed set of values: ``is_satisfied_by``, ``convert`` (from a string) and ``__str__``."""

    def is_satisfied_by(self, value: Any) -> bool:
        raise NotImplementedError

    def convert(self, text: str) -> Any:
        """The value ``text`` stands for under this constraint (``text`` itself when none)."""
        return text


class Interval(Constraint):
    """Numbers of ``type`` (``Integral`` or ``Real``) between ``left`` and ``right`` (None: unbounded).

    ``closed`` is ``"left"``, ``"right"``, ``"both"`` or ``"neither"``; NaN never satisfies it.
    """

    def __init__(self, type: type, left: float | None, right: float | None, closed: str = "both") -> None:
        self.type, self.left, self.right, self.closed = type, left, right, closed

    def is_satisfied_by(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, self.type):
            return False
        if isinstance(value, float) and math.isnan(value):
            return False
        lo_ok = self.left is None or (value >= self.left if self.closed in ("left", "both") else value > self.left)
        hi_ok = self.right is None or (value <= self.right if self.closed in ("right", "both") else value < self.right)
        return lo_ok and hi_ok

    def convert(self, text: str) -> Any:
        try:
            value = float(text)
        except ValueError:
            return text
        if self.type is Integral:
            return int(value) if value.is_integer() else value
        return value

    def __str__(self) -> str:
        kind = "an int" if self.type is Integral else "a float"
        lo = "-inf" if self.left is None else _num(self.left)
        hi = "inf" if self.right is None else _num(self.right)
        lb = "[" if self.closed in ("left", "both") and self.left is not None else "("
        rb = "]" if self.closed in ("right", "both") and self.right is not None else ")"
        return f"{kind} in the range {lb}{lo}, {hi}{rb}"


class Options(Constraint):
    """One of a fixed set of values."""

    def __init__(self, options: Iterable[Any]) -> None:
        self.options = tuple(options)

    def is_satisfied_by(self, value: Any) -> bool:
        return any(value == o and type(value) is type(o) for o in self.options)

    def convert(self, text: str) -> Any:
        for o in self.options:
            if str(o).lower() == text.lower():
                return o
        return text

    def __str__(self) -> str:
        return f"one of {{{', '.join(repr(o) for o in self.options)}}}"


class Boolean(Constraint):
    """``True`` or ``False``; from text: true/false, yes/no, on/off, 1/0."""

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, bool)

    def convert(self, text: str) -> Any:
        low = text.strip().lower()
        return True if low in _TRUE else False if low in _FALSE else text

    def __str__(self) -> str:
        return "a bool"


class NoneValue(Constraint):
    def is_satisfied_by(self, value: Any) -> bool:
        return value is None

    def convert(self, text: str) -> Any:
        return None if text.strip().lower() in ("none", "null", "") else text

    def __str__(self) -> str:
        return "None"


class Text(Constraint):
    """Any string (``nonempty``: at least one character)."""

    def __init__(self, nonempty: bool = True) -> None:
        self.nonempty = nonempty

    def is_satisfied_by(self, value: Any) -> bool:
        return isinstance(value, str) and (bool(value) or not self.nonempty)

    def __str__(self) -> str:
        return "a non-empty str" if self.nonempty else "a str"


class Numbers(Constraint):
    """A non-empty list or tuple of finite numbers inside ``item`` (an :class:`Interval`); from
    text: ``1.05,1.1`` or a JSON list."""

    def __init__(self, item: Interval) -> None:
        self.item = item

    def is_satisfied_by(self, value: Any) -> bool:
        return (isinstance(value, (list, tuple)) and len(value) > 0
                and all(self.item.is_satisfied_by(v) for v in value))

    def convert(self, text: str) -> Any:
        raw = text.strip()
        try:
            data = json.loads(raw) if raw.startswith("[") else [t for t in raw.split(",") if t.strip()]
        except json.JSONDecodeError:
            return text
        if not isinstance(data, list):
            return text
        out = [self.item.convert(str(v)) if isinstance(v, str) else v for v in data]
        return tuple(out)

    def __str__(self) -> str:
        return f"a non-empty list of {self.item}"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


def _coerce(c: Any) -> Constraint:
    if isinstance(c, Constraint):
        return c
    if c is None:
        return NoneValue()
    if c is bool:
        return Boolean()
    if c is str:
        return Text()
    raise TypeError(f"unknown parameter constraint {c!r}")


def describe(constraints: Sequence[Any]) -> str:
    """``an int in the range [2, inf) or None``."""
    parts = [str(_coerce(c)) for c in constraints]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def validate_params(owner: str, constraints: Mapping[str, Sequence[Any]], params: Mapping[str, Any]) -> None:
    """Raise :class:`InputError` for the first parameter no constraint of its list allows."""
    for name, value in params.items():
        allowed = constraints.get(name)
        if allowed is None or allowed == "no_validation":
            continue
        if not any(_coerce(c).is_satisfied_by(value) for c in allowed):
            raise InputError(f"The {name!r} parameter of {owner} must be {describe(allowed)}. Got {value!r} instead.")


def convert_params(constraints: Mapping[str, Sequence[Any]], params: Mapping[str, Any]) -> dict[str, Any]:
    """Strings converted to the declared types (the first constraint that accepts the result wins);
    a string for an undeclared parameter is read as JSON when it is JSON (``5``, ``[1, 2]``,
    ``true``), else kept; non-strings pass through unchanged (validation reports them)."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        allowed = constraints.get(name)
        if isinstance(value, str) and not allowed:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        elif isinstance(value, str) and allowed != "no_validation":
            # a string stays a string only when no other declared type reads it ("none" -> None)
            for c in sorted(map(_coerce, allowed), key=lambda c: isinstance(c, Text)):
                converted = c.convert(value)
                if c.is_satisfied_by(converted):
                    value = converted
                    break
            else:
                value = _guess(value, allowed)
        out[name] = value
    return out


def _guess(text: str, allowed: Sequence[Any]) -> Any:
    """A value no constraint accepts: keep the most telling form for the error (``1e9`` -> 1000000000)."""
    for c in map(_coerce, allowed):
        converted = c.convert(text)
        if converted is not text and not isinstance(converted, str):
            return converted
    return text


def parse_assignments(items: Iterable[str], option: str) -> dict[str, str]:
    """``KEY=VALUE`` strings -> dict of strings; one line naming the option for a malformed one."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"{option} {item!r} is not KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


class Parametrized:
    """Mix-in: keyword parameters stored in ``self.params``, defaults from ``defaults``, names and
    values checked against ``_parameter_constraints`` at construction."""

    defaults: dict[str, Any] = {}
    _parameter_constraints: dict[str, list[Any]] = {}

    @classmethod
    def owner_name(cls) -> str:
        return cls.__name__

    @classmethod
    def from_strings(cls, params: Mapping[str, Any]) -> dict[str, Any]:
        """Command-line strings converted by the declared types."""
        return convert_params(cls._parameter_constraints, params)

    def _store_params(self, params: Mapping[str, Any], what: str = "parameter") -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            raise InputError(f"{type(self).owner_name()} has no {what}(s) {', '.join(sorted(unknown))}; "
                             f"{what}s: {', '.join(sorted(self.defaults)) or 'none'}")
        validate_params(type(self).owner_name(), self._parameter_constraints, params)
        self.params: dict[str, Any] = {**self.defaults, **params}
        self._check_params()

    def _check_params(self) -> None:
        """Hook: relations between parameters (``parents <= population``); raise InputError."""


__all__ = ["Boolean", "Constraint", "Interval", "NoneValue", "Numbers", "Options", "Parametrized", "Text",
           "convert_params", "describe", "parse_assignments", "validate_params"]
