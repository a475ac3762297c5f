"""hil.nightly: one board's night (the campaign's stages, drift against the board's history, the
store), and the commands that read the history: `hil nightly`, `hil history`, `hil calib`.

nightly.py  NightJob, run_night: one board, one night (docs/nightly.md)
drift.py    the drift statistics and their documented thresholds
cli.py      `hil nightly`, `hil history --board ID`, `hil calib diff|use|active`
"""

# The stages `hil nightly --skip` may leave out (the CLI offers them, NightJob checks them).
SKIPPABLE = ("conformance", "characterize", "fit", "calibrate", "validate")
