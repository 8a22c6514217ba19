"""The drift sentinel: one fixed reference block, re-timed during builds and validations, so that
rows and models measured minutes apart are compared at the same host speed.

A shared machine, a phone that heats up, a laptop on battery: the host's speed drifts (−20 %
within 30 min was seen on this project's 2-core host) and a table cannot tell that from the
blocks themselves. The sentinel is re-timed every ``every`` rows of a build and between the models
of a validation; ``ratio = now / baseline`` says how much slower (> 1) the host runs than when the
table's baseline was taken. A build pauses while the host is more than ``slow_threshold`` slower
than its own baseline and than its usual speed of late (AndroidX Microbenchmark's throttle rule:
wait, re-check, flag if it stays slow; a host that has settled at another speed is not waited for),
and every row records the ratio it was measured at (``host_ratio``).

On devices that run in this process (torch-cpu, ort-cpu, tflite-cpu) the sentinel is also the
reference of **paired timing** (:meth:`Sentinel.reference`): it is timed between the samples of
every row and model, every 0.1 s, so each measurement comes out at the baseline's host speed
however often the host changes speed (here: every few seconds, by up to 50 %). The periodic
checks then only record the host's speed; nothing is paused or re-scaled for it.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Callable, Sequence

import numpy as np

from lutnas.devices.base import Device, Reference
from lutnas.profiler.protocol import Protocol, get_protocol
from lutnas.spaces.blocks import BlockKey

#: a host more than this much slower than its baseline pauses a build (and flags rows if it stays slow)
SLOW_THRESHOLD = 0.10


#: how a row flagged for a slow host starts its ``flag_reason``
SLOW_HOST = "host "


def slow_host_reason(ratio: float) -> str:
    """The ``flag_reason`` of a row measured while the host ran ``ratio`` times slower than the baseline."""
    return f"{SLOW_HOST}{ratio:.2f}x slower than the table's baseline (sentinel)"


#: how many recent checks make the host's usual speed (:meth:`Sentinel.usual`)
USUAL_CHECKS = 9

#: a drift within this of 1, or checks that disagree by more than this, is the sentinel's own noise
NOISE = 0.05


def sentinel_protocol() -> Protocol:
    """``default``'s warm-up and duration, capped at 2 s: a sentinel timed for 30 ms (``quick``) drifts
    by tens of per cent on its own on a shared host, which is noise fitted as signal."""
    return get_protocol("default", max_time_ms=2_000).replace(name="sentinel")


#: a host factor within this of 1 is the sentinel's own repeat noise (~1–2 % here): not applied
SENTINEL_NOISE = 0.02


def host_factor(a: float, b: float | None = None) -> float:
    """The factor rows between two checks (ratios ``a`` and ``b``) are divided by: their geometric
    mean, or 1.0 when that is within :data:`SENTINEL_NOISE` of 1."""
    f = float(np.sqrt(a * b)) if b is not None else float(a)
    return f if abs(f - 1.0) > SENTINEL_NOISE else 1.0


#: the sentinel's weights aim at this working set (bytes): a model's, like ``auto_copies``'s target
SENTINEL_WEIGHT_BYTES = 8 << 20


def choose_sentinel(keys: Sequence[BlockKey]) -> BlockKey:
    """A block of the most common kind that streams its weights as a model does: among those at or
    below the kind's 75th percentile of analytic MACs (cheap enough to re-time every 0.1 s), the one
    whose weight bytes are nearest :data:`SENTINEL_WEIGHT_BYTES`, fewest MACs first.

    Paired timing divides by the sentinel, so it must slow down when models do. Measured here with
    a 12-layer, 384-wide model on a host swinging by 10–35 %: a 65-token, 128-wide sentinel (0.4 ms,
    weights in L2) left the model/sentinel ratio as unsteady as the raw time (CV 3.2 % vs 3.6 %),
    384-wide ones (7 MB of weights) held it to 0.7–1.2 % (raw 10 %)."""
    if not keys:
        raise ValueError("no block to choose a sentinel from")
    kinds: dict[str, list[BlockKey]] = {}
    for k in keys:
        kinds.setdefault(k.kind, []).append(k)
    common = max(kinds.values(), key=len)
    macs = np.array([float(k.macs()) for k in common])
    cheap = [k for k, m in zip(common, macs) if m <= np.percentile(macs, 75)]
    return min(cheap, key=lambda k: (abs(np.log(max(k.weight_bytes(), 1) / SENTINEL_WEIGHT_BYTES)), k.macs(),
                                     k.canonical()))


@dataclasses.dataclass
class Sentinel:
    """A reference block on one device, prepared once and re-timed on demand.

    ``baseline_ms`` is the host's reference time (taken at the first :meth:`check` when absent,
    or read from a table's metadata when a build resumes); :meth:`check` returns ``now / baseline``.
    """

    device: Device
    key: BlockKey
    protocol: Protocol = dataclasses.field(default_factory=sentinel_protocol)
    baseline_ms: float | None = None
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    _artifact: Any = dataclasses.field(default=None, repr=False)

    def _prepared(self) -> Any:
        if self._artifact is None:
            from lutnas.models import build_block

            module, example = build_block(self.key)
            self._artifact = self.device.prepare(module, example)
        return self._artifact

    def time_ms(self) -> float:
        """One re-timing of the reference block (median, ms)."""
        return float(self.device.measure(self._prepared(), self.protocol, self.key).median_ms)

    @property
    def paired(self) -> bool:
        """Whether measurements on this device can be paired with the sentinel (in-process devices)."""
        return bool(self.device.supports_paired)

    def reference(self) -> Reference | None:
        """The sentinel as the reference of paired timing (None where the device cannot pair); takes
        the baseline first when there is none yet."""
        if not self.paired:
            return None
        if self.baseline_ms is None:
            self.check()
        return Reference(self._prepared(), float(self.baseline_ms))

    def check(self) -> float:
        """Re-time; return the host's slowdown ratio against the baseline (1.0 = baseline speed)."""
        now = self.time_ms()
        if self.baseline_ms is None:  # the first timing in a process warms it; the baseline is the second
            now = self.time_ms()
            self.baseline_ms = now
        ratio = now / self.baseline_ms
        self.history.append({"t": time.time(), "ms": now, "ratio": ratio})
        return ratio

    def usual(self) -> float:
        """The host's usual ratio: the median of the last :data:`USUAL_CHECKS` checks once there are
        three, else 1.0 (the baseline)."""
        recent = [h["ratio"] for h in self.history[-USUAL_CHECKS:]]
        return float(np.median(recent)) if len(recent) >= 3 else 1.0

    def wait_until_steady(self, pause_s: float = 10.0, max_pauses: int = 3,
                          on_pause: Callable[[float], None] | None = None) -> tuple[float, bool]:
        """Re-time; while the host is more than :data:`SLOW_THRESHOLD` slower than the baseline *and*
        than its usual speed, pause and re-check.

        A pause waits out a passing slowdown (a neighbour's burst, a throttle). A host whose usual
        speed has moved since the baseline was taken (seen here: a VM that sat 1.4–1.9× slower than
        its first check for twenty minutes) cannot be waited out: its rows are measured and
        normalised by the sentinel, and flagged, without pausing. Returns ``(ratio, slow)``: the
        last ratio and whether it is still more than :data:`SLOW_THRESHOLD` slower than the
        baseline (the caller flags what it measures next).
        """
        usual = max(1.0, self.usual())
        ratio = self.check()
        pauses = 0
        while ratio > usual * (1 + SLOW_THRESHOLD) and pauses < max_pauses:
            if on_pause:
                on_pause(ratio)
            time.sleep(pause_s)
            pauses += 1
            ratio = self.check()
        return ratio, ratio > 1 + SLOW_THRESHOLD

    def to_meta(self) -> dict[str, Any]:
        """What a table records of its sentinel (read back by :meth:`from_meta`)."""
        return {"key": self.key.canonical(), "baseline_ms": self.baseline_ms, "protocol": self.protocol.to_dict()}

    @classmethod
    def from_meta(cls, device: Device, stored: dict[str, Any] | None) -> Sentinel | None:
        """The sentinel a table's metadata records (same block, protocol and baseline), or None."""
        from lutnas.spaces import parse_block_key

        stored = stored or {}
        if not (stored.get("key") and stored.get("baseline_ms")):
            return None
        proto = stored.get("protocol")
        protocol = Protocol.from_dict(proto) if isinstance(proto, dict) else get_protocol(proto or "quick")
        return cls(device, parse_block_key(stored["key"]), protocol, float(stored["baseline_ms"]))

    def to_dict(self) -> dict[str, Any]:
        return {**self.to_meta(), "checks": len(self.history),
                "ratio_range": [float(np.min([h["ratio"] for h in self.history])),
                                float(np.max([h["ratio"] for h in self.history]))] if self.history else None}
