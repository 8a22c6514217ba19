"""ADB transports: the ``adb-shell`` library (TCP or USB) or the ``adb`` host binary.

Both offer the same four calls — ``shell(argv)``, ``push(local, remote)``, ``stat(remote)``,
``close()`` — and raise :class:`AdbConnectionLost` when the phone drops off, so the device layer
can wait, reconnect and retry. Every argument that reaches the phone's shell is quoted with
:func:`shlex.quote` here, in one place (:func:`shell_line`); no local command runs through a shell.

The exit status of a remote command is read from a trailer (``; echo lutnas-rc=$?``): the ADB
v1 shell service, which both the library and old phones speak, carries output only.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Sequence

from lutnas.errors import DeviceError, InputError

RC_MARK = "lutnas-rc="
_RC = re.compile(re.escape(RC_MARK) + r"(\d+)\s*$")


class AdbConnectionLost(DeviceError):
    """The phone went away (unplugged, Wi-Fi lost, adbd restarted)."""


def shell_line(argv: Sequence[str]) -> str:
    """One remote command line from an argv list: each word quoted, exit status appended."""
    if not argv:
        raise InputError("empty remote command")
    return " ".join(shlex.quote(str(a)) for a in argv) + f"; echo {RC_MARK}$?"


def split_rc(output: str) -> tuple[str, int]:
    """``(output without the trailer, exit status)``; a missing trailer means the stream was cut."""
    m = _RC.search(output)
    if not m:
        raise AdbConnectionLost("the remote command ended without its exit status (connection cut mid-command)")
    return output[: m.start()], int(m.group(1))


def parse_target(target: str) -> tuple[str | None, int | None, str | None]:
    """``HOST:PORT`` -> (host, port, None); a USB serial -> (None, None, serial)."""
    if not target:
        raise InputError("an adb device needs a target: adb:SERIAL or adb:HOST:PORT")
    host, sep, port = target.rpartition(":")
    if sep and port.isdigit() and host:
        return host, int(port), None
    return None, None, target


def default_key_path() -> Path:
    """``~/.android/adbkey`` (``$ANDROID_USER_HOME`` or ``$ANDROID_SDK_HOME`` when set, like adb)."""
    root = os.environ.get("ANDROID_USER_HOME") or (Path(os.environ["ANDROID_SDK_HOME"]) / ".android"
                                                   if os.environ.get("ANDROID_SDK_HOME") else Path.home() / ".android")
    return Path(root) / "adbkey"


class Transport:
    """Interface; see the module docstring."""

    def connect(self) -> None:
        raise NotImplementedError

    def shell(self, argv: Sequence[str], timeout_s: float = 600.0) -> tuple[str, int]:
        raise NotImplementedError

    def push(self, local: Path, remote: str, timeout_s: float = 600.0) -> None:
        raise NotImplementedError

    def stat(self, remote: str) -> tuple[int, int]:
        """``(mode, size)``; ``(0, 0)`` when the path does not exist."""
        raise NotImplementedError

    def close(self) -> None:
        pass


def _eof_tcp_transport(host: str, port: int, timeout_s: float):
    """adb-shell's TCP transport, but a closed socket raises at once: the stock one returns b""
    forever and the caller only notices at its read timeout (minutes for a long benchmark)."""
    from adb_shell.transport.tcp_transport import TcpTransport

    class EofTcpTransport(TcpTransport):
        def bulk_read(self, numbytes, transport_timeout_s):
            data = super().bulk_read(numbytes, transport_timeout_s)
            if numbytes and not data:
                raise ConnectionResetError(f"{host}:{port} closed the connection")
            return data

    return EofTcpTransport(host, port)


class AdbShellTransport(Transport):
    """Pure-Python ADB (``adb-shell``): ``AdbDeviceTcp`` for HOST:PORT, ``AdbDeviceUsb`` for a serial.

    The RSA key is ``~/.android/adbkey`` (the same key the ``adb`` binary uses), created when missing;
    the first connection to a phone asks its user to allow this key.
    """

    def __init__(self, target: str, key_path: Path | None = None, timeout_s: float = 10.0,
                 auth_timeout_s: float = 30.0) -> None:
        self.target = target
        self.key_path = Path(key_path) if key_path else default_key_path()
        self.timeout_s = timeout_s
        self.auth_timeout_s = auth_timeout_s
        self._dev = None

    def _signer(self):
        from adb_shell.auth.keygen import keygen
        from adb_shell.auth.sign_pythonrsa import PythonRSASigner

        if not self.key_path.exists():
            self.key_path.parent.mkdir(parents=True, exist_ok=True)
            keygen(str(self.key_path))
        pub = Path(str(self.key_path) + ".pub")
        return PythonRSASigner(pub.read_text() if pub.exists() else "", self.key_path.read_text())

    def connect(self) -> None:
        try:
            from adb_shell.adb_device import AdbDevice
        except ImportError:
            raise DeviceError("adb-shell is not installed (pip install 'lutnas[adb]')") from None
        host, port, serial = parse_target(self.target)
        if serial is not None:
            try:
                from adb_shell.adb_device import AdbDeviceUsb
            except ImportError:
                raise DeviceError("USB needs adb-shell[usb] and the system's libusb-1.0 (pip install 'lutnas[adb-usb]'), "
                                  "or the adb binary (transport=adb)") from None
            dev = AdbDeviceUsb(serial=serial, default_transport_timeout_s=self.timeout_s)
        else:
            dev = AdbDevice(_eof_tcp_transport(host, port, self.timeout_s), default_transport_timeout_s=self.timeout_s)
        try:
            dev.connect(rsa_keys=[self._signer()], auth_timeout_s=self.auth_timeout_s)
        except Exception as exc:
            raise AdbConnectionLost(f"cannot connect to adb:{self.target}: {exc}") from exc
        self._dev = dev

    def _device(self):
        if self._dev is None or not self._dev.available:
            self.connect()
        return self._dev

    def _guarded(self, what: str, call: Callable[[Any], Any]) -> Any:
        """``call(device)``; any failure drops the connection and becomes :class:`AdbConnectionLost`."""
        dev = self._device()
        try:
            return call(dev)
        except Exception as exc:
            self._drop()
            raise AdbConnectionLost(f"adb:{self.target} dropped {what}: {exc}") from exc

    def shell(self, argv: Sequence[str], timeout_s: float = 600.0) -> tuple[str, int]:
        out = self._guarded(f"during `{argv[0]}`",
                            lambda dev: dev.shell(shell_line(argv), timeout_s=timeout_s, read_timeout_s=timeout_s))
        return split_rc(out)

    def push(self, local: Path, remote: str, timeout_s: float = 600.0) -> None:
        self._guarded(f"while pushing {Path(local).name}",
                      lambda dev: dev.push(str(local), remote, st_mode=0o100755, read_timeout_s=timeout_s))

    def stat(self, remote: str) -> tuple[int, int]:
        mode, size, _ = self._guarded("during stat", lambda dev: dev.stat(remote))
        return int(mode), int(size)

    def _drop(self) -> None:
        if self._dev is not None:
            try:
                self._dev.close()
            except Exception:
                pass
        self._dev = None

    def close(self) -> None:
        self._drop()


class AdbBinaryTransport(Transport):
    """The ``adb`` host client (Debian package ``adb``, or the platform-tools one): ``adb -s TARGET ...``.

    ``HOST:PORT`` targets are ``adb connect``-ed first. Arguments go as an argv list, never
    through a local shell.
    """

    def __init__(self, target: str, adb: str | None = None, timeout_s: float = 10.0, auth_timeout_s: float = 30.0) -> None:
        self.target = target
        self.auth_timeout_s = auth_timeout_s
        self.adb = adb or shutil.which("adb")
        if self.adb is None:
            raise DeviceError("the adb binary is not on PATH (apt install adb, or use transport=adb-shell)")
        self.timeout_s = timeout_s
        self._connected = False

    def _run(self, args: Sequence[str], timeout_s: float) -> subprocess.CompletedProcess:
        try:
            return subprocess.run([self.adb, *args], capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise AdbConnectionLost(f"adb {args[0]} timed out after {timeout_s:.0f} s") from exc

    def connect(self) -> None:
        host, port, _ = parse_target(self.target)
        if host is not None:
            res = self._run(["connect", self.target], self.timeout_s)
            text = (res.stdout + res.stderr).strip()
            # "failed to authenticate" is the first contact: the phone asks its user to allow this key
            if res.returncode != 0 or not re.search(r"connected to|already connected|failed to authenticate", text):
                raise AdbConnectionLost(f"adb connect {self.target}: {text or 'failed'}")
        res = self._run(["-s", self.target, "wait-for-device"], self.auth_timeout_s)
        if res.returncode != 0:
            raise AdbConnectionLost(f"adb:{self.target} is not online (unplugged, or USB debugging not allowed for "
                                    f"this computer on the phone): {(res.stdout + res.stderr).strip()}")
        self._connected = True

    def _ensure(self) -> None:
        if not self._connected:
            self.connect()

    def _lost(self, res: subprocess.CompletedProcess, what: str) -> AdbConnectionLost:
        self._connected = False
        return AdbConnectionLost(f"adb:{self.target} {what}: {(res.stdout + res.stderr).strip()[-300:]}")

    def shell(self, argv: Sequence[str], timeout_s: float = 600.0) -> tuple[str, int]:
        self._ensure()
        res = self._run(["-s", self.target, "shell", shell_line(argv)], timeout_s)
        if res.returncode != 0 and RC_MARK not in res.stdout:
            raise self._lost(res, f"dropped during `{argv[0]}`")
        return split_rc(res.stdout)

    def push(self, local: Path, remote: str, timeout_s: float = 600.0) -> None:
        self._ensure()
        res = self._run(["-s", self.target, "push", str(local), remote], timeout_s)
        if res.returncode != 0:
            raise self._lost(res, f"failed to push {Path(local).name}")

    def stat(self, remote: str) -> tuple[int, int]:
        out, rc = self.shell(["stat", "-c", "%f %s", remote], timeout_s=self.timeout_s)
        if rc != 0:
            return 0, 0
        mode_hex, size = out.split()[:2]
        return int(mode_hex, 16), int(size)


def make_transport(kind: str, target: str, **kwargs) -> Transport:
    """``adb-shell`` (default when installed), ``adb`` (the binary), or ``auto``."""
    if kind == "auto":
        try:
            import adb_shell  # noqa: F401
            kind = "adb-shell"
        except ImportError:
            kind = "adb"
    if kind == "adb-shell":
        return AdbShellTransport(target, **{k: v for k, v in kwargs.items() if k in ("key_path", "timeout_s")})
    if kind == "adb":
        return AdbBinaryTransport(target, **{k: v for k, v in kwargs.items() if k in ("adb", "timeout_s")})
    raise InputError(f"adb transport must be auto, adb-shell or adb; got {kind!r}")
