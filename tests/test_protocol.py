import itertools

import pytest

from lutnas.errors import InputError
from lutnas.profiler import Measurement, Protocol, get_protocol, run_protocol
from lutnas.profiler.protocol import median_ci


def fake_clock(step_ms):
    """A clock advancing ``step_ms`` per read: deterministic protocol tests."""
    counter = itertools.count()
    return lambda: next(counter) * step_ms / 1e3


def test_min_runs_and_min_time_both_required():
    p = Protocol(warmup_runs=2, warmup_ms=0, min_runs=5, min_time_ms=100, max_time_ms=10_000)
    samples, info = run_protocol(lambda: None, p, clock=fake_clock(1.0))
    # each sample reads the clock twice (1 ms apart); 100 ms needs ~50 samples, more than min_runs
    assert len(samples) >= 5 and info["elapsed_ms"] >= 100
    assert info["stopped_by"] == "min_runs+min_time" and info["warmup_runs"] >= 2


def test_max_time_caps_and_is_reported():
    p = Protocol(warmup_runs=1, warmup_ms=0, min_runs=1000, min_time_ms=0, max_time_ms=50, max_runs=100_000)
    samples, info = run_protocol(lambda: None, p, clock=fake_clock(1.0))
    assert info["stopped_by"] == "max_time" and len(samples) < 1000
    m = Measurement("k", tuple(samples), p, {})
    assert any("min_runs" in w for w in m.warnings)


def test_warmup_of_a_long_call_is_capped_by_time():
    t = {"now": 0.0}

    def fn():
        t["now"] += 0.3  # a 300 ms block

    p = Protocol(warmup_runs=5, warmup_ms=100, warmup_max_ms=600, min_runs=1, min_time_ms=0)
    _, info = run_protocol(fn, p, clock=lambda: t["now"])
    assert info["warmup_runs"] == 2  # warm after 0.6 s, not after five calls (1.5 s)
    uncapped = Protocol(warmup_runs=5, warmup_ms=100, min_runs=1, min_time_ms=0)
    _, info = run_protocol(fn, uncapped, clock=lambda: t["now"])
    assert info["warmup_runs"] == 5


def test_op_profile_runs_shrink_for_long_calls():
    from lutnas.measure.build import op_profile_runs

    assert op_profile_runs(1.0, 5) == 5 and op_profile_runs(100.0, 5) == 3 and op_profile_runs(400.0, 5) == 1
    assert op_profile_runs(float("nan"), 5) == 5


def test_block_size_for_tiny_calls():
    p = Protocol(warmup_runs=3, warmup_ms=0, min_runs=3, min_time_ms=0, min_sample_ms=1.0)
    _, info = run_protocol(lambda: None, p, clock=fake_clock(0.01))
    assert info["number"] >= 50  # 0.01 ms per call -> ~100 calls per 1 ms sample


def test_adaptive_stop_waits_for_a_narrow_ci():
    noisy = iter([1.0, 5.0] * 20 + [1.0] * 10_000)
    p = Protocol(warmup_runs=0, warmup_ms=0, min_runs=10, min_time_ms=0, ci_rel=0.01, max_time_ms=1e9)
    t = {"now": 0.0}

    def clock():
        return t["now"]

    def fn():
        t["now"] += next(noisy) / 1e3

    samples, info = run_protocol(fn, p, clock=clock)
    assert info["stopped_by"] == "ci" and len(samples) > 40


def test_flag_by_the_medians_confidence_not_the_samples_spread():
    """Under ``ci_max`` a row is flagged when its median is uncertain, not when single samples jitter:
    400 samples with a 20 % CV give a median known to ~±2 %; 6 samples with a 10 % CV do not."""
    import random

    p = get_protocol("default")
    assert p.ci_max == 0.05
    rng = random.Random(0)
    jittery = Measurement("k", tuple(10 * (1 + 0.2 * rng.gauss(0, 1)) for _ in range(400)), p, {})
    assert jittery.cv > p.cv_threshold and jittery.ci_rel < p.ci_max and not jittery.flagged
    few = Measurement("k", (9.0, 10.0, 11.0, 10.5, 8.5, 12.0), p, {})
    assert few.flagged and few.noise_reason.startswith("flagged (median ") and "n=6" in few.noise_reason
    assert any("the protocol allows ±5%" in w for w in few.warnings)
    legacy = p.replace(ci_max=0.0)  # tables built before ci_max: the CV rule
    assert Measurement("k", jittery.samples_ms, legacy, {}).noise_reason == f"flagged (CV {jittery.cv:.0%})"


