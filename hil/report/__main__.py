"""`python -m hil.report RUN_DIR [-o FILE]`."""

import sys

from hil.report.cli import main

sys.exit(main())
