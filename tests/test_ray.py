"""Ray scale-out on a local Ray instance (2 CPUs here): farm builds, a killed actor, search executor."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'lutnas[ray]')")

from lutnas.cli.main import cli  # noqa: E402
from lutnas.luts import LUT  # noqa: E402
from lutnas.measure.farm import farm_build  # noqa: E402
from lutnas.profiler import get_protocol  # noqa: E402
from lutnas.spaces import get_space  # noqa: E402


@pytest.fixture(scope="module")
def phone(tool_outputs):
    """A loopback ADB peer (tests/adb_peer.py) standing in for a phone on this host."""
    sys.path.insert(0, str(Path(__file__).parent))
    from adb_peer import AdbPeer, PeerState, load_logs

    timing, profile = load_logs(tool_outputs)
    state = PeerState(timing[:1], profile)
    peer = AdbPeer(state).start()
    yield peer, state, f"adb:127.0.0.1:{peer.port}"
    try:
        peer.stop()
    except OSError:
        pass


@pytest.fixture(scope="module")
def local_ray(phone):
    """A local instance declaring two torch-cpu units (two actors), one ort-cpu unit and the phone."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, resources={"torch-cpu": 2, "ort-cpu": 1, phone[2]: 1}, include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture()
def setup():
    space = get_space("vit-mini", {"d": [2], "h": [2], "e": [32], "r": [2, 4], "I": [64], "p": [16, 32]})
    return space, space.grid()


@pytest.mark.slow
def test_farm_builds_two_cpu_runners_at_once(local_ray, setup, tmp_path):
    space, specs = setup
    outs = {d: tmp_path / f"{d}.parquet" for d in ("torch-cpu", "ort-cpu")}
    events = []
    info = farm_build(list(outs), space, specs, outs, get_protocol("quick"), ops=False,
                      progress=lambda d, e, i: events.append((d, e)))
    blocks = len(space.unique_blocks(specs))
    for device, path in outs.items():
        assert info[device]["complete"] and info[device]["measured"] == blocks
        lut = LUT.read(path)
        assert lut.device == device and len(lut.rows) == lut.rows["key"].nunique() == blocks
        assert lut.predict(specs).raw_ms.min() > 0
    assert {(d, "done") for d in outs} <= set(events)
    again = farm_build(list(outs), space, specs, outs, get_protocol("quick"), ops=False)
    assert all(i["measured"] == 0 and i["complete"] for i in again.values())


def test_a_killed_actor_loses_and_duplicates_nothing(local_ray, setup, tmp_path):
    space, specs = setup
    out = tmp_path / "cpu.parquet"
    killed = []

    def kill_one(device, done, actors):
        if done == 1 and not killed:
            killed.append(actors[device][0])
            ray.kill(actors[device][0])  # a worker host dies mid-build

    info = farm_build(["torch-cpu"], space, specs, {"torch-cpu": out}, get_protocol("quick"), ops=False, on_row=kill_one)
    i = info["torch-cpu"]
    rows = LUT.read(out).rows
    assert killed and i["actors_lost"] == 1 and i["complete"]
    assert len(rows) == rows["key"].nunique() == len(space.unique_blocks(specs))


def test_farm_rows_are_timed_paired_with_one_sentinel(local_ray, setup, tmp_path):
    """Two torch-cpu actors, one sentinel: its baseline taken once and stored, every row paired
    against it (``host_ratio``), the table marked paired as a local build marks it; a resumed run
    keeps the same sentinel and baseline."""
    space, specs = setup
    out = tmp_path / "cpu.parquet"
    info = farm_build(["torch-cpu"], space, specs[:2], {"torch-cpu": out}, get_protocol("quick"), ops=False)
    lut = LUT.read(out)
    assert info["torch-cpu"]["timing"] == "paired" and lut.meta["timing"] == "paired"
    sentinel = lut.meta["sentinel"]
    assert sentinel["key"] and sentinel["baseline_ms"] > 0
    assert lut.rows["host_ratio"].notna().all() and (lut.rows["host_ratio"] > 0).all()
    farm_build(["torch-cpu"], space, specs, {"torch-cpu": out}, get_protocol("quick"), ops=False)
    again = LUT.read(out)
    assert again.meta["sentinel"]["key"] == sentinel["key"]
    assert len(again.rows) == len(space.unique_blocks(specs)) and again.rows["host_ratio"].notna().all()


def test_farm_keeps_a_table_built_unpaired_unpaired(local_ray, setup, tmp_path):
    """Rows already timed without the sentinel are not mixed with paired ones."""
    from lutnas.devices import get_device
    from lutnas.measure import build_lut

    space, specs = setup
    out = tmp_path / "cpu.parquet"
    build_lut(get_device("torch-cpu"), space, specs, out, get_protocol("quick"), ops=False, sentinel_every=0,
              stop_after=1, recheck=False)
    info = farm_build(["torch-cpu"], space, specs, {"torch-cpu": out}, get_protocol("quick"), ops=False)
    lut = LUT.read(out)
    assert info["torch-cpu"]["timing"] is None and lut.meta.get("timing") is None
    assert "sentinel" not in lut.meta or not lut.meta["sentinel"]


