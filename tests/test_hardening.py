"""Regression tests of the hardening issue: every named case is one line and the right exit code,
never a traceback, a hang, a lost row or a silently wrong answer."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from lutnas.cli.main import cli
from lutnas.errors import InputError
from lutnas.luts import LUT
from lutnas.spaces import get_space
from synthetic import synthetic_rows, write_synthetic

MINI = {"d": [2, 4], "h": [2], "e": [32, 64], "r": [2], "I": [64], "p": [16]}  # 4 specs


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    space = get_space("vit-mini", MINI)
    return write_synthetic(tmp_path_factory.mktemp("hard") / "synthetic.parquet", space), space


@pytest.fixture(scope="module")
def cpu_table(tmp_path_factory):
    """A real torch-cpu table of a 4-spec space (tiny blocks, quick protocol)."""
    path = tmp_path_factory.mktemp("cpu") / "cpu.parquet"
    res = invoke(["lut", "build", "--device", "torch-cpu", "--space", "vit-mini", *values(MINI), "--protocol", "quick",
                  "--no-ops", "--out", str(path), "--json"])
    assert res.exit_code == 0, res.output
    return path


def values(v):
    return [a for f, vs in v.items() for a in ("--values", f"{f}={','.join(map(str, vs))}")]


def invoke(args, **kw):
    return CliRunner().invoke(cli, args, **kw)


def one_line(res, code, *words):
    """Exit ``code``, no traceback, one stderr line mentioning every word."""
    assert res.exit_code == code, (res.exit_code, res.output)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    err = res.stderr.strip()
    assert "Traceback" not in err and err.count("\n") == 0, err
    for w in words:
        assert w in err, (w, err)
    return err


# -- searcher parameters ------------------------------------------------------------------------
@pytest.mark.parametrize("param, words", [
    ("population=abc", ["The 'population' parameter of Evolutionary must be an int in the range [2,", "Got 'abc'"]),
    ("population=1e9", ["'population'", "1000000000"]),
    ("window=abc", ["The 'window' parameter", "Got 'abc' instead."]),
    ("mutation_prob=1.5", ["'mutation_prob'", "[0, 1]"]),
    ("iterations=0", ["'iterations'"]),
    ("parents=600", ["'parents'", "at most population"]),
    ("nosuch=1", ["no parameter(s) nosuch"]),
    ("population", ["not KEY=VALUE"]),
])
def test_search_params_are_checked_at_construction(table, param, words):
    path, _ = table
    one_line(invoke(["search", "--lut", str(path), "--latency-ms", "1", "--param", param]), 2, *words)


def test_params_are_converted_by_their_declared_type(table):
    from lutnas.search import get_searcher

    cls = get_searcher("evolutionary")
    s = cls(**cls.from_strings({"population": "40", "parents": "10", "window": "0.5"}))
    assert s.params["population"] == 40 and isinstance(s.params["population"], int) and s.params["window"] == 0.5
    g = get_searcher("greedy")
    assert g(**g.from_strings({"targets": "0.1,0.2", "start": "none"})).params["targets"] == (0.1, 0.2)


def test_a_searcher_instance_is_reusable_and_keeps_its_parameters(table):
    from lutnas.search import get_searcher, run_search
    from lutnas.search.setup import build_problem

    path, space = table
    problem = build_problem(space, [LUT.read(path)], ["1.0"], window=None)
    s = get_searcher("evolutionary")(seed=1, population=3, parents=2, children=2, iterations=2, window=0.99)
    first = run_search(problem, s, budget=20, batch=4)
    assert s.params["window"] == 0.99  # relaxing the window is the run's business
    second = run_search(problem, s, budget=20, batch=4)
    assert first.history["spec"].tolist() == second.history["spec"].tolist()


@pytest.mark.parametrize("args, words", [
    (["--batch", "0"], ["--batch"]), (["--budget", "0"], ["--budget"]), (["--window", "0"], ["--window"]),
    (["--window", "1.5"], ["--window"]), (["--gflops", "0"], ["--gflops"]), (["--params-m", "-1"], ["--params-m"]),
    (["--verify", "-1"], ["--verify"]), (["--latency-ms", "nan"], ["--latency-ms"]), (["--seed", "-1"], ["--seed"]),
    (["--protocol", "nope", "--verify", "1"], ["--protocol"]), (["--out", ""], ["--out", "empty"]),
    (["--executor", "ray", "--address", "not-an-address"], ["--address", "HOST:PORT"]),
    (["--objective", "python:os:system"], ["python:os:system"]),
    (["--objective", "table"], ["table:FILE"]), (["--objective", "flops:x"], ["takes no argument"]),
])
def test_search_arguments_are_checked_first(table, args, words):
    path, _ = table
    res = invoke(["search", "--lut", str(path), "--latency-ms", "1", "--algorithm", "random", "--budget", "5", *args])
    assert "no evaluated spec" not in res.stderr
    one_line(res, 2, *words)


@pytest.mark.parametrize("command", ["search", "lut build", "farm build"])
def test_unreachable_ray_address_is_a_bounded_wait(table, tmp_path, monkeypatch, command):
    pytest.importorskip("ray")
    monkeypatch.setenv("LUTNAS_RAY_TIMEOUT", "2")
    path, _ = table
    args = {"search": ["search", "--lut", str(path), "--latency-ms", "1", "--executor", "ray"],
            "lut build": ["lut", "build", "--space", "vit-mini", "--out", str(tmp_path / "t.parquet"), "--executor", "ray"],
            "farm build": ["farm", "build", "--devices", "torch-cpu", "--space", "vit-mini", "--out-dir", str(tmp_path)]}
    res = invoke([*args[command], "--address", "127.0.0.1:1"])
    one_line(res, 1, "cannot reach the Ray cluster at 127.0.0.1:1")  # one line: no empty progress bar before it


def test_table_objective_with_text_scores(table, tmp_path):
    path, space = table
    pd.DataFrame({"spec": [s.canonical() for s in space.grid()], "accuracy": ["high"] * len(space.grid())}).to_csv(
        tmp_path / "acc.csv", index=False)
    one_line(invoke(["search", "--lut", str(path), "--objective", f"table:{tmp_path / 'acc.csv'}"]), 2, "acc.csv")


# -- search histories -----------------------------------------------------------------------------
def test_a_history_of_another_problem_is_refused(table, tmp_path):
    path, _ = table
    hist = str(tmp_path / "h.parquet")
    base = ["search", "--lut", str(path), "--algorithm", "exhaustive", "--out", hist, "--json"]
    loose = invoke([*base, "--latency-ms", "10"])
    assert loose.exit_code == 0 and json.loads(loose.stdout)["feasible"]
    one_line(invoke([*base, "--latency-ms", "0.001"]), 2, "another problem", "constraints")
    one_line(invoke([*base, "--latency-ms", "10", "--objective", "params"]), 2, "objective 'flops'")
    again = invoke([*base, "--latency-ms", "10"])  # the same problem resumes from the history
    assert again.exit_code == 0 and json.loads(again.stdout)["from_history"] == json.loads(loose.stdout)["evaluations"]


def test_a_history_without_score_is_refused(table, tmp_path):
    path, _ = table
    hist = tmp_path / "h.parquet"
    pd.DataFrame({"spec": ["x"], "feasible": [True]}).to_parquet(hist)
    one_line(invoke(["search", "--lut", str(path), "--latency-ms", "1", "--out", str(hist)]), 2, "score")


# -- tables trusted on load -----------------------------------------------------------------------
@pytest.mark.parametrize("bad", ["nan", "inf", "negative", "duplicate"])
def test_bad_tables_are_refused_on_read(table, tmp_path, bad):
    _, space = table
    rows = synthetic_rows(space)
    if bad == "duplicate":
        rows.append({**rows[0], "median_ms": rows[0]["median_ms"] * 10})
    else:
        rows[1]["median_ms"] = {"nan": float("nan"), "inf": float("inf"), "negative": -1.0}[bad]
    path = write_synthetic(tmp_path / f"{bad}.parquet", space, rows)
    err = one_line(invoke(["lut", "show", str(path)]), 2, str(path))
    assert ("twice" if bad == "duplicate" else rows[1]["key"]) in err
    one_line(invoke(["search", "--lut", str(path), "--latency-ms", "1"]), 2, str(path))


def test_predict_refuses_a_batch_the_table_lacks_and_names_extrapolation(table):
    path, _ = table
    one_line(invoke(["lut", "predict", str(path), "d=2,h=2,e=32,r=2,I=64,p=16", "--batch", "8"]), 2, "batch 1, not 8")
    one_line(invoke(["lut", "predict", str(path), "d=2,h=2,e=32,r=2,I=64,p=16", "--batch", "0"]), 2, "--batch")
    far = invoke(["lut", "predict", str(path), "d=2,h=2,e=2048,r=2,I=64,p=16", "--json"])
    assert far.exit_code == 0 and "extrapolates" in far.stderr


def test_coverage_of_a_space_without_blocks_is_not_100_percent(table):
    path, space = table
    lut = LUT.read(path)
    empty = space.narrow({"I": [64], "p": [48]})
    assert lut.summary(empty)["coverage"]["fraction"] is None


# -- builds, calibration, validation --------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["--sample", "0"], ["--sample"]), (["--sample", "2", "--grid"], ["give one"]), (["--batch", "0"], ["--batch"]),
    (["--copies", "0"], ["--copies"]), (["--out", ""], ["--out", "empty"]), (["--max-rows", "0"], ["--max-rows"]),
    (["--values", "I=64", "--values", "p=48"], ["no specs"]), (["--protocol", "nope"], ["--protocol"]),
    (["--executor", "ray", "--address", "nope"], ["HOST:PORT"]),
])
def test_build_arguments(tmp_path, args, words):
    out = tmp_path / "t.parquet"
    res = invoke(["lut", "build", "--space", "vit-mini", "--out", str(out), *args] if "--out" not in args
                 else ["lut", "build", "--space", "vit-mini", *args])
    one_line(res, 2, *words)
    assert not out.exists()


def test_device_options_follow_declared_types():
    from lutnas.devices import get_device
    from lutnas.devices.tflite_cpu import TFLiteCPUDevice

    assert TFLiteCPUDevice(xnnpack="no").params["xnnpack"] is False
    assert TFLiteCPUDevice(xnnpack="yes", threads="2").params == {"xnnpack": True, "threads": 2}
    with pytest.raises(InputError, match="The 'xnnpack' parameter of TFLiteCPUDevice must be a bool. Got 'maybe'"):
        TFLiteCPUDevice(xnnpack="maybe")
    with pytest.raises(InputError, match="'threads'"):
        get_device("torch-cpu", threads=0)


def test_calibrate_and_validate_checks(cpu_table):
    p = str(cpu_table)
    one_line(invoke(["lut", "calibrate", p, "--device", "ort-cpu"]), 2, "torch-cpu", "not 'ort-cpu'")
    one_line(invoke(["lut", "calibrate", p, "--sample", "0"]), 2, "--sample")
    one_line(invoke(["lut", "calibrate", p, "--sample", "9"]), 2, "holds 4 models", "need 9")
    one_line(invoke(["lut", "validate", p, "--calibrate", "5", "--sample", "2"]), 2, "holds 4 models", "need 7")
    one_line(invoke(["lut", "validate", p, "--sample", "0"]), 2, "--sample")
    one_line(invoke(["lut", "validate", p, "--blocks", "-1"]), 2, "--blocks")
    one_line(invoke(["lut", "validate", p, "--calibrate", "-1"]), 2, "--calibrate")


def test_resuming_with_other_copies_is_refused(cpu_table):
    res = invoke(["lut", "build", "--space", "vit-mini", *values(MINI), "--protocol", "quick", "--no-ops",
                  "--copies", "1", "--out", str(cpu_table)])
    one_line(res, 2, "--copies auto, not 1")


# -- the machine ------------------------------------------------------------------------------------
def test_unwritable_outputs_and_cache(table, tmp_path, monkeypatch):
    path, _ = table
    one_line(invoke(["search", "--lut", str(path), "--latency-ms", "1", "--out", "/proc/lutnas/h.parquet"]), 2,
             "/proc/lutnas/h.parquet")
    monkeypatch.setenv("LUTNAS_CACHE", str(path))  # a file, not a folder
    one_line(invoke(["measure", "--block", "head(dim=8,classes=2)", "--device", "ort-cpu", "--protocol", "quick"]),
             2, "LUTNAS_CACHE")


def test_enormous_block_is_one_line():
    one_line(invoke(["measure", "--block", "head(dim=1000000000,classes=1000000000)", "--protocol", "quick"]), 1,
             "out of memory")


def run_cli(*args, env=None, **kw):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **(env or {})}
    return subprocess.run([sys.executable, "-m", "lutnas.cli", *args], capture_output=True, text=True, env=env, **kw)


def test_stdout_to_a_full_device():
    with open("/dev/full", "w") as full:
        res = subprocess.run([sys.executable, "-m", "lutnas.cli", "spaces", "--json"], stdout=full,
                             stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert res.returncode == 1 and "Traceback" not in res.stderr and res.stderr.strip().count("\n") == 0, res.stderr


def test_correlate_ranges(table):
    path, _ = table
    one_line(invoke(["correlate", str(path), "--bootstrap", "-1"]), 2, "--bootstrap")
    one_line(invoke(["correlate", str(path), "--noise-models", "1"]), 2, "--noise-models")


def test_cache_in_an_unusable_folder(monkeypatch):
    monkeypatch.setenv("LUTNAS_CACHE", "/proc/lutnas-cache")
    one_line(invoke(["measure", "--block", "head(dim=8,classes=2)", "--device", "ort-cpu", "--protocol", "quick"]),
             2, "LUTNAS_CACHE")


def test_a_corrupt_cached_export_is_exported_again(tmp_path, monkeypatch):
    monkeypatch.setenv("LUTNAS_CACHE", str(tmp_path))
    args = ["measure", "--block", "head(dim=8,classes=2)", "--device", "ort-cpu", "--protocol", "quick", "--json"]
    assert invoke(args).exit_code == 0
    for f in (tmp_path / "onnx").glob("*.onnx"):
        f.write_bytes(b"not onnx")  # a crash mid-write or a full disk
    res = invoke(args)
    assert res.exit_code == 0, res.output


def test_a_full_disk_keeps_the_old_history(table, tmp_path, monkeypatch):
    import errno

    import pyarrow.parquet as pq

    path, _ = table
    hist = tmp_path / "h.parquet"
    args = ["search", "--lut", str(path), "--latency-ms", "1", "--algorithm", "exhaustive", "--out", str(hist)]
    assert invoke(args + ["--budget", "2"]).exit_code == 0
    before = hist.read_bytes()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq, "write_table", full)
    one_line(invoke(args + ["--budget", "4"]), 1, "No space left on device")
    assert hist.read_bytes() == before and not list(tmp_path.glob(".h.parquet.tmp*"))


def test_search_names_a_best_spec_built_from_predicted_blocks(table):
    path, _ = table
    res = invoke(["search", "--lut", str(path), "--space", "vit-mini", "--latency-ms", "100", "--algorithm",
                  "exhaustive", "--json"])
    assert res.exit_code == 0 and "predicted by its regressor" in res.stderr, res.output
