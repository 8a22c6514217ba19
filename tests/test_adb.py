"""The ADB runner against a loopback ADB peer (tests/adb_peer.py) that replays real benchmark_model logs.

No phone is involved: what is verified is the wire protocol (with adb-shell and, separately, with
Debian's real adb client), the shell quoting, the benchmark_model command line, fingerprinting,
thermals, LUT builds over ADB, and resuming after the phone drops off.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("adb_shell", reason="the adb extra is not installed (pip install 'lutnas[adb]')")

sys.path.insert(0, str(Path(__file__).parent))
from adb_peer import AdbPeer, PeerState, load_logs  # noqa: E402

from lutnas.cli.main import cli  # noqa: E402
from lutnas.devices import get_device, list_devices  # noqa: E402
from lutnas.devices.adb import (benchmark_args, big_cores, cpu_mask, parse_getprop, parse_grep_h,  # noqa: E402
                                per_cpu, thermal_readings)
from lutnas.devices.adb_transport import parse_target, shell_line, split_rc  # noqa: E402
from lutnas.errors import DeviceError  # noqa: E402
from lutnas.luts.schema import read_table  # noqa: E402
from lutnas.profiler import get_protocol  # noqa: E402

HOSTILE = ["a b", "it's", 'say "hi"', "x; touch /data/pwned1", "$(touch /data/pwned2)", "`touch /data/pwned3`",
           "a && touch /data/pwned4", "a | touch /data/pwned5", "*", "\\", "new\nline"]


@pytest.fixture(scope="module")
def export_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("lutnas-cache")


@pytest.fixture()
def home(tmp_path, monkeypatch, export_cache):
    """A fresh HOME (the adb key is created there); one export cache for the module."""
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LUTNAS_CACHE", str(export_cache))
    return tmp_path


@pytest.fixture()
def state(tool_outputs):
    timing, profile = load_logs(tool_outputs)
    return PeerState(timing[:1], profile)


@pytest.fixture()
def peer(state):
    p = AdbPeer(state).start()
    yield p
    p.stop()


@pytest.fixture()
def fake_binary(tmp_path):
    """Stands in for the ARM benchmark_model (the peer answers its invocations with real logs)."""
    path = tmp_path / "benchmark_model"
    path.write_bytes(b"\x7fELF-aarch64 stand-in, answered by the peer with real logs\n" * 20)
    return path


def device(peer, binary, **opts):
    return get_device(f"adb:127.0.0.1:{peer.port}", transport="adb-shell", benchmark_model=str(binary),
                      reconnect_s=3.0, **opts)


# -- pure helpers ----------------------------------------------------------------------------------
def test_helpers_on_real_shapes():
    assert parse_target("127.0.0.1:5555") == ("127.0.0.1", 5555, None)
    assert parse_target("8ABX0Y123") == (None, None, "8ABX0Y123")
    assert parse_target("emulator-5554") == (None, None, "emulator-5554")
    props = parse_getprop("[ro.product.model]: [Pixel 3]\n[ro.x]: []\n")
    assert props == {"ro.product.model": "Pixel 3", "ro.x": ""}
    files = parse_grep_h("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq:1766400\n"
                         "/sys/devices/system/cpu/cpu6/cpufreq/cpuinfo_max_freq:2803200\n"
                         "/sys/devices/system/cpu/cpu7/cpufreq/cpuinfo_max_freq:2803200\n")
    top = per_cpu(files, "cpuinfo_max_freq")
    assert big_cores(top) == [6, 7] and cpu_mask([6, 7]) == "c0" and cpu_mask([4, 5, 6, 7]) == "f0"
    temps = thermal_readings({"/sys/class/thermal/thermal_zone0/type": "cpu", "/sys/class/thermal/thermal_zone0/temp": "41000",
                              "/sys/class/thermal/thermal_zone1/type": "bogus", "/sys/class/thermal/thermal_zone1/temp": "-273000",
                              "/sys/class/thermal/thermal_zone2/type": "skin", "/sys/class/thermal/thermal_zone2/temp": "33"})
    assert temps == {"cpu": 41.0, "skin": 33.0}


def test_benchmark_command_line_follows_the_protocol():
    protocol = get_protocol("default")
    argv = benchmark_args("/data/local/tmp/lutnas/benchmark_model", "/data/local/tmp/lutnas/m.tflite", protocol, 1, True, "f0")
    assert argv[:2] == ["taskset", "f0"]
    flags = dict(a[2:].split("=", 1) for a in argv if a.startswith("--"))
    assert flags["num_threads"] == "1" and flags["use_xnnpack"] == "true"
    assert int(flags["num_runs"]) == protocol.min_runs and float(flags["min_secs"]) == protocol.min_time_ms / 1e3
    assert float(flags["max_secs"]) == protocol.max_time_ms / 1e3 and int(flags["warmup_runs"]) == protocol.warmup_runs
    prof = benchmark_args("b", "g", protocol, 4, False, None, op_profiling=True, runs=7)
    assert prof[0] == "b" and "--enable_op_profiling=true" in prof and "--num_runs=7" in prof and "--use_xnnpack=false" in prof


def test_quoting_survives_a_posix_shell(state):
    """Every hostile word reaches the (peer's) shell as one argument and runs nothing else."""
    for word in HOSTILE:
        out, rc = split_rc(state.run_line(shell_line(["echo", word]))[0])
        assert rc == 0 and out == word + "\n", word
    assert not [p for p in state.fs if "pwned" in p]
    # the same words unquoted do run the injected commands: the peer's shell is a real test of quoting
    state.run_line("echo x; touch /data/pwned1")
    assert "/data/pwned1" in state.fs


@pytest.mark.skipif(shutil.which("sh") is None, reason="no /bin/sh")
def test_quoting_survives_dash():
    """The same property under the system's real sh (dash here; Android's is mksh/toybox)."""
    for word in HOSTILE:
        res = subprocess.run(["sh", "-c", shell_line(["printf", "%s", word])], capture_output=True, text=True)
        out, rc = split_rc(res.stdout)
        assert rc == 0 and out == word, word


# -- the wire protocol -----------------------------------------------------------------------------
def test_adb_shell_talks_to_the_peer(home, peer, state):
    from lutnas.devices.adb_transport import AdbShellTransport

    tr = AdbShellTransport(f"127.0.0.1:{peer.port}")
    tr.connect()
    assert (home / "home" / ".android" / "adbkey").exists(), "the RSA key is created when missing"
    assert state.known_keys, "the public key was offered to the phone (first connection)"
    assert tr.shell(["getprop", "ro.product.model"]) == ("Pixel 3\n", 0)
    assert tr.shell(["cat", "/nope"])[1] == 1
    payload = home / "blob.bin"
    payload.write_bytes(os.urandom(600_000))  # several sync DATA chunks and WRTE messages
    tr.push(payload, "/data/local/tmp/blob.bin")
    assert state.fs["/data/local/tmp/blob.bin"] == payload.read_bytes()
    assert tr.stat("/data/local/tmp/blob.bin") == (0o100755, 600_000) and tr.stat("/missing") == (0, 0)
    tr.close()
    tr.connect()  # the second connection signs the token with the remembered key
    assert tr.shell(["echo", "again"]) == ("again\n", 0)
    tr.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("adb") is None, reason="Debian's adb client is not installed (apt install adb)")