@pytest.mark.slow
def test_farm_cli_and_lut_build_executor(local_ray, tmp_path):
    res = CliRunner().invoke(cli, ["farm", "build", "--devices", "torch-cpu", "ort-cpu", "--space", "vit-mini",
                                   "--sample", "1", "--protocol", "quick", "--no-ops", "--out-dir", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert set(data) == {"torch-cpu", "ort-cpu"} and all(v["complete"] for v in data.values())
    assert (tmp_path / "ort-cpu.parquet").exists()
    res = CliRunner().invoke(cli, ["lut", "build", "--device", "torch-cpu", "--executor", "ray", "--space", "vit-mini",
                                   "--sample", "1", "--protocol", "quick", "--no-ops", "--out", str(tmp_path / "one.parquet"),
                                   "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["complete"]


def test_missing_device_resource_is_one_clear_line(local_ray, setup, tmp_path):
    space, specs = setup
    from lutnas.errors import DeviceError

    with pytest.raises(DeviceError, match="ray start --resources"):
        farm_build(["tflite-cpu"], space, specs, {"tflite-cpu": tmp_path / "x.parquet"}, get_protocol("quick"))


def _search(*extra):
    res = CliRunner().invoke(cli, ["search", "--space", "vit-mini", "--algorithm", "evolutionary", "--gflops", "0.05",
                                   "--param", "population=24", "--param", "parents=6", "--param", "children=12",
                                   "--param", "iterations=3", "--budget", "40", "--batch", "8", "--seed", "5", "--json",
                                   *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.mark.parametrize("objective", ["params", "asvit"])
def test_search_results_identical_local_and_ray(local_ray, objective, tmp_path):
    local = _search("--objective", objective, "--out", str(tmp_path / "local.parquet"))
    remote = _search("--objective", objective, "--executor", "ray", "--out", str(tmp_path / "ray.parquet"))
    assert remote["executor"] == "ray" and local["best"] == remote["best"] and local["score"] == remote["score"]
    import pandas as pd

    a, b = pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "ray.parquet")
    assert list(a["spec"]) == list(b["spec"]) and list(a["score"]) == list(b["score"])


def test_nothing_imports_ray_without_the_executor(tmp_path):
    code = ("import sys; from click.testing import CliRunner; from lutnas.cli.main import cli; "
            "r = CliRunner().invoke(cli, ['search', '--space', 'vit-mini', '--budget', '20', '--objective', 'params']); "
            "assert r.exit_code == 0, r.output; print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_phone_that_drops_off_a_farm_keeps_its_rows(local_ray, phone, tmp_path, monkeypatch):
    """adb:127.0.0.1:PORT on Ray: the phone vanishes mid-build; its actor is retired, the measured
    row stays in the table, the run ends without a crash and the table can be resumed."""
    pytest.importorskip("adb_shell")
    pytest.importorskip("litert_torch")
    peer, state, device = phone
    binary = tmp_path / "benchmark_model"
    binary.write_bytes(b"stand-in" * 10)
    start = len(state.benchmarks)

    def unplug(argv):
        if len(state.benchmarks) - start == 3:  # block 2's first run (block 1: 2 runs, no op profile)
            peer.stop()
            raise ConnectionAbortedError

    state.on_benchmark = unplug
    space = get_space("vit-mini")
    specs = space.sample(1, 3)
    out = tmp_path / "phone.parquet"
    events = []
    info = farm_build([device], space, specs, {device: out}, get_protocol("quick"), ops=False,
                      device_params={"transport": "adb-shell", "benchmark_model": str(binary), "reconnect_s": 1,
                                     "key_path": str(tmp_path / "adbkey"),
                                     "invocations": 2},
                      progress=lambda d, e, i: events.append((e, i)))
    i = info[device]
    assert i["actors_lost"] == 1 and not i["complete"] and i["left"] == 2 and i["measured"] == 1
    lost = [inf for e, inf in events if e == "lost"]
    assert lost and "did not come back" in lost[0]["error"] and "resume" in lost[0]["error"]
    assert len(LUT.read(out).rows) == 1


@pytest.mark.slow
def test_transfer_measures_its_chosen_blocks_on_ray(local_ray, setup, tmp_path):
    """lut transfer --executor ray: the chosen blocks are measured by a Ray actor of the device, the
    rest predicted from the source table, as a local transfer does."""
    sys.path.insert(0, str(Path(__file__).parent))
    from synthetic import write_synthetic

    space, _ = setup
    source = write_synthetic(tmp_path / "source.parquet", space)
    out = tmp_path / "moved.parquet"
    res = CliRunner().invoke(cli, ["lut", "transfer", "--from", str(source), "--device", "torch-cpu", "--budget", "3",
                                   "--protocol", "quick", "--executor", "ray", "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    rows = LUT.read(out).rows
    assert info["measured"] == 3 and info["predicted"] == len(space.unique_blocks()) - 3 == len(rows) - 3
    assert (rows["device"] == "torch-cpu").all() and (rows["method"] == "transferred").sum() == info["predicted"]
    assert rows.loc[rows["method"] != "transferred", "median_ms"].gt(0).all()
