"""Transfer mechanics on a tiny space: a deterministic "device" whose latency is a known function of
another's, so the test can assert that the predicted rows recover it (no timing is asserted)."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lutnas.cli.main import cli
from lutnas.devices.torch_cpu import TorchCPUDevice
from lutnas.luts import LUT, write_table
from lutnas.profiler import get_protocol
from lutnas.spaces import get_space

QUICK = get_protocol("quick")


def _params(module) -> int:
    return sum(p.numel() for p in module.parameters())


class Target(TorchCPUDevice):
    """Latency per call = 3 ns per parameter: per block, 3e-6 ms × the block's parameters."""
    supports_paired = False  # analytic times: no reference to pair with

    name = "torch-cpu"

    def time(self, artifact, protocol):
        return [3e-6 * _params(artifact.payload)] * 10, {}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A source table of another device: 0.05 ms + 1e-6 ms per parameter, every block of vit-mini."""
    from lutnas.models import build_block

    space = get_space("vit-mini")
    rows, truth = [], {}
    for k in space.unique_blocks():
        p1 = _params(build_block(k)[0])
        ms = 0.05 + 1e-6 * p1
        truth[k.canonical()] = 3e-6 * p1
        rows.append({"device": "ort-cpu", "kind": k.kind, "key": k.canonical(), **k.fields(), "batch": 1, "copies": 1,
                     "method": "isolated", "median_ms": ms, "mean_ms": ms, "p10_ms": ms, "p90_ms": ms, "std_ms": 0.0,
                     "cv": 0.0, "n": 10, "flagged": False, "protocol": "quick"})
    path = tmp_path_factory.mktemp("src") / "ort.parquet"
    write_table(rows, {"device": "ort-cpu", "space": space.to_dict(), "protocol": {"name": "quick"}}, path)
    return path, space, truth


@pytest.mark.slow
def test_transfer_recovers_a_known_device_from_a_quarter_of_its_blocks(source, tmp_path):
    from lutnas.measure.transfer import transfer_lut

    path, space, truth = source
    out = tmp_path / "new.parquet"
    n_blocks = len(space.unique_blocks())
    info = transfer_lut([LUT.read(path)], Target(), out, QUICK, budget="25%", sentinel_every=0)
    assert info["complete"] and info["measured"] == round(0.25 * n_blocks) and info["rows"] == n_blocks
    rows = pd.read_parquet(out)
    pred = rows[rows["method"] == "transferred"]
    assert len(pred) == n_blocks - info["measured"] and (pred["uncertainty"] > 0).all()
    err = np.array([r["median_ms"] / truth[r["key"]] - 1 for r in pred.to_dict("records")])
    assert np.mean(np.abs(err)) < 0.05, (info["model"], info["cv_mape"])
    # the result is an ordinary table: it predicts every spec of the space
    assert np.isfinite(LUT.read(out).predict(space.grid()).raw_ms).all()
    shown = LUT.read(out).summary(regressor=False)["transfer"]  # `lut show` says which rows were predicted
    assert shown["rows"] == len(pred) and shown["sources"] == ["ort-cpu"] and shown["uncertainty_median"] > 0
    # `search --margin auto` works before any validation: from the transferred rows' own uncertainty
    from lutnas.errors import InputError
    from lutnas.search.setup import latency_margins

    m = latency_margins([LUT.read(out)], "auto")["torch-cpu"]
    assert m["source"] == "transfer" and 0.5 <= m["factor"] < 1 and m["factor"] == pytest.approx(
        max(0.5, 1 - 2 * m["sigma_p90"]))
    with pytest.raises(InputError, match="lut validate"):  # a measured table still needs its validation
        latency_margins([LUT.read(path)], "auto")
    # re-running resumes: nothing new is measured, the predictions are re-derived
    again = transfer_lut([LUT.read(path)], Target(), out, QUICK, budget="25%", sentinel_every=0)
    assert again["measured"] == info["measured"] and len(pd.read_parquet(out)) == n_blocks
    # a later full build replaces predicted rows by measured ones
    from lutnas.measure import build_lut

    build_lut(Target(), space, space.grid(), out, QUICK, ops=False, sentinel_every=0, recheck=False)
    assert (pd.read_parquet(out)["method"] != "transferred").all() and len(pd.read_parquet(out)) == n_blocks


def test_kcenter_spreads_over_kinds_and_budget_is_checked(source):
    from lutnas.errors import InputError
    from lutnas.luts.transfer import features, select, source_latencies
    from lutnas.measure.transfer import parse_budget

    path, space, _ = source
    keys = space.unique_blocks()
    X = features(keys, source_latencies([LUT.read(path)], keys))
    chosen = select(keys, X, 6, "kcenter")
    assert {keys[i].kind for i in chosen} == {k.kind for k in keys}  # every kind measured at least once
    assert select(keys, X, 6, "kcenter") == chosen and len(set(select(keys, X, 6, "random", seed=1))) == 6
    assert parse_budget("10%", 50) == 5 and parse_budget("7", 50) == 7
    for bad in ("0%", "abc", "1", "200%"):
        with pytest.raises(InputError):
            parse_budget(bad, 50)


def test_transfer_cli_refuses_a_source_of_the_same_device(source, tmp_path):
    path, _, _ = source
    res = CliRunner().invoke(cli, ["lut", "transfer", "--from", str(path), "--device", "ort-cpu", "--out",
                                   str(tmp_path / "x.parquet")])
    assert res.exit_code == 2 and "already for 'ort-cpu'" in res.stderr


def test_kcenter_per_second_of_measuring_picks_cheaper_blocks(source):
    from lutnas.luts.transfer import features, select, source_latencies

    path, space, _ = source
    keys = space.unique_blocks()
    X = features(keys, source_latencies([LUT.read(path)], keys))
    seconds = np.where(np.arange(len(keys)) % 2 == 0, 1.0, 10.0)  # every other block takes 10× longer
    plain, cheap = select(keys, X, 12, "kcenter"), select(keys, X, 12, "kcenter", seconds=seconds)
    assert seconds[cheap].sum() < seconds[plain].sum()
    assert {keys[i].kind for i in cheap} == {k.kind for k in keys} and len(set(cheap)) == 12


def test_gp_knows_where_it_has_not_measured():
    from lutnas.luts.transfer import fit_transfer

    rng = np.random.default_rng(0)
    x = np.linspace(0, 6, 120)
    X = np.column_stack([x, rng.normal(0, 0.01, len(x))])
    src = np.exp(x)[:, None]
    y = src[:, 0] * np.exp(0.3 * np.sin(x))  # target / source: a smooth function of the feature
    near = x <= 3
    model = fit_transfer(X[near], y[near], src[near], ["encoder"] * int(near.sum()), candidates=("gp",))
    pred = model.predict(X, src, ["encoder"] * len(x))
    u = model.uncertainty(X, src, ["encoder"] * len(x))
    assert model.name == "gp" and np.max(np.abs(pred[near] / y[near] - 1)) < 0.02
    assert u[x > 5].min() > 3 * u[near].max()  # far from every measured block, it says so
