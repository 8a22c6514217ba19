"""A third-party search space (tests/space_plugin_pkg: tiny MLP-Mixers) installed through the
``lutnas.spaces`` entry point, then driven through the command line with no edit to lutnas."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lutnas.spaces import list_spaces

NARROW = ["--space", "mixer-tiny", "--values", "dim=16", "--values", "depth=1,2"]
SPEC = "mixer:depth=2,dim=16,patch=8,image=32"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """An environment whose PYTHONPATH holds the plug-in package, installed like a user would."""
    pkg = tmp_path_factory.mktemp("space-src") / "space_plugin_pkg"  # a copy: the build writes beside it
    shutil.copytree(Path(__file__).parent / "space_plugin_pkg", pkg, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    target = tmp_path_factory.mktemp("space-site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(target), str(pkg)], check=True, capture_output=True)
    return {**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def lutnas(env, *args, ok=True):
    out = subprocess.run([sys.executable, "-m", "lutnas.cli", *args], capture_output=True, text=True, env=env)
    if ok:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def cpu_table(env, tmp_path_factory):
    path = tmp_path_factory.mktemp("mixer") / "torch-cpu.parquet"
    info = json.loads(lutnas(env, "lut", "build", "--device", "torch-cpu", *NARROW, "--protocol", "quick",
                             "--out", str(path), "--json").stdout)
    assert info["complete"] and info["rows"] == 6  # 2 stems, 2 layers, 2 heads
    return path


def test_spaces_lists_the_plugin_space(env):
    data = json.loads(lutnas(env, "spaces", "--json").stdout)
    mixer = {s["name"]: s for s in data["spaces"]}["mixer-tiny"]
    assert mixer["size"] == 8 and mixer["unique_blocks"] == 12
    assert "mixer-tiny" not in list_spaces()  # not installed in this process


def test_spec_parses_and_counts_the_plugin_model(env):
    data = json.loads(lutnas(env, "spec", SPEC, "--json").stdout)
    assert data["spec"] == SPEC and [b["kind"] for b in data["blocks"]] == ["mixer_stem", "mixer_layer", "mixer_head"]
    assert data["tokens"] == 16 and data["blocks"][1]["count"] == 2


def test_build_stores_the_plugin_kinds_fields_and_reads_back(env, cpu_table):
    df = pd.read_parquet(cpu_table)
    assert set(df["kind"]) == {"mixer_stem", "mixer_layer", "mixer_head"}
    layers = df[df["kind"] == "mixer_layer"]
    assert sorted(layers["tokens"]) == [4, 16] and (layers["dim"] == 16).all()
    show = json.loads(lutnas(env, "lut", "show", str(cpu_table), "--json").stdout)
    assert show["space"]["name"] == "mixer-tiny" and show["coverage"]["fraction"] == 1.0
    check = json.loads(lutnas(env, "lut", "check", str(cpu_table), "--json", ok=False).stdout)["tables"][0]
    assert check["coverage"]["fraction"] == 1.0 and not any("column" in p for p in check["problems"])


def test_build_on_onnxruntime(env, tmp_path):
    path = tmp_path / "ort-cpu.parquet"
    info = json.loads(lutnas(env, "lut", "build", "--device", "ort-cpu", *NARROW, "--protocol", "quick", "--no-ops",
                             "--out", str(path), "--json").stdout)
    assert info["complete"] and info["rows"] == 6


def test_predict_sums_the_plugin_blocks(env, cpu_table):
    data = json.loads(lutnas(env, "lut", "predict", str(cpu_table), SPEC, "--json").stdout)
    assert [b["count"] for b in data["blocks"]] == [1, 2, 1] and not data["any_predicted"]
    assert data["sum_of_blocks_ms"] == pytest.approx(sum(b["ms_total"] for b in data["blocks"]))
    off = json.loads(lutnas(env, "lut", "predict", str(cpu_table), "mixer:depth=3,dim=16,patch=8,image=32", "--json").stdout)
    assert off["sum_of_blocks_ms"] > data["sum_of_blocks_ms"]


def test_validate_measures_plugin_models(env, cpu_table, tmp_path):
    data = json.loads(lutnas(env, "lut", "validate", str(cpu_table), "--sample", "2", "--calibrate", "2", "--blocks", "2",
                             "--protocol", "quick", "--out", str(tmp_path), "--json").stdout)
    assert data["n"] == 2 and Path(data["png"]).exists()


def test_breakdown_of_a_plugin_model(env, cpu_table):
    data = json.loads(lutnas(env, "breakdown", "--model", SPEC, "--device", "torch-cpu", "--lut", str(cpu_table),
                             "--protocol", "quick", "--json").stdout)
    assert data["sources"][0] == "FLOPs" and len(data["breakdowns"]) == 3


def test_search_over_the_plugin_space(env, cpu_table):
    for algorithm in ("evolutionary", "greedy"):
        data = json.loads(lutnas(env, "search", "--lut", str(cpu_table), "--latency-ms", "1000", "--algorithm", algorithm,
                                 "--budget", "10", "--batch", "4", "--json").stdout)
        assert data["space"] == "mixer-tiny" and data["feasible"] and data["best"].startswith("mixer:")


def test_a_command_needing_a_missing_capability_names_the_space(env, tmp_path):
    out = lutnas(env, "lut", "build", "--device", "torch-cpu", *NARROW, "--modules", "--out", str(tmp_path / "m.parquet"),
                 ok=False)
    assert out.returncode == 2 and "mixer-tiny" in out.stderr and "module_table" in out.stderr
