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
    second = build_lut(get_device("torch-cpu"), space, space.grid(), path, QUICK, ops=False, recheck=False)
    assert second["present"] == 3 and second["measured"] == second["todo"] == len(space.unique_blocks()) - 3
    from lutnas.luts.calibration import update_meta

    context = {"footprints_mib": [1.0, 8.0], "extra_ms_per_mib": [0.0, 0.01]}
    update_meta(path, context=context, validation={"n": 5, "bias": 0.01})
    third = build_lut(get_device("torch-cpu"), space, space.grid(), path, QUICK, ops=False)
    assert third["measured"] == 0
    df = pd.read_parquet(path)
    assert len(df) == df["key"].nunique() == len(space.unique_blocks())
    meta = LUT.read(path).meta  # what other commands stored survives a re-run of the build
    assert meta["context"] == context and meta["validation"]["n"] == 5 and meta["sentinel"]["baseline_ms"] > 0


@pytest.mark.slow
def test_killed_build_loses_no_row(tmp_path):
    path = tmp_path / "killed.parquet"
    cmd = [sys.executable, "-m", "lutnas.cli", "lut", "build", "--device", "torch-cpu", "--space", "vit-mini",
           "--values", "r=2", "--values", "e=32", "--protocol", "quick", "--no-ops", "--no-recheck", "--out", str(path),
           "--json"]
    total = len(get_space("vit-mini", {"r": [2], "e": [32]}).unique_blocks())  # 18 blocks
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
    assert 4 <= len(before) < total
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)
    after = pd.read_parquet(path)
    assert info["present"] >= len(before) and len(after) == after["key"].nunique() == total
    # old rows kept, except those the end-of-build self-check re-measured on purpose: what was measured
    # (median × host ratio) is unchanged, whatever host speed the completed table is expressed at
    untouched = before[~before["key"].isin(info.get("recheck", {}).get("remeasured_keys", []))]
    kept = after.set_index("key").loc[untouched["key"]]

    def measured(df):
        return df["median_ms"].to_numpy() * df["host_ratio"].fillna(1.0).to_numpy()

    np.testing.assert_allclose(measured(kept), measured(untouched), rtol=1e-9)


def test_mixed_tables_are_refused(small_table, tmp_path):
    path, space = small_table
    with pytest.raises(InputError, match="threads=1.*threads=2"):
        build_lut(get_device("torch-cpu", threads=2), space, space.grid(), path, QUICK)
    if get_device("torch-cpu").fingerprint()["allocator"] == "reuse":  # glibc: the two allocators differ
        with pytest.raises(InputError, match="allocator='reuse'.*allocator='system'"):
            build_lut(get_device("torch-cpu", allocator="system"), space, space.grid(), path, QUICK)
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


def test_corrections_are_refused_when_not_supported():
    rng = np.random.default_rng(0)
    raw = rng.uniform(2, 20, 12)
    # pure noise around the raw table (±3 %): the ratio's interval includes 1 -> not applied
    noise = fit_calibration(raw, raw * rng.normal(1.0, 0.03, 12))
    assert noise["applied"] is False and "includes 1" in noise["reason"]
    lo, hi = noise["ratio_ci"]
    assert lo < 1 < hi
    # a real 8 % under-prediction with 2 % noise: supported and applied
    real = fit_calibration(raw, raw * 1.08 * rng.normal(1.0, 0.02, 12))
    assert real["applied"] is True and real["ratio_ci"][0] > 1 and real["cv_mape_calibrated"] < real["cv_mape_raw"]
    # two models can never support it, however clean
    assert fit_calibration(raw[:2], raw[:2] * 1.2)["applied"] is False
    from lutnas.luts.calibration import drift_correction

    assert drift_correction(raw[:5], raw[:5] * rng.normal(1.0, 0.02, 5))["applied"] is False
    assert drift_correction(raw, raw * 1.2 * rng.normal(1.0, 0.01, 12))["applied"] is True


