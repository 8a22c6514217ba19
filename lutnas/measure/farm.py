"""LUT builds on Ray: one actor per physical device, one writer per table, lost work re-queued.

:func:`farm_build` builds one table per device in a single run. Each device label is a Ray
custom resource (see :mod:`lutnas.raycluster`); every unit of it gets one :class:`DeviceActor`,
which owns the device and measures one block at a time. The driver keeps a queue of keys per
table, hands each idle actor its device's next key, and writes every returned row at once
(:meth:`BuildPlan.add`), so the Parquet tables are written by one process and stay
resumable. When an actor or its host dies (phone unplugged, node gone) its in-flight key goes
back to the queue; the same happens when the actor's device fails for good (a phone that
dropped off and did not come back within its ``reconnect_s``): the actor is retired. When a
device has no actor left, its table stops with what it has (re-run to resume).

Rows are timed **paired** with the table's drift sentinel where the device runs in the actor's
process (torch-cpu, ort-cpu, tflite-cpu), as :func:`lutnas.measure.build_lut` times them: the first
actor takes the sentinel's baseline, every actor prepares the same sentinel block and times it
between its samples, so rows measured on several hosts — or on one host whose speed changes — come
out at the speed of the host and moment the baseline was taken. A finished table is re-expressed at
the median host speed of its rows (:func:`lutnas.measure.build.rebaseline`), as a local build is.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from lutnas.errors import DeviceError
from lutnas.locks import writer_lock
from lutnas.measure.build import CONFIG_KEYS, PAIRED, BuildPlan, new_sentinel_key, plan_build, rebaseline, table_timing
from lutnas.profiler.measurement import Measurement
from lutnas.profiler.protocol import Protocol
from lutnas.raycluster import connect, device_units
from lutnas.spaces.base import BlockKey, Space, Spec


class _DeviceWorker:
    """Lives in a Ray actor: one device, measuring one key at a time."""

    def __init__(self, device: str, params: dict[str, Any], space: dict[str, Any]) -> None:
        import os

        from lutnas.devices import get_device
        from lutnas.spaces.registry import space_from_dict

        self.device = get_device(device, **params)
        self.space = space_from_dict(space)
        self.models: dict[Spec, Measurement] = {}
        self.pid = os.getpid()
        self.sentinel: Any = None   # lutnas.measure.sentinel.Sentinel, once a paired build names it

    def describe(self) -> dict[str, Any]:
        return {"label": self.device.label, "fingerprint": self.device.fingerprint(), "params": dict(self.device.params),
                "pid": self.pid, "paired": bool(self.device.supports_paired)}

    def baseline(self, key_text: str) -> dict[str, Any]:
        """Take the sentinel's baseline on this actor's host; returns the table's ``sentinel`` metadata."""
        from lutnas.measure.sentinel import Sentinel
        from lutnas.spaces import parse_block_key

        self.sentinel = Sentinel(self.device, parse_block_key(key_text))
        self.sentinel.check()
        return self.sentinel.to_meta()

    def measure(self, key_text: str, settings: dict[str, Any],
                sentinel: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[str] | None]:
        """One row; paired with the table's sentinel (its metadata: key, baseline) when given."""
        from lutnas.measure.build import measure_key
        from lutnas.measure.sentinel import Sentinel
        from lutnas.spaces import parse_block_key

        reference = None
        if sentinel:  # prepared once per actor (the baseline does not change during a run)
            if self.sentinel is None or self.sentinel.key.canonical() != sentinel["key"]:
                self.sentinel = Sentinel.from_meta(self.device, sentinel)
            reference = self.sentinel.reference() if self.sentinel is not None else None
        return measure_key(self.device, self.space, parse_block_key(key_text), settings, self.models, reference)


def _pair(ray: Any, plan: BuildPlan, actor: Any, paired: bool) -> dict[str, Any] | None:
    """The sentinel metadata a farm build pairs its rows with (taking the baseline on ``actor`` for a
    new table), or None: a device that cannot pair, or a table whose rows were not timed paired."""
    if not paired or table_timing(plan) != PAIRED:
        return None
    stored = plan.meta.get("sentinel") or {}
    if not (stored.get("key") and stored.get("baseline_ms")):
        stored = ray.get(actor.baseline.remote(new_sentinel_key(plan).canonical()))
        plan.meta["sentinel"] = stored
    plan.meta["timing"] = PAIRED
    return stored


def _lost_errors(ray: Any) -> tuple[type[BaseException], ...]:
    names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "NodeDiedError",
             "ObjectLostError", "OwnerDiedError")
    return tuple(getattr(ray.exceptions, n) for n in names if hasattr(ray.exceptions, n))


def _first_line(exc: BaseException) -> str:
    lines = [ln for ln in str(exc).splitlines() if ln.strip() and "Traceback" not in ln and not ln.startswith(" ")]
    line = lines[-1] if lines else type(exc).__name__
    return line.split("Error: ", 1)[-1] if line.startswith("lutnas.errors.") else line


