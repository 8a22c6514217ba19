"""The device interface: export an artifact, time it, collect per-operator records.

Life of a measurement::

    device = get_device("ort-cpu", threads=1)
    artifact = device.prepare(module, example)      # export / compile; cached by content hash
    samples, info = device.time(artifact, protocol)  # per-run ms under the protocol
    ops = device.profile_ops(artifact)               # OpRecords, ms per inference, 7 categories
    m = device.measure(artifact, protocol, key)      # all of it as a Measurement

Subclasses must implement ``fingerprint``, ``prepare`` and ``time`` (a missing one fails at
construction, not with empty results). ``profile_ops`` is optional and advertised by the
``supports_op_profile`` class flag.
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from lutnas.errors import DeviceError, InputError
from lutnas.params import convert_params, validate_params
from lutnas.profiler.measurement import Measurement
from lutnas.profiler.protocol import Protocol
from lutnas.profiler.records import OpRecord
from lutnas.spaces.base import BlockKey

if TYPE_CHECKING:
    import torch


@dataclasses.dataclass
class Artifact:
    """What a device runs: a module, an ONNX session, an engine... plus its content hash."""

    device: str
    digest: str
    payload: Any
    example: Any
    path: Path | None = None
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Reference:
    """The reference of paired timing: a prepared artifact of this device (the drift sentinel's block)
    and its time at the table's host speed (ms). See :func:`lutnas.profiler.protocol.run_protocol`."""

    artifact: Artifact
    baseline_ms: float


class Device(abc.ABC):
    """A named runner. Constructor arguments are stored, validated on first use (scikit-learn)."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    supports_op_profile: ClassVar[bool] = False
    #: runs target and reference in one process, so a measurement can be paired with a reference
    #: (:meth:`measure`'s ``reference``); a phone's ``benchmark_model`` or an engine file cannot
    supports_paired: ClassVar[bool] = False
    #: parameter names the constructor accepts, with defaults (recorded in every table)
    defaults: ClassVar[dict[str, Any]] = {}

    #: declared types and ranges of options (:mod:`lutnas.params`), checked at construction
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {}

    def __init__(self, **params: Any) -> None:
        unknown = set(params) - set(self.defaults)
        if unknown:
            allowed = ", ".join(sorted(self.defaults)) or "none"
            raise InputError(f"device {self.name!r} has no option(s) {', '.join(sorted(unknown))}; options: {allowed}")
        params = convert_params(self._parameter_constraints, params)
        validate_params(type(self).__name__, self._parameter_constraints, params)
        self.params: dict[str, Any] = {**self.defaults, **params}

    def exporter(self) -> tuple[Callable[..., Any], dict[str, Any]] | None:
        """``(fn, kwargs)``: a picklable function that exports ``(module, example)`` into the
        artifact cache, for devices whose preparation is a slow host-side export (TFLite: ~4 s per
        block). ``lut build --export-jobs N`` runs it in N processes before anything is timed.
        None (the default): preparing is cheap or happens on the device."""
        return None

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({opts})"

    @property
    def label(self) -> str:
        """The device name as written on the command line (``adb:SERIAL`` keeps its serial)."""
        return self.name

    # -- capability ------------------------------------------------------------------------------
    @classmethod
    def availability(cls) -> tuple[bool, str]:
        """``(usable here, why not)``; cheap, never raises."""
        return True, ""

    # -- the interface -----------------------------------------------------------------------------
    @abc.abstractmethod
    def fingerprint(self) -> dict[str, Any]:
        """What identifies this device and its software: a flat JSON-able dict."""

    @abc.abstractmethod
    def prepare(self, module: torch.nn.Module, example: torch.Tensor) -> Artifact:
        """Export or wrap ``module`` for this device; cached by content hash."""

    @abc.abstractmethod
    def time(self, artifact: Artifact, protocol: Protocol,
             reference: Reference | None = None) -> tuple[list[float], dict[str, Any]]:
        """Per-run times in ms under ``protocol`` and information on how they were taken; with a
        ``reference`` (devices that :attr:`supports_paired`), paired timing at its baseline speed."""

    def profile_ops(self, artifact: Artifact, runs: int = 10) -> list[OpRecord]:
        """Per-operator records (ms per inference). Devices without a profiler raise."""
        raise DeviceError(f"device {self.name!r} has no per-operator profiler")

    # -- concrete ------------------------------------------------------------------------------------
    def measure(self, artifact: Artifact, protocol: Protocol, key: BlockKey | str | None = None,
                reference: Reference | None = None) -> Measurement:
        """Time ``artifact`` under ``protocol`` and wrap the samples with their provenance.

        ``reference``: paired timing against the sentinel (samples at its baseline host speed,
        ``metadata["timing"]["paired"]``); ignored by devices that do not :attr:`supports_paired`."""
        if reference is not None and self.supports_paired:
            samples, info = self.time(artifact, protocol, reference=reference)
        else:
            samples, info = self.time(artifact, protocol)
        return Measurement(key if key is not None else artifact.digest[:12], tuple(samples), protocol,
                           self.fingerprint(), {"timing": info, "device_params": dict(self.params)})

    def close(self) -> None:
        """Release sessions or connections (default: nothing)."""

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def module_digest(module: torch.nn.Module, example: torch.Tensor, *extra: Any) -> str:
    """Content hash of a module: its structure, parameter/buffer bytes, the input shape and extras."""
    h = hashlib.sha256()
    h.update(repr(module).encode())
    for name, tensor in list(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    h.update(str(tuple(example.shape)).encode())
    h.update(str(example.dtype).encode())
    for item in extra:
        h.update(repr(item).encode())
    return h.hexdigest()


def cache_dir(kind: str) -> Path:
    """``$LUTNAS_CACHE/<kind>`` (default ``~/.cache/lutnas/<kind>``), created on demand."""
    root = Path(os.environ.get("LUTNAS_CACHE", Path.home() / ".cache" / "lutnas"))
    path = root / kind
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cache folder {str(path)!r} cannot be created ({exc.strerror or exc}); point LUTNAS_CACHE "
                         f"at a writable folder") from None
    return path
