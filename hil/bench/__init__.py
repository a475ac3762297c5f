"""Speed benchmarks behind `hil bench NAME --json`; `benchmarks/run.py` runs them all.

Timings are medians of repeated runs; comparisons with a peer are ratios measured in the same run.
"""
