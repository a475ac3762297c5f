"""The shipped Board conformance suite (hil.validation), run against every backend in CI.

tests/conftest.py parametrizes `board_url` over the backends; `pytest --board URL` overrides it.
"""

from hil.validation.test_board_protocol import *  # noqa: F403
from hil.validation.test_counts_and_biases import *  # noqa: F403
from hil.validation.test_wire_protocol import *  # noqa: F403
