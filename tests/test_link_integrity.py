"""No silently wrong result over the link (issue 7, section 3): corrupted bias writes, a board that
holds another config, errors that must stay HilErrors, URL options, backoff on a noisy link,
bounded JSON and text off the wire, frame sizes, no engine fallback, error causes."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
from link_toy import MemBoard, MemLink, ToyEngine

from hil import events as ev
from hil.board import BoardInfo, open_board
from hil.chip.example import N_INPUTS, example_config
from hil.emulator.server import EmulatorOptions, make_engine, register_engine
from hil.errors import BoardError, BoardURLError, ConfigError, HilError, LinkError
from hil.link import messages as m
from hil.link.client import hashes
from hil.link.framing import DELIMITER, FrameSplitter, cobs_encode, crc16, encode_frame
from hil.link.session import Session

T = m.MsgType
STIM = ev.poisson_input(150.0, N_INPUTS, 0.1, seed=1)


# ---- bias writes and the config the board holds ---------------------------------------------------


class ForgingLink(MemLink):
    """Rewrites the first SET_BIAS the host sends: its fine code changes and the frame gets a valid
    CRC-16, the damage a frame check alone cannot see."""

    forged = 0

    def write(self, data: bytes) -> int:
        bodies = FrameSplitter().feed(data)
        if bodies and not self.forged and m.unpack(bodies[0]).type == T.SET_BIAS:
            body = bytearray(bodies[0])
            body[-1] ^= 0x10  # the fine code of the last write
            self.forged += 1
            data = encode_frame(bytes(body))
        return super().write(data)


def test_a_bias_write_corrupted_past_the_crc_never_changes_a_later_run() -> None:
    engine = ToyEngine()
    link = ForgingLink(engine)
    board = MemBoard(link)
    cfg = example_config()
    board.apply(cfg)
    with pytest.raises(LinkError, match="uploaded again in full, nothing changed"):
        board.set_biases({(0, 0, "SOIF_DC_P"): (2, 100)})
    assert link.forged == 1
    board.run(STIM, 0.1)
    assert engine.run_hashes == [cfg.content_hash()]  # the run used the config the host holds
    assert board.restarts == 0  # restored by set_biases itself, not caught later by RUN's check
    # the write itself works once the link is clean again
    h = board.set_biases({(0, 0, "SOIF_DC_P"): (2, 100)})
    cfg.core(0, 0).parameters["SOIF_DC_P"] = (2, 100)
    board.run(STIM, 0.1)
    assert h == cfg.content_hash() == engine.run_hashes[-1]


def test_a_board_holding_another_config_refuses_the_run_and_the_host_restores_its_own() -> None:
    engine = ToyEngine()
    link = MemLink(engine)
    board = MemBoard(link)
    cfg = example_config()
    board.apply(cfg)
    # something else changes a bias on the board behind the host's back
    pid = m.PARAM_IDS["SOIF_DC_P"]
    link.fw.feed(encode_frame(m.pack(T.SET_BIAS, 9999, m.pack_set_bias([(0, 0, pid, 5, 5)]))))
    with pytest.warns(UserWarning, match="another config than this host applied"):
        out = board.run(STIM, 0.1)
    assert engine.run_hashes == [cfg.content_hash()] and out.size > 0
    assert board.last_run is not None and board.last_run.recovered_after_restart


# ---- every error is a HilError ------------------------------------------------------------------


def test_a_link_cut_mid_run_and_again_during_the_reupload_recovers_or_raises_a_hil_error() -> None:
    engine = ToyEngine()
    first = MemLink(engine, cut=lambda f: f.type == T.RUN)  # cut as the run starts
    again = MemLink(None, board=first, cut=lambda f: f.type == T.CONFIG_DATA)  # during re-upload
    clean = MemLink(None, board=first)
    board = MemBoard(first, again, clean, url="mem://?timeout=2&reconnect=5")
    board.apply(example_config())
    want = ToyEngine()
    want.apply(example_config())
    with pytest.warns(UserWarning, match="restarted"):
        out = board.run(STIM, 0.1)
    np.testing.assert_array_equal(out, want.run(STIM, 0.1))
    # a link that is cut on every reconnect: a LinkError (not the internal restart signal)
    always = MemLink(None, board=first, cut=lambda f: f.type == T.CONFIG_DATA)
    cut_run = MemLink(None, board=first, cut=lambda f: f.type == T.RUN)
    b2 = MemBoard(cut_run, always, url="mem://?timeout=2&reconnect=0.3")
    b2.apply(example_config())
    with pytest.raises(HilError) as e:
        b2.run(STIM, 0.1)
    assert type(e.value) is LinkError and "cannot reconnect" in str(e.value)


# ---- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, match",
    [
        ("emu://?timeout=nan", r"timeout='nan'.*allowed 0.01..600"),
        ("emu://?timeout=1e9", r"timeout='1e9'.*allowed 0.01..600"),
        ("emu://?timeout=inf", "timeout='inf'"),
        ("emu://?timeout=x", r"timeout='x'.*allowed: a number from 0.01 to 600"),
        ("emu://?reconnect=nan", r"reconnect='nan'.*allowed 0..3600"),
        ("emu://?reconnect=-1", "reconnect='-1'"),
        ("emu://?window=0", r"window='0'.*allowed 1..64"),
        ("emu://?run_seed=-1", "run_seed='-1'"),
        ("pty://?foo=1", "unknown option 'foo'"),
        ("/dev/nonexistent-hil-port?foo=1", "unknown option 'foo'"),
        ("socket://127.0.0.1:99999", r"PORT 1..65535"),
        ("socket://127.0.0.1", r"PORT 1..65535"),
        ("socket://127.0.0.1:7?foo=1", "unknown option 'foo'"),
    ],
)
def test_bad_options_are_refused_with_the_allowed_range(url: str, match: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(BoardURLError, match=match):
        open_board(url)
    assert time.monotonic() - t0 < 5


def test_a_bad_option_type_reads_as_a_plain_word() -> None:
    from hil.board import url_options

    with pytest.raises(BoardURLError, match=r"seed='x'.*allowed: an integer$"):
        url_options("sim://?seed=x", {"seed": int})


@pytest.mark.parametrize(
    "url, match",
    [  # the emulator's own options: the same ranges as `hil emulate`'s
        ("emu://?seed=-1", r"seed=-1; allowed 0..4294967295"),
        ("emu://?seed=4294967296", r"seed=4294967296; allowed 0..4294967295"),
        ("emu://?fifo=0", r"fifo=0; allowed 1..1048576"),
        ("emu://?fifo=1048577", r"fifo=1048577; allowed 1..1048576"),
        ("emu://?baud=100000001", r"baud=100000001; allowed 0 \(unpaced\) or 300..100000000"),
        ("emu://?fault_seed=-1", r"fault option fault_seed=-1; allowed an integer >= 0"),
        ("emu://?disconnects=-1", r"fault option disconnects=-1; allowed an integer >= 0"),
        ("emu://?engine=nope", r"engine='nope'; known: auto\b"),
    ],
)
def test_bad_emulator_options_are_refused_with_the_allowed_range(url: str, match: str) -> None:
    with pytest.raises(HilError, match=match):
        open_board(url)


def test_cli_says_a_bad_socket_port_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from hil.cli import main

    assert main(["probe", "--board", "socket://127.0.0.1:99999"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "PORT 1..65535" in err and "logging" not in err


# ---- backoff: a live board on a noisy link is not given up -----------------------------------------


def test_a_command_lost_again_and_again_is_retried_while_probes_show_the_board_alive() -> None:
    """Every transmission of the command is lost, every probe answered: the session keeps trying
    for all its `retries` (the old 2 s back-off cap gave up after 6-10 of 20 tries), then says the
    link, not the board, is the problem."""
    s = Session()
    cmd = s.submit(T.CONFIG_DATA, b"x" * 1000)
    now, probes = 0.0, 0
    with pytest.raises(HilError, match=r"after 64 tries.*the board answers, but the link lost"):
        while True:
            for body in FrameSplitter().feed(s.outgoing(now)):
                f = m.unpack(body)
                if f.type == T.PING:  # the probe gets through; its answer comes back
                    probes += 1
                    s.last_rx = now
                    s.on_frame(m.Frame(T.ACK, 0, f.seq, bytes([T.PING])), now)
            s.check(now)
            now += 0.01
    assert cmd.tries == 64 and probes > 10 and now > s.silence_s
    assert not s.inflight  # forgotten: the next command starts clean


def test_a_silent_board_is_given_up_after_the_silence_timeout() -> None:
    s = Session(silence_s=0.5)
    s.submit(T.PING)
    now = 0.0
    with pytest.raises(HilError, match="the board sent nothing for 0.5"):
        while now < 5:
            s.outgoing(now)
            s.check(now)
            now += 0.01
    assert now < 0.6


def test_noisy_link_at_ber_1e3_gives_exact_results_and_1e2_fails_clearly() -> None:
    """The short version of `hil bench link` (figures: docs/protocol.md, "Integrity"): 5 s runs at
    200 Hz input over emu:// with BER 1e-3 and drops and garbage at 1e-4."""
    from hil.bench.link import ber_runs

    r = ber_runs(1e-3, 4, 5.0)
    assert (r["exact"], r["wrong"]) == (4, 0), r
    r = ber_runs(1e-2, 2, 1.0)
    assert (
        r["wrong"] == 0
        and r["failed"] == 2
        and set(r["failures"])
        <= {
            "BoardTimeout",
            "LinkError",
        }
    )