def test_peer_against_debians_adb_client(home, peer, state, monkeypatch, fake_binary):
    """The peer is proven against an ADB implementation that is not ours; then the runner uses it."""
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(_free_port()))
    target = f"127.0.0.1:{peer.port}"

    def adb(*args):
        return subprocess.run(["adb", *args], capture_output=True, text=True, timeout=60)

    try:
        assert adb("start-server").returncode == 0
        adb("connect", target)
        assert adb("-s", target, "wait-for-device").returncode == 0
        assert "Pixel_3" in adb("devices", "-l").stdout
        res = adb("-s", target, "shell", "getprop ro.board.platform")
        assert res.stdout.strip() == "sdm845"
        blob = home / "b.bin"
        blob.write_bytes(os.urandom(200_000))
        assert adb("-s", target, "push", str(blob), "/data/local/tmp/b.bin").returncode == 0
        assert state.fs["/data/local/tmp/b.bin"] == blob.read_bytes()
        # the runner through the binary transport, measuring a user's file
        model = home / "m.tflite"
        model.write_bytes(b"TFL3" + os.urandom(1000))
        dev = get_device(f"adb:{target}", transport="adb", benchmark_model=str(fake_binary), invocations=2)
        m = dev.measure(dev.prepare_file(model), get_protocol("quick"))
        assert m.median_ms == pytest.approx(249.684) and m.n == 2
        assert m.fingerprint["model"] == "Pixel 3" and m.fingerprint["serial"] == "8ABX0PEER"
    finally:
        adb("kill-server")


