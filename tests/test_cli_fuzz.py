"""Hypothesis over every sub-command's options: whatever a user types, lutnas answers with a result
or one error line (exit 2 for input, 1 for the machine) — never a traceback, never a hang.

Values are drawn from what breaks programs (empty, zero, negative, NaN, huge, text where a number
goes, missing and foreign files) mixed with valid ones. Nothing measures more than one tiny block;
``correlate`` is fuzzed with table inputs only (measured CSVs belong to the parsers work).
"""

import json
import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lutnas.cli.main import cli
from lutnas.spaces import get_space
from synthetic import write_synthetic

JUNK = ["", "0", "-1", "1", "2", "nan", "inf", "-inf", "1e9", "abc", "x=y", "=", "-", " ", "1,2", "0.5", "☃"]
MINI = {"d": [2, 4], "h": [2], "e": [32, 64], "r": [2], "I": [64], "p": [16]}
FUZZ = settings(max_examples=int(os.environ.get("LUTNAS_FUZZ_EXAMPLES", "25")), deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    table = write_synthetic(root / "t.parquet", get_space("vit-mini", MINI))
    (root / "text.txt").write_text("not a tool output\n")
    (root / "empty.txt").write_text("")
    (root / "obj.json").write_text("{}")
    (root / "specs.txt").write_text("d=2,h=2,e=32,r=2,I=64,p=16\n")
    (root / "bad.toml").write_text("[values]\nd = 'x'\n")
    (root / "acc.csv").write_text("spec,accuracy\nd=2,h=2,e=32,r=2,I=64,p=16,high\n")
    cwd = os.getcwd()
    os.chdir(root)  # whatever an example writes beside itself lands here, never in the checkout
    yield {"table": str(table), "files": [str(table), str(root / "missing.parquet"), str(root), str(root / "text.txt"),
                                          str(root / "empty.txt"), str(root / "obj.json"), "", "/proc/lutnas/x"],
           "root": root, "specs": str(root / "specs.txt"), "toml": str(root / "bad.toml"), "acc": str(root / "acc.csv")}
    os.chdir(cwd)


def _hang(signum, frame):
    raise TimeoutError("no answer within 60 s: a hang")


def check(args, **env):
    """One run: exit 0/1/2 within 60 s, no traceback, an error line last on stderr when it failed."""
    previous = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(60)
    try:
        res = CliRunner().invoke(cli, args, env={"LUTNAS_RAY_TIMEOUT": "0.5", **env})
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert res.exception is None or isinstance(res.exception, SystemExit), (args, repr(res.exception))
    assert res.exit_code in (0, 1, 2), (args, res.exit_code, res.output)
    assert "Traceback" not in res.output, (args, res.output)
    if res.exit_code:
        last = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else ""
        assert last.startswith(("error", "device error", "interrupted")), (args, res.stderr)
    elif "--json" in args:
        json.loads(res.stdout)
    return res


def options(pairs: dict, flags=()) -> st.SearchStrategy:
    """argv fragments: each option mostly absent, else one of its values; flags on or off.

    A value list of :func:`nums` holds valid values several times over, so most examples pass
    the checks and reach the work itself."""
    parts = [st.sampled_from([None] * 8 + list(values)).map(lambda v, o=opt: [] if v is None else [o, v])
             for opt, values in pairs.items()]
    parts += [st.sampled_from([[], [f]]) for f in flags]
    return st.tuples(*parts).map(lambda xs: [a for x in xs for a in x])


def nums(*valid):
    """Valid values (weighted) and the junk list."""
    return list(valid) * 15 + JUNK


@FUZZ
@given(data=st.data())
def test_fuzz_small_commands(files, data):
    cmd = data.draw(st.sampled_from(["spaces", "spec", "devices", "parse", "show", "predict", "breakdown", "measure",
                                     "report", "correlate"]))
    path = data.draw(st.sampled_from(files["files"]))
    spec = data.draw(st.sampled_from(JUNK + ["deit-tiny", "d=2,h=2,e=32,r=2,I=64,p=16", "d=2,h=2,e=4096,r=2,I=64,p=16",
                                              "d=0,h=2,e=32,r=2,I=64,p=16", "d=2"]))
    json_flag = data.draw(st.sampled_from([[], ["--json"]]))
    if cmd in ("spaces", "devices"):
        args = [cmd]
    elif cmd == "spec":
        args = ["spec", spec]
    elif cmd == "parse":
        args = ["parse", path, *data.draw(options({"--tool": ["auto", "tflite", "trtexec", "ort-profile", "nope"]}))]
    elif cmd == "show":
        args = ["lut", "show", path]
    elif cmd == "predict":
        args = ["lut", "predict", path, spec, *data.draw(options({"--batch": nums("1")}))]
    elif cmd == "measure":
        args = ["measure", "--protocol", "quick", *data.draw(options({
            "--block": ["head(dim=8,classes=2)", "head(dim=0,classes=2)", "head(dim=abc)", "nope(x=1)", ""],
            "--device": ["torch-cpu", "nope", ""], "--device-option": ["threads=1", "threads=0", "x"],
            "--batch": ["1", "0", "-1", "abc"], "--file": files["files"][1:]}, ["--ops"]))]
    elif cmd == "correlate":  # LUT inputs only: measured CSVs and their parsing are the parsers work's
        args = ["correlate", path, *data.draw(st.sampled_from([[], [files["table"]]])), *data.draw(options({
            "--specs": ["grid", "sample:5"] * 3 + ["sample:0", "sample:x", "", files["specs"]],
            "--columns": ["gflops,params", "nope", ""], "--bootstrap": nums("0", "10"), "--noise-models": nums("2"),
            "--seed": nums("0"), "--out": [str(files["root"] / "corr"), ""]}))]
    elif cmd == "report":
        args = ["report", "--out", data.draw(st.sampled_from([str(files["root"] / "report"), ""])),
                *data.draw(options({"--lut": files["files"], "--model": [spec], "--specs": ["grid", "sample:3", "sample:0",
                                                                                          "sample:x", files["specs"]],
                                    "--values": ["d=2", "d=x"]}))]
    else:
        args = ["breakdown", "--model", spec, *data.draw(options({"--lut": files["files"], "--from": files["files"],
                                                                  "--out": [str(files["root"] / "plots"), ""]},
                                                                 ["--no-flops"]))]
    check(args + json_flag)


SEARCH_PARAMS = ["population", "iterations", "parents", "children", "mutation_prob", "window", "max_tries", "start",
                 "growth", "steps", "targets", "permutations", "tolerance", "spread", "widths", "depths", "max_steps",
                 "coarse_samples", "depth_prob", "block_prob", "nosuch"]


@FUZZ
@given(data=st.data())
def test_fuzz_search(files, data):
    algorithm = data.draw(st.sampled_from(["exhaustive", "random", "greedy", "random-permutation", "evolutionary",
                                           "coarse-to-fine", "asvit-scaling", "nope", ""]))
    params = data.draw(st.lists(st.tuples(st.sampled_from(SEARCH_PARAMS), st.sampled_from(JUNK + ["3", "0.9", "1.5,2"])),
                                max_size=3))
    junk_params = data.draw(st.sampled_from([False, False, True]))
    args = ["search", "--lut", files["table"], "--algorithm", algorithm,
            "--budget", data.draw(st.sampled_from(["1", "5", "20"] * 4 + ["0", "-1", "abc"])),
            *[a for k, v in params if junk_params for a in ("--param", f"{k}={v}")]]
    args += data.draw(options({
        "--latency-ms": nums("1", "0.5", "synthetic=1", "10") + ["nope=1"], "--params-m": nums("1", "10"),
        "--gflops": nums("1", "0.1"), "--window": nums("0.5", "1"),
        "--objective": ["flops", "params"] * 4 + ["magic", "python:os:system", "python:nomodule:f",
                                                  f"table:{files['acc']}", "table:"],
        "--space": ["vit-mini", "nope", "autovit-xxs", ""], "--values": nums("d=2", "e=32,64") + ["d=", "x=1", "d=0"],
        "--values-file": [files["toml"], files["specs"], "missing.toml"], "--batch": nums("1", "4", "64"),
        "--seed": nums("0", "3"), "--out": [str(files["root"] / "hist.parquet")] * 3 + [files["table"], "", files["files"][3]],
        "--verify": ["0", "-1", "abc", "1"], "--protocol": nums("quick"), "--workers": nums("1"),
    }, ["--json"]))
    check(args)


@settings(FUZZ, max_examples=max(5, FUZZ.max_examples // 2))
@given(data=st.data())
def test_fuzz_table_writers(files, data, tmp_path_factory):
    """build (at most one tiny row), calibrate, validate (refused before measuring), farm (an
    unreachable Ray address at the end: everything else is checked before connecting)."""
    out = str(tmp_path_factory.mktemp("out") / "t.parquet")
    cmd = data.draw(st.sampled_from(["build", "calibrate", "validate", "farm"]))
    if cmd == "build":
        args = ["lut", "build", "--space", "vit-mini", "--values", "d=2", "--values", "e=32", "--protocol", "quick",
                "--no-ops", "--max-rows", "1", "--out", data.draw(st.sampled_from([out, out, "", files["files"][2]]))]
        args += data.draw(options({"--sample": nums("1", "2"), "--batch": ["1", "2", "0", "-1", "abc"],
                                   "--copies": nums("auto", "1"), "--seed": nums("0"),
                                   "--specs": [files["specs"], files["files"][3], "missing"],
                                   "--device": ["torch-cpu", "nope", "torch-cpu:x"],
                                   "--device-option": ["threads=1", "threads=0", "threads=abc", "x", "nope=1"],
                                   "--method": ["isolated", "removal"], "--executor": ["local"]},
                                  ["--grid", "--modules", "--json"]))
    elif cmd in ("calibrate", "validate"):
        args = ["lut", cmd, data.draw(st.sampled_from(files["files"]))]
        args += data.draw(options({"--sample": nums("1", "2"), "--seed": nums("0"),
                                   "--device": ["torch-cpu", "synthetic", "nope"],
                                   "--protocol": ["quick", "nope"], "--values": ["d=2", "d=abc"],
                                   **({"--calibrate": nums("0", "1"), "--blocks": nums("0"), "--out": ["", out]}
                                      if cmd == "validate" else {})}, ["--json"]))
    else:
        args = ["farm", "build", "--space", "vit-mini", "--out-dir", data.draw(st.sampled_from([out + ".d", ""]))]
        args += data.draw(options({"--devices": ["torch-cpu", "", "a,b"], "--sample": nums("2"), "--batch": nums("1"),
                                   "--protocol": ["quick", "nope"], "--method": ["isolated", "removal"]}, ["--json"]))
        args += ["--address", data.draw(st.sampled_from(["127.0.0.1:1", "not-an-address", "ray://x", ":1"]))]
    check(args)


def test_fuzz_covers_every_command():
    """A new sub-command must be added to this file."""
    from lutnas.cli.main import COMMANDS

    here = Path(__file__).read_text()
    assert all(f'"{name}"' in here for name in COMMANDS)
