"""Quantization (issue 10 section 3): float weights -> per-core base weights and 4-bit masks,
currents -> bias codes."""
