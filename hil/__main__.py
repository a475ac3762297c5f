"""`python -m hil ...` runs the `hil` command."""

import sys

from hil.cli import main

sys.exit(main())
