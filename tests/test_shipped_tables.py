"""The tables shipped under luts/: each reads, covers its space, matches its schema, carries its
provenance and validation, is indexed in luts/README.md, and answers a search with no measuring."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lutnas.luts.check import check_table
from lutnas.luts.index import index_markdown
from lutnas.luts.table import LUT

ROOT = Path(__file__).resolve().parents[1]
LUTS = sorted((ROOT / "luts").glob("*.parquet"))


def test_tables_ship_and_stay_small():
    assert LUTS, "no table under luts/"
    devices = {LUT.read(p).device for p in LUTS}
    assert {"torch-cpu"} <= devices
    assert sum(p.stat().st_size for p in LUTS) < 10 * 2**20


@pytest.mark.parametrize("path", LUTS, ids=[p.name for p in LUTS])
def test_shipped_table_checks_and_carries_its_provenance(path):
    report = check_table(path)
    assert report["ok"], report["problems"]
    assert report["coverage"]["fraction"] == 1.0
    assert report["unexplained_violations"] == 0, report["findings"]
    meta = LUT.read(path).meta
    assert meta["fingerprint"]["device"] and meta["protocol"]["name"] and meta["schema_version"]
    assert meta["fingerprint"].get("cpu_model") or meta["fingerprint"].get("gpu_name")
    assert path.name.startswith(f"{meta['device']}-{meta['space']['name']}")


def test_index_is_generated_from_the_tables():
    text = (ROOT / "luts" / "README.md").read_text()
    assert text == index_markdown(LUTS), "luts/README.md is stale: lutnas lut index luts/*.parquet --out luts/README.md"


def test_lut_check_cli_on_every_shipped_table():
    r = subprocess.run([sys.executable, "-m", "lutnas.cli", "lut", "check", *map(str, LUTS), "--json"],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["ok"]


@pytest.mark.parametrize("path", LUTS, ids=[p.name for p in LUTS])
def test_search_on_a_shipped_table_measures_nothing(path, tmp_path):
    lut = LUT.read(path)
    space = lut.space()
    specs = space.sample(64, rng=0)
    budget = float(sorted(lut.predict(specs).latency_ms)[len(specs) // 2])  # the median spec's latency
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LUTNAS_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-m", "lutnas.cli", "search", "--lut", str(path), "--latency-ms", f"{budget:.3f}",
                        "--algorithm", "random", "--budget", "50", "--json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["feasible"] and out["latency_ms"][lut.device] <= budget
    assert not (tmp_path / "cache").exists()  # nothing was built, exported or measured


def test_index_names_the_stopping_rule_and_the_timing():
    from lutnas.luts.index import _protocol

    paired = {"protocol": {"name": "default", "ci_rel": 0.02, "max_time_ms": 1200}, "timing": "paired"}
    assert _protocol(paired) == "default ±2 %/1.2 s, paired"
    older = {"protocol": {"name": "default", "ci_rel": 0.01, "max_time_ms": 2500}, "sentinel": {"baseline_ms": 2.0}}
    assert _protocol(older) == "default ±1 %/2.5 s, bracketed"
    assert _protocol({"protocol": {"name": "quick", "ci_rel": 0.0, "max_time_ms": 2000}}) == "quick 2 s"
