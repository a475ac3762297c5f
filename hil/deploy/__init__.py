"""Mapping and deployment (issue 10 section 4): a quantized network onto chips, cores, neurons,
CAM slots, tags and routes; the reverse mapping; mismatch-aware placement; `hil deploy`."""
