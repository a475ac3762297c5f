"""The pytest plugin acts only on what is hil's: a second, unrelated project in a temporary folder
keeps its own `slow`, `requires` and `--run-slow`; hil's board options are checked once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

# A board scheme that opens instantly (no torch, no emulator), registered by the project's conftest.
FAKE_BOARD = """
import numpy as np
import hil
from hil.board import Board, BoardInfo, Capability
from hil.errors import BoardURLError

class Fake(Board):
    def __init__(self, url):
        if "bad" in url:
            raise BoardURLError(f"fake board {url!r} refuses")
        self.url = url
    def info(self):
        return BoardInfo("fake-1", "fake", "0.0", 1, frozenset({Capability.SPIKES.value}))
    def apply(self, config): return config.content_hash()
    def run(self, stimulus, duration_s): return np.empty(0)
    def reset(self): pass
    def close(self): pass

hil.register_scheme("fake", Fake)
"""


def _pytest(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != "HIL_BOARD"}
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), e.get("PYTHONPATH", "")])
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args],
        cwd=project,
        capture_output=True,
        text=True,
        env=e,
        timeout=300,
    )


@pytest.fixture
def other_project(tmp_path: Path) -> Path:
    """A project that knows nothing of hil: its own slow marker, requires marker and --run-slow."""
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\naddopts = --strict-markers\nmarkers =\n    slow: ours\n    requires(x): ours\n"
    )
    (tmp_path / "conftest.py").write_text(
        "def pytest_addoption(parser):\n    parser.addoption('--run-slow', action='store_true')\n"
    )
    (tmp_path / "test_other.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.slow\n"
        "def test_slow():\n    pass\n\n"
        "@pytest.mark.requires('network')\n"
        "def test_requires_its_own_thing():\n    pass\n\n"
        "def test_plain():\n    pass\n"
    )
    return tmp_path


def test_an_unrelated_project_is_not_touched(other_project: Path) -> None:
    proc = _pytest(other_project, "-v")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout and "skipped" not in proc.stdout
    assert "hil boards" not in proc.stdout
    # its own --run-slow does not clash with the plugin's options
    proc = _pytest(other_project, "--run-slow")
    assert proc.returncode == 0 and "3 passed" in proc.stdout, proc.stdout + proc.stderr


@pytest.fixture
def board_project(tmp_path: Path) -> Path:
    (tmp_path / "conftest.py").write_text(FAKE_BOARD)
    (tmp_path / "test_boards.py").write_text(
        "import pytest\n\n"
        "def test_uses_board(board, board_url):\n    assert board.info().board_id == 'fake-1'\n\n"
        "@pytest.mark.requires('counts')\n"
        "def test_needs_counts(board):\n    pass\n\n"
        "@pytest.mark.hil_slow\n"
        "def test_long():\n    pass\n"
    )
    return tmp_path


def test_boards_from_option_and_environment(board_project: Path) -> None:
    proc = _pytest(board_project, "--board", "fake://a", "--board", "fake://b")
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert "hil boards: fake://a (fake-1, fake 0.0), fake://b (fake-1, fake 0.0)" in out
    assert "2 passed" in out  # test_uses_board on each board
    assert "lacks capabilities ['counts']" in out  # requires(...) skips with a reason
    assert "hil_slow: long end-to-end run; use --hil-run-slow" in out
    proc = _pytest(board_project, env={"HIL_BOARD": "fake://a, fake://b fake://c"})
    assert "3 passed" in proc.stdout and "fake://c (fake-1" in proc.stdout, proc.stdout
    proc = _pytest(board_project, "--board", "fake://a", "--hil-run-slow")
    assert "2 passed" in proc.stdout, proc.stdout  # test_uses_board and test_long


def test_a_bad_board_url_is_one_usage_error(board_project: Path) -> None:
    proc = _pytest(board_project, "--board", "fake://bad")
    assert proc.returncode == 4  # pytest's usage error: no test ran, none ERRORed
    assert "fake board 'fake://bad' refuses" in proc.stderr
    assert proc.stderr.count("cannot be used") == 1 and "ERROR at setup" not in proc.stdout
    proc = _pytest(board_project, env={"HIL_BOARD": "nope://x"})
    assert proc.returncode == 4 and "unknown board URL scheme 'nope'" in proc.stderr


def test_unknown_capability_names_are_refused(board_project: Path) -> None:
    (board_project / "test_typo.py").write_text(
        "import pytest\n\n@pytest.mark.requires('count')\ndef test_typo(board):\n    pass\n"
    )
    proc = _pytest(board_project, "--board", "fake://a")
    assert proc.returncode == 4
    assert "requires('count',) names no board capability" in proc.stderr
    assert "allowed: biases, counts," in proc.stderr


def test_this_repository_s_slow_tests_run_only_when_asked(tmp_path: Path) -> None:
    # tests/conftest.py maps this repository's `slow` onto the plugin's `hil_slow`
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\naddopts = --strict-markers\nmarkers =\n    slow: x\n"
    )
    (tmp_path / "test_s.py").write_text(
        "import pytest\n\n@pytest.mark.slow\ndef test_s():\n    pass\n"
    )
    assert "1 skipped" in _pytest(tmp_path).stdout
    for flag in ("--run-slow", "--hil-run-slow"):
        assert "1 passed" in _pytest(tmp_path, flag).stdout
