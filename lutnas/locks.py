"""One writer per file: a lock held for a whole writing command (``lut build``, ``lut calibrate``,
``search --out``), so two processes never rewrite the same table or history.

The lock is ``FILE.lock`` (:mod:`filelock`, an OS-level lock released when the process dies,
even on ``kill -9``); the holder's pid is kept beside it in ``FILE.lock.pid`` for the message.
A second writer waits ``LUTNAS_LOCK_TIMEOUT`` seconds (default 2) and is then refused in one
line naming the file and the pid holding it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from lutnas.errors import InputError


def _timeout() -> float:
    try:
        return max(0.0, float(os.environ.get("LUTNAS_LOCK_TIMEOUT", "2")))
    except ValueError:
        return 2.0


@contextlib.contextmanager
def writer_lock(path: str | Path, option: str = "--out") -> Iterator[None]:
    """Hold the write lock of ``path`` for the block; refuse with one line when another process has it.

    Re-entrant within one process (a build that also saves its calibration takes it once).
    """
    from filelock import FileLock, Timeout

    path = Path(path)
    if path.parent and not path.parent.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{option} {str(path)!r}: cannot create its folder ({exc.strerror or exc})") from None
    lock_path = path.with_name(path.name + ".lock")
    pid_path = path.with_name(path.name + ".lock.pid")
    lock = _LOCKS.setdefault(str(lock_path.resolve()), FileLock(str(lock_path)))
    try:
        lock.acquire(timeout=_timeout())
    except Timeout:
        pid = _read_pid(pid_path)
        raise InputError(f"{str(path)!r} is being written by another lutnas process{f' (pid {pid})' if pid else ''}; "
                         f"wait for it or use another {option}") from None
    except OSError as exc:
        raise InputError(f"{option} {str(path)!r}: cannot lock it for writing ({exc.strerror or exc})") from None
    try:
        if lock.lock_counter == 1:
            with contextlib.suppress(OSError):
                pid_path.write_text(str(os.getpid()))
        yield
    finally:
        if lock.lock_counter == 1:
            with contextlib.suppress(OSError):
                pid_path.unlink()
        lock.release()


def _read_pid(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


_LOCKS: dict[str, object] = {}

__all__ = ["writer_lock"]