def test_noise_ceiling_and_verdict_from_two_measurement_sets():
    from lutnas.analysis.fidelity import error_by_factor, noise_verdict
    from lutnas.measure.validate import _judge, _noise_ceiling, _schedule

    rng = np.random.default_rng(1)
    true = rng.uniform(5, 50, 40)
    runs = np.stack([true * rng.normal(1, 0.02, 40), true * rng.normal(1, 0.02, 40)], axis=1)
    ceiling = _noise_ceiling(runs)
    assert 0.01 < ceiling["mape"] < 0.05 and ceiling["kendall_tau"] > 0.9
    good = _judge(true, runs)  # a perfect table: its error is half a repeat's noise
    assert noise_verdict(good, ceiling)["status"] == "at_ceiling"
    biased = _judge(true * 0.93, runs)
    assert noise_verdict(biased, ceiling)["status"] == "above_ceiling" and biased["bias"] < -0.05
    assert noise_verdict({**good, "n": 4}, ceiling)["status"] == "inconclusive"
    assert noise_verdict(good, {**ceiling, "mape": 0.2})["status"] == "inconclusive"
    # structured error shows up per factor value
    specs = [parse_spec(f"d={d},h=2,e=32,r=4,I=64,p=16") for d in [2, 4] * 20]
    groups = error_by_factor(specs, np.where([s.d == 4 for s in specs], 0.9, 1.0) * true, true)["d"]
    assert groups[0]["bias"] == pytest.approx(0.0) and groups[1]["bias"] == pytest.approx(-0.1)
    # interleaving: each pass holds every model once, no model measured twice in a row
    order = _schedule(3, 5, 2, 2, seed=0)
    assert len(order) == 2 * 8 + 2
    assert all((a.what, a.index) != (b.what, b.index) for a, b in zip(order, order[1:]))


def test_calibration_and_fidelity_math():
    cal = fit_calibration(np.array([1.0, 2.0, 4.0] * 3), np.array([1.2, 2.2, 4.2] * 3))
    assert cal["a"] == pytest.approx(1.0) and cal["b"] == pytest.approx(0.2) and cal["fit"] == "linear"
    assert cal["applied"] and cal["cv_mape_calibrated"] < cal["cv_mape_raw"]
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
    res = runner.invoke(cli, ["lut", "validate", str(path), "--sample", "3", "--calibrate", "2", "--values", "d=2",
                              "--values", "h=2", "--values", "e=32", "--values", "I=64", "--protocol", "quick"])
    assert res.exit_code == 2 and "need 5" in res.stderr  # a 4-model space cannot give 5 distinct models
    res = runner.invoke(cli, ["lut", "validate", str(path), "--sample", "2", "--calibrate", "2", "--values", "d=2",
                              "--values", "h=2", "--values", "e=32", "--values", "I=64", "--protocol", "quick",
                              "--blocks", "2", "--json"])
    assert res.exit_code == 0, res.output
    v = json.loads(res.stdout)
    assert {"within_5pct", "within_10pct", "mape", "kendall_tau", "n"} <= set(v) and v["n"] == 2
    assert Path(v["png"]).stat().st_size > 1000 and len(v["drift"]["rows"]) == 2
    # 2 calibration models cannot support a correction: stored with its reason, not applied
    stored = LUT.read(path).meta["calibration"]
    assert stored["n"] == 2 and stored["applied"] is False and "cannot support" in stored["reason"]
    assert LUT.read(path).calibration is None
    assert {"noise_ceiling", "bias", "by_factor", "verdict"} <= set(v) and v["verdict"]["status"] == "inconclusive"
    assert Path(v["residual_png"]).stat().st_size > 1000
    res = runner.invoke(cli, ["lut", "build", "--space", "vit-mini", "--values", "q=1", "--out", str(path)])
    assert res.exit_code == 2 and "unknown factor" in res.stderr


class _DriftingDevice:
    """torch-cpu's prepare, but deterministic times that a test slows down at will (mechanics only)."""

    @staticmethod
    def make(slowdown: list[float]):
        from lutnas.devices.torch_cpu import TorchCPUDevice

        class Drifting(TorchCPUDevice):
            supports_paired = False  # analytic times: no reference to pair with
            def time(self, artifact, protocol):
                params = sum(p.numel() for p in artifact.payload.parameters())
                base = 0.05 + params * 1e-6
                return [base * slowdown[0]] * 12, {}

        return Drifting()