# ---- what comes off the wire is bounded ------------------------------------------------------------


def _hello_with_details(details: str) -> bytes:
    d = details.encode()
    return (
        m.struct.pack("<BIBHHIB", 1, 7, 1, 1, 1024, 0, 0)
        + b"\x01b\x02fw"
        + len(d).to_bytes(2, "little")
        + d
    )


@pytest.mark.parametrize(
    "details, match",
    [
        ("[" * 1000 + "]" * 1000, "details length=2000; allowed 0..512"),
        ("[" * 200 + "]" * 200, "200 deep; allowed at most 512 bytes and 8 levels"),
        ('{"a": [1, 2', "not JSON"),
        ("[1]", "not a JSON object"),
    ],
)
def test_hello_details_are_bounded_in_size_and_depth(details: str, match: str) -> None:
    with pytest.raises(m.WireError, match=match):
        m.HelloInfo.unpack(_hello_with_details(details))


def test_texts_off_the_wire_are_cleaned_and_bounded() -> None:
    info = m.HelloInfo.unpack(_hello_with_details('{"id": "a\\u001b[31mred", "n": [1, {"x": 2}]}'))
    assert info.details == {"id": "a\\x1b[31mred", "n": [1, {"x": 2}]}
    _, code, text = m.unpack_nak(bytes([T.RUN, 3]) + b"bad \x1b]0;title\x07 " + b"x" * 2000)
    assert code == m.ErrorCode.BAD_FIELD and "\x1b" not in text and len(text) < 530


