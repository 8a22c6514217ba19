"""Seed 004's hybrid space: specs, ranges, inductive bias, moves, builders, module table, removal."""

import json
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from lutnas.cli.main import cli
from lutnas.devices.base import Artifact, Device
from lutnas.errors import InputError
from lutnas.luts import LUT
from lutnas.measure import build_lut
from lutnas.models import build_block, build_model, model_input
from lutnas.profiler import get_protocol
from lutnas.spaces import AutoViTSpace, AutoViTSpec, get_space, parse_spec
from lutnas.spaces.autovit import ConvStemKey, MBConvKey, TLayerKey

SPACES = ("autovit-xxs", "autovit-xs", "autovit-s")


@pytest.mark.parametrize("name", SPACES)
def test_sampled_specs_respect_the_supernet(name):
    space = get_space(name)
    lo, hi = space.params_range
    specs = space.sample(60, 1)
    assert len(specs) == 60 and len(set(specs)) == 60
    for s in specs:
        assert lo * 1e6 <= s.params() <= hi * 1e6 and space.contains(s)
        assert list(s.t_widths) == sorted(s.t_widths)
        assert parse_spec(s.canonical()) == s
    assert {s.stages for s in specs} == {3, 4}


def test_params_range_is_enforced():
    space = get_space("autovit-xxs")
    biggest = space.make({f: v[-1] for f, v in space.values.items()})
    smallest = space.make({f: v[0] for f, v in space.values.items()} | {"s": 3})
    assert biggest.params() > 1.8e6 and not space.contains(biggest)
    assert smallest.params() < 1.0e6 and not space.contains(smallest)
    with pytest.raises(InputError, match="not in space"):
        space.validate(biggest)
    assert get_space("autovit-s").contains(biggest) is False  # XXS widths are not S candidates


def test_inductive_bias_rejects_decreasing_widths():
    with pytest.raises(InputError, match="inductive bias"):
        AutoViTSpec(16, (16, 24, 32), (1, 2, 2), (64, 48, 80), (2, 2, 2), (2, 2, 2), (2.0, 2.0, 2.0))
    # a space whose candidates overlap can draw decreasing widths: they are never produced
    wide = AutoViTSpace("wide", "xxs", {f"t{j}": [48, 64, 80, 96, 112] for j in (1, 2, 3, 4)})
    rng = np.random.default_rng(0)
    specs = wide.sample(100, rng)
    specs += [wide.mutate(specs[i], rng, 0.5) for i in range(50)] + [wide.crossover(specs[i], specs[-i - 1], rng) for i in range(50)]
    assert all(list(s.t_widths) == sorted(s.t_widths) for s in specs)
    assert any(s.t_widths[0] == s.t_widths[-1] for s in specs) or len({s.t_widths for s in specs}) > 20


def test_mutation_and_crossover_stay_valid_and_follow_pd_pm():
    space = get_space("autovit-xxs")
    rng = np.random.default_rng(3)
    parents = space.sample(20, rng)
    for p in parents:
        child = space.mutate(p, rng, prob=0.4, depth_prob=0.2)
        assert child != p and space.contains(child)
        depth_only = space.mutate(p, rng, prob=0.0, depth_prob=1.0)
        f0, f1 = p.factors(), depth_only.factors()
        changed = {k for k in f0 if f0[k] != f1[k] and f0[k] is not None and f1[k] is not None}
        assert changed <= set(space.depth_factors), changed
    for a, b in zip(parents, parents[1:]):
        c = space.crossover(a, b, rng)
        assert space.contains(c)
        fa, fb, fc = a.factors(), b.factors(), c.factors()
        assert all(fc[k] in (fa[k], fb[k]) for k in ("c", "w1", "w2", "w3", "n1", "n2", "n3", "s"))
    for n in space.neighbours(parents[0]):
        assert space.contains(n) and n != parents[0]


@pytest.mark.parametrize("name", SPACES)
def test_model_params_and_flops_match_the_analytic_count(name):
    from torch.utils.flop_counter import FlopCounterMode

    spec = get_space(name).sample(1, 7)[0]
    model = build_model(spec)
    x = model_input(spec)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        y = model(x)
    assert y.shape == (1, 1000)
    assert sum(p.numel() for p in model.parameters()) == spec.params()
    assert fc.get_total_flops() // 2 == spec.macs()


