"""The measurement protocol: how many runs, for how long, and when a number is good enough.

Algorithm (one call of :func:`run_protocol`)::

    warm-up:  call fn until warmup_runs calls AND warmup_ms have passed (capped by warmup_max_ms,
              or max_time_ms when that is 0); the warm-up also estimates one call's time t
    block:    number = max(1, ceil(min_sample_ms / t))  # calls per sample; keeps timer overhead
              negligible for sub-0.1 ms blocks (torch.utils.benchmark's blocked_autorange idea)
    repeat:   take samples (each = mean of `number` calls) until
                  n >= min_runs AND elapsed >= min_time_ms, and, when adaptive (ci_rel > 0),
                  the 95 % CI of the median (order statistics, distribution-free) is within
                  ci_rel of the median -- a noisy block keeps sampling instead of being stored
              and always stop at max_time_ms or max_runs (the reason is recorded)
    cool-down: sleep cooldown_ms after the measurement (thermals on phones)

Anchors for the defaults: TFLite ``benchmark_model`` warms up, then runs >= 50 times and >= 1 s;
``trtexec`` warms up 200 ms, then >= 10 iterations and >= 3 s; MLPerf Mobile reports p90. The
``thorough`` preset follows those rules in full. ``default`` stops when the median is known to ±2 %
(95 % CI) after at least 30 runs and 0.5 s, caps a block's warm-up at 0.6 s and its timed phase at
1.2 s, and flags a row whose median is still uncertain by more than ±5 %. Timed with paired
timing (:mod:`lutnas.measure.sentinel`), the same 45 grid blocks measured twice under this rule and
under the earlier one (±1 %, 2.5 s) repeated alike — median repeat error 1.9 % against 2.2 % (90th
percentile 10.7 % against 8.1 %: sub-millisecond blocks repeat a little worse), the two rules 0.2 %
apart on average — at 58 % of the measuring time (2026-11-30; ``make bench-build``
``--relax`` repeats the comparison): the host's own run-to-run noise, not the sampling within one run,
limits a row. ``quick`` is for tests and the demo and says so in every row it produces.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from typing import Any, Callable

from lutnas.errors import InputError


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Measurement rules. Durations in milliseconds.

    Parameters
    ----------
    name : str, default="custom"
    warmup_runs, warmup_ms : warm-up ends when both are reached.
    warmup_max_ms : ... or when this much time has passed (0: at ``max_time_ms``); a 300 ms block
        is warm after its first call, five more calls would only cost time.
    min_runs, min_time_ms : the timed phase needs both.
    max_time_ms, max_runs : hard caps on the timed phase.
    min_sample_ms : each sample averages enough calls to last this long (0: one call per sample).
    ci_rel : adaptive stop when the 95 % CI of the median is within this fraction (0: off).
    cooldown_ms : sleep after each measurement.
    cv_threshold : a measurement whose coefficient of variation exceeds this is flagged (when
        ``ci_max`` is 0; tables built before ``ci_max`` existed).
    ci_max : a measurement whose median is not known to within this fraction (half-width of its
        95 % CI, order statistics) is flagged (0: flag by ``cv_threshold``). Many jittery samples
        give a precise median: the spread of single samples says little about the number stored.
        The presets set it where the CV rule would have flagged a measurement of ``min_runs``
        samples (1.96 · 1.2533 · ``cv_threshold`` / √``min_runs``: quick ±20 %, default ±5 %,
        thorough ±2 %), so more samples can clear a row but fewer cannot.
    """

    name: str = "custom"
    warmup_runs: int = 5
    warmup_ms: float = 100.0
    warmup_max_ms: float = 0.0
    min_runs: int = 30
    min_time_ms: float = 500.0
    max_time_ms: float = 10_000.0
    max_runs: int = 100_000
    min_sample_ms: float = 0.0
    ci_rel: float = 0.0
    cooldown_ms: float = 0.0
    cv_threshold: float = 0.10
    ci_max: float = 0.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name != "name" and (not isinstance(v, (int, float)) or v < 0 or not math.isfinite(v)):
                raise InputError(f"protocol parameter {f.name!r} must be a non-negative number; got {v!r}")
        if self.min_runs < 1:
            raise InputError(f"protocol parameter 'min_runs' must be >= 1; got {self.min_runs}")
        if self.max_runs < self.min_runs:
            raise InputError(f"protocol 'max_runs' ({self.max_runs}) is below 'min_runs' ({self.min_runs})")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Protocol:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def replace(self, **changes: Any) -> Protocol:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise InputError(f"protocol has no parameter(s) {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, name=changes.pop("name", f"{self.name}*" if changes else self.name), **changes)


PRESETS: dict[str, Protocol] = {
    "quick": Protocol("quick", warmup_runs=2, warmup_ms=10, min_runs=10, min_time_ms=30, max_time_ms=2_000,
                      min_sample_ms=0.05, cv_threshold=0.25, ci_max=0.20),
    "default": Protocol("default", warmup_runs=5, warmup_ms=100, warmup_max_ms=600, min_runs=30, min_time_ms=500,
                        max_time_ms=1_200, min_sample_ms=0.2, ci_rel=0.02, cv_threshold=0.10, ci_max=0.05),
    "thorough": Protocol("thorough", warmup_runs=10, warmup_ms=200, min_runs=50, min_time_ms=3_000,
                         max_time_ms=60_000, min_sample_ms=0.5, ci_rel=0.0, cooldown_ms=0, cv_threshold=0.05,
                         ci_max=0.02),
}


def get_protocol(name: str | Protocol, **overrides: Any) -> Protocol:
    """A preset by name (``quick``, ``default``, ``thorough``), with optional parameter overrides."""
    if isinstance(name, Protocol):
        base = name
    elif name in PRESETS:
        base = PRESETS[name]
    else:
        raise InputError(f"protocol {name!r} is not known; choose from {', '.join(PRESETS)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return base.replace(**overrides) if overrides else base


def ground_truth(protocol: Protocol) -> Protocol:
    """The rule a validation's held-out models are measured under: ``protocol`` with its CI target
    halved and its timed-phase cap doubled (``default``: ±1 %, 2.4 s). The models are the truth a
    table is judged against, and their noise ceiling (two measurements of each) must be the host's
    noise, not a short rule's: with models measured under the ±2 %/1.2 s rows' rule, the ceiling of a
    50-model validation read 6.5 % against 4.5 % one run later under ±1 %/2.5 s (2026-11-30)."""
    return protocol.replace(name=f"{protocol.name}-models", ci_rel=protocol.ci_rel / 2,
                            max_time_ms=2 * protocol.max_time_ms)


def median_ci(samples: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free CI of the median from order statistics (normal approx. of the binomial)."""
    n = len(samples)
    if n < 3:
        return (-math.inf, math.inf)
    s = sorted(samples)
    z = 1.959963984540054 if confidence == 0.95 else _z(confidence)
    half = z * math.sqrt(n) / 2
    lo = max(0, int(math.floor(n / 2 - half)))
    hi = min(n - 1, int(math.ceil(n / 2 + half)))
    return s[lo], s[hi]


def _z(confidence: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + confidence / 2)


#: target time (ms) between two timings of the reference in paired timing (``run_protocol(reference=...)``):
#: the host here changes speed every few seconds, a reference every 0.1 s follows it at ~5 % of the cost
PAIR_MS = 100.0

#: one timing of the reference lasts at least this long (ms): enough calls to be well above the timer
REFERENCE_MS = 1.0

#: a group of samples is normalised by the median of this many reference timings around it (two
#: before, two after: ~0.4 s here), which halves the reference's own noise and still follows the host
REFERENCE_WINDOW = 4


class _Paired:
    """Paired timing's bookkeeping: reference timings between groups of samples, and each sample
    expressed at the reference's baseline speed (``raw × baseline / reference``)."""

    def __init__(self, ref: Callable[[], Any], baseline_ms: float, clock: Callable[[], float]) -> None:
        if not baseline_ms > 0:
            raise InputError(f"paired timing needs a positive reference baseline; got {baseline_ms!r}")
        self.ref, self.baseline, self.clock = ref, float(baseline_ms), clock
        for _ in range(3):  # warm the reference (its first calls pay one-off costs)
            ref()
        s = clock()
        ref()
        one = max(clock() - s, 1e-9)
        self.number = max(1, math.ceil(REFERENCE_MS / 1e3 / one))
        self.refs: list[float] = []     # ms per call of each reference timing
        self.group: list[int] = []      # which reference timing precedes each sample
        self.since = 0.0                # target ms since the last reference timing

    def time_reference(self) -> None:
        """One reference timing: an untimed call (the target just evicted its weights), then ``number`` timed calls."""
        self.ref()
        s = self.clock()
        for _ in range(self.number):
            self.ref()
        self.refs.append((self.clock() - s) * 1e3 / self.number)
        self.since = 0.0

    def add(self, sample_ms: float, number: int) -> float:
        """Record a raw sample; returns it at baseline speed against the median of the last reference
        timings (what the stopping rule judges; :meth:`finish` re-normalises with timings on both sides)."""
        self.group.append(len(self.refs) - 1)
        self.since += sample_ms * number
        return sample_ms * self.baseline / statistics.median(self.refs[-REFERENCE_WINDOW // 2 - 1:])

    def finish(self, raw: list[float]) -> tuple[list[float], dict[str, Any]]:
        """Every sample divided by the median of the :data:`REFERENCE_WINDOW` reference timings
        around its group (the group lies between timings ``g`` and ``g + 1``)."""
        if self.group and self.group[-1] == len(self.refs) - 1:
            self.time_reference()  # close the last group
        refs, half = self.refs, REFERENCE_WINDOW // 2
        around = {g: statistics.median(refs[max(0, g + 1 - half):g + 1 + half]) for g in set(self.group)}
        out = [x * self.baseline / around[g] for x, g in zip(raw, self.group)]
        ref_median = statistics.median(refs)
        return out, {"paired": True, "reference_ms": ref_median, "reference_timings": len(refs),
                     "reference_number": self.number, "host_ratio": ref_median / self.baseline,
                     "raw_median_ms": sorted(raw)[len(raw) // 2] if raw else math.nan}


def run_protocol(fn: Callable[[], Any], protocol: Protocol, clock: Callable[[], float] = time.perf_counter,
                 sync: Callable[[], None] | None = None,
                 timer: Callable[[int], float] | None = None,
                 reference: tuple[Callable[[], Any], float] | None = None) -> tuple[list[float], dict[str, Any]]:
    """Time ``fn`` under ``protocol``.

    Returns ``(samples_ms, info)``: per-call times in ms (each the mean of ``number`` calls) and
    ``{"number", "warmup_runs", "warmup_ms", "elapsed_ms", "stopped_by"}``. ``sync`` is called
    before reading the clock (CUDA synchronisation). ``timer(number)``, when given, runs ``fn``
    ``number`` times and returns the elapsed ms by its own means (CUDA events); the protocol's
    durations are still counted on ``clock``.

    ``reference=(ref, baseline_ms)`` turns on **paired timing**: ``ref`` (one call of a fixed
    reference block) is timed before the first sample and after every :data:`PAIR_MS` of samples,
    and each sample is divided by the median of the :data:`REFERENCE_WINDOW` reference timings
    around it and multiplied by ``baseline_ms`` (the reference's time at the table's host speed). A host whose
    speed changes every few seconds (a shared VM here: DeiT-Tiny read 28–50 ms within a minute)
    then changes the target and the reference alike and cancels out (chunk medians of DeiT-Tiny
    spread 13 % raw, 0.6 % paired with an encoder as reference). Samples come back at baseline
    speed; ``info`` adds ``paired``, ``reference_ms``, ``host_ratio`` (reference / baseline) and
    ``raw_median_ms``.
    """
    sync = sync or (lambda: None)
    t0 = clock()
    runs = 0
    deadline = (protocol.warmup_max_ms or protocol.max_time_ms) / 1e3
    per_call = math.inf
    while True:
        s = clock()
        fn()
        sync()
        e = clock()
        runs += 1
        per_call = min(per_call, e - s)
        elapsed = e - t0
        if (runs >= protocol.warmup_runs and elapsed * 1e3 >= protocol.warmup_ms) or elapsed >= deadline:
            break
    warm_ms = (clock() - t0) * 1e3
    number = 1
    if protocol.min_sample_ms > 0 and per_call > 0:
        number = max(1, math.ceil(protocol.min_sample_ms / 1e3 / per_call))
    paired = _Paired(reference[0], reference[1], clock) if reference is not None else None
    samples: list[float] = []   # at baseline speed when paired (against the latest reference timings)
    raw: list[float] = []
    start = clock()
    stopped_by = "min_runs+min_time"
    while True:
        if paired is not None and (not paired.refs or paired.since >= PAIR_MS):
            paired.time_reference()
        if timer is not None:
            raw.append(timer(number) / number)
            e = clock()
        else:
            sync()
            s = clock()
            for _ in range(number):
                fn()
            sync()
            e = clock()
            raw.append((e - s) * 1e3 / number)
        samples.append(paired.add(raw[-1], number) if paired is not None else raw[-1])
        elapsed_ms = (e - start) * 1e3
        n = len(samples)
        if elapsed_ms >= protocol.max_time_ms and n >= 1:
            stopped_by = "max_time"
            break
        if n >= protocol.max_runs:
            stopped_by = "max_runs"
            break
        if n >= protocol.min_runs and elapsed_ms >= protocol.min_time_ms:
            if protocol.ci_rel <= 0:
                break
            lo, hi = median_ci(samples)
            med = sorted(samples)[n // 2]
            if med > 0 and (hi - lo) / 2 <= protocol.ci_rel * med:
                stopped_by = "ci"
                break
    extra: dict[str, Any] = {}
    if paired is not None:
        samples, extra = paired.finish(raw)
    if protocol.cooldown_ms > 0:
        time.sleep(protocol.cooldown_ms / 1e3)
    return samples, {"number": number, "warmup_runs": runs, "warmup_ms": warm_ms,
                     "elapsed_ms": (clock() - start) * 1e3, "stopped_by": stopped_by, **extra}