def test_sentinel_normalises_rows_and_flags_a_host_that_stays_slow(tmp_path):
    slowdown = [1.0]
    device = _DriftingDevice.make(slowdown)
    space = get_space("vit-mini", SMALL)
    path = tmp_path / "drift.parquet"
    events = []
    info = build_lut(device, space, space.grid(), path, QUICK, ops=False, stop_after=3, sentinel_every=2, pause_s=0.0,
                     progress=lambda e, i: events.append(e))
    first = pd.read_parquet(path)
    assert (first["host_ratio"] == 1.0).all() and not first["flagged"].any()
    assert LUT.read(path).meta["sentinel"]["baseline_ms"] > 0 and info["sentinel"]["checks"] >= 2
    slowdown[0] = 1.3  # the host slows down by 30 % for the rest of the build (resumed), all but one row
    build_lut(device, space, space.grid(), path, QUICK, ops=False, sentinel_every=2, pause_s=0.0,
              stop_after=info["blocks"] - 4, progress=lambda e, i: events.append(e))
    rows = pd.read_parquet(path)
    later = rows.iloc[3:]
    assert "pause" in events  # it paused before giving up
    assert later["host_ratio"].to_numpy() == pytest.approx(1.3, rel=1e-6)
    assert later["flagged"].all() and later["flag_reason"].str.contains("slower").all()
    # normalised to the baseline host speed: a slowed row reads what it would at full speed
    fresh = _DriftingDevice.make([1.0])
    from lutnas.measure import measure_row
    from lutnas.luts.regressor import key_from_row

    r = later.iloc[0].to_dict()
    expect = measure_row(fresh, key_from_row(r), QUICK, 1, int(r["copies"]), False, 0, "isolated")["median_ms"]
    assert r["median_ms"] == pytest.approx(expect, rel=1e-6)
    # complete: re-expressed at the host's typical speed of the build (1.3), where those rows are ordinary
    build_lut(device, space, space.grid(), path, QUICK, ops=False, sentinel_every=2, pause_s=0.0, recheck=False)
    done = pd.read_parquet(path)
    assert LUT.read(path).meta["sentinel"]["rebaselined"] == pytest.approx(1.3)
    assert done["host_ratio"].iloc[3:].to_numpy() == pytest.approx(1.0) and not done["flagged"].iloc[3:].any()
    assert (done["median_ms"] * done["host_ratio"]).iloc[3] == pytest.approx(r["median_ms"] * r["host_ratio"])


def test_rows_between_two_sentinel_checks_are_settled_at_their_mean(tmp_path):
    slowdown = [1.0]
    device = _DriftingDevice.make(slowdown)
    space = get_space("vit-mini", SMALL)
    path = tmp_path / "bracket.parquet"

    def on(event, info):
        if event == "row" and info["done"] == 2:
            slowdown[0] = 1.08  # the host slows by 8 % after the second row (not enough to pause)

    build_lut(device, space, space.grid(), path, QUICK, ops=False, stop_after=4, sentinel_every=2, pause_s=0.0,
              recheck=False, progress=on)
    rows = pd.read_parquet(path)
    # rows 0-1 ran at speed 1.0 between checks reading 1.00 and 1.08: settled at their geometric mean
    assert rows["host_ratio"].iloc[:2].to_numpy() == pytest.approx(np.sqrt(1.08), rel=1e-6)
    # rows 2-3 ran at 1.08 between checks reading 1.08 and 1.08 (the final check): exactly undone
    assert rows["host_ratio"].iloc[2:].to_numpy() == pytest.approx(1.08, rel=1e-6)
    fresh = _DriftingDevice.make([1.0])
    from lutnas.measure import measure_row
    from lutnas.luts.regressor import key_from_row

    r = rows.iloc[3].to_dict()
    expect = measure_row(fresh, key_from_row(r), QUICK, 1, int(r["copies"]), False, 0, "isolated")["median_ms"]
    assert r["median_ms"] == pytest.approx(expect, rel=1e-6)
    assert len(LUT.read(path).meta["sentinel"]["checks"]) >= 3


