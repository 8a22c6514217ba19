"""Figure helpers shared by :mod:`lutnas.measure` and :mod:`lutnas.analysis`.

Figures are made with matplotlib's object API (``matplotlib.figure.Figure``), never through
``pyplot``: the caller's backend and pyplot's figure list are left alone, and nothing needs a display.
"""

from __future__ import annotations

import math
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


def set_title(fig: Any, ax: Any, text: str, fontsize: float = 9) -> None:
    """A title that fits the figure: centred on the figure (not on a narrow axes beside a legend)
    and wrapped to the figure's width, so it is never cut off at the edges."""
    import textwrap

    width_chars = max(12, int(fig.get_figwidth() * 72 / (0.62 * fontsize)) - 4)  # ~0.62 em per character
    fig.suptitle(textwrap.fill(text, width_chars), fontsize=fontsize)


def log_subs(vmin: float, vmax: float) -> tuple[float, ...]:
    """Labelled multiples per decade for a log axis spanning ``vmin``–``vmax``: 1, 2, 3, 5 over up to
    two decades, 1, 2, 5 up to three, 1 beyond (labels such as 2000 3000 5000 run into each other)."""
    decades = math.log10(vmax / vmin) if vmin > 0 and vmax > vmin else 1.0
    return (1.0, 2.0, 3.0, 5.0) if decades <= 2.2 else (1.0, 2.0, 5.0) if decades <= 3.2 else (1.0,)


def log_axes(ax: Any, which: str = "xy") -> None:
    """Log-scaled ``which`` axes with plain, non-overlapping tick labels (:func:`log_subs` per
    decade, chosen from the axis's span when it is drawn; no minor labels)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    class SpanLogLocator(LogLocator):
        def tick_values(self, vmin: float, vmax: float):  # noqa: ANN201 (matplotlib's signature)
            self.set_params(subs=log_subs(min(vmin, vmax), max(vmin, vmax)))
            return super().tick_values(vmin, vmax)

    if "x" in which:
        ax.set_xscale("log")
    if "y" in which:
        ax.set_yscale("log")
    for axis in [a for n, a in (("x", ax.xaxis), ("y", ax.yaxis)) if n in which]:
        axis.set_major_locator(SpanLogLocator(base=10, subs=(1.0, 2.0, 3.0, 5.0), numticks=12))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())