# -- the runner ------------------------------------------------------------------------------------
def test_fingerprint_big_cores_and_timing(home, peer, state, fake_binary):
    dev = device(peer, fake_binary)
    fp = dev.fingerprint()
    assert (fp["model"], fp["cpu_model"], fp["android"], fp["abi"], fp["serial"]) == ("Pixel 3", "sdm845", "12", "arm64-v8a", "8ABX0PEER")
    assert fp["cores_mask"] == "f0" and fp["governor"] == "schedutil" and fp["cpu_max_khz"] == 2803200
    assert fp["benchmark_model_sha256"] and len(fp["benchmark_model_sha256"]) == 64
    model = home / "m.tflite"
    model.write_bytes(b"TFL3" + os.urandom(500))
    art = dev.prepare_file(model)
    samples, info = dev.time(art, get_protocol("quick"))
    assert samples == [pytest.approx(249.684)] * 3  # the replayed log's avg, in ms
    assert info["runs_per_sample"] == 50 and info["throttled"] is None
    assert info["thermal_before"]["cpu4-gold-usr"] == 41.0 and "pm8998_tz" not in info["thermal_before"]
    argv = state.benchmarks[-1]
    assert argv[0] == "/data/local/tmp/lutnas/benchmark_model" and f"--graph={art.payload}" in argv
    assert any(line.startswith("taskset f0 ") for line in state.commands)
    ops = dev.profile_ops(art, runs=5)
    assert len(ops) == 31 and {o.type for o in ops} >= {"CONV_2D", "DEPTHWISE_CONV_2D", "SOFTMAX"}
    assert sum(o.total_ms for o in ops) == pytest.approx(79.47, abs=0.05)
    dev.close()


def test_cooldown_and_throttle_flag(home, peer, state, fake_binary):
    state.fs["/sys/class/thermal/thermal_zone1/temp"] = b"62000\n"
    slept = []

    def sleep(s):
        slept.append(s)
        if len(slept) == 2:  # the phone cools after ten seconds
            state.fs["/sys/class/thermal/thermal_zone1/temp"] = b"40000\n"

    dev = get_device(f"adb:127.0.0.1:{peer.port}", transport="adb-shell", benchmark_model=str(fake_binary))
    dev.sleep = sleep
    model = home / "m.tflite"
    model.write_bytes(b"TFL3")
    art = dev.prepare_file(model)
    state.fs["/sys/devices/system/cpu/cpu6/cpufreq/scaling_max_freq"] = b"1996800\n"  # thermal cap on a big core
    m = dev.measure(art, get_protocol("quick"))
    timing = m.metadata["timing"]
    assert timing["cooldown_s"] == 10.0 and slept == [5.0, 5.0]
    assert "6" in timing["throttled"] and m.flagged and any("throttled" in w for w in m.warnings)


def test_missing_binary_and_bad_options(home, peer):
    dev = get_device(f"adb:127.0.0.1:{peer.port}", transport="adb-shell")
    with pytest.raises(DeviceError, match="no benchmark_model"):
        dev.fingerprint()
    with pytest.raises(Exception, match="cores"):
        get_device(f"adb:127.0.0.1:{peer.port}", transport="adb-shell", cores="big-ish").cpu_state()
    rows = {r["name"]: r for r in list_devices()}
    assert rows["adb"]["usable"] and "adb:SERIAL" in rows["adb"]["reason"]


def test_hostile_names_never_reach_the_shell(home, peer, state, fake_binary):
    """A user's model file and a remote_dir full of shell syntax run nothing but what was meant."""
    weird = home / "a b'; touch pwned; echo '$(reboot) && touch pwned2 | x.tflite"
    weird.write_bytes(b"TFL3" + os.urandom(64))
    dev = device(peer, fake_binary, remote_dir="/data/local/tmp/x y;touch /data/pwned0")
    m = dev.measure(dev.prepare_file(weird), get_protocol("quick"))
    assert m.median_ms == pytest.approx(249.684)
    assert not [p for p in state.fs if "pwned" in p and not p.startswith("/data/local/tmp/x y")]
    assert "/data/local/tmp/x y;touch /data/pwned0" in state.dirs
    assert all("reboot" not in " ".join(argv) for argv in state.benchmarks)


# -- LUT builds over ADB ---------------------------------------------------------------------------
pytest.importorskip("litert_torch", reason="exporting blocks needs the tflite extra")


def _build(peer, binary, out, *extra):
    return CliRunner().invoke(cli, ["lut", "build", "--device", f"adb:127.0.0.1:{peer.port}", "--space", "vit-mini",
                                    "--sample", "1", "--seed", "3", "--protocol", "quick", "--out", str(out),
                                    "--device-option", "transport=adb-shell", "--device-option", f"benchmark_model={binary}",
                                    "--device-option", "reconnect_s=2", "--device-option", "invocations=2", *extra])


