"""The layers of DESIGN.md hold: import-linter's contracts (pyproject.toml) and no torch on the
table/search path."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    pytest.importorskip("importlinter")
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.split())


@pytest.mark.parametrize("module", ["lutnas.luts", "lutnas.search", "lutnas.analysis", "lutnas.spaces",
                                    "lutnas.profiler", "lutnas.cli.main", "lutnas.cli.search_cmd", "lutnas.cli.lut_cmd"])
def test_tables_and_search_do_not_import_torch(module):
    assert "torch" not in _modules_after(f"import {module}")


def test_search_on_a_saved_table_does_not_import_torch(tmp_path):
    """A whole `lutnas search` against a table, in one process: torch never loaded."""
    code = f"""
import numpy as np
from click.testing import CliRunner
from lutnas.luts import write_table
from lutnas.spaces import get_space
space = get_space("vit-mini")
rows = []
for k in space.unique_blocks():
    rows.append({{"device": "torch-cpu", "kind": k.kind, "key": k.canonical(), **k.fields(), "batch": 1, "copies": 1,
                 "method": "isolated", "median_ms": 0.1 + 1e-9 * sum(float(v) for v in k.fields().values()),
                 "mean_ms": 0.1, "p10_ms": 0.1, "p90_ms": 0.1, "std_ms": 0.0, "cv": 0.0, "n": 5, "flagged": False,
                 "protocol": "quick"}})
write_table(rows, {{"device": "torch-cpu", "space": space.to_dict(), "protocol": {{"name": "quick"}}}}, {str(tmp_path / 't.parquet')!r})
from lutnas.cli.main import cli
r = CliRunner().invoke(cli, ["search", "--lut", {str(tmp_path / 't.parquet')!r}, "--latency-ms", "1.0", "--budget", "50"])
assert r.exit_code == 0, r.output
"""
    assert "torch" not in _modules_after(code)


def test_search_on_a_shipped_table_does_not_import_pandas():
    """pandas costs ~0.3 s of start-up: a search reads the table's Arrow buffers (lutnas.luts.columns)
    and keeps its history as records; only --out, --verify or a DataFrame caller brings pandas in."""
    code = """
from click.testing import CliRunner
from lutnas.cli.main import cli
r = CliRunner().invoke(cli, ["search", "--lut", "luts/torch-cpu-vit-scaling.parquet", "--latency-ms", "20",
                             "--margin", "auto", "--algorithm", "coarse-to-fine", "--json"])
assert r.exit_code == 0, r.output
"""
    assert "pandas" not in _modules_after(code)