def farm_build(devices: Sequence[str], space: Space, specs: Sequence[Spec], out_paths: dict[str, Path], protocol: Protocol,
               device_params: dict[str, Any] | None = None, address: str | None = None, batch: int = 1,
               copies: int | str = "auto", ops: bool = True, op_runs: int = 5, method: str = "isolated",
               keys: Iterable[BlockKey] | None = None, modules: bool = False,
               progress: Callable[[str, str, dict[str, Any]], None] | None = None,
               on_row: Callable[[str, int, dict[str, Any]], None] | None = None) -> dict[str, dict[str, Any]]:
    """Build one table per device on Ray; returns ``{device: info}`` like :func:`build_lut`'s.

    ``progress(device, event, info)`` gets ``plan``/``row``/``done``/``lost`` events;
    ``on_row(device, rows_done, actors)`` is a test hook called after each written row.

    Every table is locked for the whole run (a second writer is refused with one line).
    """
    with contextlib.ExitStack() as locks:
        for device in devices:
            locks.enter_context(writer_lock(out_paths[device]))
        return _farm_build(devices, space, specs, out_paths, protocol, device_params, address, batch, copies, ops,
                           op_runs, method, keys, modules, progress, on_row)


def _farm_build(devices: Sequence[str], space: Any, specs: Sequence[Any], out_paths: dict[str, Path], protocol: Protocol,
                device_params: dict[str, Any] | None, address: str | None, batch: int, copies: int | str, ops: bool,
                op_runs: int, method: str, keys: Any, modules: bool,
                progress: Callable[[str, str, dict[str, Any]], None] | None,
                on_row: Callable[[str, int, dict[str, Any]], None] | None) -> dict[str, dict[str, Any]]:
    ray = connect(address, devices)
    lost_errors = _lost_errors(ray)
    remote_cls = ray.remote(_DeviceWorker)
    actors: dict[str, list[Any]] = {}
    plans: dict[str, BuildPlan] = {}
    sentinels: dict[str, dict[str, Any] | None] = {}
    space_dict = space.to_dict()
    for device in devices:
        units = device_units(ray, device)
        if units < 1:
            raise DeviceError(f"no Ray node declares the resource {device!r}; start the node that has it with "
                              f"ray start --resources='{{\"{device}\": 1}}'")
        pool = [remote_cls.options(resources={device: 1}, num_cpus=0, max_restarts=0).remote(
            device, device_params or {}, space_dict) for _ in range(units)]
        described = ray.get([a.describe.remote() for a in pool])
        first = described[0]
        # one table never mixes device configurations: hosts whose device differs are left out
        same = [a for a, d in zip(pool, described)
                if all(d["fingerprint"].get(k) == first["fingerprint"].get(k) for k in CONFIG_KEYS)]
        for a in pool:
            if a not in same:
                ray.kill(a)
        actors[device] = same
        plans[device] = plan_build(first["label"], first["fingerprint"], first["params"], space, specs, out_paths[device],
                                   protocol, batch, copies, ops, op_runs, method, keys, modules)
        sentinels[device] = _pair(ray, plans[device], same[0], first.get("paired", False)) if plans[device].todo else None
        if progress:
            progress(device, "plan", plans[device].info)
    queues = {d: list(p.todo) for d, p in plans.items()}
    measured = {d: 0 for d in devices}
    lost = {d: 0 for d in devices}
    inflight: dict[Any, tuple[str, Any, Any]] = {}  # ref -> (device, actor, key)
    start = time.perf_counter()

    def dispatch() -> None:
        busy = {id(a) for _, a, _ in inflight.values()}
        for device, pool in actors.items():
            for actor in pool:
                if id(actor) not in busy and queues[device]:
                    key = queues[device].pop(0)
                    ref = actor.measure.remote(key.canonical(), plans[device].settings, sentinels[device])
                    inflight[ref] = (device, actor, key)

    dispatch()
    while inflight:
        ready, _ = ray.wait(list(inflight), num_returns=1)
        ref = ready[0]
        device, actor, key = inflight.pop(ref)
        try:
            row, hosts = ray.get(ref)
        except (*lost_errors, DeviceError) as exc:
            # the actor died, or its device went away (a phone that did not come back): nothing of
            # this key was written; retire the actor and measure the key elsewhere (or next run)
            if not isinstance(exc, lost_errors):
                ray.kill(actor)
            queues[device].insert(0, key)
            actors[device] = [a for a in actors[device] if a is not actor]
            lost[device] += 1
            if progress:
                progress(device, "lost", {"key": key.canonical(), "actors_left": len(actors[device]),
                                          "error": _first_line(exc)})
            dispatch()
            continue
        plans[device].add(row, hosts)
        measured[device] += 1
        if progress:
            progress(device, "row", {"key": row["key"], "median_ms": row["median_ms"], "flagged": row["flagged"],
                                     "done": measured[device], "todo": len(plans[device].todo)})
        if on_row:
            on_row(device, measured[device], actors)
        dispatch()
    results = {}
    for device, plan in plans.items():
        info = dict(plan.info)
        info.update({"measured": measured[device], "rows": len(plan.rows), "seconds": time.perf_counter() - start,
                     "complete": not queues[device], "actors_lost": lost[device], "left": len(queues[device]),
                     "timing": plan.meta.get("timing")})
        if info["complete"] and measured[device] and sentinels[device]:  # at its rows' typical host speed
            info["rebaseline"] = rebaseline(plan)
        results[device] = info
        if progress:
            progress(device, "done", info)
    for pool in actors.values():
        for actor in pool:
            ray.kill(actor)
    return results
