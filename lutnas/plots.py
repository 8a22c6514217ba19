"""Figure helpers shared by :mod:`lutnas.measure` and :mod:`lutnas.analysis`.

Figures are made with matplotlib's object API (``matplotlib.figure.Figure``), never through
``pyplot``: the caller's backend and pyplot's figure list are left alone, and nothing needs a display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def figure(figsize: tuple[float, float], dpi: int = 110) -> tuple[Any, Any]:
    """``(figure, axes)``: one subplot on a figure that pyplot does not know about."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi)
    return fig, fig.subplots()


def colors(name: str = "tab10") -> tuple:
    """The colours of a qualitative colormap."""
    import matplotlib

    return matplotlib.colormaps[name].colors


def save(fig: Any, path: str | Path) -> Path:
    """Lay out and write a figure (creating folders); returns its path."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
