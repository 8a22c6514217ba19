"""No hidden global state: importing lutnas sets nothing, builders leave the global RNG alone,
plots leave matplotlib's backend alone."""

import os
import subprocess
import sys

import torch

from lutnas.models import build_block, build_model
from lutnas.spaces import EncoderKey, parse_spec


def test_import_sets_no_environment_variable():
    code = "import os; before = dict(os.environ); import lutnas, lutnas.cli.main; print(set(os.environ) - set(before))"
    env = {k: v for k, v in os.environ.items() if k != "KINETO_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "set()"


def test_builders_use_a_local_generator():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a, _ = build_block(EncoderKey(17, 32, 2, 16, 2), seed=5)
    build_model(parse_spec("d=1,h=2,e=16,r=2,I=32,p=16"), seed=5)
    assert torch.equal(torch.rand(3), expected)  # the caller's stream was not consumed or reseeded
    b, _ = build_block(EncoderKey(17, 32, 2, 16, 2), seed=5)
    c, _ = build_block(EncoderKey(17, 32, 2, 16, 2), seed=6)
    same = [torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters())]
    assert all(same)
    assert not torch.equal(a.attn.qkv.weight, c.attn.qkv.weight)


def test_plots_keep_the_callers_backend(tmp_path):
    code = f"""
import matplotlib
matplotlib.use("svg")
from lutnas.analysis.pareto import pareto_png
pareto_png([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], {str(tmp_path / 'p.png')!r})
import matplotlib.pyplot as plt
print(matplotlib.get_backend(), len(plt.get_fignums()))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["svg", "0"] and (tmp_path / "p.png").stat().st_size > 0
