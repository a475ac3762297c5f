"""pytest helper: assert that two sets of trials spike alike, with a known false-alarm rate.

    from hil.compare import assert_spiking_equivalent

    def test_chip_matches_sim(sim_trials, chip_trials):
        assert_spiking_equivalent(sim_trials, chip_trials, stats=["rate", "cv"], alpha=0.05)

On failure the AssertionError names the statistics and neurons that differ, by how much (both
means, the relative change and an effect size) and with which p-values, in at most `max_rows` lines.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

from hil.compare.compare import DEFAULT_STATS, Comparison, Statistic, compare


class SkippedStatistic(UserWarning):
    """A requested statistic could not be compared (e.g. it needs spike times, the data are counts)."""


def assert_spiking_equivalent(
    sim_rec: object,
    chip_rec: object,
    stats: Sequence[str | Statistic] = DEFAULT_STATS,
    alpha: float = 0.05,
    *,
    max_rows: int = 12,
    labels: tuple[str, str] = ("sim", "chip"),
    **options: object,
) -> Comparison:
    """Fail (AssertionError) when any (statistic, neuron) differs between `sim_rec` and `chip_rec`
    after multiple-comparison control; return the Comparison when none does.

    sim_rec, chip_rec: sequences of trials (Recordings, events.Counts or hil.compare.Trial), or
    one recording each with trial_s=... to cut it into windows. `options` go to
    hil.compare.compare (paired, test, correction, neurons, trial_s, n_perm, seed).
    A statistic that cannot be computed (spike times needed, counts given) is skipped with a
    SkippedStatistic warning; when nothing at all could be tested, the pytest test is skipped
    with the reasons, since passing would claim a check that never ran.
    """
    result = compare(sim_rec, chip_rec, stats, alpha=alpha, labels=labels, **options)  # type: ignore[arg-type]
    for name, why in result.skipped.items():
        warnings.warn(f"{name} not compared: {why}", SkippedStatistic, stacklevel=2)
    if result.n_tests == 0:
        import pytest

        pytest.skip("no statistic could be compared:\n" + result.message(max_rows))
    if not result.passed:
        raise AssertionError("spiking differs: " + result.message(max_rows))
    return result
