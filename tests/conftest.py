import os
from pathlib import Path

import pytest

TOOL_OUTPUTS = Path(__file__).resolve().parents[1].parent / "shared" / "tool_outputs"


@pytest.fixture(scope="session")
def tool_outputs() -> Path:
    """The real tool outputs, read in place from ../shared/tool_outputs (never copied here)."""
    path = Path(os.environ.get("LUTNAS_TOOL_OUTPUTS", TOOL_OUTPUTS))
    if not path.is_dir():
        pytest.skip(f"real tool outputs not found at {path} (../shared/tool_outputs beside the checkout)")
    return path


@pytest.fixture(autouse=True)
def _no_stray_files_in_cwd():
    """No command or test may leave a profiler dump (onnxruntime_profile__*.json, *.pt.trace.json)
    in the working directory; runners write theirs to temporary folders."""
    before = set(Path.cwd().glob("*profile*.json")) | set(Path.cwd().glob("*.pt.trace.json"))
    yield
    after = set(Path.cwd().glob("*profile*.json")) | set(Path.cwd().glob("*.pt.trace.json"))
    stray = sorted(str(p) for p in after - before)
    for p in stray:
        Path(p).unlink()
    assert not stray, f"left in the working directory: {stray}"
