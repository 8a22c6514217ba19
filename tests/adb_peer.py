"""A loopback ADB peer: the device side of the ADB wire protocol, for tests without a phone.

Speaks what adbd speaks to a client over TCP (the ``adb connect HOST:PORT`` transport):

- messages: 24-byte header ``<6I`` (command, arg0, arg1, length, byte-sum checksum, command ^ 0xffffffff)
  plus payload; CNXN, AUTH (TOKEN -> SIGNATURE rejected until the client sends RSAPUBLICKEY, which
  is then remembered, as a phone remembers "always allow"), OPEN/OKAY/WRTE/CLSE streams with
  one-WRTE-in-flight flow control;
- ``shell:CMD`` (v1: output, then close) interpreted by a tiny POSIX-ish shell: words split with
  :mod:`shlex` (``;``, ``&&``, ``||``, ``|`` are separators only when unquoted, as in ``sh``), globs
  expanded over a fake filesystem, ``$?``, ``sh -c``, redirections dropped;
- ``sync:``: STAT, SEND (DATA chunks, DONE), RECV, LIST, QUIT; pushed files kept in memory.

Commands it answers: getprop, grep -H, cat, mkdir, chmod, stat -c, sha256sum, echo, touch, rm,
taskset, sh -c and ``benchmark_model``, which answers with a real log from ../shared/tool_outputs
(a timing log, or an op-profiling log with --enable_op_profiling=true). It does not verify RSA
signatures; it only checks that the key exchange happens.
"""

from __future__ import annotations

import fnmatch
import hashlib
import shlex
import socket
import socketserver
import struct
import threading
from pathlib import Path
from typing import Callable

CNXN, AUTH, OPEN, OKAY, CLSE, WRTE = (struct.unpack("<I", s)[0] for s in (b"CNXN", b"AUTH", b"OPEN", b"OKAY", b"CLSE", b"WRTE"))
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
MAXDATA = 256 * 1024

PIXEL3_PROPS = {
    "ro.product.model": "Pixel 3", "ro.product.manufacturer": "Google", "ro.board.platform": "sdm845",
    "ro.hardware": "blueline", "ro.build.version.release": "12", "ro.build.version.sdk": "31",
    "ro.product.cpu.abi": "arm64-v8a", "ro.serialno": "8ABX0PEER",
    "ro.build.fingerprint": "google/blueline/blueline:12/SP1A.210812.016.C1/7907744:user/release-keys",
}


def pixel3_sysfs() -> dict[str, bytes]:
    """Pixel 3 (SDM845): 4 little cores at 1.77 GHz, 4 big at 2.80 GHz; four thermal zones."""
    fs: dict[str, bytes] = {}
    for cpu in range(8):
        top = 2803200 if cpu >= 4 else 1766400
        base = f"/sys/devices/system/cpu/cpu{cpu}/cpufreq/"
        fs[base + "cpuinfo_max_freq"] = f"{top}\n".encode()
        fs[base + "scaling_max_freq"] = f"{top}\n".encode()
        fs[base + "scaling_governor"] = b"schedutil\n"
    for i, (name, temp) in enumerate([("cpu0-silver-usr", 38000), ("cpu4-gold-usr", 41000), ("battery", 31000),
                                      ("pm8998_tz", -273000)]):
        fs[f"/sys/class/thermal/thermal_zone{i}/type"] = f"{name}\n".encode()
        fs[f"/sys/class/thermal/thermal_zone{i}/temp"] = f"{temp}\n".encode()
    return fs


