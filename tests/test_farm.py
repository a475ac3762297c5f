"""The farm on a real Dask LocalCluster of 2 worker processes: 4 emulated boards with different
silicons, each night stored whole and equal to a serial run of the same board; a board whose stage
fails does not stop the others, and its failure is stored with its cause."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hil.farm.farm import parse_board, resource, run_farm, run_serial
from hil.nightly.nightly import NightJob
from hil.store import open_store

pytest_plugins = ["store_fixtures"]  # new_store_url: a real PostgreSQL server

ROOT = Path(__file__).resolve().parent.parent
BOARDS = {
    "typical": f"emu://?silicon={ROOT / 'fixtures' / 'silicon' / 'typical.json'}",
    "bad": f"emu://?silicon={ROOT / 'fixtures' / 'silicon' / 'bad.json'}",
    "seed11": "emu://?seed=11",
    "seed12": "emu://?seed=12",
}
NIGHT = "2026-11-28"


def jobs(store: str, out: Path, boards: dict[str, str]) -> list[NightJob]:
    return [NightJob(url=u, store=store, night=NIGHT, out=str(out), skip=("conformance", "validate"),
                     name=n) for n, u in boards.items()]  # fmt: skip


def stored(url: str) -> dict[str, pd.DataFrame]:
    """Per board: its night's statistics (neuron, metric, value) and alerts, read back."""
    out = {}
    with open_store(url) as store:
        assert store.check() == []
        for board in store.boards():
            hist = store.history(board)
            assert list(hist["status"]) == ["complete"], hist
            frames = []
            for metric in store.metrics():
                h = store.stat_history(board, metric)
                frames.append(
                    pd.DataFrame({"neuron": h.neurons, "metric": metric, "value": h.values[0]})
                )
            out[board] = pd.concat(frames, ignore_index=True).sort_values(["metric", "neuron"])
            out[board + " alerts"] = store.alerts(board)[["kind", "neuron", "message"]]
    return out


@pytest.mark.slow
def test_four_boards_on_two_workers_equal_a_serial_run(tmp_path: Path) -> None:
    farm_store = f"sqlite:///{tmp_path / 'farm.db'}"
    serial_store = f"sqlite:///{tmp_path / 'serial.db'}"
    seen: list[dict] = []
    farm = run_farm(jobs(farm_store, tmp_path / "farm", BOARDS), n_workers=2, on_done=seen.append)
    serial = run_serial(jobs(serial_store, tmp_path / "serial", BOARDS))
    assert len(seen) == 4
    assert [s["exit_code"] for s in farm] == [s["exit_code"] for s in serial] == [0, 1, 0, 0]
    assert [s["board"] for s in farm] == [
        "emu-typical-A",
        "emu-bad-B",
        "emu-seed-11",
        "emu-seed-12",
    ]
    a, b = stored(farm_store), stored(serial_store)
    assert sorted(a) == sorted(b) and len(a) == 8
    for key in a:
        pd.testing.assert_frame_equal(a[key].reset_index(drop=True), b[key].reset_index(drop=True))
    frames = [v for k, v in a.items() if not k.endswith("alerts")]
    rates = sum(int(v["metric"].str.endswith("_hz").sum()) for v in frames)
    assert rates == 4 * 1024 * 5  # 5 rate statistics per neuron per board: none lost
    # and the fit's identified values (twin_*_a) of the neurons it identified, on every board
    assert all(v["metric"].str.startswith("twin_").sum() > 0 for v in frames)
    with open_store(farm_store) as store:
        # every stage of every night stored, with its status
        for board in store.boards():
            st = store.stages(int(store.history(board)["run_id"].iloc[0]))
            assert list(st["name"]) == ["probe", "characterize", "fit", "calibrate", "measure",
                                        "drift", "store"]  # fmt: skip
            assert set(st["status"]) <= {"ok", "skipped"}


@pytest.mark.slow
def test_a_failing_board_does_not_stop_the_others_and_its_cause_is_stored(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'hil.db'}"
    boards = {"lossy": "emu://?seed=21&drop=0.01", "fine": "emu://?seed=22"}
    out = run_farm(jobs(store, tmp_path / "runs", boards), n_workers=2)
    assert [s["exit_code"] for s in out] == [1, 0]
    failed = [x for x in out[0]["stages"] if x["status"] == "failed"]
    assert [x["name"] for x in failed] == ["measure"]
    with open_store(store) as st:
        lossy = st.history("emu-seed-21")
        assert list(lossy["status"]) == ["failed"]
        assert "BoardTimeout" in lossy["error"].iloc[0] and "measure" in lossy["error"].iloc[0]
        stages = st.stages(int(lossy["run_id"].iloc[0]))
        row = stages[stages["name"] == "measure"].iloc[0]
        assert row["status"] == "failed" and "BoardTimeout" in row["error"]
        assert list(st.history("emu-seed-22")["status"]) == ["complete"]
        assert st.check() == []


def test_board_names_and_resources() -> None:
    assert parse_board("lab3=/dev/ttyUSB0", 0) == ("lab3", "/dev/ttyUSB0")
    assert parse_board("emu://?seed=3", 2) == ("board2", "emu://?seed=3")
    assert parse_board("a=emu://?seed=3&day=2", 0) == ("a", "emu://?seed=3&day=2")
    assert resource("lab3") == "board-lab3"
    assert np.all([resource(f"b{i}") != resource(f"b{i + 1}") for i in range(3)])


@pytest.mark.slow
def test_a_scheduler_address_runs_boards_where_they_are_declared(tmp_path: Path) -> None:
    """--cluster ADDRESS: a worker declares board-a only; board a runs there, and a board that no
    worker declares is refused at once, naming what is declared (it would wait forever)."""
    from dask.distributed import LocalCluster

    from hil.errors import ConfigError

    store = f"sqlite:///{tmp_path / 'hil.db'}"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, resources={"board-a": 1}) as cluster:  # fmt: skip
        out = run_farm(
            jobs(store, tmp_path / "runs", {"a": "emu://?seed=31"}),
            cluster=cluster.scheduler_address,
        )
        assert [s["exit_code"] for s in out] == [0]
        with pytest.raises(ConfigError, match="declared: board-a"):
            run_farm(
                jobs(store, tmp_path / "runs", {"b": "emu://?seed=32"}),
                cluster=cluster.scheduler_address,
            )


@pytest.mark.slow
def test_two_workers_write_one_postgresql_store(tmp_path: Path, new_store_url) -> None:
    """The farm's store across hosts: PostgreSQL (a real server), two worker processes at once."""
    url = new_store_url("postgresql")
    boards = {"p1": "emu://?seed=51", "p2": "emu://?seed=52"}
    out = run_farm(jobs(url, tmp_path / "runs", boards), n_workers=2)
    assert [s["exit_code"] for s in out] == [0, 0]
    with open_store(url) as store:
        assert store.check() == []
        for bid in ("emu-seed-51", "emu-seed-52"):
            assert list(store.history(bid)["status"]) == ["complete"]
            assert store.stat_history(bid, "rate_1na_hz").values.shape == (1, 1024)
