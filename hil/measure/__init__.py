"""hil.measure: `record(board, stimulus, duration_s, readout, bin_s) -> Recording` on any board.

Everything after a board (experiments, fitting, calibration, comparison, the store) consumes
Recordings: the data with its time resolution and provenance, a tidy pandas view, Parquet + JSON.
"""

from hil.measure.recording import (
    PROVENANCE_KEYS,
    Recording,
    link_report,
    record,
    stimulus_hash,
)

__all__ = ["PROVENANCE_KEYS", "Recording", "link_report", "record", "stimulus_hash"]
