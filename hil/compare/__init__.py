"""hil.compare: spike statistics, two-sample tests with effect sizes, and pytest assertions that
compare the simulator (or a twin) with a chip at a measured false-alarm rate (docs/compare.md).

Trials (hil.compare.trials)
    Trial(duration_s, events=OUTPUT_DTYPE array | counts=events.Counts); as_trial(recording),
    as_trials(recordings, trial_s=None), split(trial, trial_s); SpikeTimesRequired
Statistics (hil.compare.stats), per neuron, aligned with `neurons` (board-wide indices)
    firing_rate, isi_cv, local_variation, fano_factor(window_s), count_correlation(bin_s),
    mean_correlation, first_spike_latency, psth(trials, bin_s), van_rossum_distance,
    van_rossum_matrix, summary(trials) -> DataFrame
Tests (hil.compare.twosample)
    mann_whitney, kolmogorov_smirnov, energy_test, sign_flip_test, label_permutation_test,
    cliffs_delta, holm, benjamini_hochberg, adjust
Comparing (hil.compare.compare)
    compare(reference, candidate, stats, alpha, paired, test, correction, ...) -> Comparison
    assert_spiking_equivalent(sim_rec, chip_rec, stats, alpha, ...)
Measured error rates: python -m hil.compare.error_rates
"""

from hil.compare.assertions import SkippedStatistic, assert_spiking_equivalent
from hil.compare.compare import DEFAULT_STATS, KINDS, TESTS, Comparison, Statistic, compare
from hil.compare.stats import (
    count_correlation,
    fano_factor,
    firing_rate,
    first_spike_latency,
    isi_cv,
    local_variation,
    mean_correlation,
    psth,
    summary,
    van_rossum_distance,
    van_rossum_matrix,
)
from hil.compare.trials import SpikeTimesRequired, Trial, as_trial, as_trials, split
from hil.compare.twosample import (
    adjust,
    benjamini_hochberg,
    cliffs_delta,
    energy_test,
    holm,
    kolmogorov_smirnov,
    label_permutation_test,
    mann_whitney,
    sign_flip_test,
)

__all__ = [
    "DEFAULT_STATS",
    "KINDS",
    "TESTS",
    "Comparison",
    "SkippedStatistic",
    "SpikeTimesRequired",
    "Statistic",
    "Trial",
    "adjust",
    "as_trial",
    "as_trials",
    "assert_spiking_equivalent",
    "benjamini_hochberg",
    "cliffs_delta",
    "compare",
    "count_correlation",
    "energy_test",
    "fano_factor",
    "firing_rate",
    "first_spike_latency",
    "holm",
    "isi_cv",
    "kolmogorov_smirnov",
    "label_permutation_test",
    "local_variation",
    "mann_whitney",
    "mean_correlation",
    "psth",
    "sign_flip_test",
    "split",
    "summary",
    "van_rossum_distance",
    "van_rossum_matrix",
]
