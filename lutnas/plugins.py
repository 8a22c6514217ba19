"""Loading plug-in classes named ``module:attribute`` (built-ins and entry points alike)."""

from __future__ import annotations

import importlib
from typing import TypeVar

T = TypeVar("T")


def load_class(target: str, base: type[T]) -> type[T]:
    """Import ``module:attribute`` and check it subclasses ``base``."""
    module, _, attr = target.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"{target} is not a {base.__module__}.{base.__name__} subclass")
    return cls
