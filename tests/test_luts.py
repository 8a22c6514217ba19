"""LUT builds, resume after a killed process, refusal of mixed tables, reading without lutnas."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from lutnas.cli.main import cli
from lutnas.devices import get_device
from lutnas.errors import InputError
from lutnas.analysis.fidelity import fidelity
from lutnas.luts import LUT, fit_calibration
from lutnas.measure import build_lut
from lutnas.luts.schema import CATEGORY_COLUMNS, write_table
from lutnas.profiler import get_protocol
from lutnas.spaces import get_space, parse_spec

QUICK = get_protocol("quick", min_time_ms=5, min_runs=5, warmup_ms=2)
SMALL = {"d": [2], "h": [2], "e": [32], "r": [2, 4], "I": [64], "p": [16, 32]}


@pytest.fixture(scope="module")
def small_table(tmp_path_factory):
    path = tmp_path_factory.mktemp("lut") / "small.parquet"
    space = get_space("vit-mini", SMALL)
    info = build_lut(get_device("torch-cpu"), space, space.grid(), path, QUICK)
    assert info["complete"] and info["rows"] == len(space.unique_blocks())
    return path, space


def test_rows_columns_and_categories(small_table):
    path, space = small_table
    df = pd.read_parquet(path)
    assert len(df) == len(space.unique_blocks()) == df["key"].nunique()
    for col in ("device", "kind", "key", "batch", "median_ms", "mean_ms", "p10_ms", "p90_ms", "std_ms", "cv", "n",
                "flagged", "timestamp", "copies", *CATEGORY_COLUMNS):
        assert col in df.columns
    assert (df["p10_ms"] <= df["median_ms"]).all() and (df["median_ms"] <= df["p90_ms"]).all()
    cats = df[list(CATEGORY_COLUMNS)].sum(axis=1)
    np.testing.assert_allclose(cats, df["median_ms"], rtol=1e-6)
    meta = json.loads(pq.read_schema(path).metadata[b"lutnas"])
    assert meta["device"] == "torch-cpu" and meta["schema_version"] == 1 and meta["space"]["name"] == "vit-mini"
    assert meta["fingerprint"]["threads"] == 1 and meta["protocol"]["name"] == QUICK.name


def test_duckdb_reads_the_table_without_lutnas(small_table):
    duckdb = pytest.importorskip("duckdb")
    path, _ = small_table
    con = duckdb.connect()
    n, kinds = con.execute(f"select count(*), count(distinct kind) from read_parquet('{path}')").fetchone()
    assert n == len(pd.read_parquet(path)) and kinds == 3
    med = con.execute(f"select median_ms from read_parquet('{path}') where kind = 'head'").fetchone()[0]
    assert med > 0


def test_resume_is_duplicate_free_and_measures_nothing_twice(tmp_path):
    space = get_space("vit-mini", SMALL)
    path = tmp_path / "t.parquet"
    first = build_lut(get_device("torch-cpu"), space, space.grid(), path, QUICK, ops=False, stop_after=3)
    assert first["measured"] == 3 and not first["complete"]
    second = build_lut(get_device("torch-cpu"), space, space.grid(), path, QUICK, ops=False)
    assert second["present"] == 3 and second["measured"] == second["todo"] == len(space.unique_blocks()) - 3
    third = build_lut(get_device("torch-cpu"), space, space.grid(), path, QUICK, ops=False)
    assert third["measured"] == 0
    df = pd.read_parquet(path)
    assert len(df) == df["key"].nunique() == len(space.unique_blocks())


def test_killed_build_loses_no_row(tmp_path):
    path = tmp_path / "killed.parquet"
    cmd = [sys.executable, "-m", "lutnas.cli", "lut", "build", "--device", "torch-cpu", "--space", "vit-mini",
           "--protocol", "quick", "--no-ops", "--out", str(path), "--json"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if path.exists() and len(pd.read_parquet(path)) >= 4:
                break
        except (OSError, ValueError):  # the writer renamed a new table in between two reads: poll again
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = pd.read_parquet(path)  # never truncated: atomic renames
    assert 4 <= len(before) < 52
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    after = pd.read_parquet(path)
    assert info["present"] >= len(before) and len(after) == after["key"].nunique() == 52
    kept = after.set_index("key").loc[before["key"], "median_ms"].to_numpy()
    np.testing.assert_array_equal(kept, before["median_ms"].to_numpy())  # old rows untouched


def test_mixed_tables_are_refused(small_table, tmp_path):
    path, space = small_table
    with pytest.raises(InputError, match="threads=1.*threads=2"):
        build_lut(get_device("torch-cpu", threads=2), space, space.grid(), path, QUICK)
    with pytest.raises(InputError, match="device='torch-cpu'.*'ort-cpu'"):
        build_lut(get_device("ort-cpu"), space, space.grid(), path, QUICK)
    with pytest.raises(InputError, match="protocol"):
        build_lut(get_device("torch-cpu"), space, space.grid(), path, get_protocol("default"))
    other = get_space("vit-scaling", {"d": [3], "h": [2], "e": [32], "r": [2], "I": [128], "p": [32]})
    with pytest.raises(InputError, match="holds space 'vit-mini'"):
        build_lut(get_device("torch-cpu"), other, other.grid(), path, QUICK)
    newer = tmp_path / "newer.parquet"
    write_table([], {"device": "torch-cpu"}, newer)

    t = pq.read_table(newer)
    meta = json.loads(t.schema.metadata[b"lutnas"])
    meta["schema_version"] = 99
    pq.write_table(t.replace_schema_metadata({b"lutnas": json.dumps(meta).encode()}), newer)
    with pytest.raises(InputError, match="schema version 99"):
        LUT.read(newer)


def test_truncated_and_foreign_files_give_clear_errors(small_table, tmp_path):
    path, _ = small_table
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(InputError, match="not a readable Parquet file"):
        LUT.read(broken)
    res = CliRunner().invoke(cli, ["lut", "show", str(broken)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1
    foreign = tmp_path / "foreign.parquet"
    pd.DataFrame({"x": [1, 2]}).to_parquet(foreign)
    with pytest.raises(InputError, match="lacks column"):
        LUT.read(foreign)
    with pytest.raises(InputError, match="does not exist"):
        LUT.read(tmp_path / "nope.parquet")


def test_vectorised_prediction_matches_per_spec_sums(small_table):
    path, space = small_table
    lut = LUT.read(path)
    specs = space.grid()
    pred = lut.predict(specs)
    assert not pred.predicted.any()
    ms = dict(zip(lut.rows["key"], lut.rows["median_ms"]))
    expected = [sum(ms[k.canonical()] * c for k, c in s.blocks()) for s in specs]
    np.testing.assert_allclose(pred.raw_ms, expected, rtol=1e-12)
    cols = {f: np.array([getattr(s, f) for s in specs]) for f in "dherIp"}
    np.testing.assert_allclose(lut.predict(cols).raw_ms, expected)


def test_unseen_blocks_are_predicted_and_marked(small_table):
    path, space = small_table
    lut = LUT.read(path)
    off = parse_spec("d=3,h=2,e=40,r=3,I=80,p=16")
    pred = lut.predict([off, space.grid()[0]])
    assert pred.predicted.tolist() == [True, False]
    assert np.isfinite(pred.raw_ms).all() and pred.raw_ms[0] > 0
    res = CliRunner().invoke(cli, ["lut", "predict", str(path), off.canonical(), "--json"])
    data = json.loads(res.stdout)
    assert data["any_predicted"] and {b["source"] for b in data["blocks"]} == {"regressor"}
    summary = lut.summary(space)
    assert summary["coverage"]["fraction"] == 1.0 and "encoder" in summary["regressor"]


def test_calibration_and_fidelity_math():
    cal = fit_calibration(np.array([1.0, 2.0, 4.0] * 3), np.array([1.2, 2.2, 4.2] * 3))
    assert cal["a"] == pytest.approx(1.0) and cal["b"] == pytest.approx(0.2) and cal["fit"] == "linear"
    few = fit_calibration(np.array([1.0, 2.0, 4.0]), np.array([1.1, 2.2, 4.0]))
    assert few["fit"] == "ratio" and few["a"] == pytest.approx(1.1) and few["b"] == 0
    f = fidelity(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.1, 3.5, 4.0]))
    assert f["within_5pct"] == 0.75 and f["within_10pct"] == 0.75 and f["kendall_tau"] == pytest.approx(1.0)


def test_cli_build_show_validate(tmp_path):
    path = tmp_path / "cli.parquet"
    runner = CliRunner()
    args = ["lut", "build", "--space", "vit-mini", "--values", "d=2", "--values", "h=2", "--values", "e=32",
            "--values", "I=64", "--protocol", "quick", "--no-ops", "--out", str(path), "--json"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["blocks"] == 7  # 4 encoders (2 token counts x 2 ratios), 2 patch, 1 head
    show = json.loads(runner.invoke(cli, ["lut", "show", str(path), "--json"]).stdout)
    assert show["rows"] == 7 and show["device"] == "torch-cpu"
    res = runner.invoke(cli, ["lut", "validate", str(path), "--sample", "2", "--calibrate", "2", "--values", "d=2",
                              "--values", "h=2", "--values", "e=32", "--values", "I=64", "--protocol", "quick",
                              "--blocks", "2", "--json"])
    assert res.exit_code == 0, res.output
    v = json.loads(res.stdout)
    assert {"within_5pct", "within_10pct", "mape", "kendall_tau", "n"} <= set(v) and v["n"] == 2
    assert Path(v["png"]).stat().st_size > 1000 and len(v["drift"]["rows"]) == 2
    assert LUT.read(path).calibration["n"] == 2
    res = runner.invoke(cli, ["lut", "build", "--space", "vit-mini", "--values", "q=1", "--out", str(path)])
    assert res.exit_code == 2 and "unknown factor" in res.stderr