def test_stored_rows_are_judged_by_their_tables_protocol():
    from lutnas.luts.consistency import row_noise_reason

    row = {"cv": 0.2, "n": 400}  # ±2.5 % at 95 %
    assert row_noise_reason(row, {"ci_max": 0.05, "cv_threshold": 0.1}) is None
    assert row_noise_reason(row, {"cv_threshold": 0.1}) == "flagged (CV 20%)"
    assert row_noise_reason({"cv": 0.2, "n": 16}, {"ci_max": 0.05}).startswith("flagged (median ±12.3%")


def test_measurement_statistics_and_flag():
    p = get_protocol("quick")
    m = Measurement("k", (1.0, 2.0, 3.0, 4.0, 100.0), p, {"cpu": "x"})
    assert m.median_ms == 3.0 and m.p10_ms <= m.median_ms <= m.p90_ms and m.n == 5
    assert m.flagged and m.warnings and not m.meets_confidence(0.01)
    steady = Measurement("k", tuple(1.0 + 0.001 * i for i in range(50)), p, {"cpu": "x"})
    assert not steady.flagged
    merged = steady.merge(steady)
    assert merged.n == 100
    with pytest.raises(ValueError, match="cannot be merged"):
        steady.merge(Measurement("other", (1.0,), p, {"cpu": "x"}))
    lo, hi = median_ci(list(range(100)))
    assert lo < 50 < hi


def test_presets_and_bad_parameters():
    assert get_protocol("thorough").min_runs == 50 and get_protocol("thorough").min_time_ms == 3000
    assert get_protocol("default", min_runs=7).min_runs == 7
    with pytest.raises(InputError, match="not known"):
        get_protocol("fast")
    with pytest.raises(InputError, match="min_runs"):
        Protocol(min_runs=0)
    with pytest.raises(InputError, match="no parameter"):
        get_protocol("quick", warmup=3)


def test_paired_timing_cancels_a_host_that_changes_speed_mid_measurement():
    """Target (2 ms) and reference (0.5 ms) on a host that runs 1.5x slower after 200 ms: each sample
    comes back at the reference's baseline speed, so every sample reads 2 ms exactly; unpaired, the
    same run mixes 2 and 3 ms."""
    t = {"now": 0.0}

    def speed() -> float:
        return 1.5 if t["now"] > 0.2 else 1.0

    def target():
        t["now"] += 2e-3 * speed()

    def ref():
        t["now"] += 0.5e-3 * speed()

    p = get_protocol("quick", min_time_ms=2_000, min_runs=10, min_sample_ms=0, max_time_ms=10_000)
    plain, _ = run_protocol(target, p, clock=lambda: t["now"])
    assert min(plain) == pytest.approx(2.0) and max(plain) == pytest.approx(3.0)
    t["now"] = 0.0
    samples, info = run_protocol(target, p, clock=lambda: t["now"], reference=(ref, 0.5))
    # groups within two reference timings of the change mix both speeds in their window; every
    # other group reads the baseline-speed time exactly
    exact = [s for s in samples if s == pytest.approx(2.0)]
    assert len(exact) >= 0.9 * len(samples) and all(1.6 < s < 2.5 for s in samples)
    assert info["paired"] and info["host_ratio"] == pytest.approx(1.5) and info["reference_timings"] >= 5
    assert info["raw_median_ms"] == pytest.approx(3.0)
    with pytest.raises(InputError, match="baseline"):
        run_protocol(target, p, clock=lambda: t["now"], reference=(ref, 0.0))


def test_profiling_warm_up_is_short_for_long_calls():
    """A block just timed is warm: the warm-up before profiling stops once 0.1 s has passed."""
    from lutnas.devices.torch_cpu import warm_up

    now = [0.0]  # a simulated clock: each call advances it by the call's duration
    calls = []
    warm_up(lambda: (calls.append(1), now.__setitem__(0, now[0] + 0.001)), clock=lambda: now[0])
    assert len(calls) == 3
    slow = []
    warm_up(lambda: (slow.append(1), now.__setitem__(0, now[0] + 0.06)), clock=lambda: now[0])
    assert len(slow) == 2  # 0.12 s after two calls: no third


def test_two_invocations_have_no_median_ci_and_fall_back_to_the_cv_rule():
    p = get_protocol("default")
    two = Measurement("k", (10.0, 10.1), p, {})  # a phone's two benchmark_model medians
    assert not two.flagged and two.noise_reason is None
    assert Measurement("k", (10.0, 14.0), p, {}).noise_reason == "flagged (CV 24%)"


def test_held_out_models_are_measured_twice_as_precisely_as_rows():
    from lutnas.profiler.protocol import ground_truth

    truth = ground_truth(get_protocol("default"))
    assert truth.ci_rel == 0.01 and truth.max_time_ms == 2400 and truth.name == "default-models"
    assert ground_truth(get_protocol("quick")).ci_rel == 0.0  # no CI target stays none
