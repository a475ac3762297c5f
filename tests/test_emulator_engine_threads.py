"""SiliconEngine on several threads: the same spikes and state bit for bit as on one, whatever the
thread count (the link's exact replay needs the noise and the result to be a function of the run's
identity only: docs/protocol.md 5.1), and each thread owns exactly the charges of its neurons."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import hil.emulator.engine as engine_module
from hil import events as ev
from hil.bench import emulator as bench
from hil.chip.config import ChipConfig
from hil.chip.example import N_INPUTS, example_config
from hil.emulator import kernel as K
from hil.emulator.engine import SiliconEngine, default_threads
from hil.emulator.silicon import Silicon
from hil.errors import ConfigError

QUIET = ev.input_events([], [])


def with_adaptation_and_nmda(cfg: ChipConfig) -> ChipConfig:
    """`cfg` with the AHP and the NMDA gate on for every neuron it sets (more kernel rows in use)."""
    for *_, neuron in cfg.neurons():
        neuron.latches = {"latch_so_adaptation": True, "latch_denm_nmda": True}
    return cfg.validate()


def runs(eng: SiliconEngine, stim: np.ndarray, threads: int) -> list[np.ndarray]:
    """From rest and as the first runs of the applied config (the same noise keys each time): two
    runs in a row (the state carries over), then the state and the pending charges."""
    eng.threads, eng.adaptive = threads, False
    eng.reset()
    eng._runs = 0  # as after apply (applying again would only cost time)
    duration = 0.15
    out = [eng.run(stim, duration), eng.run(stim, duration)]
    assert eng._state is not None and eng._pending is not None
    return [*out, eng._state.copy(), eng._pending.copy()]


@pytest.fixture(scope="module")
def two_chips() -> SiliconEngine:
    """The benchmark network on two chips that send spikes to each other (applied once)."""
    eng = SiliconEngine(Silicon.from_seed(4, n_chips=2))
    eng.apply(bench.workload(4, n_chips=2))
    return eng


def test_every_thread_count_gives_the_serial_result_bit_for_bit(two_chips: SiliconEngine) -> None:
    """Two chips, membrane noise, uneven thread ranges (3, 5)."""
    eng = two_chips
    stim = ev.poisson_input(bench.INPUT_RATE_HZ, 2 * bench.N_INPUTS, 0.15, seed=4, dt=1e-4)
    serial = runs(eng, stim, threads=1)
    assert serial[0].size > 2000 and set(serial[0]["chip"]) == {0, 1}
    assert not np.array_equal(serial[0], serial[1])  # fresh noise, carried state
    for threads in (2, 3, 5):
        for a, b in zip(serial, runs(eng, stim, threads), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"{threads} threads")


def test_switching_thread_counts_within_a_run_changes_nothing(
    two_chips: SiliconEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The adaptive engine (threads=None) times both counts in calls of a few steps and switches
    between them inside a run: the same bits as one thread."""
    import hil.emulator.engine as engine_module

    eng = two_chips
    stim = ev.poisson_input(bench.INPUT_RATE_HZ, 2 * bench.N_INPUTS, 0.15, seed=4, dt=1e-4)
    serial = runs(eng, stim, threads=1)
    monkeypatch.setattr(engine_module, "_AUTO_CHUNK", 7)
    monkeypatch.setattr(engine_module, "_AUTO_EXPLORE", 2)
    eng.threads, eng.adaptive, eng._pace = 2, True, {}
    eng.reset()
    eng._runs = 0
    adaptive = [eng.run(stim, 0.15), eng.run(stim, 0.15)]
    assert eng._state is not None and eng._pending is not None
    assert set(eng._pace) == {1, 2}  # both were timed
    for a, b in zip(serial, [*adaptive, eng._state, eng._pending], strict=True):
        np.testing.assert_array_equal(a, b)


