"""``adb:SERIAL`` / ``adb:HOST:PORT``: an Android phone over ADB, timed by TFLite's ``benchmark_model``.

Flow per block: export with litert-torch (cached, shared with ``tflite-cpu``), push the
``.tflite`` under ``remote_dir`` (named by content hash, skipped when already there), then run::

    taskset MASK benchmark_model --graph=... --num_threads=N --warmup_runs=.. --warmup_min_secs=..
                                 --num_runs=.. --min_secs=.. --max_secs=.. --use_xnnpack=..

pinned to the big cores (the CPUs whose ``cpuinfo_max_freq`` is the highest; the ViT-scaling study measured
its Pixel 3 this way). ``benchmark_model`` prints summary statistics, not per-run times, so one
sample is one invocation's average (or median, when the build reports it) over its runs; the
protocol sets runs and seconds per invocation, ``invocations`` sets the number of samples.
Per-operator records come from ``--enable_op_profiling=true`` and the TFLite log parser; operators
are categorised from litert-torch's scoped tensor names, as in ``tflite-cpu``.

Thermals: all ``/sys/class/thermal`` zones are read before and after each measurement; above
``max_temp_c`` the runner waits (up to ``cooldown_max_s``) before measuring. A measurement is
flagged ``throttled`` when a big core's ``scaling_max_freq`` sits below its ``cpuinfo_max_freq``
(the thermal governor capped it) or the zones end above ``max_temp_c + 10``.

A phone that drops off mid-build (cable, Wi-Fi, adbd restart) is waited for up to
``reconnect_s``; the command is then retried, or a :class:`DeviceError` says so in one line —
rows already written to the LUT are kept, and re-running the command resumes.

Where to get ``benchmark_model``: TensorFlow publishes nightly prebuilt binaries per ABI
(``android_aarch64_benchmark_model`` from the TFLite performance-measurement page) and
``bazel build -c opt --config=android_arm64 //tensorflow/lite/tools/benchmark:benchmark_model``
builds one. Give its local path as ``--device-option benchmark_model=PATH`` (it is pushed), or
leave it on the phone as ``/data/local/tmp/benchmark_model``.
"""

from __future__ import annotations

import dataclasses
from numbers import Integral, Real
import posixpath
import re
import time
from pathlib import Path
from typing import Any, Callable

from lutnas.devices.adb_transport import AdbConnectionLost, Transport, make_transport, parse_target
from lutnas.devices.base import Artifact, Device
from lutnas.devices.fingerprint import package_version
from lutnas.errors import DeviceError, InputError
from lutnas.params import Interval
from lutnas.profiler.categories import categorize_tflite_op
from lutnas.profiler.protocol import Protocol
from lutnas.profiler.records import OpRecord

#: getprop keys recorded in the fingerprint (first present wins for the SoC)
PROPS = {"model": "ro.product.model", "manufacturer": "ro.product.manufacturer",
         "android": "ro.build.version.release", "sdk": "ro.build.version.sdk", "abi": "ro.product.cpu.abi",
         "serial": "ro.serialno", "build": "ro.build.fingerprint"}
SOC_PROPS = ("ro.soc.model", "ro.board.platform", "ro.hardware")
CPUFREQ = "/sys/devices/system/cpu/cpu*/cpufreq/"
THERMAL = "/sys/class/thermal/thermal_zone*/"
_GREP_LINE = re.compile(r"^(?P<path>/[^:]+):(?P<value>.*)$")


def parse_getprop(text: str) -> dict[str, str]:
    """``[key]: [value]`` lines (``getprop`` with no argument) -> dict."""
    return dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, re.M))


def parse_grep_h(text: str) -> dict[str, str]:
    """``grep -H . files`` output (``path:value`` lines) -> {path: value}."""
    out = {}
    for line in text.splitlines():
        m = _GREP_LINE.match(line.strip())
        if m:
            out[m.group("path")] = m.group("value").strip()
    return out


