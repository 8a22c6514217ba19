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
