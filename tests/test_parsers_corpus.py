"""Every real output of tests/data/corpus parses to the numbers its source prints (expected.json,
SOURCES.md), or is refused in one line; the CLI agrees."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from lutnas.categories import CATEGORIES
from lutnas.cli.main import cli
from lutnas.errors import InputError
from lutnas.profiler.parsers import parse_file

CORPUS = Path(__file__).parent / "data" / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text())
FILES = sorted(str(p.relative_to(CORPUS)) for p in CORPUS.glob("*/*") if p.parent.name != "tables")


def approx(value):
    return pytest.approx(value, rel=1e-6, abs=1e-9) if isinstance(value, float) else value


def test_every_corpus_file_has_expectations():
    assert FILES == sorted(EXPECTED), "a corpus file without expectations (or the reverse): edit expected.json"
    assert len(FILES) >= 40
    sources = (CORPUS / "SOURCES.md").read_text()
    missing = [f for f in FILES if Path(f).name not in sources]
    assert not missing, f"not described in SOURCES.md: {missing}"


@pytest.mark.parametrize("name", FILES)
def test_corpus_file_numbers(name):
    want = EXPECTED[name]
    if "error" in want:
        with pytest.raises(InputError, match=want["error"]) as info:
            parse_file(CORPUS / name)
        assert "\n" not in str(info.value) and name.split("/")[-1] in str(info.value)
        return
    r = parse_file(CORPUS / name)
    assert r.tool == want["tool"]
    if "tool_version" in want:
        assert r.tool_version == want["tool_version"]
    assert len(r.ops) == want["n_ops"]
    assert not r.partial, r.partial
    for key, value in want.get("summary", {}).items():
        assert r.summary.get(key) == approx(value), key
    for key in want.get("absent", []):
        assert key not in r.summary, key
    for block, values in want.get("nested", {}).items():
        for key, value in values.items():
            assert r.summary[block][key] == approx(value), (block, key)
    for key, value in want.get("extra", {}).items():
        assert r.extra[key] == approx(value), key
    if "summary_run" in want:
        assert r.summary_run == want["summary_run"]
    if "runs" in want:
        assert [run["name"] for run in r.runs] == want["runs"]
    for index, values in want.get("run_values", {}).items():
        for key, value in values.items():
            assert r.runs[int(index)][key] == approx(value), (index, key)
    if "op_sum_ms" in want:
        assert sum(op.avg_ms for op in r.ops) == pytest.approx(want["op_sum_ms"], abs=1e-9)
    for expected_op in want.get("ops", []):
        op = next(o for o in r.ops if o.name == expected_op["name"])
        for key, value in expected_op.items():
            assert getattr(op, key) == approx(value), (op.name, key)
    for op in r.ops:
        assert op.category in CATEGORIES and op.avg_ms >= 0


@pytest.mark.parametrize("name", [f for f in FILES if "error" in EXPECTED[f]]
                         + ["tflite/muaalem_android_multi_invocation_info.txt", "trtexec/resnet50_int8_trt7_two_runs_concatenated.txt"])
def test_cli_parse_corpus(name):
    res = CliRunner().invoke(cli, ["parse", str(CORPUS / name), "--json"])
    if "error" in EXPECTED[name]:
        assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.output
    else:
        assert res.exit_code == 0
        data = json.loads(res.stdout)
        assert data["summary_run"] == EXPECTED[name].get("summary_run")
        assert [r["name"] for r in data["runs"]] == EXPECTED[name].get("runs", [r["name"] for r in data["runs"]])


def _numbers(r):
    return (r.tool, {k: v for k, v in r.summary.items() if not isinstance(v, dict)},
            [(op.name, op.avg_ms) for op in r.ops], r.summary_run, r.partial)


@pytest.mark.parametrize("name", [f for f in FILES if "error" not in EXPECTED[f]])
def test_windows_encodings_read_the_same(name, tmp_path):
    """The class of a Windows copy: CRLF line ends, a UTF-8 byte-order mark, PowerShell 5's UTF-16 LE
    redirect (``trtexec.exe > log.txt``): the same numbers as the file itself."""
    text = (CORPUS / name).read_text()
    want = _numbers(parse_file(CORPUS / name))
    crlf = text.replace("\n", "\r\n")
    for label, data in (("crlf", crlf.encode()), ("bom", b"\xef\xbb\xbf" + crlf.encode()), ("utf16", crlf.encode("utf-16"))):
        path = tmp_path / f"{label}_{Path(name).name}"
        path.write_bytes(data)
        assert _numbers(parse_file(path)) == want, label
