"""``Measurement``: raw samples plus what was measured, where and how; statistics derived lazily."""

from __future__ import annotations

import dataclasses
import math
import statistics
from typing import Any

import numpy as np

from lutnas.profiler.protocol import Protocol, median_ci
from lutnas.profiler.records import OpRecord  # noqa: F401  (the one operator record; runners import it here)
from lutnas.spaces.blocks import BlockKey


@dataclasses.dataclass(frozen=True)
class Measurement:
    """Per-run times of one key on one device under one protocol.

    ``samples_ms`` are always kept; ``median_ms`` and the others are derived from them.
    ``key`` is a :class:`BlockKey` or any label (a spec's canonical string for a full model).
    """

    key: BlockKey | str
    samples_ms: tuple[float, ...]
    protocol: Protocol
    fingerprint: dict[str, Any]
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.samples_ms:
            raise ValueError(f"measurement of {self.key} has no samples")
        object.__setattr__(self, "samples_ms", tuple(float(s) for s in self.samples_ms))

    @property
    def n(self) -> int:
        return len(self.samples_ms)

    @property
    def median_ms(self) -> float:
        return float(statistics.median(self.samples_ms))

    @property
    def mean_ms(self) -> float:
        return float(statistics.fmean(self.samples_ms))

    @property
    def std_ms(self) -> float:
        return float(statistics.stdev(self.samples_ms)) if self.n > 1 else 0.0

    @property
    def p10_ms(self) -> float:
        return float(np.percentile(self.samples_ms, 10))

    @property
    def p90_ms(self) -> float:
        return float(np.percentile(self.samples_ms, 90))

    @property
    def iqr_ms(self) -> float:
        q1, q3 = np.percentile(self.samples_ms, [25, 75])
        return float(q3 - q1)

    @property
    def cv(self) -> float:
        """Coefficient of variation std/mean."""
        return self.std_ms / self.mean_ms if self.mean_ms > 0 else math.inf

    @property
    def ci_rel(self) -> float:
        """Half-width of the median's 95 % CI (order statistics) as a fraction of the median
        (inf below three samples)."""
        lo, hi = median_ci(list(self.samples_ms))
        med = self.median_ms
        return (hi - lo) / 2 / med if med > 0 and math.isfinite(hi - lo) else math.inf

    @property
    def noise_reason(self) -> str | None:
        """Why the median is not to be trusted by the protocol's rule (``ci_max``; ``cv_threshold``
        when that is 0, or below three samples, where a CI of the median does not exist: a phone's
        two ``benchmark_model`` invocations are two medians of many runs each), or None."""
        if self._by_ci:
            ci = self.ci_rel
            return noise_reason(self.cv, ci, self.n) if ci > self.protocol.ci_max else None
        return noise_reason(self.cv) if self.cv > self.protocol.cv_threshold else None

    @property
    def _by_ci(self) -> bool:
        return self.protocol.ci_max > 0 and self.n >= 3

    @property
    def flagged(self) -> bool:
        """True when the median is too uncertain (:attr:`noise_reason`) or the device reported
        thermal throttling (``metadata["timing"]["throttled"]``): stored, but never as good."""
        return self.noise_reason is not None or self.throttled

    @property
    def throttled(self) -> bool:
        return bool(self.metadata.get("timing", {}).get("throttled"))

    @property
    def warnings(self) -> list[str]:
        out = []
        if self.noise_reason is not None:
            limit = f"±{self.protocol.ci_max:.0%}" if self._by_ci else f"CV {self.protocol.cv_threshold:.0%}"
            out.append(f"{self.key}: {noise_detail(self.cv, self.ci_rel if self._by_ci else None, self.n)}; "
                       f"the protocol allows {limit}")
        if self.throttled:
            out.append(f"{self.key}: thermally throttled ({self.metadata['timing']['throttled']})")
        runs_per_sample = int(self.metadata.get("timing", {}).get("runs_per_sample", 1))
        if self.n * runs_per_sample < self.protocol.min_runs:
            out.append(f"{self.key}: only {self.n} runs (< min_runs {self.protocol.min_runs}); max_time_ms reached")
        return out

    def meets_confidence(self, threshold: float = 0.01) -> bool:
        """Whether the 95 % CI of the median lies within ``threshold`` of the median."""
        lo, hi = median_ci(list(self.samples_ms))
        return (hi - lo) / 2 <= threshold * self.median_ms

    def stats(self) -> dict[str, float]:
        """The LUT statistics columns."""
        return {"median_ms": self.median_ms, "mean_ms": self.mean_ms, "p10_ms": self.p10_ms,
                "p90_ms": self.p90_ms, "std_ms": self.std_ms, "cv": self.cv, "n": self.n}

    def merge(self, other: Measurement) -> Measurement:
        """Pool samples of two replicates of the same task (same key, protocol, fingerprint)."""
        if (self.key, self.protocol, self.fingerprint) != (other.key, other.protocol, other.fingerprint):
            raise ValueError("measurements differ in key, protocol or device fingerprint; they cannot be merged")
        return dataclasses.replace(self, samples_ms=self.samples_ms + other.samples_ms)

    def __repr__(self) -> str:
        flag = "  FLAGGED" if self.flagged else ""
        return (f"<Measurement {self.key}: median {self.median_ms:.4g} ms, p10 {self.p10_ms:.4g}, "
                f"p90 {self.p90_ms:.4g}, CV {self.cv:.1%}, n={self.n} ({self.protocol.name}){flag}>")


def noise_detail(cv: float, ci_rel: float | None = None, n: int | None = None) -> str:
    """How uncertain a median is: its 95 % CI when known, and the samples' CV."""
    if ci_rel is None:
        return f"CV {cv:.0%}"
    width = f"±{ci_rel:.1%}" if math.isfinite(ci_rel) else "unbounded"
    return f"median {width} at 95 %, n={n}, CV {cv:.0%}"


def noise_reason(cv: float, ci_rel: float | None = None, n: int | None = None) -> str:
    """A noisy row's ``flag_reason`` (starts with ``flagged``)."""
    return f"flagged ({noise_detail(cv, ci_rel, n)})"
