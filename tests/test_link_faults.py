"""Faults on the link: corrupted bytes, drops, garbage, delays, disconnects, board reboots,
overflow and timeouts. Nothing corrupted is ever applied; every loss is detected and reported."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from link_toy import Clock, MemBoard, MemLink, ToyEngine, toy_engine_factory

from hil import events as ev
from hil.board import open_board
from hil.chip.example import N_INPUTS, example_config
from hil.emulator.faults import FaultSpec
from hil.emulator.server import register_engine
from hil.errors import BoardTimeout, BoardURLError, LinkError
from hil.link import messages as m
from hil.link.framing import FrameSplitter, encode_frame

register_engine("toy", toy_engine_factory)


def test_100k_frames_at_byte_error_rate_1e4_with_drops_and_garbage() -> None:
    spec = FaultSpec(ber=1e-4, drop=2e-5, garbage=2e-5, fault_seed=7)
    engine = ToyEngine(copies=40, delay_us=3)
    clock = Clock()
    link = MemLink(engine, spec, clock)
    board = MemBoard(link)
    rng = np.random.default_rng(0)
    cfg = example_config()
    missed = fetched = bad = episodes = 0
    while link.frames_up + link.frames_down < 100_000:
        episodes += 1
        if episodes % 10 == 1:
            assert (
                board.apply(example_config(seed=episodes))
                == example_config(seed=episodes).content_hash()
            )
            cfg = example_config(seed=episodes)
            # a bias write: applied in place, hash verified against the host's own copy
            c, f = int(rng.integers(0, 6)), int(rng.integers(0, 256))
            board.set_biases({(0, 0, "SOIF_DC_P"): (c, f)})
        pings = [(m.MsgType.PING, rng.bytes(int(rng.integers(0, 48)))) for _ in range(60)]
        assert board.client.call_many(pings) == [
            p for _, p in pings
        ]  # the window of 8, echoed intact
        stim = ev.poisson_input(150.0, N_INPUTS, 0.2, seed=episodes)
        out = board.run(stim, 0.2)
        truth = engine.last_output
        assert truth is not None
        np.testing.assert_array_equal(out, truth)  # never silently wrong
        r = board.last_run
        assert r is not None and r.lost == 0 and r.n_records == truth.size
        assert r.batches_fetched == r.batches_missed  # every gap detected and refetched
        missed += r.batches_missed
        fetched += r.batches_fetched
        bad += r.frames_bad
    del cfg
    # zero corrupted commands applied: each executed command is, byte for byte, one the host sent
    for mtype, seq, payload in link.fw.executed:
        assert (mtype, payload) in link.sent.get(seq, []), (
            f"{m.type_name(mtype)} seq {seq} was never sent"
        )
    # ... and none carried out twice (retransmissions answered from the replay cache)
    keys = [(t, s, p) for t, s, p in link.fw.executed if t != m.MsgType.HELLO]
    assert len(keys) == len(set(keys))
    st = link.up.stats.flipped + link.down.stats.flipped
    assert link.frames_up + link.frames_down >= 100_000
    assert st > 100 and link.down.stats.dropped + link.up.stats.dropped > 0
    assert link.down.stats.garbage_bursts + link.up.stats.garbage_bursts > 0
    assert missed > 50 and bad > 50 and board.client.session.stats.retransmits > 0
    assert link.fw.stats["duplicates"] > 0  # replayed answers happened and were harmless


class ForgingLink(MemLink):
    """Replaces the payload of the first EVENTS frame with a damaged copy that carries a valid
    CRC-16: the error that a frame check alone cannot see."""

    forged = 0

    def _board_write(self, data: bytes) -> None:
        body = FrameSplitter().feed(data)
        if body and self.forged == 0 and m.unpack(body[0]).type == m.MsgType.EVENTS:
            b = bytearray(body[0])
            b[-1] ^= 0x01  # the high byte of the last record's dt: its time moves by 256 us
            self.forged += 1
            data = encode_frame(bytes(b))
        super()._board_write(data)


def test_a_damaged_batch_that_passes_crc16_is_caught_end_to_end() -> None:
    engine = ToyEngine(copies=5, delay_us=3)
    link = ForgingLink(engine, FaultSpec(), Clock())
    board = MemBoard(link)
    board.apply(example_config())
    out = board.run(ev.poisson_input(150.0, N_INPUTS, 0.2, seed=1), 0.2)
    assert link.forged == 1
    np.testing.assert_array_equal(out, engine.last_output)  # refetched, not silently wrong
    fetches = [e for e in link.fw.executed if e[0] == m.MsgType.FETCH]
    assert len(fetches) == board.last_run.n_batches  # every batch fetched again once


def test_unrecoverable_loss_is_reported_never_silent() -> None:
    """The board evicted its batches (tiny retention), so lost batches cannot be refetched."""
    import hil.emulator.firmware as fwmod

    spec = FaultSpec(ber=5e-4, fault_seed=3)
    engine = ToyEngine(copies=40, delay_us=3)
    link = MemLink(engine, spec, Clock())
    board = MemBoard(link)
    board.apply(example_config())
    stim = ev.poisson_input(150.0, N_INPUTS, 0.2, seed=1)
    old = fwmod.MAX_RETAINED
    fwmod.MAX_RETAINED = 2048  # keeps only the last two batches
    try:
        with pytest.raises(LinkError, match=r"incomplete: \d+ spikes record\(s\) lost"):
            board.run(stim, 0.2)
        r = board.last_run
        assert (
            r is not None and r.lost > 0 and r.records_lost == r.n_records - (r.n_records - r.lost)
        )
        board.on_loss = "warn"
        with pytest.warns(UserWarning, match="incomplete"):
            out = board.run(stim, 0.2)
        r = board.last_run
        assert r is not None and out.size == r.n_records - r.records_lost < engine.last_output.size
    finally:
        fwmod.MAX_RETAINED = old


# ---- faults over the real socket path (emu://) -------------------------------------------------


def _stim(seed: int = 1, dur: float = 0.3) -> np.ndarray:
    return ev.poisson_input(120.0, N_INPUTS, dur, seed=seed)


def test_faulty_emu_link_gives_exactly_the_clean_result() -> None:
    with open_board("emu://?engine=toy") as clean:
        clean.apply(example_config())
        want = clean.run(_stim(), 0.3)
    url = "emu://?engine=toy&ber=3e-4&drop=5e-5&garbage=5e-5&delay_ms=1&fault_seed=5"
    with open_board(url) as b:
        assert "fault-injection" in b.info().capabilities
        assert b.apply(example_config()) == example_config().content_hash()
        got = b.run(_stim(), 0.3)
        r = b.last_run
    np.testing.assert_array_equal(got, want)
    assert r is not None and r.lost == 0 and (r.batches_missed > 0 or r.frames_bad > 0)


def test_disconnect_mid_run_reconnects_reapplies_and_repeats_from_rest() -> None:
    with open_board("emu://?engine=toy") as clean:
        clean.apply(example_config())
        want = clean.run(_stim(), 0.3)
    url = "emu://?engine=toy&disconnect_after=6000&fault_seed=11"
    with open_board(url) as b:
        b.apply(example_config())
        with pytest.warns(UserWarning, match="restarted"):
            got = b.run(_stim(), 0.3)
        assert b.last_run is not None and b.last_run.recovered_after_restart
        assert b.restarts == 1
    np.testing.assert_array_equal(got, want)


def test_disconnect_after_earlier_runs_raises_a_clear_error() -> None:
    url = "emu://?engine=toy&disconnect_after=40000&fault_seed=12"
    with open_board(url) as b:
        b.apply(example_config())
        b.run(_stim(seed=2, dur=0.05), 0.05)  # the state is no longer at rest
        with pytest.warns(UserWarning, match="restarted"):
            with pytest.raises(LinkError, match=r"restarted during a run.*not the first run since"):
                b.run(_stim(), 0.3)
        b.reset()  # the config was re-applied; after a reset the board runs again
        assert b.run(_stim(), 0.3).size > 0


def test_board_reboot_is_detected_and_the_config_reapplied() -> None:
    with open_board("emu://?engine=toy") as b:
        b.apply(example_config())
        first = b.run(_stim(), 0.3)
        b.client.call(m.MsgType.RESET, m.RESET_CMD.pack(1))  # the board reboots: its config is gone
        with pytest.warns(UserWarning, match="restarted"):
            b.reset()  # NO_CONFIG: the host sees the reboot and applies the config again
        again = b.run(_stim(), 0.3)
        np.testing.assert_array_equal(first, again)
        assert b.restarts == 1


def test_overflow_in_real_time_is_reported() -> None:
    # 3 copies x ~24 targets per input spike at 115200 baud: far more than the line carries
    url = "emu://?engine=toy&baud=115200&realtime=1&fifo=64"
    with open_board(url + "&readout=spikes") as b:
        b.apply(example_config())
        with pytest.raises(LinkError, match=r"spike\(s\) dropped by board overflow"):
            b.run(_stim(dur=0.2), 0.2)
        r = b.last_run
        assert (
            r is not None
            and r.overflow_dropped > 0
            and r.n_records + r.overflow_dropped == r.n_events
        )


def test_auto_readout_switches_to_counts_when_the_line_is_too_slow() -> None:
    url = "emu://?engine=toy&baud=115200&bin_us=2000"
    stim = ev.poisson_input(30.0, N_INPUTS, 0.1, seed=4)
    with open_board(url) as b:
        b.apply(example_config())
        spikes = b.run(stim, 0.1)  # no rate known yet: spikes
        assert b.last_run is not None and b.last_run.readout == "spikes"
        with pytest.warns(UserWarning, match="counts per 2000 us bin"):
            counts = b.run(stim, 0.1)
        r = b.last_run
        assert r is not None and r.readout == "counts" and "spikes/s" in r.readout_reason
    # counts readout: the same spikes per neuron and per bin, times at bin starts
    assert counts.size == spikes.size > 0
    np.testing.assert_array_equal(
        ev.events_to_raster(counts, 2e-3, 0.1, 1024), ev.events_to_raster(spikes, 2e-3, 0.1, 1024)
    )


def test_silent_board_raises_board_timeout_naming_what_was_pending() -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    conns = []
    t = threading.Thread(target=lambda: conns.append(srv.accept()), daemon=True)
    t.start()
    t0 = time.monotonic()
    with pytest.raises(BoardTimeout, match=r"did not answer HELLO.*pending: HELLO \(seq 0\)"):
        open_board(f"socket://127.0.0.1:{port}?timeout=0.3")
    assert time.monotonic() - t0 < 10
    srv.close()


def test_timeout_during_run_names_the_pending_command() -> None:
    with open_board("emu://?engine=toy&timeout=0.3") as b:
        b.apply(example_config())
        port = b.client.transport.port
        port._emu.firmware.feed = lambda data: None  # type: ignore[union-attr]  # firmware hangs
        with pytest.raises(
            BoardTimeout, match=r"no answer from the board to STIM_BEGIN \(seq \d+\)"
        ):
            b.run(_stim(), 0.3)


def test_fault_options_are_checked() -> None:
    with pytest.raises(BoardURLError, match="ber=2.0"):
        FaultSpec(ber=2.0)
    with pytest.raises(BoardURLError, match="unknown option .bre."):
        open_board("emu://?bre=1e-4")


class SlowApplyEngine(ToyEngine):
    def apply(self, config):  # type: ignore[no-untyped-def]
        time.sleep(1.2)  # a big config takes the board seconds to compile
        return super().apply(config)


register_engine("slow-apply", lambda opts: (SlowApplyEngine(), {"kind": "emulator"}))


def test_keepalive_while_the_board_executes_a_long_command() -> None:
    # the board is silent-but-for-keepalives for 1.2 s, longer than the 0.4 s timeout
    with open_board("emu://?engine=slow-apply&timeout=0.4") as b:
        assert b.apply(example_config()) == example_config().content_hash()