@pytest.mark.slow
def test_lut_build_over_adb_survives_a_dropped_connection(home, peer, state, fake_binary):
    drops = []

    def drop_once(argv):
        if len(state.benchmarks) == 2 and not drops:
            drops.append(argv)
            raise ConnectionAbortedError  # the peer cuts the connection mid-command

    state.on_benchmark = drop_once
    out = home / "phone.parquet"
    res = _build(peer, fake_binary, out)
    assert res.exit_code == 0, res.output
    table, meta = read_table(out)
    rows = table.to_pylist()
    assert drops and len(rows) == len({r["key"] for r in rows}) == 3
    assert meta["device"] == f"adb:127.0.0.1:{peer.port}" and meta["fingerprint"]["model"] == "Pixel 3"
    for r in rows:
        cats = sum(v for k, v in r.items() if k.startswith("cat_") and v is not None)
        assert r["median_ms"] * r["copies"] == pytest.approx(249.684)
        assert cats == pytest.approx(r["median_ms"])  # the op profile is scaled to the row's median
    pushed = [p for p in state.pushes if p.endswith(".tflite")]
    # the 3 blocks' exports and the drift sentinel's (one block without weight copies)
    assert len(pushed) == len(set(pushed)) == 4, "each export pushed once, named by content hash"


@pytest.mark.slow
def test_lut_build_resumes_after_the_phone_goes_away(home, peer, state, fake_binary):
    out = home / "phone.parquet"

    def unplug(argv):
        # block 2's first run: the first row (after the drift sentinel's runs) is in the table
        if out.exists() and read_table(out)[0].num_rows == 1:
            peer.stop()  # nothing listens any more: reconnect attempts are refused
            raise ConnectionAbortedError

    state.on_benchmark = unplug
    res = _build(peer, fake_binary, out)
    assert res.exit_code == 1 and "re-run the same command to resume" in res.output, res.output
    before = read_table(out)[0].to_pylist()
    assert len(before) == 1
    back = AdbPeer(state, peer.port).start()  # the phone is plugged in again
    state.on_benchmark = None
    try:
        res = _build(back, fake_binary, out)
        assert res.exit_code == 0, res.output
        rows = read_table(out)[0].to_pylist()
        assert len(rows) == len({r["key"] for r in rows}) == 3
        assert rows[0] == before[0], "rows measured before the drop are kept as they were"
    finally:
        back.stop()


def test_breakdown_cli_over_adb(home, peer, fake_binary):
    model = home / "mine.tflite"
    model.write_bytes(b"TFL3" + os.urandom(100))
    res = CliRunner().invoke(cli, ["measure", "--device", f"adb:127.0.0.1:{peer.port}", "--file", str(model), "--ops",
                                   "--protocol", "quick", "--json", "--device-option", "transport=adb-shell",
                                   "--device-option", f"benchmark_model={fake_binary}"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["fingerprint"]["model"] == "Pixel 3" and data["breakdown_ms"]["MSA-Softmax"] == pytest.approx(0.029)


def test_breakdown_of_a_model_file_over_adb(home, peer, fake_binary):
    model = home / "mine.tflite"
    model.write_bytes(b"TFL3" + os.urandom(100))
    res = CliRunner().invoke(cli, ["breakdown", "--model", str(model), "--device", f"adb:127.0.0.1:{peer.port}",
                                   "--protocol", "quick", "--json", "--device-option", "transport=adb-shell",
                                   "--device-option", f"benchmark_model={fake_binary}"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["sources"] == [f"adb:127.0.0.1:{peer.port}"]  # no FLOPs for a file: nothing analytic to count
    assert data["breakdowns"][0]["values"]["Others"] > 70


@pytest.mark.slow
def test_lut_transfer_to_a_phone_over_adb(home, peer, state, fake_binary):
    """lut transfer to adb:*: the chosen blocks are exported, pushed and timed on the phone (the peer
    answers with a real benchmark_model log), the rest predicted from the source table."""
    from synthetic import write_synthetic

    from lutnas.luts import LUT
    from lutnas.spaces import get_space

    space = get_space("vit-mini", {"d": [2], "h": [2], "e": [32], "r": [2, 4], "I": [64], "p": [16, 32]})
    source = write_synthetic(home / "source.parquet", space)
    out = home / "phone.parquet"
    res = CliRunner().invoke(cli, ["lut", "transfer", "--from", str(source), "--device", f"adb:127.0.0.1:{peer.port}",
                                   "--budget", "3", "--protocol", "quick", "--out", str(out), "--json",
                                   "--device-option", "transport=adb-shell",
                                   "--device-option", f"benchmark_model={fake_binary}"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    rows = LUT.read(out).rows
    measured = rows[rows["method"] != "transferred"]
    assert info["measured"] == len(measured) == 3 and info["predicted"] == len(space.unique_blocks()) - 3
    assert (measured["median_ms"] * measured["copies"]).to_numpy() == pytest.approx(249.684)  # the phone's own log
    assert len(state.benchmarks) >= 3 and (rows["device"] == f"adb:127.0.0.1:{peer.port}").all()