def test_blocks_build_and_chain_into_the_model():
    spec = get_space("autovit-xxs").sample(1, 11)[0]
    for key, _ in spec.blocks():
        module, example = build_block(key)
        with torch.no_grad():
            out = module(example)
        assert torch.isfinite(out).all(), key
        assert sum(p.numel() for p in module.parameters()) == key.params(), key


@pytest.mark.parametrize("name", SPACES)
def test_removal_takes_out_exactly_one_instance_of_the_key(name):
    """Host minus reduced is one instance of the key itself, at its resolution (not a same-width
    layer of another stage), for every removable block and module of the space."""
    from collections import Counter

    def counts(spec):
        c = Counter()
        for k, n in spec.blocks():
            c[k] += n
        return c

    space = get_space(name)
    removable = 0
    for key in space.unique_blocks() + space.module_keys():
        pair = space.removal_pair(key)
        if pair is None:
            continue
        removable += 1
        diff = counts(pair[0])
        diff.subtract(counts(pair[1]))
        assert {k: v for k, v in diff.items() if v} == {key: 1}, key
    assert removable > 40


def test_seed004_module_table_has_46_modules():
    space = get_space("autovit-xxs")
    keys = space.module_keys()
    kinds = [k.kind for k in keys]
    assert len(keys) == 46 == len(set(keys))
    assert (kinds.count("conv_stem"), kinds.count("mbconv"), kinds.count("tlayer")) == (2, 4, 40)
    assert {k.heads for k in keys if isinstance(k, TLayerKey)} == {2, 3, 4, 5}
    assert {k.res for k in keys if isinstance(k, TLayerKey) and k.dim == 112} == {4}
    spec = space.sample(1, 2)[0]
    counts = dict(space.module_counts(spec))
    assert sum(c for k, c in counts.items() if isinstance(k, TLayerKey)) == sum(spec.t_depths)
    assert all(k in keys for k in counts)


class ParamsDevice(Device):
    """A deterministic stand-in: 'latency' = trainable parameters / 10⁴ (additive over modules),
    so removal rows must equal the removed block's parameters exactly."""

    name = "params-device"
    defaults: dict[str, Any] = {}

    def fingerprint(self):
        return {"device": self.name, "runtime": "analytic"}

    def prepare(self, module, example):
        return Artifact(self.name, str(id(module)), module, example)

    def time(self, artifact, protocol):
        n = sum(p.numel() for p in artifact.payload.parameters())
        return [n / 1e4] * 5, {}


@pytest.fixture(scope="module")
def param_tables(tmp_path_factory):
    space = get_space("autovit-xxs")
    folder = tmp_path_factory.mktemp("autovit")
    proto = get_protocol("quick")
    build_lut(ParamsDevice(), space, [], folder / "removal.parquet", proto, ops=False, method="removal", modules=True,
              copies=1)
    build_lut(ParamsDevice(), space, [], folder / "blocks.parquet", proto, ops=False, keys=space.unique_blocks(), copies=1)
    return space, folder


def test_removal_bookkeeping(param_tables):
    space, folder = param_tables
    lut = LUT.read(folder / "removal.parquet")
    rows = lut.rows.set_index("key")
    assert len(rows) == 46 and lut.meta["method"] == "removal" and lut.granularity == "modules"
    hosts = lut.meta["removal_hosts"]
    for key in space.module_keys():
        row = rows.loc[key.canonical()]
        if isinstance(key, ConvStemKey):  # the stem cannot be removed: timed in isolation
            assert row["method"] == "isolated" and key.canonical() not in hosts
            continue
        assert row["method"] == "removal"
        host, reduced = (parse_spec(s) for s in hosts[key.canonical()])
        fh, fr = host.factors(), reduced.factors()
        assert [k for k in fh if fh[k] != fr[k]] and sum(fh[k] - fr[k] for k in fh if fh[k] != fr[k]) == 1
        assert key in dict(host.blocks()) and (host.params() - reduced.params()) == key.params()
        assert row["median_ms"] == pytest.approx(key.params() / 1e4)
    # resuming does nothing; another method on the same file is refused
    again = build_lut(ParamsDevice(), space, [], folder / "removal.parquet", get_protocol("quick"), ops=False,
                      method="removal", modules=True, copies=1)
    assert again["measured"] == 0
    with pytest.raises(InputError, match="method"):
        build_lut(ParamsDevice(), space, [], folder / "removal.parquet", get_protocol("quick"), ops=False, modules=True)


