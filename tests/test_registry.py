"""The plug-in registry, parameter constraints, and the examples of docs/extending.md run as written."""

import re
import sys
import types
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pytest

from lutnas.errors import InputError
from lutnas.params import Boolean, Interval, Numbers, Options, convert_params, validate_params
from lutnas.registry import Registry

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


class _EP:
    def __init__(self, name, value):
        self.name, self.value = name, value


def test_unknown_names_collisions_and_lazy_loading(monkeypatch):
    reg = Registry("tool", "lutnas.test-group", {"echo": "builtins:print", "broken": "no_such_module:x"})
    assert reg.get("echo") is print and "broken" not in reg._loaded  # loaded on request only
    with pytest.raises(InputError, match=r"^tool 'nope' is not known; available: broken, echo$"):
        reg.get("nope")
    with pytest.raises(InputError, match="could not be loaded"):
        reg.get("broken")
    with pytest.raises(InputError, match="already registered"):
        reg.register("echo", "builtins:len")
    reg.register("echo", "builtins:print")  # the same target twice is no collision
    eps = [_EP("echo", "builtins:len"), _EP("twice", "builtins:len"), _EP("twice", "builtins:abs"),
           _EP("extra", "builtins:abs"), _EP("extra", "builtins:abs")]
    monkeypatch.setattr("importlib.metadata.entry_points", lambda group: eps)
    reg.refresh()
    assert reg.names() == ["broken", "echo", "extra", "twice"] and reg.get("extra") is abs
    with pytest.raises(InputError, match="provided twice"):
        reg.get("twice")
    reg.refresh()
    with pytest.warns(UserWarning, match="built in"):
        assert reg.get("echo") is print  # the built-in keeps its name; the entry point is refused


def test_prefixed_names_and_base_class():
    reg = Registry("device", "lutnas.test-group", {"adb": "builtins:dict"}, base=dict, prefixed=True)
    assert reg.resolve("adb:SERIAL") == ("adb", "SERIAL") and reg.get("adb:1.2.3.4:5555") is dict
    bad = Registry("device", "lutnas.test-group", {"x": "builtins:list"}, base=dict)
    with pytest.raises(InputError, match="not a builtins.dict subclass"):
        bad.get("x")


@pytest.mark.parametrize("constraints, value, ok", [
    ([Interval(Integral, 2, None)], 2, True), ([Interval(Integral, 2, None)], 1, False),
    ([Interval(Integral, 2, None)], True, False), ([Interval(Integral, 2, None)], 2.0, False),
    ([Interval(Real, 0, 1, closed="right")], 0.0, False), ([Interval(Real, 0, 1)], float("nan"), False),
    ([Options(["a", "b"])], "a", True), ([Options(["a", "b"])], "c", False), ([bool], False, True),
    ([bool], "no", False), ([str, None], None, True), ([Numbers(Interval(Real, 1, 2))], (1.5,), True),
    ([Numbers(Interval(Real, 1, 2))], (), False),
])
def test_constraints(constraints, value, ok):
    if ok:
        validate_params("Owner", {"p": constraints}, {"p": value})
    else:
        with pytest.raises(InputError, match=r"^The 'p' parameter of Owner must be .*\. Got .* instead\.$"):
            validate_params("Owner", {"p": constraints}, {"p": value})


def test_string_conversion_by_declared_type():
    c = {"n": [Interval(Integral, 1, None)], "x": [Interval(Real, 0, 1)], "b": [Boolean()], "s": [str, None],
         "w": [Numbers(Interval(Real, 1, 10))]}
    assert convert_params(c, {"n": "3", "x": "0.5", "b": "off", "s": "none", "w": "1.5,2", "other": "7"}) == \
        {"n": 3, "x": 0.5, "b": False, "s": None, "w": (1.5, 2.0), "other": 7}
    assert convert_params(c, {"n": "1e9"})["n"] == 10**9  # kept numeric so the error shows the number
    with pytest.raises(InputError, match=r"The 'n' parameter of O must be an int in the range \[1, inf\)\. Got 'abc'"):
        validate_params("O", c, convert_params(c, {"n": "abc"}))