def _msg(cmd: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    return struct.pack("<6I", cmd, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, cmd ^ 0xFFFFFFFF) + data


class PeerState:
    """What the fake phone holds; shared by all connections and kept across a peer restart."""

    def __init__(self, timing_logs: list[str], profile_log: str) -> None:
        self.fs: dict[str, bytes] = pixel3_sysfs()
        self.dirs: set[str] = {"/", "/data", "/data/local", "/data/local/tmp"}
        self.props = dict(PIXEL3_PROPS)
        self.timing_logs = timing_logs
        self.profile_log = profile_log
        self.commands: list[str] = []          # every shell line received
        self.benchmarks: list[list[str]] = []  # argv of every benchmark_model run
        self.known_keys: list[bytes] = []
        self.pushes: list[str] = []
        #: hook called with the argv of each benchmark run before answering; may raise ConnectionAbortedError
        self.on_benchmark: Callable[[list[str]], None] | None = None
        self.lock = threading.Lock()

    # -- the shell ---------------------------------------------------------------------------------
    def run_line(self, line: str) -> tuple[str, int]:
        with self.lock:
            self.commands.append(line)
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        tokens = list(lex)
        out, rc, cmd, op = [], 0, [], ";"
        for tok in tokens + [";"]:
            if tok in (";", "&&", "||", "|", "&"):
                if cmd and (op == ";" or (op == "&&" and rc == 0) or (op == "||" and rc != 0) or op in ("|", "&")):
                    text, rc = self.run_argv(self._expand(cmd, rc))
                    out.append(text)
                cmd, op = [], tok
            else:
                cmd.append(tok)
        return "".join(out), rc

    def _expand(self, argv: list[str], rc: int) -> list[str]:
        words: list[str] = []
        skip = False
        for i, w in enumerate(argv):
            if skip:
                skip = False
                continue
            if w in (">", ">>", "<") or (w.isdigit() and i + 1 < len(argv) and argv[i + 1] in (">", ">>")):
                skip = w in (">", ">>", "<")
                continue
            w = w.replace("$?", str(rc))
            if any(c in w for c in "*?[") and w.startswith("/"):
                hits = sorted(p for p in self.fs if fnmatch.fnmatchcase(p, w))
                words.extend(hits or [w])
            else:
                words.append(w)
        return words

    def run_argv(self, argv: list[str]) -> tuple[str, int]:
        if not argv:
            return "", 0
        name, args = argv[0], argv[1:]
        if name == "sh" and args[:1] == ["-c"]:
            return self.run_line(args[1] if len(args) > 1 else "")
        if name == "taskset":
            return self.run_argv(args[1:])
        if name.endswith("benchmark_model"):
            return self.benchmark(name, args)
        handler = getattr(self, "cmd_" + name.replace("-", "_"), None)
        if handler is None:
            return f"/system/bin/sh: {name}: inaccessible or not found\n", 127
        return handler(args)

    def cmd_getprop(self, args: list[str]) -> tuple[str, int]:
        if args:
            return self.props.get(args[0], "") + "\n", 0
        return "".join(f"[{k}]: [{v}]\n" for k, v in sorted(self.props.items())), 0

    def cmd_grep(self, args: list[str]) -> tuple[str, int]:
        files = [a for a in args if not a.startswith("-")][1:]  # pattern "." then files
        out = []
        for f in files:
            if f in self.fs:
                for line in self.fs[f].decode(errors="replace").splitlines():
                    if line:
                        out.append(f"{f}:{line}\n")
        return "".join(out), 0 if out else 1

    def cmd_cat(self, args: list[str]) -> tuple[str, int]:
        missing = [a for a in args if a not in self.fs]
        if missing:
            return f"cat: {missing[0]}: No such file or directory\n", 1
        return "".join(self.fs[a].decode(errors="replace") for a in args), 0

    def cmd_echo(self, args: list[str]) -> tuple[str, int]:
        return " ".join(args) + "\n", 0

    def cmd_mkdir(self, args: list[str]) -> tuple[str, int]:
        for a in args:
            if not a.startswith("-"):
                parts = a.rstrip("/").split("/")
                for i in range(2, len(parts) + 1):
                    self.dirs.add("/".join(parts[:i]))
        return "", 0

    def cmd_chmod(self, args: list[str]) -> tuple[str, int]:
        return ("", 0) if args[-1] in self.fs else (f"chmod: {args[-1]}: No such file or directory\n", 1)

    def cmd_touch(self, args: list[str]) -> tuple[str, int]:
        for a in args:
            self.fs.setdefault(a, b"")
        return "", 0

    def cmd_rm(self, args: list[str]) -> tuple[str, int]:
        for a in args:
            self.fs.pop(a, None)
        return "", 0

    def cmd_stat(self, args: list[str]) -> tuple[str, int]:
        path = args[-1]
        if path not in self.fs:
            return f"stat: '{path}': No such file or directory\n", 1
        return f"81ed {len(self.fs[path])}\n", 0

    def cmd_sha256sum(self, args: list[str]) -> tuple[str, int]:
        out = [f"{hashlib.sha256(self.fs[a]).hexdigest()}  {a}\n" for a in args if a in self.fs]
        return "".join(out), 0 if len(out) == len(args) else 1

    def benchmark(self, binary: str, args: list[str]) -> tuple[str, int]:
        if binary not in self.fs:
            return f"/system/bin/sh: {binary}: inaccessible or not found\n", 127
        flags = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
        graph = flags.get("graph", "")
        with self.lock:
            self.benchmarks.append([binary, *args])
            n = len(self.benchmarks)
        if self.on_benchmark is not None:
            self.on_benchmark([binary, *args])
        if graph not in self.fs:
            return (f"STARTING!\nGraph: [{graph}]\nCould not open '{graph}'.\nFailed to mmap model {graph}\n"
                    "Benchmarking failed.\n"), 1
        if flags.get("enable_op_profiling") == "true":
            return self.profile_log, 0
        return self.timing_logs[(n - 1) % len(self.timing_logs)], 0

    # -- sync --------------------------------------------------------------------------------------
    def stat(self, path: str) -> tuple[int, int]:
        if path in self.fs:
            return 0o100755, len(self.fs[path])
        if path.rstrip("/") in self.dirs or path == "/":
            return 0o040755, 4096
        return 0, 0


class _Stream:
    def __init__(self, local: int, remote: int, service: str) -> None:
        self.local, self.remote, self.service = local, remote, service
        self.outbox: list[bytes] = []
        self.waiting = False
        self.close_after = False
        self.buf = bytearray()
        self.send_path: str | None = None
        self.send_data = bytearray()


class _Handler(socketserver.BaseRequestHandler):
    server: "_Server"

    def setup(self) -> None:
        self.state = self.server.state
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.authed = False
        self.server.connections.append(self.request)

    def _recv(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                raise ConnectionResetError
            data += chunk
        return data

    def handle(self) -> None:
        try:
            while True:
                cmd, arg0, arg1, length, _, _ = struct.unpack("<6I", self._recv(24))
                data = self._recv(length) if length else b""
                self.dispatch(cmd, arg0, arg1, data)
        except (ConnectionError, OSError, struct.error):
            pass

    def send(self, cmd: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        self.request.sendall(_msg(cmd, arg0, arg1, data))

    def connected(self) -> None:
        self.authed = True
        banner = b"device::ro.product.name=blueline;ro.product.model=Pixel 3;ro.product.device=blueline;\x00"
        self.send(CNXN, 0x01000000, MAXDATA, banner)

    def dispatch(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        if cmd == CNXN:
            self.send(AUTH, AUTH_TOKEN, 0, b"lutnas-peer-token-20"[:20])
        elif cmd == AUTH:
            if arg0 == AUTH_SIGNATURE:
                if self.state.known_keys:  # a phone that already allowed a key accepts its signature
                    self.connected()
                else:
                    self.send(AUTH, AUTH_TOKEN, 0, b"lutnas-peer-token-21"[:20])
            elif arg0 == AUTH_RSAPUBLICKEY:
                self.state.known_keys.append(data)
                self.connected()
        elif not self.authed:
            self.request.close()
        elif cmd == OPEN:
            service = data.rstrip(b"\x00").decode(errors="replace")
            sid = self.next_id
            self.next_id += 1
            stream = _Stream(sid, arg0, service)
            self.streams[sid] = stream
            self.send(OKAY, sid, arg0)
            if service.startswith("shell:"):
                try:
                    text, _ = self.state.run_line(service[len("shell:"):])
                except ConnectionAbortedError:
                    self.request.shutdown(socket.SHUT_RDWR)
                    raise ConnectionResetError from None
                self.queue(stream, text.encode(), close=True)
            elif not service.startswith("sync:"):
                self.queue(stream, b"", close=True)
        elif cmd == OKAY:
            stream = self.streams.get(arg1)
            if stream is not None:
                stream.waiting = False
                self.pump(stream)
        elif cmd == WRTE:
            stream = self.streams.get(arg1)
            if stream is None:
                return
            self.send(OKAY, stream.local, stream.remote)
            stream.buf += data
            self.sync(stream)
        elif cmd == CLSE:
            stream = self.streams.pop(arg1, None)
            if stream is not None:
                self.send(CLSE, stream.local, stream.remote)

    def queue(self, stream: _Stream, payload: bytes, close: bool = False) -> None:
        for i in range(0, len(payload), MAXDATA):
            stream.outbox.append(payload[i:i + MAXDATA])
        stream.close_after = stream.close_after or close
        self.pump(stream)

    def pump(self, stream: _Stream) -> None:
        if stream.waiting:
            return
        if stream.outbox:
            stream.waiting = True
            self.send(WRTE, stream.local, stream.remote, stream.outbox.pop(0))
        elif stream.close_after and stream.local in self.streams:
            self.streams.pop(stream.local)
            self.send(CLSE, stream.local, stream.remote)

    def sync(self, stream: _Stream) -> None:
        while len(stream.buf) >= 8:
            sid, n = bytes(stream.buf[:4]), struct.unpack("<I", stream.buf[4:8])[0]
            if sid == b"DONE" and stream.send_path is not None:  # DONE carries an mtime, not a length
                del stream.buf[:8]
                with self.state.lock:
                    self.state.fs[stream.send_path] = bytes(stream.send_data)
                    self.state.pushes.append(stream.send_path)
                stream.send_path, stream.send_data = None, bytearray()
                self.queue(stream, b"OKAY" + struct.pack("<I", 0))
                continue
            if sid == b"QUIT":
                stream.buf.clear()
                self.queue(stream, b"", close=True)
                return
            if len(stream.buf) < 8 + n:
                return
            body = bytes(stream.buf[8:8 + n])
            del stream.buf[:8 + n]
            sid = bytes(sid)
            if sid == b"STAT":
                mode, size = self.state.stat(body.decode(errors="replace"))
                self.queue(stream, b"STAT" + struct.pack("<3I", mode, size, 0))
            elif sid == b"SEND":
                path, _, _mode = body.decode(errors="replace").rpartition(",")
                stream.send_path, stream.send_data = path, b""
            elif sid == b"DATA":
                stream.send_data += body
            elif sid == b"RECV":
                content = self.state.fs.get(body.decode(errors="replace"))
                if content is None:
                    msg = b"No such file or directory"
                    self.queue(stream, b"FAIL" + struct.pack("<I", len(msg)) + msg)
                else:
                    chunks = [content[i:i + 64 * 1024] for i in range(0, len(content), 64 * 1024)]
                    self.queue(stream, b"".join(b"DATA" + struct.pack("<I", len(c)) + c for c in chunks)
                               + b"DONE" + struct.pack("<I", 0))
            elif sid == b"LIST":
                self.queue(stream, b"DONE" + struct.pack("<4I", 0, 0, 0, 0))
            else:
                msg = f"unknown sync request {sid!r}".encode()
                self.queue(stream, b"FAIL" + struct.pack("<I", len(msg)) + msg)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, addr: tuple[str, int], state: PeerState) -> None:
        self.state = state
        self.connections: list[socket.socket] = []
        super().__init__(addr, _Handler)


class AdbPeer:
    """Start with ``AdbPeer(state).start()``; ``port``; ``drop()`` cuts live connections;
    ``stop()`` stops listening (a new peer on the same port and state is the phone coming back)."""

    def __init__(self, state: PeerState, port: int = 0) -> None:
        self.state = state
        self.server = _Server(("127.0.0.1", port), state)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "AdbPeer":
        self.thread.start()
        return self

    def drop(self) -> None:
        for conn in list(self.server.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server.connections.clear()

    def stop(self) -> None:
        self.drop()
        self.server.shutdown()
        self.server.server_close()


def load_logs(tool_outputs: Path) -> tuple[list[str], str]:
    """(timing logs, op-profiling log) from the shared real benchmark_model outputs."""
    timing = [(tool_outputs / n).read_text() for n in ("tflite_benchmark_5_summary_only_cpu.txt", "tflite_benchmark_1.txt")]
    profile = (tool_outputs / "tflite_benchmark_4_tf_readme_documented_example.txt").read_text()
    return timing, profile
