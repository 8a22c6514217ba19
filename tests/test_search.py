"""Searches against a synthetic table (a real LUT file written with lutnas' own writer)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from lutnas.cli.main import cli
from lutnas.errors import InputError
from lutnas.luts import LUT, write_table
from lutnas.search import Constraint, Problem, get_searcher, gflops_cost, params_cost, run_search, searcher_names
from lutnas.search.setup import build_problem
from lutnas.spaces import get_space, parse_spec

SPACE_VALUES = {"d": [2, 4, 6], "h": [2, 3], "e": [32, 64], "r": [2, 4], "I": [64, 96], "p": [16, 32]}


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A LUT whose latencies are an analytic function of the block (deterministic, known)."""
    space = get_space("vit-mini", SPACE_VALUES)
    rows = []
    for key in space.unique_blocks():
        from lutnas.spaces import block_macs_by_category

        ms = 0.01 + sum(block_macs_by_category(key).values()) / 1e8
        rows.append({"device": "synthetic", "kind": key.kind, "key": key.canonical(), **key.fields(), "batch": 1,
                     "copies": 1, "method": "isolated", "median_ms": ms, "mean_ms": ms, "p10_ms": ms, "p90_ms": ms,
                     "std_ms": 0.0, "cv": 0.0, "n": 10, "flagged": False, "protocol": "synthetic"})
    path = tmp_path_factory.mktemp("search") / "synthetic.parquet"
    write_table(rows, {"device": "synthetic", "space": space.to_dict(), "protocol": {"name": "synthetic"}}, path)
    return path, space


def problem_for(table, latency="1.5", objective="flops", window=None):
    path, space = table
    return build_problem(space, [LUT.read(path)], [latency], objective=objective, window=window)


def brute_force(problem):
    ev = problem.evaluate(problem.space.grid())
    ok = ev.feasible
    i = int(np.argmax(np.where(ok, ev.score, -np.inf)))
    return ev.specs[i], ev.score[i]


@pytest.mark.parametrize("algorithm", ["exhaustive", "random", "greedy", "random-permutation", "evolutionary",
                                       "coarse-to-fine", "asvit-scaling"])
def test_every_algorithm_meets_constraints_and_is_reproducible(table, algorithm):
    problem = problem_for(table)
    params = {"population": 30, "children": 20, "parents": 8, "iterations": 3} if algorithm == "evolutionary" else {}
    results = []
    for _ in range(2):
        r = run_search(problem, get_searcher(algorithm)(seed=5, **params), budget=120, batch=16)
        results.append(r)
        assert r.feasible, algorithm
        assert r.costs["latency_ms[synthetic]"] <= 1.5 + 1e-12
        hist = r.history
        assert (hist.loc[hist["feasible"], "latency_ms[synthetic]"] <= 1.5 + 1e-12).all()
    assert results[0].best == results[1].best
    assert results[0].history["spec"].tolist() == results[1].history["spec"].tolist()


def test_exhaustive_finds_the_brute_force_optimum(table):
    problem = problem_for(table)
    best, score = brute_force(problem)
    r = run_search(problem, get_searcher("exhaustive")(), budget=10_000)
    assert r.best == best and r.score == pytest.approx(score)


def test_greedy_follows_algorithm_1_by_hand(table):
    """Costs are GFLOPs here (no table), so the path can be computed by hand."""
    _, space = table
    space = space.narrow({"d": [2, 4], "h": [2], "e": [32, 64], "r": [2], "I": [64], "p": [16]})
    problem = Problem(space, {"gflops": gflops_cost, "params_m": params_cost}, [Constraint("gflops", 1.0)], params_cost)
    searcher = get_searcher("greedy")(start="d=2,h=2,e=32,r=2,I=64,p=16", growth=2.0, steps=3, targets=[0.003, 0.01])
    run_search(problem, searcher, budget=50)
    c0 = gflops_cost([parse_spec("d=2,h=2,e=32,r=2,I=64,p=16")])[0]
    # step 1, target 0.003 GFLOPs: d 2->4 gives 0.00323, e 32->64 gives 0.00631; both reach it,
    # and the objective (params) prefers e=64 (0.495 M vs 0.249 M)
    d4 = parse_spec("d=4,h=2,e=32,r=2,I=64,p=16")
    e64 = parse_spec("d=2,h=2,e=64,r=2,I=64,p=16")
    assert gflops_cost([d4])[0] >= 0.003 > c0 and gflops_cost([e64])[0] >= 0.003
    assert params_cost([e64])[0] > params_cost([d4])[0]
    assert searcher.path[1]["spec"] == e64
    # step 2 from e=64, target 0.01: only d can still grow, d=4 gives 0.0109 >= 0.01
    assert searcher.path[2]["spec"] == parse_spec("d=4,h=2,e=64,r=2,I=64,p=16")
    assert [p["target"] for p in searcher.path[1:]] == [0.003, 0.01]