def per_cpu(files: dict[str, str], leaf: str) -> dict[int, int]:
    """{cpu index: integer value} of ``/sys/devices/system/cpu/cpuN/cpufreq/<leaf>`` entries."""
    out = {}
    for path, value in files.items():
        m = re.search(r"/cpu(\d+)/cpufreq/" + re.escape(leaf) + "$", path)
        if m and value.lstrip("-").isdigit():
            out[int(m.group(1))] = int(value)
    return out


def big_cores(max_freq: dict[int, int]) -> list[int]:
    """The CPUs with the highest ``cpuinfo_max_freq`` (the prime and big cluster's top cores)."""
    if not max_freq:
        return []
    top = max(max_freq.values())
    return sorted(c for c, f in max_freq.items() if f == top)


def cpu_mask(cpus: list[int]) -> str:
    """``taskset`` mask in hex (``[4, 5, 6, 7]`` -> ``f0``)."""
    return format(sum(1 << c for c in cpus), "x")


def thermal_readings(files: dict[str, str]) -> dict[str, float]:
    """Zone type -> °C from ``grep -H .`` over ``thermal_zone*/type`` and ``/temp`` (m°C or °C)."""
    types, temps = {}, {}
    for path, value in files.items():
        m = re.search(r"(thermal_zone\d+)/(type|temp)$", path)
        if not m:
            continue
        (types if m.group(2) == "type" else temps)[m.group(1)] = value
    out = {}
    for zone, raw in temps.items():
        try:
            v = float(raw)
        except ValueError:
            continue
        c = v / 1000.0 if abs(v) >= 1000 else v
        if -40.0 < c < 150.0:  # skip sensors that report nonsense (some zones read -273 or 0x7fffffff)
            out[types.get(zone, zone)] = c
    return out


def benchmark_args(binary: str, graph: str, protocol: Protocol, threads: int, xnnpack: bool,
                   mask: str | None, op_profiling: bool = False, runs: int | None = None) -> list[str]:
    """The ``benchmark_model`` argv (each word is shell-quoted by the transport)."""
    argv = ["taskset", mask] if mask else []
    min_s = protocol.min_time_ms / 1e3
    argv += [binary, f"--graph={graph}", f"--num_threads={int(threads)}",
             f"--warmup_runs={int(protocol.warmup_runs)}", f"--warmup_min_secs={protocol.warmup_ms / 1e3:g}",
             f"--num_runs={int(runs if runs is not None else protocol.min_runs)}",
             f"--min_secs={0 if runs is not None else min_s:g}", f"--max_secs={protocol.max_time_ms / 1e3:g}",
             f"--use_xnnpack={'true' if xnnpack else 'false'}"]
    if op_profiling:
        argv += ["--enable_op_profiling=true"]
    return argv