def test_self_check_finds_contradicting_rows_and_recheck_fixes_them(tmp_path):
    """A row measured while the host was fast (a costlier block 40 % below its cheaper neighbour)
    is found, re-measured next to its neighbour, and the table ends consistent; a row that stays
    odd is flagged with its reason."""
    from lutnas.luts.consistency import monotonicity_violations, suspicious_rows

    calls: dict[str, int] = {}
    glitch = {"once": None, "always": None}
    from lutnas.devices.torch_cpu import TorchCPUDevice

    class Glitchy(TorchCPUDevice):
        supports_paired = False  # analytic times: no reference to pair with
        def time(self, artifact, protocol):
            params = sum(p.numel() for p in artifact.payload.parameters())
            base = 0.05 + params * 1e-6
            calls[params] = calls.get(params, 0) + 1
            if params == glitch["once"] and calls[params] == 1:
                base *= 0.3  # a one-off: the recheck measures it right
            if params == glitch["always"]:
                base *= 0.3  # stays odd: flagged with a reason
            return [base] * 12, {}

    space = get_space("vit-mini", SMALL)
    keys = space.unique_blocks(space.grid())
    enc = sorted([k for k in keys if k.kind == "encoder"], key=lambda k: (k.tokens, k.mlp_ratio))
    from lutnas.models import auto_copies, build_block_copies

    def n_params(key):
        module, _ = build_block_copies(key, auto_copies(key))
        return sum(p.numel() for p in module.parameters())

    glitch["once"] = n_params(enc[-1])       # the costliest encoder, fast once
    path = tmp_path / "g.parquet"
    info = build_lut(Glitchy(), space, space.grid(), path, QUICK, ops=False, sentinel_every=0)
    assert info["recheck"]["suspicious"] >= 1 and info["recheck"]["remeasured"] >= 2
    assert info["recheck"]["still_suspicious"] == 0
    rows = pd.read_parquet(path)
    assert not monotonicity_violations(rows) and not rows["flagged"].any()

    glitch["once"], glitch["always"] = None, n_params(enc[-1])
    path2 = tmp_path / "g2.parquet"
    info = build_lut(Glitchy(), space, space.grid(), path2, QUICK, ops=False, sentinel_every=0)
    rows = pd.read_parquet(path2)
    bad = rows[rows["key"] == enc[-1].canonical()].iloc[0]
    assert bad["flagged"] and "faster" in bad["flag_reason"]
    assert {f.key for f in suspicious_rows(rows)} >= {enc[-1].canonical()}


def test_lut_check_cli(small_table, tmp_path):
    path, space = small_table
    res = CliRunner().invoke(cli, ["lut", "check", str(path), "--json"])
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)["tables"][0]
    assert rep["ok"] and rep["coverage"]["fraction"] == 1.0 and rep["rows"] == len(space.unique_blocks())
    # a table that covers half its space fails the check (exit 2) and says why
    from lutnas.luts import read_table, write_table

    table, meta = read_table(path)
    half = tmp_path / "half.parquet"
    write_table(table.to_pylist()[:3], meta, half)
    res = CliRunner().invoke(cli, ["lut", "check", str(path), str(half)])
    assert res.exit_code == 2 and "FAILED" in res.stdout and "covers 3 of the" in res.stdout


