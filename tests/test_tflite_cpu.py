"""tflite-cpu for real: litert-torch export, LiteRT timing, single-op sub-models, graph categories."""

import json
import math

import pytest
from click.testing import CliRunner

pytest.importorskip("ai_edge_litert", reason="the tflite extra is not installed (pip install 'lutnas[tflite]')")
pytest.importorskip("litert_torch", reason="the tflite extra is not installed (pip install 'lutnas[tflite]')")

from lutnas.categories import CATEGORIES  # noqa: E402
from lutnas.cli.main import cli  # noqa: E402
from lutnas.devices import get_device, list_devices  # noqa: E402
from lutnas.measure.target import breakdown_ms, measure_target  # noqa: E402
from lutnas.devices.tflite_cpu import categorize_tflite_op, scopes_of  # noqa: E402
from lutnas.profiler import get_protocol  # noqa: E402
from lutnas.spaces import EncoderKey, HeadKey, PatchEmbedKey  # noqa: E402


def test_registered_and_usable():
    row = {r["name"]: r for r in list_devices()}["tflite-cpu"]
    assert row["usable"], row["reason"]


def test_scope_rules():
    name = "lutnas.models.vit.EncoderBlock/lutnas.models.vit.Attention_attn/torch.nn.modules.linear.Linear_qkv;2"
    assert scopes_of(name) == ["EncoderBlock", "Attention", "Linear"]
    assert categorize_tflite_op("FULLY_CONNECTED", name) == ("MLP", True)
    attn = "lutnas.models.vit.EncoderBlock/lutnas.models.vit.Attention_attn;13"
    assert categorize_tflite_op("SLICE", attn)[0] == "MSA-Gather"
    assert categorize_tflite_op("TRANSPOSE", attn)[0] == "MSA-Reshape&Transpose"
    assert categorize_tflite_op("BATCH_MATMUL", attn)[0] == "MSA-MatMul"
    ln = "lutnas.models.vit.EncoderBlock/torch.nn.modules.normalization.LayerNorm_norm1;3"
    assert {categorize_tflite_op(t, ln)[0] for t in ("MEAN", "SQUARED_DIFFERENCE", "RSQRT", "SUB")} == {"LayerNorm"}
    assert categorize_tflite_op("ADD", "serving_default_output_0_output") == ("Others", True)


def test_encoder_exported_block_is_classified_through_the_graph():
    dev = get_device("tflite-cpu")
    m, ops = measure_target(dev, EncoderKey(17, 64, 2, 32, 2), get_protocol("quick"), ops=True, op_runs=5)
    assert m.n >= 10 and m.p10_ms <= m.median_ms <= m.p90_ms
    cats = breakdown_ms(ops)
    assert all(cats[c] > 0 for c in CATEGORIES), cats  # decomposed LN, attention split and data movement found
    assert not [o.name for o in ops if not o.classified]
    assert {o.type for o in ops} >= {"MEAN", "SQUARED_DIFFERENCE", "RSQRT", "BATCH_MATMUL", "SOFTMAX", "FULLY_CONNECTED"}
    assert all(math.isfinite(o.total_ms) and o.total_ms >= 0 for o in ops)  # times are the machine's: never compared


def test_other_blocks_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LUTNAS_CACHE", str(tmp_path))
    dev = get_device("tflite-cpu", xnnpack=False)
    for key in (PatchEmbedKey(64, 16, 64), HeadKey(64, 10)):
        m, _ = measure_target(dev, key, get_protocol("quick"))
        assert m.median_ms > 0 and m.fingerprint["xnnpack"] is False
    files = list((tmp_path / "tflite").glob("*.tflite"))
    assert len(files) == 2
    mtimes = {f: f.stat().st_mtime_ns for f in files}
    measure_target(dev, HeadKey(64, 10), get_protocol("quick"))
    assert {f: f.stat().st_mtime_ns for f in files} == mtimes


def test_cli_json_stays_clean_while_converting(tmp_path, monkeypatch):
    monkeypatch.setenv("LUTNAS_CACHE", str(tmp_path))
    res = CliRunner().invoke(cli, ["measure", "--block", "head(dim=32,classes=10)", "--device", "tflite-cpu",
                                   "--protocol", "quick", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["median_ms"] > 0


def test_a_users_own_tflite_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LUTNAS_CACHE", str(tmp_path))
    dev = get_device("tflite-cpu")
    measure_target(dev, HeadKey(32, 10), get_protocol("quick"))
    model = next((tmp_path / "tflite").glob("*.tflite"))
    res = CliRunner().invoke(cli, ["measure", "--file", str(model), "--device", "tflite-cpu", "--ops", "--protocol",
                                   "quick", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["median_ms"] > 0 and data["ops"] and data["key"] == str(model)
    res = CliRunner().invoke(cli, ["measure", "--file", str(model), "--device", "torch-cpu"])
    assert res.exit_code == 2 and "cannot run a model file" in res.stderr


@pytest.mark.slow
def test_export_jobs_fill_the_cache_before_anything_is_timed(tmp_path, monkeypatch):
    from lutnas.measure import build_lut
    from lutnas.spaces import get_space

    monkeypatch.setenv("LUTNAS_CACHE", str(tmp_path / "cache"))
    keys = [EncoderKey(5, 32, 2, 16, 2), HeadKey(32, 10)]
    events = []
    info = build_lut(get_device("tflite-cpu"), get_space("vit-mini"), [], tmp_path / "t.parquet",
                     get_protocol("quick", min_time_ms=5, min_runs=5), ops=False, keys=keys, export_jobs=2,
                     sentinel_every=0, recheck=False, progress=lambda e, d: events.append(e))
    assert info["exported"] == 2 and info["rows"] == 2
    kinds = [e for e in events if e in ("export", "row")]
    assert kinds == ["export", "export", "row", "row"]  # every export first, then the timings
    # the build prepared the very files the workers exported: nothing exported twice
    assert len(list((tmp_path / "cache" / "tflite").glob("*.tflite"))) == 2
