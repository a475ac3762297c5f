"""open_board and the URL registry (hil.board)."""

from __future__ import annotations

import pytest

from hil.board import known_schemes, open_board, register_scheme, scheme_of, url_options
from hil.errors import BoardURLError


def test_unknown_scheme_lists_known_ones() -> None:
    with pytest.raises(BoardURLError) as err:
        open_board("nope://x")
    msg = str(err.value)
    assert "'nope'" in msg and "sim://" in msg


def test_device_paths_have_the_serial_scheme() -> None:
    assert scheme_of("/dev/ttyUSB0") == "serial"
    assert scheme_of("emu://?seed=1") == "emu"


def test_registered_factory_is_used() -> None:
    opened = []
    register_scheme("dummy", lambda url: opened.append(url) or "board")
    try:
        assert open_board("dummy://a?b=1") == "board"
        assert opened == ["dummy://a?b=1"]
        assert "dummy" in known_schemes()
    finally:
        from hil import board

        board._REGISTRY.pop("dummy")


def test_url_options_are_typed_and_checked() -> None:
    opts = url_options("sim://?dt=1e-4&seed=3&fast", {"dt": float, "seed": int, "fast": bool})
    assert opts == {"dt": 1e-4, "seed": 3, "fast": True}
    with pytest.raises(BoardURLError, match="unknown option 'dtt'.*allowed: dt, seed"):
        url_options("sim://?dtt=1", {"dt": float, "seed": int})
    with pytest.raises(BoardURLError, match="seed='x'.*int"):
        url_options("sim://?seed=x", {"seed": int})