def test_dense_grid_answers_exactly_like_the_block_path(small_table):
    """The precomputed grid is a cache, never a change: same raw latency and predicted flags as the
    exact path, on-grid and off-grid (an off-candidate value falls back to the exact path)."""
    path, space = small_table
    lut, exact = LUT.read(path), LUT.read(path)
    grid = space.grid()
    spec_type = type(grid[0])
    cols = {f: np.array([getattr(s, f) for s in grid] * 3) for f in space.factors}
    cols["e"] = cols["e"].copy()
    cols["e"][::5] = 40  # off-grid head dims: the regressor answers them
    fast = lut.predict(cols)
    assert lut._dense(spec_type, 1) is not None
    raw, predicted, _ = exact._predict_columns(spec_type, spec_type.columns(cols), 1)
    np.testing.assert_allclose(fast.raw_ms, raw)
    assert (fast.predicted == predicted).all() and fast.predicted[::5].all()
    s = grid[1]
    assert lut.latency_ms(s) == pytest.approx(float(exact.predict([s]).calibrated_ms[0]))
    assert lut.latency_ms(s) == lut.latency_ms(s)
    # the grid marks off every value no candidate holds, in every form a column can take (0, negative,
    # far above the candidates, a float between them) and reads the rest as before
    dense = lut._dense(spec_type, 1)
    on = {f: np.array([getattr(x, f) for x in grid] * 3) for f in space.factors}
    want, _, off0 = dense.lookup(on)
    assert not off0.any()
    odd = {f: v.copy() for f, v in on.items()}
    odd["d"] = odd["d"].astype(float)
    odd["d"][1::7] = odd["d"][1::7] + 0.5
    odd["h"][2::7], odd["h"][3::7], odd["h"][4::7] = 0, -3, 1 << 40
    raw2, _, off = dense.lookup(odd)
    expect = np.zeros(len(raw2), bool)
    for start in (1, 2, 3, 4):
        expect[start::7] = True
    assert (off == expect).all() and np.isnan(raw2[off]).all()
    np.testing.assert_allclose(raw2[~off], want[~off])
    with pytest.raises(InputError, match="negative value"):  # the exact path: one clear line, no crash
        lut.predict({**on, "h": -on["h"]})
    if np.all(on["r"] % 1 == 0):  # an integer column for a float factor reads the same cells
        np.testing.assert_allclose(dense.lookup({**on, "r": on["r"].astype(np.int64)})[0], want)


def test_rebaseline_moves_a_fresh_table_to_its_typical_host_speed(tmp_path):
    """A baseline taken while the host was briefly slow would leave every row high: the table is
    re-expressed at the median host ratio of its rows; what was measured (median × ratio) is kept."""
    from lutnas.measure.build import BuildPlan, rebaseline

    rows = [{"key": f"k{i}", "batch": 1, "median_ms": 10.0 / r, "p10_ms": 9.0 / r, "n": 5, "host_ratio": r}
            for i, r in enumerate([0.70, 0.72, 0.72, 0.75, 1.0])]
    meta = {"sentinel": {"key": "s", "baseline_ms": 5.0, "checks": [[0.0, 1.0], [1.0, 0.72]]}}
    plan = BuildPlan(tmp_path / "t.parquet", [dict(r) for r in rows], meta, [], {}, {})
    plan.save = lambda: None
    f = rebaseline(plan)
    assert f == pytest.approx(0.72)
    for old, new in zip(rows, plan.rows):
        assert new["median_ms"] * new["host_ratio"] == pytest.approx(old["median_ms"] * old["host_ratio"])
        assert new["n"] == 5
    assert plan.rows[1]["host_ratio"] == pytest.approx(1.0) and meta["sentinel"]["baseline_ms"] == pytest.approx(3.6)
    assert meta["sentinel"]["checks"][1][1] == pytest.approx(1.0)
    # a validated table keeps its baseline (its validation was judged against it)
    plan2 = BuildPlan(tmp_path / "u.parquet", [dict(r) for r in rows], {"validation": {"n": 5}}, [], {}, {})
    assert rebaseline(plan2) == 1.0 and plan2.rows[0]["median_ms"] == rows[0]["median_ms"]


