"""Two writers on one file, as real processes: a second writer waits or is refused in one line, and
no row or history entry written by one process is ever dropped by another."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from lutnas.locks import writer_lock
from lutnas.spaces import get_space

ROOT = Path(__file__).resolve().parents[1]
A = ["--values", "d=2", "--values", "h=2", "--values", "e=32", "--values", "r=2", "--values", "I=64", "--values", "p=16"]
B = ["--values", "d=2", "--values", "h=2", "--values", "e=64", "--values", "r=2", "--values", "I=64", "--values", "p=16"]


def lutnas(*args, timeout_s="300", **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LUTNAS_LOCK_TIMEOUT": timeout_s}
    return subprocess.Popen([sys.executable, "-m", "lutnas.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def build(out, values, **kw):
    return lutnas("lut", "build", "--device", "torch-cpu", "--space", "vit-mini", *values, "--protocol", "quick",
                  "--no-ops", "--no-recheck", "--out", str(out), "--json", **kw)


def keys_of(values):
    narrowed = {v.split("=")[0]: [int(v.split("=")[1])] for v in values[1::2]}
    return {k.canonical() for k in get_space("vit-mini", narrowed).unique_blocks()}


@pytest.mark.slow
def test_two_builds_on_one_table_lose_nothing(tmp_path):
    out = tmp_path / "t.parquet"
    first, second = build(out, A), build(out, B)  # the second waits for the first (LUTNAS_LOCK_TIMEOUT=300)
    for p in (first, second):
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    df = pd.read_parquet(out)
    assert set(df["key"]) == keys_of(A) | keys_of(B) and not df.duplicated(["key", "batch"]).any()
    again = build(out, A)  # an identical build measures nothing twice
    stdout, _ = again.communicate(timeout=600)
    assert again.returncode == 0 and '"measured": 0' in stdout


def test_a_second_writer_is_refused_in_one_line(tmp_path):
    out = tmp_path / "t.parquet"
    done = build(out, A)
    assert done.wait(timeout=600) == 0
    rows = len(pd.read_parquet(out))
    with writer_lock(out):  # this process holds the table, as a running build would
        for p in (build(out, B, timeout_s="0.2"), lutnas("lut", "calibrate", str(out), "--sample", "1",
                                                          "--protocol", "quick", timeout_s="0.2")):
            _, err = p.communicate(timeout=600)
            assert p.returncode == 2 and "Traceback" not in err, err
            assert f"is being written by another lutnas process (pid {os.getpid()})" in err
    assert len(pd.read_parquet(out)) == rows


def test_two_searches_on_one_history_lose_nothing(tmp_path):
    hist = tmp_path / "h.parquet"
    args = ["search", "--gflops", "100", "--space", "vit-mini", "--algorithm", "random", "--budget", "30", "--batch",
            "1", "--out", str(hist), "--json"]
    procs = [lutnas(*args, "--seed", str(seed)) for seed in (1, 2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    h = pd.read_parquet(hist)
    assert not h.duplicated("spec").any() and len(h) > 30  # both runs' specs (the second resumed the first's)
    with writer_lock(hist):
        p = lutnas(*args, timeout_s="0.2")
        _, err = p.communicate(timeout=600)
        assert p.returncode == 2 and "is being written by another lutnas process" in err
    assert len(pd.read_parquet(hist)) == len(h)


@pytest.mark.slow
def test_ctrl_c_exits_130(tmp_path):
    history = tmp_path / "h.parquet"
    # small models (2 GFLOPs) keep each proxy evaluation short, so the interrupt is seen promptly;
    # a child inherits an *ignored* SIGINT (a non-interactive shell starts background jobs so): give it the default,
    # as a shell gives a foreground command
    p = lutnas("search", "--gflops", "2", "--objective", "asvit", "--algorithm", "random", "--budget", "500",
               "--batch", "1", "--out", str(history), preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 90  # interrupt the search itself, not the interpreter's start-up on a loaded host
    while not history.exists() and time.time() < deadline and p.poll() is None:
        time.sleep(0.1)
    time.sleep(1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130 and "Traceback" not in err, err