def test_resume_from_history_gives_identical_results(table, tmp_path):
    problem = problem_for(table)
    hist = tmp_path / "h.parquet"
    full = run_search(problem, get_searcher("evolutionary")(seed=3, population=30, children=20, parents=8, iterations=4),
                      budget=90, batch=10)
    run_search(problem, get_searcher("evolutionary")(seed=3, population=30, children=20, parents=8, iterations=4),
                      budget=40, batch=10, history=hist)
    assert len(pd.read_parquet(hist)) == 40
    resumed = run_search(problem, get_searcher("evolutionary")(seed=3, population=30, children=20, parents=8, iterations=4),
                         budget=90, batch=10, history=hist)
    assert resumed.cached == 40 and resumed.best == full.best
    assert resumed.history["spec"].tolist() == full.history["spec"].tolist()


def test_infeasible_budget_names_the_fastest_spec(table):
    path, _ = table
    res = CliRunner().invoke(cli, ["search", "--lut", str(path), "--latency-ms", "0.001", "--algorithm", "random", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["feasible"] is False and data["best"] is None and data["fastest"]["spec"]
    assert "cheapest spec" in res.stderr


def test_cli_search_json_keys(table, tmp_path):
    path, _ = table
    res = CliRunner().invoke(cli, ["search", "--lut", str(path), "--latency-ms", "1.5", "--algorithm", "coarse-to-fine",
                                   "--budget", "100", "--out", str(tmp_path / "h.parquet"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert {"best", "score", "latency_ms", "evaluations", "feasible"} <= set(data)
    assert data["feasible"] and data["latency_ms"]["synthetic"] <= 1.5
    assert parse_spec(data["best"])
    res = CliRunner().invoke(cli, ["search", "--lut", str(path), "--algorithm", "nope"])
    assert res.exit_code == 2 and "not known" in res.stderr
    res = CliRunner().invoke(cli, ["search", "--lut", str(path), "--objective", "magic"])
    assert res.exit_code == 2 and "objective" in res.stderr


def test_table_and_python_objectives(table, tmp_path):
    path, space = table
    grid = space.grid()
    acc = pd.DataFrame({"spec": [s.canonical() for s in grid], "accuracy": np.arange(len(grid), dtype=float)})
    acc.to_csv(tmp_path / "acc.csv", index=False)
    problem = problem_for(table, objective=f"table:{tmp_path / 'acc.csv'}")
    r = run_search(problem, get_searcher("exhaustive")(), budget=10_000)
    feasible = [i for i, s in enumerate(grid) if problem.evaluate([s]).feasible[0]]
    assert r.best == grid[max(feasible)]
    py = problem_for(table, objective="python:lutnas.search.problem:params_cost")
    assert run_search(py, get_searcher("exhaustive")(), budget=10_000).feasible
    with pytest.raises(InputError, match="python:"):
        problem_for(table, objective="python:nomodule")


def test_window_constraint(table):
    problem = problem_for(table, latency="0.2", window=0.5)
    r = run_search(problem, get_searcher("random")(seed=1), budget=200)
    ok = r.history[r.history["feasible"]]["latency_ms[synthetic]"]
    assert len(ok) > 3 and ((ok >= 0.1) & (ok <= 0.2)).all()
    lat = problem.cost_of(problem.space.grid())
    assert len(ok) == int(((lat >= 0.1) & (lat <= 0.2)).sum())  # random visits every spec in the window


def test_asvit_objective_on_tiny_models():
    from lutnas.models.proxies import AsViTObjective

    obj = AsViTObjective(batch=3, curve_points=8)
    specs = [parse_spec("d=1,h=2,e=16,r=2,I=32,p=16"), parse_spec("d=2,h=2,e=16,r=2,I=32,p=16")]
    le, kappa = obj.components(specs)
    assert (le > 0).all() and (kappa >= 1).all()
    assert np.isfinite(obj(specs)).all()
    assert obj.components(specs[:1])[0][0] == le[0]  # cached


def test_third_party_searcher_through_an_entry_point(table, tmp_path):
    pkg = Path(__file__).parent / "plugin_pkg"
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(target), str(pkg)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": f"{target}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    help_text = subprocess.run([sys.executable, "-m", "lutnas.cli", "search", "--help"], capture_output=True, text=True,
                               env=env, check=True).stdout
    assert "test-lowest" in help_text
    path, _ = table
    out = subprocess.run([sys.executable, "-m", "lutnas.cli", "search", "--lut", str(path), "--latency-ms", "1.5",
                          "--algorithm", "test-lowest", "--budget", "5", "--json"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["evaluations"] == 5
    assert "test-lowest" not in searcher_names()  # not installed in this process


def test_verify_measures_the_best_on_the_device(tmp_path):
    """--verify K measures the K best specs on the table's own device (a real torch-cpu table)."""
    from lutnas.devices import get_device
    from lutnas.measure import build_lut
    from lutnas.profiler import get_protocol

    space = get_space("vit-mini", {"d": [2], "h": [2], "e": [32], "r": [2, 4], "I": [64], "p": [16]})
    path = tmp_path / "cpu.parquet"
    build_lut(get_device("torch-cpu"), space, space.grid(), path, get_protocol("quick"), ops=False)
    res = CliRunner().invoke(cli, ["search", "--lut", str(path), "--latency-ms", "100", "--algorithm", "exhaustive",
                                   "--verify", "2", "--protocol", "quick", "--json"])
    assert res.exit_code == 0, res.output
    v = json.loads(res.stdout)["verify"]
    assert len(v) == 2 and all(x["measured_ms"] > 0 and x["meets_budget"] for x in v)


def test_asvit_objective_from_the_cli(table):
    path, _ = table
    res = CliRunner().invoke(cli, ["search", "--lut", str(path), "--latency-ms", "0.08", "--algorithm", "random",
                                   "--objective", "asvit", "--budget", "3", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["evaluations"] == 3 and data["feasible"] and np.isfinite(data["score"])


def test_margin_shrinks_the_budget_by_the_tables_validated_error(table, tmp_path):
    import shutil

    from lutnas.errors import InputError
    from lutnas.luts.calibration import update_meta
    from lutnas.search.setup import build_problem

    src, space = table
    path = tmp_path / "t.parquet"
    shutil.copy(src, path)
    with pytest.raises(InputError, match="lut validate"):
        build_problem(space, [LUT.read(path)], ["10"], margin="auto")
    update_meta(path, validation={"n": 30, "bias": -0.04, "sd_error": 0.03})
    auto = build_problem(space, [LUT.read(path)], ["10"], margin="auto")
    assert auto.constraints[0].upper == pytest.approx(10 * (1 - 0.04 - 2 * 0.03))
    assert build_problem(space, [LUT.read(path)], ["10"], margin="0.05").constraints[0].upper == pytest.approx(9.5)
    assert build_problem(space, [LUT.read(path)], ["10"]).constraints[0].upper == 10
    with pytest.raises(InputError):
        build_problem(space, [LUT.read(path)], ["10"], margin="0.9")
    res = CliRunner().invoke(cli, ["search", "--lut", str(path), "--latency-ms", "10", "--margin", "auto", "--budget",
                                   "50", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["margins"]["synthetic"]["factor"] == pytest.approx(0.9)


def test_two_parent_indices_are_distinct_and_cover_every_pair():
    from collections import Counter

    from lutnas.search.algorithms.evolutionary import _two

    rng = np.random.default_rng(0)
    assert _two(rng, 1) == (0, 0)
    pairs = Counter(_two(rng, 4) for _ in range(4000))
    assert all(a != b and 0 <= a < 4 and 0 <= b < 4 for a, b in pairs)
    assert len(pairs) == 12  # every ordered pair of distinct parents is drawn
    assert min(pairs.values()) > 4000 / 12 / 2  # roughly uniformly


def test_mutation_changes_a_factor_and_stays_in_the_space():
    from lutnas.spaces import get_space

    space = get_space("vit-scaling")
    rng = np.random.default_rng(1)
    for spec in space.sample(50, 3):
        child = space.mutate(spec, rng, 0.4, depth_prob=0.2)
        assert child != spec and space.contains(child)
        assert space.contains(space.crossover(spec, child, rng))


def test_margin_takes_the_quantile_of_skewed_errors():
    from lutnas.luts.calibration import budget_margin

    rng = np.random.default_rng(0)
    # mostly small errors, a few models measured far slower than predicted (a busy host): skewed low
    errors = np.concatenate([rng.normal(0.02, 0.03, 190), np.full(10, -0.5)])
    v = {"n": 100, "bias": float(errors.mean()), "sd_error": float(errors.std(ddof=1)), "errors": errors.tolist()}
    q = budget_margin(v)
    normal = budget_margin({k: v[k] for k in ("n", "bias", "sd_error")})
    assert q["method"] == "quantile" and normal["method"] == "normal"
    assert q["factor"] == pytest.approx(min(1.0, max(0.5, 1 + np.quantile(errors, q["tail"]))))
    # errors without a heavy tail: the normal formula is the smaller, and stays
    light = rng.normal(0.0, 0.05, 200)
    lv = {"n": 100, "bias": float(light.mean()), "sd_error": float(light.std(ddof=1)), "errors": light.tolist()}
    assert budget_margin(lv)["factor"] == pytest.approx(min(budget_margin(lv)["quantile_factor"],
                                                            1 + lv["bias"] - 2 * lv["sd_error"]))
    assert q["tail"] == pytest.approx(0.02275, abs=1e-4)
    # 5 % of the models sit at -50 %: the 2.3 % quantile covers them; 1 + bias - 2 sd (0.75) does not
    assert np.mean(errors >= q["factor"] - 1) >= 0.97
    assert np.mean(errors >= normal["factor"] - 1) < 0.97
    assert budget_margin({**v, "errors": errors[:30].tolist()})["method"] == "normal"  # too few to trust a tail


def test_vectorised_pairs_are_distinct_and_uniform():
    from lutnas.search.algorithms.evolutionary import _pairs

    rng = np.random.default_rng(0)
    a, b = _pairs(rng, 6000, 4)
    assert (a != b).all() and a.min() == b.min() == 0 and a.max() == b.max() == 3
    assert len(set(zip(a.tolist(), b.tolist()))) == 12
    a1, b1 = _pairs(rng, 5, 1)
    assert (a1 == 0).all() and (b1 == 0).all()


@pytest.mark.parametrize("algorithm", ["evolutionary", "coarse-to-fine"])
def test_evolution_judges_each_candidate_once_per_window(algorithm):
    from collections import Counter

    from lutnas.search import get_searcher
    from lutnas.search.problem import Constraint, Problem, gflops_cost, params_cost
    from lutnas.search.run import run_search
    from lutnas.spaces import get_space

    space = get_space("vit-scaling")
    problem = Problem(space, {"gflops": gflops_cost, "params_m": params_cost}, [Constraint("gflops", 2.0)], gflops_cost)
    judged: list = []
    inner = problem.evaluate_costs
    problem.evaluate_costs = lambda specs: (judged.extend(specs), inner(specs))[1]
    searcher = get_searcher(algorithm)(seed=1, population=60, parents=10, children=30, iterations=6)
    result = run_search(problem, searcher, 400)
    assert result.feasible and result.costs["gflops"] <= 2.0
    told = [s for s, *_ in searcher.last_run_.history]
    assert len(set(told)) == len(told)  # no spec evaluated twice
    # candidates are judged (table costs) once per window setting, however often they are redrawn
    windows = 2 if searcher.last_run_.window_relaxed else 1
    assert max(Counter(judged).values()) <= windows + 1  # +1: the problem's own evaluation of the told specs


def test_feasible_best_breaks_ties_by_spec_like_a_full_sort():
    from lutnas.search.base import SearchRun
    from lutnas.spaces import get_space

    specs = get_space("vit-scaling").sample(40, 0)
    run = SearchRun(None, 0)
    scores = [float(i % 7) for i in range(40)]  # many ties, also across the cut
    run.history = [(s, {}, i % 5 != 0, sc) for i, (s, sc) in enumerate(zip(specs, scores))]
    full = sorted({s: sc for s, _, ok, sc in run.history if ok}.items(), key=lambda kv: (-kv[1], kv[0].canonical()))
    for k in (1, 3, 6, 10, 40):
        assert run.feasible_best(k) == full[:k]