def test_a_calibration_the_held_out_models_contradict_is_not_applied(tmp_path):
    """The held-out models have the last word: calibration models that all read 30 % slow support a
    ratio of 1.3 (interval excludes 1, leave-one-out error falls), but the held-out models match the
    raw table exactly, so the calibration is stored as not applied, with both figures."""
    from lutnas.devices.torch_cpu import TorchCPUDevice
    from lutnas.measure import validate

    space = get_space("vit-mini")
    specs = space.grid()
    cal = specs[:5]
    slow = {s.params() for s in cal}
    held = [s for s in specs[5:] if s.params() not in slow][:10]

    class Skewed(TorchCPUDevice):
        supports_paired = False  # analytic times: no reference to pair with
        def time(self, artifact, protocol):
            params = sum(p.numel() for p in artifact.payload.parameters())
            return [params * 1e-6 * (1.3 if params in slow else 1.0)] * 8, {}

    path = tmp_path / "t.parquet"
    build_lut(Skewed(), space, specs, path, QUICK, ops=False, copies=1)
    lut = LUT.read(path)
    assert lut.predict(held).raw_ms == pytest.approx([s.params() * 1e-6 for s in held], rel=1e-6)
    out = validate(lut, Skewed(), held, QUICK, cal, drift_rows=0)
    assert out["model_protocol"]["max_time_ms"] == 2 * QUICK.max_time_ms  # models: the stricter rule
    c = out["calibration"]
    assert c["a"] == pytest.approx(1.3, rel=1e-6) and c["cv_mape_calibrated"] < c["cv_mape_raw"]
    assert c["applied"] is False and "held-out models it raises MAPE" in c["reason"]
    assert out["calibrated"]["mape"] == pytest.approx(0.0, abs=1e-6)  # the raw table stands
    stored = LUT.read(path)
    assert stored.calibration is None and stored.meta["calibration"]["applied"] is False


def test_validation_brackets_models_by_the_sentinel_and_remeasures_across_a_speed_change(tmp_path, monkeypatch):
    """A host that flips between two speeds after every validation step (mechanics only): a bracket
    of models is measured again when the sentinel checks around it disagree, then divided by their
    mean, so both repeats read what the host measures at the table's speed and the noise ceiling is exact."""
    import importlib

    from lutnas.measure.validate import validate

    monkeypatch.setattr(importlib.import_module("lutnas.measure.validate"), "BRACKET_S", 0.0)  # one model per bracket
    from lutnas.spaces import parse_spec

    slowdown = [1.0]
    device = _DriftingDevice.make(slowdown)
    space = get_space("vit-mini", SMALL)
    path = tmp_path / "flip.parquet"
    build_lut(device, space, space.grid(), path, QUICK, ops=False, sentinel_every=2, pause_s=0.0, recheck=False)
    specs = [parse_spec(s) for s in ("d=2,h=2,e=32,r=2,I=64,p=16", "d=4,h=2,e=32,r=2,I=64,p=16",
                                     "d=2,h=2,e=32,r=4,I=64,p=32")]
    truth = validate(LUT.read(path), device, specs, QUICK, drift_rows=0, repeats=1)["models"]  # steady host

    def flip(done, total):
        slowdown[0] = 1.0 if slowdown[0] > 1.0 else 1.06  # below the pause threshold, above the noise

    res = validate(LUT.read(path), device, specs, QUICK, drift_rows=0, repeats=2, progress=flip)
    s = res["sentinel"]
    assert s["retried"] >= 4 and s["unsteady"] == 0 and s["applied"]
    for got, want in zip(res["models"], truth):
        assert got["measured_runs_ms"] == pytest.approx([want["measured_ms"]] * 2, rel=1e-9)
    assert res["noise_ceiling"]["mape"] == pytest.approx(0.0, abs=1e-9)


def test_sentinel_waits_out_a_spike_but_not_a_host_that_settled_at_another_speed():
    from lutnas.measure.sentinel import Sentinel
    from lutnas.spaces import EncoderKey

    times = iter([1.0, 1.0] + [1.5] * 5 + [2.0, 1.5])

    class Scripted(Sentinel):
        def time_ms(self):
            return next(times)

    s, pauses = Scripted(device=None, key=EncoderKey(17, 32, 2, 16, 2)), []
    assert s.wait_until_steady(pause_s=0, on_pause=pauses.append) == (1.0, False)  # baseline 1.0
    assert s.wait_until_steady(pause_s=0, on_pause=pauses.append) == (1.5, True) and len(pauses) == 3
    # the host has been 1.5x slower for four checks: that is its usual speed now, nothing to wait for
    assert s.wait_until_steady(pause_s=0, on_pause=pauses.append) == (1.5, True) and len(pauses) == 3
    # a spike above the usual speed is waited out
    assert s.wait_until_steady(pause_s=0, on_pause=pauses.append) == (1.5, True) and pauses[3:] == [2.0]


