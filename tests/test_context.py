"""The cache-context curve: its math, its place in predictions, its measurement, and the guard that
keeps it only when it lowers the held-out error. Deterministic devices; nothing here is timed."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lutnas.cli.main import cli
from lutnas.devices.torch_cpu import TorchCPUDevice
from lutnas.errors import InputError
from lutnas.luts import LUT
from lutnas.luts.calibration import update_meta
from lutnas.luts.context import MIB, ContextCurve, fit_curve
from lutnas.measure.context import probe_context, probe_keys
from lutnas.measure.validate import judge_context
from lutnas.profiler import get_protocol
from lutnas.spaces import get_space
from lutnas.spaces.vit import EncoderKey
from tests.synthetic import synthetic_rows, write_synthetic

TRUE = ContextCurve((0.5, 2.0, 8.0), (0.0, 0.01, 0.05))  # ms per MiB of a block's weights


def test_curve_is_zero_below_log_linear_between_and_flat_beyond():
    assert TRUE.per_mib(0.1) == 0.0 and TRUE.per_mib(0.5) == 0.0
    assert TRUE.per_mib(1.0) == pytest.approx(0.005)  # halfway between 0.5 and 2 MiB in log2
    assert TRUE.per_mib(100.0) == pytest.approx(0.05)
    assert TRUE.model_ms(10.0) == pytest.approx(0.5)
    assert TRUE.row_offset_ms(1.0, 8) == pytest.approx(0.05)
    with pytest.raises(InputError):
        ContextCurve((2.0, 1.0), (0.0, 0.1))  # footprints not ascending
    with pytest.raises(InputError):
        ContextCurve((1.0, 2.0), (0.1, 0.0))  # a larger working set never runs faster


def test_fit_keeps_medians_and_makes_a_dip_monotone():
    pts = [(1.0, 4.0, 0.02), (1.0, 4.0, 0.04), (1.0, 4.0, 0.03), (1.0, 16.0, 0.01), (1.0, 64.0, 0.06)]
    curve = fit_curve(pts)
    assert curve.footprints_mib[0] == 1.0 and curve.extra_ms_per_mib[0] == 0.0
    assert curve.extra_ms_per_mib[1:] == pytest.approx((0.03, 0.03, 0.06))  # the 16 MiB dip raised to 0.03
    with pytest.raises(InputError):
        fit_curve([(4.0, 2.0, 0.1)])  # no footprint above the block's own weights


def _with_context(lut: LUT, curve: ContextCurve) -> LUT:
    return LUT(lut.rows, {**lut.meta, "context": curve.to_dict()}, None)


def test_prediction_is_hot_blocks_plus_streaming_the_model_weights(tmp_path):
    space = get_space("vit-mini")
    rows = synthetic_rows(space)
    for r in rows:
        r["copies"] = 4
    plain = LUT.read(write_synthetic(tmp_path / "t.parquet", space, rows))
    lut = _with_context(plain, TRUE)
    specs = space.sample(10, 0)
    by_key = {r["key"]: r for r in rows}
    expected = []
    for s in specs:
        total, weights = 0.0, 0.0
        for key, count in s.blocks():
            w = key.weight_bytes() / MIB
            # a block's hot time never goes below 0 (a curve too steep for a tiny block)
            total += count * max(0.0, by_key[key.canonical()]["median_ms"] - w * float(TRUE.per_mib(4 * w)))
            weights += count * w
        expected.append(total + weights * float(TRUE.per_mib(weights)))
    got = lut.predict(specs).raw_ms
    assert got == pytest.approx(expected)
    assert lut._predict_per_spec(specs, 1).raw_ms == pytest.approx(expected)  # the per-spec path agrees
    assert [lut.latency_ms(s) for s in specs] == pytest.approx(expected)
    assert lut.without_context().predict(specs).raw_ms == pytest.approx(plain.predict(specs).raw_ms)
    assert not np.allclose(got, plain.predict(specs).raw_ms)


class Streaming(TorchCPUDevice):
    """Per call: 1e-6 ms per parameter, plus the call's weights W (MiB) × TRUE(W) — a block's time
    rises with the working set exactly as the curve says."""
    supports_paired = False  # analytic times: no reference to pair with

    def time(self, artifact, protocol):
        params = sum(p.numel() for p in artifact.payload.parameters())
        weights = 4 * params / MIB
        return [1e-6 * params + weights * float(TRUE.per_mib(weights))] * 5, {}


def test_probe_recovers_the_device_curve():
    key = EncoderKey(tokens=17, dim=64, heads=2, head_dim=32, mlp_ratio=4.0)
    ctx = probe_context(Streaming(), [key], get_protocol("quick"), levels_mib=(0.5, 1.0, 2.0, 4.0), repeats=1)
    curve = ContextCurve.from_dict(ctx)
    knots = np.array(curve.footprints_mib[1:])
    assert curve.per_mib(knots) == pytest.approx(TRUE.per_mib(knots), abs=1e-9)
    assert [int(c) for c in ctx["probes"][0]["ms_per_block"]] == sorted(int(c) for c in ctx["probes"][0]["ms_per_block"])


def test_probe_keys_take_the_repeated_kind_spread_over_weights(tmp_path):
    space = get_space("vit-scaling")
    lut = LUT.read(write_synthetic(tmp_path / "t.parquet", space))
    keys = probe_keys(lut, 4)
    assert 2 <= len(keys) <= 4 and {k.kind for k in keys} == {"encoder"}
    assert len({k.weight_bytes() for k in keys}) == len(keys)
    with pytest.raises(InputError):
        probe_keys(lut, 4, min_weight_mib=1e6)


def _runs(values: np.ndarray) -> np.ndarray:
    return np.column_stack([values, values])


def test_context_is_kept_only_when_it_lowers_the_held_out_error(tmp_path):
    space = get_space("vit-mini")
    path = write_synthetic(tmp_path / "t.parquet", space)
    update_meta(path, context=TRUE.to_dict())
    specs = space.sample(12, 1)
    lut = LUT.read(path)
    truth_with = lut.predict(specs).raw_ms
    truth_plain = lut.without_context().predict(specs).raw_ms

    out = judge_context(lut, specs, _runs(truth_with))  # the device does stream its weights
    assert out["applied"] and LUT.read(path).context is not None
    assert out["with"]["mape"] < out["without"]["mape"]

    out = judge_context(LUT.read(path), specs, _runs(truth_plain))  # it does not: the curve is refused
    assert not out["applied"] and "not applied" in out["reason"]
    stored = LUT.read(path)
    assert stored.context is None and stored.meta["context"]["applied"] is False
    assert stored.predict(specs).raw_ms == pytest.approx(truth_plain)


def test_validate_stored_rejudges_without_a_device(tmp_path):
    space = get_space("vit-mini")
    path = write_synthetic(tmp_path / "t.parquet", space)
    specs = space.sample(12, 2)
    plain = LUT.read(path).predict(specs).raw_ms
    models = [{"spec": s.canonical(), "measured_ms": float(m * 1.1), "runs_ms": [float(m * 1.1)] * 2}
              for s, m in zip(specs, plain)]
    update_meta(path, validation={"n": len(specs), "bias": 0.0, "sd_error": 0.0, "mape": 0.0, "models": models})
    res = CliRunner().invoke(cli, ["lut", "validate", str(path), "--stored", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["bias"] == pytest.approx(1 / 1.1 - 1) and data["n"] == 12
    assert LUT.read(path).meta["validation"]["bias"] == pytest.approx(1 / 1.1 - 1)  # what --margin auto reads
    update_meta(path, validation={})
    res = CliRunner().invoke(cli, ["lut", "validate", str(path), "--stored"])
    assert res.exit_code != 0 and "stores no validation measurements" in res.output


def test_build_measures_the_context_when_asked(tmp_path, monkeypatch):
    # real timings, steadied: each measurement's samples replaced by their median, so a busy host (the
    # suite's other worker) cannot flag the one encoder row a probe needs — this tests the wiring
    real = TorchCPUDevice.time

    def steady(self, artifact, protocol, reference=None):
        samples, info = real(self, artifact, protocol, reference)
        return [float(np.median(samples))] * len(samples), info

    monkeypatch.setattr(TorchCPUDevice, "time", steady)
    small = tmp_path / "mini.parquet"
    args = ["lut", "build", "--device", "torch-cpu", "--protocol", "quick", "--no-ops", "--no-recheck", "--context"]
    res = CliRunner().invoke(cli, [*args, "--space", "vit-mini", "--values", "d=2", "--values", "e=32", "--values",
                                   "I=64", "--values", "p=32", "--out", str(small), "--json"])
    assert res.exit_code == 0, res.output
    assert "skipped" in json.loads(res.stdout)["context"]  # blocks of a few KiB: nothing to probe
    assert "context" not in LUT.read(small).meta
    wide = tmp_path / "wide.parquet"
    res = CliRunner().invoke(cli, [*args, "--space", "vit-scaling", "--values", "d=2", "--values", "h=6", "--values",
                                   "e=64", "--values", "r=2", "--values", "I=64", "--values", "p=32", "--out", str(wide),
                                   "--json"])
    assert res.exit_code == 0, res.output
    ctx = LUT.read(wide).meta["context"]
    curve = ContextCurve.from_dict(ctx)  # valid: ascending footprints, non-decreasing extras
    assert ctx["probes"][0]["key"].startswith("encoder(") and curve.footprints_mib[-1] > 32