class AdbDevice(Device):
    name = "adb"
    description = "Android phone over ADB (adb-shell or the adb binary), timed by TFLite benchmark_model on the big cores"
    supports_op_profile = True
    defaults = {"target": None, "transport": "auto", "benchmark_model": None, "remote_dir": "/data/local/tmp/lutnas",
                "threads": 1, "cores": "big", "xnnpack": True, "invocations": 3, "max_temp_c": 45.0,
                "cooldown_max_s": 120.0, "reconnect_s": 60.0, "adb": None, "key_path": None}
    _parameter_constraints = {"target": [str, None], "transport": [str], "benchmark_model": [str, None],
                              "remote_dir": [str], "cores": [str], "adb": [str, None], "key_path": [str, None],
                              "threads": [Interval(Integral, 1, 1024)], "xnnpack": [bool],
                              "invocations": [Interval(Integral, 1, 10_000)],
                              "max_temp_c": [Interval(Real, 0, 200)], "cooldown_max_s": [Interval(Real, 0, None)],
                              "reconnect_s": [Interval(Real, 0, None)]}

    def __init__(self, transport_factory: Callable[[], Transport] | None = None,
                 sleep: Callable[[float], None] = time.sleep, **params: Any) -> None:
        super().__init__(**params)
        self._factory = transport_factory
        self._transport: Transport | None = None
        self._fp: dict[str, Any] | None = None
        self._cpu: dict[str, Any] | None = None
        self._binary: str | None = None
        self.sleep = sleep

    @property
    def label(self) -> str:
        return f"adb:{self.params['target']}"

    @classmethod
    def availability(cls) -> tuple[bool, str]:
        import shutil

        if package_version("adb-shell") is None and shutil.which("adb") is None:
            return False, "needs adb-shell (pip install 'lutnas[adb]') or the adb binary; name a phone as adb:SERIAL or adb:HOST:PORT"
        return True, "name a phone as adb:SERIAL or adb:HOST:PORT; needs benchmark_model for its ABI (see README)"

    # -- connection --------------------------------------------------------------------------------
    def _check(self) -> None:
        parse_target(self.params["target"] or "")
        if not isinstance(self.params["threads"], int) or self.params["threads"] < 1:
            raise InputError(f"device option threads must be a positive integer; got {self.params['threads']!r}")
        if not isinstance(self.params["invocations"], int) or self.params["invocations"] < 1:
            raise InputError(f"device option invocations must be a positive integer; got {self.params['invocations']!r}")
        if not posixpath.isabs(self.params["remote_dir"]):
            raise InputError(f"device option remote_dir must be an absolute path on the phone; got {self.params['remote_dir']!r}")

    @property
    def transport(self) -> Transport:
        if self._transport is None:
            self._check()
            if self._factory is not None:
                self._transport = self._factory()
            else:
                self._transport = make_transport(self.params["transport"], self.params["target"], adb=self.params["adb"],
                                                 key_path=self.params["key_path"])
        return self._transport

    def _call(self, what: str, fn: Callable[[Transport], Any]) -> Any:
        """Run ``fn(transport)``; when the phone drops off, wait up to ``reconnect_s`` and retry."""
        try:
            return fn(self.transport)
        except AdbConnectionLost as first:
            deadline = time.monotonic() + float(self.params["reconnect_s"])
            last: Exception = first
            while time.monotonic() < deadline:
                self.sleep(min(2.0, max(0.05, deadline - time.monotonic())))
                try:
                    self.transport.connect()
                    return fn(self.transport)
                except AdbConnectionLost as exc:
                    last = exc
            raise DeviceError(f"{self.label} dropped off during {what} and did not come back within "
                              f"{self.params['reconnect_s']:g} s ({last}); rows already measured are kept — "
                              f"re-run the same command to resume") from None

    def _shell(self, argv: list[str], what: str, timeout_s: float = 600.0, check: bool = True) -> str:
        out, rc = self._call(what, lambda t: t.shell(argv, timeout_s=timeout_s))
        if check and rc != 0:
            tail = " | ".join(out.strip().splitlines()[-3:])
            raise DeviceError(f"{self.label}: {what} failed (exit {rc}): {tail}")
        return out

    def _grep_glob(self, *patterns: str) -> dict[str, str]:
        # globs must expand on the phone: pass them through `sh -c` with a fixed, quoted script
        script = "grep -H . " + " ".join(patterns) + " 2>/dev/null"
        return parse_grep_h(self._shell(["sh", "-c", script], "reading sysfs", 30, check=False))

    def cpu_state(self) -> dict[str, Any]:
        """Max/scaling frequencies, governors and the big-core mask (read once per connection)."""
        if self._cpu is None:
            files = self._grep_glob(CPUFREQ + "cpuinfo_max_freq", CPUFREQ + "scaling_governor")
            top = per_cpu(files, "cpuinfo_max_freq")
            governors = sorted({v for p, v in files.items() if p.endswith("scaling_governor")})
            cores = self.params["cores"]
            if cores == "big":
                chosen = big_cores(top)
            elif cores == "all":
                chosen = []
            elif isinstance(cores, str) and re.fullmatch(r"[0-9,]+", cores):
                chosen = sorted({int(c) for c in cores.split(",") if c})
            else:
                raise InputError(f"device option cores must be big, all or a list like 4,5,6,7; got {cores!r}")
            self._cpu = {"max_freq_khz": top, "big": chosen, "mask": cpu_mask(chosen) if chosen else None,
                         "governor": ",".join(governors) or None}
        return self._cpu

    def fingerprint(self) -> dict[str, Any]:
        if self._fp is None:
            props = parse_getprop(self._shell(["getprop"], "getprop", 30))
            soc = next((props[k] for k in SOC_PROPS if props.get(k)), None)
            cpu = self.cpu_state()
            binary = self.benchmark_binary()
            sha = self._shell(["sha256sum", binary], "hashing benchmark_model", 60, check=False).split()
            fp: dict[str, Any] = {"device": "adb", "runtime": "tflite-benchmark_model", "cpu_model": soc,
                                  **{k: props.get(v) for k, v in PROPS.items()},
                                  "governor": cpu["governor"], "cores_mask": cpu["mask"],
                                  "cpu_max_khz": max(cpu["max_freq_khz"].values()) if cpu["max_freq_khz"] else None,
                                  "threads": self.params["threads"], "xnnpack": bool(self.params["xnnpack"]),
                                  "benchmark_model_sha256": sha[0] if sha and len(sha[0]) == 64 else None,
                                  "litert_torch": package_version("litert-torch"), "lutnas_transport": self.params["transport"]}
            if not fp["serial"]:
                fp["serial"] = self.params["target"]
            self._fp = fp
        return self._fp

    def benchmark_binary(self) -> str:
        """The remote path of benchmark_model: pushed from ``benchmark_model=PATH``, else found on the phone."""
        if self._binary is not None:
            return self._binary
        local = self.params["benchmark_model"]
        remote_dir = self.params["remote_dir"]
        self._shell(["mkdir", "-p", remote_dir], f"creating {remote_dir}", 30)
        if local:
            path = Path(local)
            if not path.is_file():
                raise InputError(f"benchmark_model {local!r} is not a file")
            remote = posixpath.join(remote_dir, "benchmark_model")
            self._push_if_needed(path, remote)
            self._shell(["chmod", "755", remote], "chmod benchmark_model", 30)
            self._binary = remote
            return remote
        for candidate in (posixpath.join(remote_dir, "benchmark_model"), "/data/local/tmp/benchmark_model"):
            mode, size = self._call("stat", lambda t, c=candidate: t.stat(c))
            if size > 0:
                self._binary = candidate
                return candidate
        raise DeviceError(f"{self.label} has no benchmark_model in {remote_dir} or /data/local/tmp; give its local path "
                          f"with --device-option benchmark_model=PATH (TensorFlow's prebuilt android_aarch64_benchmark_model, "
                          f"see README)")

    def _push_if_needed(self, local: Path, remote: str) -> None:
        size = local.stat().st_size
        _, remote_size = self._call("stat", lambda t: t.stat(remote))
        if remote_size != size:
            self._call(f"pushing {local.name}", lambda t: t.push(local, remote))

    # -- artifacts ---------------------------------------------------------------------------------
    def exporter(self) -> tuple[Callable[..., Any], dict[str, Any]]:
        from lutnas.devices.exporters import cached_tflite

        return cached_tflite, {}

    def prepare(self, module: Any, example: Any) -> Artifact:
        from lutnas.devices.exporters import cached_tflite

        self._check()
        if package_version("litert-torch") is None:
            raise DeviceError("exporting blocks for a phone needs litert-torch (pip install 'lutnas[tflite]')")
        self.benchmark_binary()  # reach the phone before spending seconds on an export
        return self._artifact(*cached_tflite(module, example))

    def prepare_file(self, path: str | Path) -> Artifact:
        """A user's own ``.tflite`` (or SavedModel folder); pushed under its content hash, so its
        name never reaches the phone's shell."""
        from lutnas.devices.exporters import tflite_file

        self._check()
        return self._artifact(*tflite_file(path))

    def _artifact(self, path: Path, digest: str) -> Artifact:
        remote = posixpath.join(self.params["remote_dir"], f"{digest[:32]}.tflite")
        self.benchmark_binary()
        self._push_if_needed(path, remote)
        return Artifact(self.label, digest, remote, None, path, {"remote": remote})

    # -- timing --------------------------------------------------------------------------------------
    def thermals(self) -> dict[str, float]:
        return thermal_readings(self._grep_glob(THERMAL + "type", THERMAL + "temp"))

    def _capped_cores(self) -> list[int]:
        """Big cores whose scaling_max_freq is below cpuinfo_max_freq right now (thermal cap)."""
        cpu = self.cpu_state()
        now = per_cpu(self._grep_glob(CPUFREQ + "scaling_max_freq"), "scaling_max_freq")
        return [c for c in (cpu["big"] or list(cpu["max_freq_khz"])) if c in now and now[c] < cpu["max_freq_khz"].get(c, 0)]

    def cool_down(self) -> tuple[dict[str, float], float]:
        """Wait while the hottest zone is above ``max_temp_c`` (at most ``cooldown_max_s``)."""
        limit, waited = float(self.params["max_temp_c"]), 0.0
        temps = self.thermals()
        while temps and max(temps.values()) > limit and waited < float(self.params["cooldown_max_s"]):
            self.sleep(5.0)
            waited += 5.0
            temps = self.thermals()
        return temps, waited

    def _run_benchmark(self, artifact: Artifact, protocol: Protocol, op_profiling: bool = False,
                       runs: int | None = None):
        from lutnas.profiler.parsers.tflite import parse_tflite

        cpu = self.cpu_state()
        argv = benchmark_args(self.benchmark_binary(), artifact.payload, protocol, self.params["threads"],
                              bool(self.params["xnnpack"]), cpu["mask"], op_profiling, runs)
        timeout = 60.0 + 3 * (protocol.max_time_ms + protocol.warmup_ms) / 1e3
        out = self._shell(argv, f"benchmark_model on {Path(artifact.path).name}", timeout)
        return parse_tflite(out, f"{self.label} benchmark_model")

    def time(self, artifact: Artifact, protocol: Protocol) -> tuple[list[float], dict[str, Any]]:
        before, waited = self.cool_down()
        samples, runs, summaries, version = [], [], [], None
        for _ in range(int(self.params["invocations"])):
            parsed = self._run_benchmark(artifact, protocol)
            s = parsed.summary
            value = s.get("median_ms", s.get("mean_ms"))
            if value is None:
                raise DeviceError(f"{self.label}: benchmark_model printed no timing summary")
            samples.append(float(value))
            runs.append(int(s.get("count", protocol.min_runs)))
            summaries.append(s)
            version = parsed.tool_version or version
        after = self.thermals()
        capped = self._capped_cores()
        hot = bool(after) and max(after.values()) > float(self.params["max_temp_c"]) + 10.0
        throttled = (f"cores {capped} capped below their max frequency" if capped else "") or \
                    (f"{max(after.values()):.0f} °C after the run" if hot else "")
        return samples, {"tool": "benchmark_model", "tool_version": version, "runs_per_sample": min(runs),
                         "sample": "per-invocation median (or mean) over its runs", "invocations": summaries,
                         "thermal_before": before, "thermal_after": after, "cooldown_s": waited,
                         "throttled": throttled or None}

    def profile_ops(self, artifact: Artifact, runs: int = 10) -> list[OpRecord]:
        from lutnas.profiler.protocol import get_protocol

        parsed = self._run_benchmark(artifact, get_protocol("quick"), op_profiling=True, runs=runs)
        if not parsed.ops:
            raise DeviceError(f"{self.label}: benchmark_model printed no op profile (is --enable_op_profiling supported?)")
        records = []
        for op in parsed.ops:
            category, classified = categorize_tflite_op(op.type, op.name)
            records.append(dataclasses.replace(op, category=category, classified=classified))
        return records

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