def test_rebaseline_clears_host_flags_the_new_baseline_no_longer_supports(tmp_path):
    """A baseline taken in a rare fast state flags every row 'host slower': at the median host speed
    those rows are ordinary; a row still > 10 % slower keeps its flag (restated); CV still counts."""
    from lutnas.measure.build import BuildPlan, rebaseline
    from lutnas.measure.sentinel import slow_host_reason

    def row(i, r, cv=0.02):
        return {"key": f"k{i}", "batch": 1, "median_ms": 10.0 / r, "n": 5, "host_ratio": r, "cv": cv,
                "flagged": r > 1.1, "flag_reason": slow_host_reason(r) if r > 1.1 else None}

    rows = [row(0, 1.5), row(1, 1.45), row(2, 1.5, cv=0.2), row(3, 1.55), row(4, 1.8), row(5, 1.0)]
    plan = BuildPlan(tmp_path / "t.parquet", rows, {"protocol": {"cv_threshold": 0.1}}, [], {}, {})
    plan.save = lambda: None
    assert rebaseline(plan) == pytest.approx(1.5)
    flags = [(r["flagged"], r["flag_reason"]) for r in plan.rows]
    assert flags[0] == (False, None) and flags[1] == (False, None) and flags[3] == (False, None)
    assert flags[2] == (True, "flagged (CV 20%)")
    assert flags[4][0] and flags[4][1].startswith("host 1.20x slower")
    assert flags[5] == (False, None)  # a fast row was never flagged for the host


class _PairedDrifting:
    """torch-cpu's prepare, timed by the real protocol on a simulated clock: a call costs
    (0.05 ms + 1 ns per parameter) × the host's slowdown, which a test changes at will. It can pair
    (mechanics of paired timing; no real time is measured)."""

    @staticmethod
    def make(slowdown: list[float], level: list[float] | None = None):
        """``level``: a factor on every target but not on the sentinel (the block/sentinel ratio
        itself moves, which pairing cannot see)."""
        from lutnas.devices.torch_cpu import TorchCPUDevice
        from lutnas.profiler.protocol import run_protocol

        clock = {"now": 0.0}
        level = level or [1.0]

        def call(artifact, factor=None):
            cost = (0.05 + sum(p.numel() for p in artifact.payload.parameters()) * 1e-6) / 1e3

            def run():
                clock["now"] += cost * slowdown[0] * (level[0] if factor is None else factor)
            return run

        class Paired(TorchCPUDevice):
            def time(self, artifact, protocol, reference=None):
                ref = (call(reference.artifact, 1.0), reference.baseline_ms) if reference is not None else None
                return run_protocol(call(artifact), protocol, clock=lambda: clock["now"], reference=ref)

        return Paired()


