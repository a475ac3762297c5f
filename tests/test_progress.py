"""Progress bars (hil.progress): on a terminal or when asked, never with --json."""

from __future__ import annotations

import argparse
import json
import sys
import time
import types

import pytest

from hil import progress
from hil.cli import _cmd_bench


@pytest.fixture
def fake_bench(monkeypatch):
    mod = types.ModuleType("fake_bench")

    def run(args: argparse.Namespace) -> dict:
        progress.stage("warm-up")
        time.sleep(0.3)
        return {"speedup": 2.5}

    mod.run = run
    monkeypatch.setitem(sys.modules, "fake_bench", mod)
    return argparse.Namespace(subcommand="fake", bench_module="fake_bench")


def test_env_decides_unless_forced(monkeypatch) -> None:
    monkeypatch.setenv("HIL_PROGRESS", "1")
    assert progress.enabled()
    monkeypatch.setenv("HIL_PROGRESS", "0")
    assert not progress.enabled()
    previous = progress.set_enabled(True)
    try:
        assert progress.enabled()
    finally:
        progress.set_enabled(previous)
    assert not progress.enabled()


def test_bench_shows_a_bar_when_asked_and_never_with_json(fake_bench, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HIL_PROGRESS", "1")
    fake_bench.json = False
    assert _cmd_bench(fake_bench) == 0
    out, err = capsys.readouterr()
    assert "hil bench fake" in err and "warm-up" in err and "speedup" in out
    fake_bench.json = True
    assert _cmd_bench(fake_bench) == 0
    out, err = capsys.readouterr()
    assert err == "" and json.loads(out) == {"speedup": 2.5}
    assert progress.enabled()  # --json switched bars off for its own output only


def test_bar_passes_items_through(monkeypatch) -> None:
    monkeypatch.setenv("HIL_PROGRESS", "0")
    xs = [1, 2, 3]
    assert progress.bar(xs) is xs
    monkeypatch.setenv("HIL_PROGRESS", "1")
    assert list(progress.bar(xs, desc="x")) == xs