def test_every_builtin_is_found_through_its_registry():
    from lutnas.devices.registry import DEVICES
    from lutnas.profiler.parsers import PARSERS
    from lutnas.search.base import SEARCHERS
    from lutnas.search.objectives import OBJECTIVES
    from lutnas.spaces import get_space

    assert {"torch-cpu", "ort-cpu", "adb"} <= set(DEVICES.names())
    assert {"evolutionary", "greedy"} <= set(SEARCHERS.names())
    assert {"flops", "table", "python"} <= set(OBJECTIVES.names())
    assert "trtexec" in PARSERS.names()
    with pytest.raises(InputError, match="space 'nope' is not known; available: "):
        get_space("nope")


def _doc_block(title: str) -> str:
    section = DOC.read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))


def _module(name: str, code: str, monkeypatch) -> types.ModuleType:
    mod = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, mod)
    exec(compile(code, f"docs/extending.md:{name}", "exec"), mod.__dict__)
    return mod


def test_docs_examples_work_as_written(monkeypatch, tmp_path):
    """Each section's code, registered as its pyproject snippet would, used the way the docs say."""
    from lutnas.devices import get_device
    from lutnas.devices.registry import DEVICES
    from lutnas.profiler import get_protocol
    from lutnas.profiler.parsers import PARSERS, parse_text
    from lutnas.search import Constraint, Problem, get_searcher, gflops_cost, params_cost, run_search
    from lutnas.search.base import SEARCHERS
    from lutnas.search.objectives import OBJECTIVES, get_objective
    from lutnas.spaces import get_space

    for reg, name, mod, attr, title in [(DEVICES, "my-npu", "my_lutnas_device", "MyNPU", "Add a device"),
                                        (SEARCHERS, "cheapest-first", "my_lutnas_searcher", "CheapestFirst", "Add a searcher"),
                                        (OBJECTIVES, "balance", "my_lutnas_objective", "BALANCE", "Add an objective"),
                                        (PARSERS, "npu-log", "my_lutnas_parser", "parse_npu_log", "Add a parser")]:
        _module(mod, _doc_block(title), monkeypatch)
        monkeypatch.setitem(reg._targets, name, f"{mod}:{attr}")
        monkeypatch.setattr(reg, "_loaded", {k: v for k, v in reg._loaded.items() if k != name})

    import torch

    dev = get_device("my-npu", threads="2", fused="no")
    assert dev.params == {"threads": 2, "fused": False}
    m = dev.measure(dev.prepare(torch.nn.Linear(4, 4), torch.zeros(1, 4)), get_protocol("quick"))
    assert m.median_ms > 0
    with pytest.raises(InputError, match="The 'threads' parameter of MyNPU"):
        get_device("my-npu", threads=0)

    space = get_space("vit-mini")
    problem = Problem(space, {"gflops": gflops_cost, "params_m": params_cost}, [Constraint("gflops", 1.0)],
                      get_objective("balance:0.5"))
    searcher = get_searcher("cheapest-first")(seed=0, limit=5)
    result = run_search(problem, searcher, budget=100)
    assert result.evaluations == 5 and result.extras == {"left": 0} and searcher.params == {"limit": 5}
    assert np.isfinite(result.score)
    with pytest.raises(InputError, match="needs an argument"):
        get_objective("balance")

    parsed = parse_text("op fc1 MatMul 0.5\nop ln LayerNorm 0.1\n", tool="npu-log", source="run.log")
    assert parsed.tool == "npu-log" and len(parsed.ops) == 2
    with pytest.raises(InputError, match="no 'op' lines"):
        parse_text("nothing\n", tool="npu-log", source="run.log")
