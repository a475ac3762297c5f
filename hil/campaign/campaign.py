"""`hil campaign --board URL --out reports/NAME [--quick]`: every stage for one board, one report.

probe, conformance, screen, characterize, fit, calibrate, train, quantize, deploy, evaluate,
compare (sim and twin vs chip), report. See docs/campaign.md.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from hil.campaign import stages as st
from hil.campaign.runner import RunResult, Stage, run_stages
from hil.errors import BoardURLError, ConfigError, HilError

CAMPAIGN: tuple[Stage, ...] = (
    Stage("probe", st.probe, always=True, title="who answers"),
    Stage("conformance", st.conformance, inputs=("probe",), title="the shipped suite"),
    Stage("screen", st.screen, inputs=("probe",), title="dead and hot neurons"),
    Stage("characterize", st.characterize, inputs=("probe",), requires="hil.experiments"),
    Stage("fit", st.fit, inputs=("characterize",), requires="hil.mismatch"),
    Stage(
        "calibrate",
        st.calibrate,
        inputs=("probe",),
        uses=("fit",),
        requires="hil.calibrate",
        version=2,  # 2: measured, not from hil calibrate's cache
    ),  # fmt: skip
    Stage("train", st.train, uses=("fit",), requires="hil.tasks"),
    Stage("quantize", st.quantize, inputs=("train",), requires="hil.quantize"),
    Stage(
        "deploy",
        st.deploy,
        inputs=("train",),
        uses=("quantize", "calibrate", "fit"),
        requires="hil.deploy",
    ),  # fmt: skip
    Stage(
        "evaluate",
        st.evaluate,
        inputs=("deploy",),
        uses=("calibrate", "fit"),
        requires="hil.deploy",
    ),  # fmt: skip
    Stage(
        "compare",
        st.compare_stage,
        inputs=("probe",),
        uses=("calibrate", "fit"),
        version=2,  # 2: the twin judged by issue 9's 5 % prediction target
        title="sim and twin vs chip",
    ),  # fmt: skip
)


IN_PROCESS = ("emu", "sim")  # boards that run inside this process: failing to open is bad input


def check_board_url(board: str) -> None:
    """BoardURLError (exit 2, no run directory) for a URL that cannot be opened as written: an
    unknown scheme, or an in-process board (emu://, sim://) whose options or silicon/twin file are
    refused. A remote board that does not answer is not bad input: the probe stage fails (exit 1,
    with a report)."""
    from hil.board import known_schemes, open_board, scheme_of

    scheme = scheme_of(board)
    if scheme not in IN_PROCESS:
        if scheme not in known_schemes():
            open_board(board)  # BoardURLError naming the known schemes
        return
    try:
        open_board(board).close()
    except BoardURLError:
        raise
    except HilError as e:
        raise BoardURLError(f"board {board!r} cannot be opened as written: {e}") from None


def run_campaign(
    board: str, out: str | Path, profile: str = "default", reuse: bool = True
) -> RunResult:
    """Run the campaign for `board` (a URL) into run directory `out`, resuming the stages whose
    inputs did not change (every stage anew with `reuse` False); returns the RunResult."""
    from hil.report.rundir import Run

    if profile not in st.PROFILES:
        raise ConfigError("profile", profile, f"one of {', '.join(st.PROFILES)}")
    if not isinstance(board, str) or not board.strip():
        raise ConfigError("board", board, "a board URL such as emu:// or socket://HOST:PORT")
    check_board_url(board)
    command = f"hil campaign --board {shlex.quote(board)} --out {shlex.quote(str(out))}"
    run = Run.create(
        out,
        title=f"campaign: {board} ({profile})",
        provenance={
            "command": command + (" --quick" if profile == "quick" else ""),
            "board_url": board,
            "profile": profile,
        },  # fmt: skip
    )
    params = {
        "board": board,
        "profile": profile,
        "profile_settings": st.PROFILES[profile].to_dict(),
    }
    return run_stages(run, list(CAMPAIGN), params, reuse=reuse)