def test_paired_build_and_validation_read_the_same_on_a_host_that_slows_down(tmp_path):
    """A table built paired while the host slows by 30 % halfway: every row reads what it reads at
    the baseline speed (host_ratio records the slowdown, nothing is flagged or paused), and a paired
    validation on a host 1.7x slower measures the models exactly as on the steady host."""
    from lutnas.measure.validate import validate

    slowdown = [1.0]
    space = get_space("vit-mini", SMALL)
    steady_path, path = tmp_path / "steady.parquet", tmp_path / "paired.parquet"
    q = QUICK.replace(min_sample_ms=0)
    build_lut(_PairedDrifting.make([1.0]), space, space.grid(), steady_path, q, ops=False, sentinel_every=2,
              pause_s=0.0, recheck=False)
    events = []

    def on(event, info):
        events.append(event)
        if event == "row" and info["done"] == 3:
            slowdown[0] = 1.3

    device = _PairedDrifting.make(slowdown)
    build_lut(device, space, space.grid(), path, q, ops=False, sentinel_every=2, pause_s=0.0, recheck=False,
              progress=on)
    lut, steady = LUT.read(path), LUT.read(steady_path)
    assert lut.meta["timing"] == "paired" and "pause" not in events
    rows = lut.rows.set_index("key").loc[steady.rows["key"]]
    # most rows ran at 1.3: the finished table is expressed at that typical speed (rebaselined)
    f = lut.meta["sentinel"]["rebaselined"]
    assert f == pytest.approx(1.3)
    assert rows["median_ms"].to_numpy() / f == pytest.approx(steady.rows["median_ms"].to_numpy(), rel=1e-9)
    assert not rows["flagged"].any() and sorted(set(rows["host_ratio"].round(6))) == [round(1 / 1.3, 6), 1.0]
    specs = [parse_spec(s) for s in ("d=2,h=2,e=32,r=2,I=64,p=16", "d=2,h=2,e=32,r=4,I=64,p=32")]
    truth = validate(lut, device, specs, q, drift_rows=2, repeats=2)
    slowdown[0] = 1.3 * 1.7
    slow = validate(LUT.read(path), device, specs, q, drift_rows=2, repeats=2)
    assert slow["sentinel"]["paired"] and slow["sentinel"]["median_ratio"] == pytest.approx(1.7)
    for got, want in zip(slow["models"], truth["models"]):
        assert got["measured_runs_ms"] == pytest.approx(want["measured_runs_ms"], rel=1e-9)
    assert [r["change"] for r in slow["drift"]["rows"]] == pytest.approx([0.0, 0.0], abs=1e-9)
    assert slow["as_measured"]["bias"] < -0.3  # as measured, the slow host's models read 2.2x the table
    # paired drift rows moved by nothing at the table's speed: the drift-corrected figures are the
    # paired ones, not the as-measured ones (both sides of the ratio are at the baseline speed)
    assert slow["drift_corrected"]["bias"] == pytest.approx(slow["calibrated"]["bias"], abs=1e-9)


def test_a_paired_tables_level_shift_is_corrected_when_rows_and_models_agree(tmp_path):
    """Targets run 25 % slower against the sentinel than at build time (pairing cannot see it): the
    re-measured rows read ×1.25, the held-out models confirm it, so the table's level is corrected
    (stored as its calibration, ``fit: drift``) and the validation's figures are the corrected ones;
    without the shift nothing is corrected."""
    from lutnas.measure.validate import validate

    level = [1.0]
    space = get_space("vit-mini", SMALL)
    path = tmp_path / "paired.parquet"
    q = QUICK.replace(min_sample_ms=0)
    device = _PairedDrifting.make([1.0], level)
    build_lut(device, space, space.grid(), path, q, ops=False, sentinel_every=2, pause_s=0.0, recheck=False)
    specs = space.grid()[:6]
    raw = LUT.read(path).predict(specs).raw_ms
    steady = validate(LUT.read(path), device, specs, q, drift_rows=6, repeats=2)
    assert not steady["drift"]["applied"] and LUT.read(path).calibration is None
    level[0] = 1.25
    moved = validate(LUT.read(path), device, specs, q, drift_rows=6, repeats=2)
    assert moved["drift"]["applied"] and moved["drift"]["ratio"] == pytest.approx(1.25, rel=1e-6)
    assert moved["calibration"]["fit"] == "drift" and moved["calibration"]["applied"]
    # corrected, the table reads against the moved host what it read against the steady one
    assert moved["bias"] == pytest.approx(steady["bias"], abs=1e-3)
    assert moved["mape"] == pytest.approx(steady["mape"], abs=1e-3)
    assert moved["mape"] < moved["raw"]["mape"]
    lut = LUT.read(path)
    assert lut.calibration["a"] == pytest.approx(1.25, rel=1e-6)
    assert lut.predict(specs).calibrated_ms == pytest.approx(raw * 1.25, rel=1e-6)
    assert lut.meta["validation"]["bias"] == pytest.approx(steady["bias"], abs=1e-3)
