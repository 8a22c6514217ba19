"""The ViT scaling space: candidate values per factor of a :class:`~lutnas.spaces.vit.ViTSpec`.

A :class:`ViTSpace` is the product of candidate values of the six factors. Spaces are immutable;
:meth:`ViTSpace.narrow` returns a new one, which is how ``--values d=3,6`` and TOML files narrow
a space without code. Off-grid moves (continuous sampling, the greedy search's perturbation) are
the ViT space's own; its depth factor ``d`` is what a depth-aware mutation (AutoViT's Pd) changes.
"""

from __future__ import annotations

from typing import ClassVar, Mapping

import numpy as np

from lutnas.spaces.base import CONTINUOUS, GRID, SCALE_UP, Spec, fmt_number
from lutnas.spaces.factor_space import FactorSpace
from lutnas.spaces.vit import FACTORS, NAMED_SPECS, ViTSpec, parse_vit_spec

_num = fmt_number


class ViTSpace(FactorSpace):
    """Product space over the factors ``d, h, e, r, I, p`` of a ViT.

    Parameters
    ----------
    name : str
        Name recorded in LUT provenance (``vit-scaling``).
    values : mapping of factor -> sequence of numbers
        Candidate values of each factor, in increasing order after construction.
    description : str, default=""
    """

    spec_type = ViTSpec
    factors: ClassVar[tuple[str, ...]] = FACTORS
    float_factors: ClassVar[frozenset[str]] = frozenset({"r"})
    depth_factors: ClassVar[frozenset[str]] = frozenset({"d"})
    capabilities: ClassVar[frozenset[str]] = frozenset({GRID, SCALE_UP, CONTINUOUS})
    default_family: ClassVar[bool] = True
    named_specs: ClassVar[Mapping[str, Spec]] = NAMED_SPECS

    def to_dict(self) -> dict:
        return {"name": self.name, "values": {k: list(v) for k, v in self.values.items()}}

    @classmethod
    def parse_spec(cls, text: str) -> ViTSpec:
        return parse_vit_spec(text)

    def sample_continuous(self, n: int, rng: np.random.Generator | int | None = None) -> list[ViTSpec]:
        """``n`` off-grid specs: each factor uniform in [min, max] of its candidates.

        Integers for d, h, e, p; r rounded to 0.25; I rounded to a multiple of p (so e=60,
        I=171, p=19 can come out), as the ViT-scaling study's random permutation uses.
        """
        rng = np.random.default_rng(rng)
        out = []
        lo = {f: min(v) for f, v in self.values.items()}
        hi = {f: max(v) for f, v in self.values.items()}
        for _ in range(n):
            d, h, e, p = (int(rng.integers(lo[f], hi[f] + 1)) for f in ("d", "h", "e", "p"))
            r = max(0.25, round(float(rng.uniform(lo["r"], hi["r"])) * 4) / 4)
            image = float(rng.uniform(lo["I"], hi["I"]))
            I = max(p, int(round(image / p)) * p)  # noqa: E741
            out.append(ViTSpec(d, h, e, r, I, p))
        return out

    def perturb(self, spec: ViTSpec, rng: np.random.Generator, spread: float) -> ViTSpec | None:
        """Each factor scaled by a log-uniform factor in [1/spread, spread] and rounded (the ViT-scaling study's
        random permutation around a greedy step); None when the result is not a valid spec."""
        f = np.exp(rng.uniform(-np.log(spread), np.log(spread), size=6))
        d = max(1, int(round(spec.d * f[0])))
        h = max(1, int(round(spec.h * f[1])))
        e = max(8, int(round(spec.e * f[2])))
        r = max(0.5, round(spec.r * f[3] * 4) / 4)
        p = max(4, int(round(spec.p * f[5])))
        image = max(p, int(round(spec.I * f[4] / p)) * p)
        try:
            return ViTSpec(d, h, e, r, image, p)
        except Exception:
            return None


def vit_spaces() -> list[ViTSpace]:
    """The built-in ViT spaces."""
    return [
        ViTSpace(
            "vit-scaling",
            {"d": [3, 6, 12, 18, 24], "h": [2, 3, 6, 8, 12], "e": [32, 64, 96], "r": [2, 4, 8],
             "I": [128, 160, 224, 320], "p": [8, 16, 32]},
            "the ViT-scaling study's 2,700-model ViT grid (Bello et al. extensive search)",
        ),
        ViTSpace(
            "vit-mini",
            {"d": [2, 4], "h": [2, 3], "e": [32, 64], "r": [2, 4], "I": [64, 96], "p": [16, 32]},
            "64 small ViTs (52 unique blocks) for the demo and tests",
        ),
    ]