def test_tables_predict_hybrid_models(param_tables):
    space, folder = param_tables
    specs = space.sample(25, 4)
    blocks = LUT.read(folder / "blocks.parquet").predict(specs)
    assert not blocks.predicted.any()
    assert blocks.raw_ms == pytest.approx([s.params() / 1e4 for s in specs])  # exactly compositional
    modules = LUT.read(folder / "removal.parquet")
    want = [sum(k.params() * c for k, c in space.module_counts(s)) / 1e4 for s in specs]
    assert modules.predict(specs).raw_ms == pytest.approx(want)


@pytest.mark.parametrize("algorithm", ["coarse-to-fine", "evolutionary", "random", "greedy", "random-permutation"])
def test_every_algorithm_searches_the_hybrid_space(param_tables, algorithm):
    space, folder = param_tables
    res = CliRunner().invoke(cli, ["search", "--lut", str(folder / "blocks.parquet"), "--algorithm", algorithm,
                                   "--latency-ms", "150", "--params-m", "1.6", "--objective", "params",
                                   "--budget", "300", "--seed", "1", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    best = parse_spec(data["best"])
    assert space.contains(best) and best.params() <= 1.6e6 and best.params() / 1e4 <= 150


def test_cli_builds_the_module_table_on_torch_cpu(tmp_path):
    out = tmp_path / "m.parquet"
    res = CliRunner().invoke(cli, ["lut", "build", "--device", "torch-cpu", "--space", "autovit-xxs", "--modules",
                                   "--method", "removal", "--protocol", "quick", "--no-ops", "--max-rows", "4",
                                   "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    rows = LUT.read(out).rows
    assert list(rows["method"]) == ["isolated", "isolated", "removal", "removal"]
    assert (rows["median_ms"].iloc[:2] > 0).all()


@pytest.mark.parametrize("name", SPACES)
def test_measures_on_cpu_runners(name):
    spec = get_space(name).sample(1, 5)[0]
    for device in ("torch-cpu", "ort-cpu"):
        res = CliRunner().invoke(cli, ["measure", "--model", spec.canonical(), "--device", device, "--protocol", "quick",
                                       "--json"])
        assert res.exit_code == 0, res.output
        assert json.loads(res.output)["median_ms"] > 0


def test_tflite_exports_a_hybrid_block():
    pytest.importorskip("litert_torch")
    from lutnas.devices import get_device
    from lutnas.measure.target import measure_target

    key = MBConvKey(32, 48, 48, 1, 1)
    m, ops = measure_target(get_device("tflite-cpu"), key, get_protocol("quick"), ops=True, op_runs=3)
    assert m.median_ms > 0 and {o.type for o in ops} & {"DEPTHWISE_CONV_2D", "CONV_2D"}


def test_cli_predict_and_correlate_on_hybrid_tables(param_tables):
    space, folder = param_tables
    spec = space.sample(1, 9)[0]
    res = CliRunner().invoke(cli, ["lut", "predict", str(folder / "removal.parquet"), spec.canonical(), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [b["key"] for b in data["blocks"]] == [k.canonical() for k, _ in space.module_counts(spec)]
    assert data["sum_of_blocks_ms"] == pytest.approx(sum(k.params() * c for k, c in space.module_counts(spec)) / 1e4)
    res = CliRunner().invoke(cli, ["correlate", str(folder / "removal.parquet"), str(folder / "blocks.parquet"),
                                   "--specs", "sample:20", "--bootstrap", "50", "--json"])
    assert res.exit_code == 0, res.output
    assert "params-device (blocks)" in res.output and "params-device (removal)" in res.output
