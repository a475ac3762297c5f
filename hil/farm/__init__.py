"""hil.farm: boards' nightly jobs on Dask distributed, each where its board is attached
(farm.py; docs/farm.md)."""