def test_calls_that_stop_when_the_spike_buffer_fills_change_nothing(
    two_chips: SiliconEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the smallest spike buffer a kernel call stops every few steps, before a step whose
    spikes might not fit, after the threads made that step's noise during their wait: the state
    must stay that of the last whole step (the same bits as one thread with a large buffer)."""
    eng = two_chips
    stim = ev.poisson_input(bench.INPUT_RATE_HZ, 2 * bench.N_INPUTS, 0.15, seed=4, dt=1e-4)
    serial = runs(eng, stim, threads=1)
    monkeypatch.setattr(engine_module, "_OUT_CAPACITY", 1)  # one range's neurons + 1 per thread
    for threads in (2, 3):
        for a, b in zip(serial, runs(eng, stim, threads), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=f"{threads} threads")


def test_adaptation_and_nmda_rows_agree_across_thread_counts() -> None:
    eng = SiliconEngine(Silicon.from_seed(6))
    eng.apply(with_adaptation_and_nmda(example_config(6)))
    stim = ev.poisson_input(80.0, N_INPUTS, 0.15, seed=6, dt=1e-4)
    serial = runs(eng, stim, threads=1)
    assert serial[0].size > 100
    for a, b in zip(serial, runs(eng, stim, threads=4), strict=True):
        np.testing.assert_array_equal(a, b)


def test_plan_gives_each_thread_the_charges_of_its_own_neurons(two_chips: SiliconEngine) -> None:
    """Thread t's table is the full table's charges to t's neurons, in the full table's order."""
    c = two_chips._compiled
    assert c is not None
    n, n_src = c.P.shape[1], c.indptr.size - 1
    src = np.repeat(np.arange(n_src), np.diff(c.indptr))
    stride = K.row_stride(n)
    for threads in (1, 2, 3, 7):
        plan = c.plan(threads)
        assert plan.threads == threads and plan.bounds[0] == 0 and plan.bounds[-1] == n
        assert np.all(plan.bounds % K.BLOCK == 0) and np.all(np.diff(plan.bounds) > 0)
        for t in range(threads):
            a, b = plan.indptr[t, 0], plan.indptr[t, -1]
            row, neuron = np.divmod(plan.target[a:b], stride)
            mine = (plan.bounds[t] <= c.target % n) & (c.target % n < plan.bounds[t + 1])
            np.testing.assert_array_equal(
                np.repeat(np.arange(n_src), np.diff(plan.indptr[t])), src[mine]
            )
            np.testing.assert_array_equal(
                (row - K.N_SROWS) * n + np.searchsorted(K.columns(np.arange(n), n), neuron),
                c.target[mine],
            )
            assert np.isin(neuron, K.columns(np.arange(n), n)).all()  # no charge into the gap
            cols = K.columns(np.arange(plan.bounds[t], plan.bounds[t + 1]), n)
            assert plan.col_lo[t] == cols[0] and plan.col_hi[t] == cols[-1] + 1
            np.testing.assert_array_equal(plan.charge[a:b], c.charge[mine])
        assert plan.indptr[-1, -1] == c.target.size  # every charge belongs to some thread


def test_more_threads_than_blocks_use_one_block_each() -> None:
    eng = SiliconEngine(Silicon.from_seed(1), threads=64)
    eng.apply(ChipConfig())
    assert eng._compiled is not None and eng._compiled.plan(64).threads == 1024 // K.BLOCK


def test_adaptive_engine_keeps_the_faster_count_and_times_the_other_now_and_then() -> None:
    eng = SiliconEngine(Silicon.from_seed(1), threads=2)
    eng.adaptive = True
    assert [eng._pick_threads() for _ in range(2)] == [2, 2]  # untimed counts first
    eng._pace = {2: 1.0}
    assert eng._pick_threads() == 1
    eng._pace = {2: 1.0, 1: 3.0}
    n = 4 * engine_module._AUTO_EXPLORE
    picks = [eng._pick_threads() for _ in range(n)]
    assert picks.count(1) == 4 and picks.count(2) == n - 4
    eng._pace = {2: 3.0, 1: 1.0}
    assert [eng._pick_threads() for _ in range(n)].count(2) == 4


def test_the_slower_count_is_timed_less_often_while_it_stays_slower() -> None:
    """Each call of the slower count costs the difference: while such calls confirm the choice,
    the calls between them double up to _AUTO_EXPLORE_MAX; a change of the faster count (from a
    call of either) brings them back to _AUTO_EXPLORE."""
    eng = SiliconEngine(Silicon.from_seed(1), threads=2)
    eng.adaptive = True
    eng._timed(2, 1.0)
    eng._timed(1, 2.0)  # both timed: 2 threads faster
    assert eng._explore_every == engine_module._AUTO_EXPLORE

    def calls_until_one_thread() -> int:
        for i in range(1, 10 * engine_module._AUTO_EXPLORE_MAX):
            if eng._pick_threads() == 1:
                return i
        raise AssertionError("the slower count was never timed again")

    gaps = []
    for _ in range(8):
        gaps.append(calls_until_one_thread())
        eng._timed(1, 2.0)  # still slower
    e = engine_module._AUTO_EXPLORE
    assert gaps == [min(e * 2**i, engine_module._AUTO_EXPLORE_MAX) for i in range(8)]
    eng._timed(2, 1.0)  # calls of the faster count leave it as it is
    assert eng._explore_every == engine_module._AUTO_EXPLORE_MAX
    eng._timed(2, 20.0)  # two threads slowed down (load came): one thread is now the faster
    assert eng._explore_every == e and eng._pick_threads() == 1
    assert calls_until_one_thread() == 1  # and it runs
    assert [eng._pick_threads() for _ in range(e)].count(2) == 1  # 2 threads re-timed at the 16th


def test_each_thread_counts_first_call_warms_up_untimed_and_calls_are_equally_long(
    two_chips: SiliconEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first call (cold caches, thread start) or a shorter call (its fixed costs over fewer
    steps) would make a thread count look slower than it is; the pace compares like with like."""
    eng = two_chips
    monkeypatch.setattr(engine_module, "_AUTO_CHUNK", 7)
    calls: list[tuple[int, int]] = []
    run_work = engine_module.K.run_work

    def spy(*args: object) -> object:
        calls.append((args[2].threads, args[7] - args[6]))  # plan, k_end - k
        return run_work(*args)

    monkeypatch.setattr(engine_module.K, "run_work", spy)
    eng.threads, eng.adaptive, eng._pace, eng._warm = 2, True, {}, set()
    eng.reset()
    stim = ev.poisson_input(bench.INPUT_RATE_HZ, 2 * bench.N_INPUTS, 0.0021, seed=4, dt=1e-4)
    eng.run(stim, 0.0021)  # three calls of 7 steps: 2 threads (warm-up), 2 (timed), 1 (warm-up)
    assert calls == [(2, 7), (2, 7), (1, 7)]
    assert set(eng._pace) == {2}
    eng.run(stim, 0.0042)
    assert set(eng._pace) == {1, 2}
    assert {steps for _, steps in calls} == {7}
    paces = dict(eng._pace)
    eng.run(stim, 0.0039)  # 39 steps: five whole calls, then a call of 4 steps, not timed
    assert calls[-1][1] == 4
    eng._pace = dict(paces)
    eng._warm, eng._calls = {1, 2}, 0
    short = ev.poisson_input(bench.INPUT_RATE_HZ, 2 * bench.N_INPUTS, 0.0004, seed=4, dt=1e-4)
    eng.run(short, 0.0004)  # one call of 4 steps: its pace is not recorded
    assert eng._pace == paces


def test_threads_none_adapts_and_a_number_is_kept() -> None:
    s = Silicon.from_seed(1)
    assert SiliconEngine(s, threads=3).threads == 3 and not SiliconEngine(s, threads=3).adaptive
    auto = SiliconEngine(s)
    assert auto.threads == default_threads() and auto.adaptive == (default_threads() > 1)


@pytest.mark.parametrize("threads", [0, -1, 1.5, True, "2", 257])
def test_bad_thread_counts_are_refused(threads: object) -> None:
    with pytest.raises(ConfigError, match="threads"):
        SiliconEngine(Silicon.from_seed(1), threads=threads)  # type: ignore[arg-type]


def test_a_failing_thread_stops_the_others_instead_of_leaving_them_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = K._thread

    def second_fails(tid: int, *args: object) -> tuple[int, int, int]:
        if tid == 1:
            raise RuntimeError("thread 1 failed")
        return real(tid, *args)

    eng = SiliconEngine(Silicon.from_seed(1), threads=2)
    eng.apply(example_config())
    eng.run(QUIET, 0.01)  # compiled before the clock below starts
    monkeypatch.setattr(K, "_thread", second_fails)
    raised: list[BaseException] = []

    def run() -> None:
        try:
            eng.run(ev.poisson_input(50.0, N_INPUTS, 0.05, seed=1, dt=1e-4), 0.05)
        except BaseException as e:
            raised.append(e)

    runner = threading.Thread(target=run, daemon=True)  # a hang must fail the test, not stop it
    runner.start()
    runner.join(60)
    assert not runner.is_alive(), "thread 0 still waits for the failed thread"
    assert len(raised) == 1 and "thread 1 failed" in str(raised[0])
