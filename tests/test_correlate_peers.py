"""`lutnas correlate` on a peer's table of named models (a published comparison table), and a peer's
spec-keyed table joined with a LUT's predictions."""

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from lutnas.analysis.correlate import cost_table, read_measured_table
from lutnas.cli.main import cli
from lutnas.errors import InputError

TABLE = Path(__file__).parent / "data" / "corpus" / "tables" / "fastvit_published.csv"


def test_published_table_of_named_models_matches_scipy():
    res = CliRunner().invoke(cli, ["correlate", str(TABLE), "--columns", "macs_g,params_m,latency_ms,top1",
                                   "--bootstrap", "200", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    df = pd.read_csv(TABLE)
    assert d["n"] == len(df) == 7 and d["columns"] == ["macs_g", "params_m", "latency_ms", "top1"]
    for i, a in enumerate(d["columns"]):
        for j, b in enumerate(d["columns"]):
            if i == j:
                continue
            want = stats.kendalltau(df[a], df[b], variant="b")
            assert d["tau"][i][j] == pytest.approx(want.statistic, abs=5e-4)
            assert d["p_value"][i][j] == pytest.approx(want.pvalue, rel=1e-6)
            assert d["ci_low"][i][j] <= d["tau"][i][j] <= d["ci_high"][i][j]


def test_ties_and_a_second_peer_table_joined_on_model_names(tmp_path):
    other = tmp_path / "gpu.csv"
    pd.DataFrame({"model": ["FastViT-T8", "FastViT-S12", "FastViT-SA12", "FastViT-SA24", "FastViT-MA36", "other"],
                  "latency_ms": [1.1, 1.1, 0.9, 2.0, 3.0, 9.9]}).to_csv(other, index=False)
    table = cost_table([], [], [read_measured_table(TABLE), read_measured_table(other)])
    assert list(table.index) == ["FastViT-T8", "FastViT-S12", "FastViT-SA12", "FastViT-SA24", "FastViT-MA36"]
    assert "latency_ms (gpu)" in table.columns
    res = CliRunner().invoke(cli, ["correlate", str(TABLE), str(other), "--columns", "params_m,latency_ms (gpu)",
                                   "--bootstrap", "50", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    want = stats.kendalltau(table["params_m"], table["latency_ms (gpu)"], variant="b").statistic
    assert d["n"] == 5 and d["tau"][0][1] == pytest.approx(want, abs=5e-4)


def test_peer_table_joined_with_lut_predictions_on_spec(tmp_path):
    from lutnas.devices import get_device
    from lutnas.measure import build_lut
    from lutnas.profiler import get_protocol
    from lutnas.spaces import get_space

    space = get_space("vit-mini", {"d": [2], "h": [2], "e": [32], "I": [64]})
    lut = tmp_path / "t.parquet"
    build_lut(get_device("torch-cpu"), space, space.grid(), lut, get_protocol("quick"))
    specs = [s.canonical() for s in space.grid()]
    peer = tmp_path / "peer.csv"
    pd.DataFrame({"spec": specs, "phone_ms": [float(i % 3) for i in range(len(specs))]}).to_csv(peer, index=False)
    res = CliRunner().invoke(cli, ["correlate", str(lut), str(peer), "--specs", "grid", "--join", "spec",
                                   "--bootstrap", "20", "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert "phone_ms" in d["columns"] and d["n"] == len(specs)


def test_bad_peer_tables_fail_in_one_line(tmp_path):
    dup = tmp_path / "dup.csv"
    pd.DataFrame({"model": ["a", "a", "b"], "ms": [1, 2, 3]}).to_csv(dup, index=False)
    with pytest.raises(InputError, match="appears on several rows"):
        read_measured_table(dup)
    words = tmp_path / "words.csv"
    pd.DataFrame({"model": ["a", "b"], "note": ["x", "y"]}).to_csv(words, index=False)
    res = CliRunner().invoke(cli, ["correlate", str(words)])
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "no numeric column" in res.stderr
    res = CliRunner().invoke(cli, ["correlate", str(TABLE), "--join", "spec"])
    assert res.exit_code == 2 and "no 'spec' column" in res.stderr
