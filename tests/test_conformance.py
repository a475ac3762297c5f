"""The shipped Board conformance suite (hil.validation), run against every backend in CI.

tests/conftest.py parametrizes `board_url` over the backends; `pytest --board URL` overrides it.
"""

import pytest

from hil.board import INTERFACES
from hil.validation.test_board_protocol import *  # noqa: F403
from hil.validation.test_counts_and_biases import *  # noqa: F403
from hil.validation.test_wire_protocol import *  # noqa: F403


@pytest.fixture(autouse=True)
def _pending_on_sim(request: pytest.FixtureRequest, board_url: str) -> None:
    """sim:// advertises `counts` before it implements CountsReadout (issue 8 section 2 is being
    done for sim:// beside this work): until it does, the tests of a capability it advertises but
    does not implement must fail (strict xfail); once it implements them, this does nothing."""
    if not board_url.startswith("sim://"):
        return
    from hil.sim.board import Simulator

    marker = request.node.get_closest_marker("requires")
    needed = set(marker.args) if marker else set()
    if request.node.originalname == "test_advertised_capabilities_come_with_their_methods":
        needed = {c.value for c in INTERFACES}
    lacking = {c.value for c, iface in INTERFACES.items() if not issubclass(Simulator, iface)}
    if not needed & lacking:
        return
    advertised = request.getfixturevalue("board").info().capabilities
    if needed & lacking & advertised:
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason=f"sim:// advertises {sorted(lacking & advertised)} unimplemented",
            )
        )