def test_a_deeply_nested_config_invalid_nak_is_a_config_error() -> None:
    engine = ToyEngine()
    board = MemBoard(MemLink(engine))
    with pytest.raises(ConfigError, match="a config this board accepts"):
        board.client.raise_nak(
            T.CONFIG_COMMIT, m.nak_payload(T.CONFIG_COMMIT, 7, "[" * 500 + "]" * 500)
        )


def test_an_emoji_silicon_id_keeps_the_board_reachable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from hil.emulator.silicon import Silicon

    sid = "\N{GRINNING FACE}" * 64
    path = tmp_path / "emoji.json"
    replace(Silicon.from_seed(3), silicon_id=sid).save(path)
    with open_board(f"emu://?silicon={path}") as b:
        info = b.info()
        assert sid.startswith(info.board_id) and len(info.board_id) == 63  # 255 bytes, whole chars
        assert info.details["silicon_id"] == sid[:64]
        assert b.apply(example_config()) == example_config().content_hash()


def test_hello_details_too_long_are_shortened_not_cut() -> None:
    text = m.pack_details({"kind": "emulator", "note": "\N{SNOWMAN}" * 400, "z": 1})
    assert len(text.encode()) <= m.MAX_TEXT and m.parse_json_object(text, "x")["kind"] == "emulator"


def test_a_hash_mismatch_names_distinct_prefixes() -> None:
    a = "ab" * 8 + "0" * 48
    b = "ab" * 8 + "1" * 48
    msg = hashes(sent=a, committed=b, reads_back="")
    assert msg == f"sent {a[:24]}, committed {b[:24]}, reads_back none"
    assert hashes(x=a, y=a) == f"x {a[:16]}, y {a[:16]}"


def test_frame_bodies_above_1024_bytes_are_refused() -> None:
    for n in range(1024, 1029):
        body = bytes(i % 200 for i in range(n))  # a zero every 200 bytes: COBS adds 1 byte only
        wire = cobs_encode(body + crc16(body).to_bytes(2, "little")) + DELIMITER
        sp = FrameSplitter()
        assert sp.feed(wire) == ([body] if n == 1024 else [])
        assert sp.stats.frames_bad == (n > 1024)


# ---- no fallback, and the cause of a board failure -------------------------------------------------


def test_a_broken_engine_import_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hil.emulator.engine", None)
    with pytest.raises(ImportError):
        make_engine(EmulatorOptions())
    with pytest.raises(ImportError):
        open_board("emu://")


class FailingEngine(ToyEngine):
    def info(self) -> BoardInfo:
        return BoardInfo("fail-0", "toy", "1", 1, frozenset({"spikes"}))

    def run(self, stimulus: np.ndarray, duration_s: float) -> np.ndarray:
        raise ValueError("integrator diverged at step 42")


register_engine("failing", lambda opts: (FailingEngine(), {"kind": "emulator"}))


def test_an_engine_error_reaches_the_host_with_its_cause() -> None:
    with open_board("emu://?engine=failing") as b:
        b.apply(example_config())
        with pytest.raises(
            BoardError, match=r"error while running.*INTERNAL: ValueError: integrator diverged"
        ):
            b.run(STIM, 0.1)


def test_run_summary_error_text_is_bounded() -> None:
    s = m.RunSummary(1, 2, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 12, "x" * 5000)
    back = m.RunSummary.unpack(s.pack())
    assert back.error_code == 12 and back.error_text == "x" * m.MAX_TEXT
    ok = m.RunSummary(1, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0)
    with pytest.raises(m.WireError, match="RUN_DONE of 41 bytes"):
        m.RunSummary.unpack(ok.pack() + b"\x0c")
