"""`hil bench sim`: a forward + backward speedup counts only where both gradients are finite."""

from __future__ import annotations

from hil.bench.sim import speedups


def _times(finite: bool, scale: float) -> dict:
    return {
        "fwd_b1_s": 1.0 * scale, "fwd_b32_s": 2.0 * scale, "fwdbwd_b1_s": 3.0 * scale,
        "fwdbwd_b32_s": 4.0 * scale, "mismatch_100_s": 5.0 * scale,
        "fwdbwd_b1_grad_finite": True, "fwdbwd_b32_grad_finite": finite,
    }  # fmt: skip


def test_speedups_need_finite_gradients_on_both_sides() -> None:
    peer = _times(True, 3.0) | {"mismatch_100_vmap_s": 10.0}
    out = speedups({"": _times(True, 1.0), "_eager": _times(False, 2.0)}, peer)
    assert out["speedup_fwdbwd_b32"] == 3.0 and out["speedup_fwd_b32"] == 3.0
    assert out["speedup_mismatch_100_vmap"] == 2.0
    assert out["speedup_fwdbwd_b32_eager"] is None
    assert "hil.sim_eager" in out["speedup_fwdbwd_b32_eager_null_reason"]
    assert out["speedup_fwdbwd_b1_eager"] == 1.5  # that one is finite
    peer["fwdbwd_b32_grad_finite"] = False
    out = speedups({"": _times(True, 1.0)}, peer)
    assert out["speedup_fwdbwd_b32"] is None
    assert "rockpool" in out["speedup_fwdbwd_b32_null_reason"]
    assert "speedup_fwd_b32_null_reason" not in out and out["speedup_fwd_b32"] == 3.0
