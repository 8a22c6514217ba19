"""``torch-cpu``: eager PyTorch on the host CPU, under ``torch.inference_mode``.

Threads default to 1: on a shared 2-core machine 2-thread medians drift 15–100 % between
repeats while 1-thread medians stay within ~2 % (``make bench-noise``). ``allocator`` (default
``reuse``) keeps freed memory in the process so that large activations are not faulted in again on
every call (:mod:`lutnas.devices.allocator`). Per-operator records come from ``torch.profiler``
(top-level aten ops, so nothing is counted twice).
"""

from __future__ import annotations

from numbers import Integral
import contextlib
import statistics
import time
from collections import defaultdict
from typing import Any, Callable, Iterator

import torch

from lutnas.devices import allocator
from lutnas.devices.base import Artifact, Device, Reference, module_digest
from lutnas.devices.fingerprint import host_fingerprint
from lutnas.errors import InputError
from lutnas.params import Interval, Options
from lutnas.profiler.categories import categorize_torch_op
from lutnas.profiler.protocol import Protocol, run_protocol
from lutnas.profiler.records import OpRecord
from lutnas.categories import OTHERS


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Set torch's intra-op thread count for the block, restore it after."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class TorchCPUDevice(Device):
    name = "torch-cpu"
    description = "eager PyTorch on this CPU (torch.profiler for per-op records)"
    supports_op_profile = True
    supports_paired = True
    defaults = {"threads": 1, "allocator": "reuse"}
    _parameter_constraints = {"threads": [Interval(Integral, 1, 1024)], "allocator": [Options(allocator.MODES)]}

    def _threads(self) -> int:
        n = self.params["threads"]
        if not isinstance(n, int) or n < 1:
            raise InputError(f"device option threads must be a positive integer; got {n!r}")
        return n

    def fingerprint(self) -> dict[str, Any]:
        return host_fingerprint(device=self.name, runtime="torch", torch=torch.__version__, threads=self._threads(),
                                mkldnn=torch.backends.mkldnn.is_available(),
                                allocator=allocator.effective(self.params["allocator"]))

    def prepare(self, module: torch.nn.Module, example: torch.Tensor) -> Artifact:
        module = module.eval()
        return Artifact(self.name, module_digest(module, example, "torch-cpu"), module, example)

    def _call(self, artifact: Artifact):
        module, x = artifact.payload, artifact.example

        def run() -> None:
            module(x)

        return run

    def time(self, artifact: Artifact, protocol: Protocol,
             reference: Reference | None = None) -> tuple[list[float], dict[str, Any]]:
        allocator.apply(self.params["allocator"])
        ref = (self._call(reference.artifact), reference.baseline_ms) if reference is not None else None
        with torch_threads(self._threads()), torch.inference_mode():
            return run_protocol(self._call(artifact), protocol, reference=ref)

    def profile_ops(self, artifact: Artifact, runs: int = 10) -> list[OpRecord]:
        from torch.profiler import ProfilerActivity, profile

        from lutnas.devices.environment import quiet_kineto

        run = self._call(artifact)
        allocator.apply(self.params["allocator"])
        with torch_threads(self._threads()), torch.inference_mode():
            warm_up(run)
            with quiet_kineto(), profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(runs):
                    run()
        raw = getattr(getattr(prof.profiler, "kineto_results", None), "events", None)
        if raw is not None:  # the raw events: no Python event tree (prof.events() took 0.15-0.3 s for an 8-copy encoder)
            return records_from_top_ops(raw_top_level(raw()), runs)
        return top_level_records(prof.events(), runs)


def warm_up(run: Callable[[], Any], calls: int = 3, budget_s: float = 0.1,
            clock: Callable[[], float] = time.perf_counter) -> None:
    """Call ``run`` before profiling: ``calls`` times, or fewer once ``budget_s`` has passed (at
    least once). A block just timed by the protocol is warm after one call; three calls of a 300 ms
    block cost more than profiling it."""
    start = clock()
    for _ in range(calls):
        run()
        if clock() - start >= budget_s:
            break


def top_level_records(events: Any, runs: int) -> list[OpRecord]:
    """Per-inference OpRecords from the top-level events (no aten parent) of ``prof.events()``."""
    top = [(e.name, e.cpu_time_total / 1e3) for e in sorted((e for e in events if e.cpu_parent is None),
                                                            key=lambda e: e.time_range.start)]
    return records_from_top_ops(top, runs)


def raw_top_level(events: Any) -> list[tuple[str, float]]:
    """``(name, ms)`` of the top-level CPU ops among the profiler's raw (kineto) events, in start order:
    an op is top-level when no op of its thread encloses it (what ``prof.events()`` finds by
    building its parent tree, ~50x slower)."""
    cpu = [(e.start_thread_id(), e.start_ns(), e.end_ns(), e.name()) for e in events
           if e.device_type() == torch.autograd.DeviceType.CPU and not e.is_user_annotation()]
    cpu.sort(key=lambda t: (t[0], t[1], -t[2]))
    top: list[tuple[int, str, float]] = []
    thread, end = None, -1
    for tid, start, stop, name in cpu:
        if tid != thread:
            thread, end = tid, -1
        if start >= end:  # not inside the current top-level op of this thread
            top.append((start, name, (stop - start) / 1e6))
            end = stop
    return [(name, ms) for _, name, ms in sorted(top, key=lambda t: t[0])]


def records_from_top_ops(top: list[tuple[str, float]], runs: int) -> list[OpRecord]:
    """Per-inference OpRecords from top-level ops ``(name, ms)`` in start order.

    The ops are split into ``runs`` equal runs; each op's time is its median over runs (robust to
    one slow profiled run), so the records' sum tracks the median latency.
    """
    per_run = len(top) // runs if runs and len(top) % runs == 0 else 0
    totals: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    if per_run:
        for r in range(runs):
            run_totals: dict[str, float] = defaultdict(float)
            for name, ms in top[r * per_run:(r + 1) * per_run]:
                run_totals[name] += ms
                if r == 0:
                    counts[name] += 1
            for name, t in run_totals.items():
                totals[name].append(t)
        value = {name: float(statistics.median(ts)) for name, ts in totals.items()}
    else:  # runs differ in op sequence: fall back to means
        for name, ms in top:
            totals[name].append(ms)
            counts[name] += 1
        value = {name: sum(ts) / runs for name, ts in totals.items()}
        counts = defaultdict(int, {k: max(1, round(v / runs)) for k, v in counts.items()})
    records = []
    for name, total in value.items():
        cat = categorize_torch_op(name)
        records.append(OpRecord(name, name, cat if cat is not None else OTHERS, total, counts[name],
                                classified=cat is not None))
    return sorted(records, key=lambda r: -r.avg_ms)
