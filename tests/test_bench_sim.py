"""`hil bench sim`: a forward + backward speedup counts only where both gradients are finite, and
`--neurons` runs the workload at the sizes it names (keys suffixed _n<N>)."""

from __future__ import annotations

import pytest

from hil.bench import sim
from hil.bench.sim import speedups
from hil.cli import build_parser


def _times(finite: bool, scale: float) -> dict:
    return {
        "fwd_b1_s": 1.0 * scale, "fwd_b32_s": 2.0 * scale, "fwdbwd_b1_s": 3.0 * scale,
        "fwdbwd_b32_s": 4.0 * scale, "mismatch_100_s": 5.0 * scale,
        "fwdbwd_b1_grad_finite": True, "fwdbwd_b32_grad_finite": finite,
    }  # fmt: skip


def test_speedups_need_finite_gradients_on_both_sides() -> None:
    peer = _times(True, 3.0) | {"mismatch_100_vmap_s": 10.0, "mismatch_100_vmap_sharedw_s": 7.5}
    out = speedups({"": _times(True, 1.0), "_eager": _times(False, 2.0)}, peer)
    assert out["speedup_fwdbwd_b32"] == 3.0 and out["speedup_fwd_b32"] == 3.0
    assert out["speedup_mismatch_100_vmap"] == 2.0
    assert out["speedup_mismatch_100_vmap_sharedw"] == 1.5
    assert out["speedup_fwdbwd_b32_eager"] is None
    assert "hil.sim_eager" in out["speedup_fwdbwd_b32_eager_null_reason"]
    assert out["speedup_fwdbwd_b1_eager"] == 1.5  # that one is finite
    peer["fwdbwd_b32_grad_finite"] = False
    out = speedups({"": _times(True, 1.0)}, peer)
    assert out["speedup_fwdbwd_b32"] is None
    assert "rockpool" in out["speedup_fwdbwd_b32_null_reason"]
    assert "speedup_fwd_b32_null_reason" not in out and out["speedup_fwd_b32"] == 3.0


def test_speedups_tag_names_the_size() -> None:
    peer = _times(True, 3.0) | {"mismatch_100_vmap_s": 10.0, "mismatch_100_vmap_sharedw_s": 5.0}
    del peer["mismatch_100_s"]  # no re-jit loop at N != 256
    out = speedups({"": _times(True, 1.0)}, peer, names=sim.WORKLOADS[:-1], tag="_n1024")
    assert out == {
        "speedup_fwd_b32_n1024": 3.0, "speedup_fwdbwd_b32_n1024": 3.0,
        "speedup_fwd_b1_n1024": 3.0, "speedup_fwdbwd_b1_n1024": 3.0,
        "speedup_mismatch_100_vmap_n1024": 2.0, "speedup_mismatch_100_vmap_sharedw_n1024": 1.0,
    }  # fmt: skip
    peer |= {"mismatch_100_vmap_s": None, "mismatch_100_vmap_skipped": "skipped (--no-full-vmap)"}
    out = speedups({"": _times(True, 1.0)}, peer, names=sim.WORKLOADS[:-1], tag="_n1024")
    assert out["speedup_mismatch_100_vmap_n1024"] is None
    assert out["speedup_mismatch_100_vmap_n1024_null_reason"] == "skipped (--no-full-vmap)"
    assert out["speedup_mismatch_100_vmap_sharedw_n1024"] == 1.0


def _args(*argv: str):
    return build_parser().parse_args(["bench", "sim", *argv])


def test_neurons_option_parses_and_refuses() -> None:
    assert _args().neurons == [256]  # the default run is N = 256 alone, as before the option
    assert _args("--neurons", "256,1024").neurons == [256, 1024]
    for bad in ("1024,1024", "8", "4096", "", "256,,1024", "a", "1,2,3,4,5"):
        with pytest.raises(SystemExit):
            _args("--neurons", bad)


def test_neurons_runs_that_size_and_suffixes_its_keys(monkeypatch) -> None:
    """A cheap run at N = 32 (not 256): hil.sim's default path runs on a 32-neuron network, the
    peer is handed the same network, and every key ends _n32; the N = 256 part does not run."""
    seen: list[tuple[int, ...]] = []

    def fake_peer(args, w_in, w_rec, full=True, full_vmap=True) -> dict:
        seen.append((*w_in.shape, *w_rec.shape, full, full_vmap))
        return _times(True, 1.0) | {"mismatch_100_vmap_s": 2.0, "mismatch_100_vmap_sharedw_s": 1.0}

    monkeypatch.setattr(sim, "_rockpool", fake_peer)
    args = _args("--json", "--neurons", "32", "--repeats", "1")
    out = sim.run(args)
    assert seen == [(32, 32, 32, 32, False, True)]
    mine = out["hil_fused_n32"]
    for name in ("fwd_b1", "fwd_b32", "fwdbwd_b1", "fwdbwd_b32", "mismatch_100"):
        assert mine[f"{name}_s"] > 0
    for name in ("fwd_b1", "fwd_b32", "fwdbwd_b1", "fwdbwd_b32", "mismatch_100_vmap"):
        assert out[f"speedup_{name}_n32"] > 0
    assert mine["fwdbwd_b32_grad_finite"] is True
    assert out["speedup_fwd_b32_n32"] == pytest.approx(2.0 / mine["fwd_b32_s"])
    assert out["speedup_mismatch_100_vmap_n32"] == pytest.approx(2.0 / mine["mismatch_100_s"])
    assert out["speedup_mismatch_100_vmap_sharedw_n32"] > 0
    assert "hil_fused" not in out and "speedup_fwd_b32" not in out  # N = 256 not asked for
    assert out["workload"]["neurons_run"] == [32]
    # --no-peer: the speedups are there, null, and say why
    out = sim.run(_args("--neurons", "32", "--repeats", "1", "--no-peer"))
    assert out["peer_n32"] == "skipped (--no-peer)" and out["speedup_fwdbwd_b32_n32"] is None
    assert out["hil_fused_n32"]["fwd_b32_s"] > 0 and len(seen) == 1
