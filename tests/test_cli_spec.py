import json

from click.testing import CliRunner

from lutnas.cli.main import cli


def run(*args):
    return CliRunner().invoke(cli, list(args))


def test_spec_json_reports_deit_tiny():
    res = run("spec", "deit-tiny", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert abs(data["gflops"] - 1.26) / 1.26 < 0.01
    assert data["dim"] == 192 and data["tokens"] == 197 and data["params"] == 5717416
    assert [b["count"] for b in data["blocks"]] == [1, 12, 1]


def test_bad_spec_exits_2_with_one_line():
    res = run("spec", "d=12,h=3,e=64,r=4,I=225,p=16")
    assert res.exit_code == 2
    assert res.stderr.strip().count("\n") == 0 and "not divisible" in res.stderr


def test_spaces_lists_grid():
    data = json.loads(run("spaces", "--json").stdout)
    grid = {s["name"]: s for s in data["spaces"]}["vit-scaling"]
    assert grid["size"] == 2700 and grid["unique_blocks"] == 593
