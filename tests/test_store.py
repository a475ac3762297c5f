"""The results store (hil.store) on SQLite and on a real PostgreSQL server: runs, stages,
artifacts, per-neuron statistics, calibrations (one active per board, rollback), alerts, the
schema migrations, and clear errors. Crash and concurrency tests: test_store_crash.py."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from datetime import UTC, date, datetime

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from hil.errors import ConfigError, HilError, StoreError
from hil.store import Alert, diff_documents, open_store, parse_url
from hil.store.engine import alembic_config, head_revision

pytest_plugins = ["store_fixtures"]  # pg_server, store_url, store, shared_store

N = 1024


def raw_engine(store_url: str) -> sa.Engine:
    """A plain engine on the store's database, outside the store's code (the test's own view)."""
    return sa.create_engine(parse_url(store_url).url)


def count(store_url: str, sql: str, **params: object) -> int:
    eng = raw_engine(store_url)
    with eng.connect() as c:
        n = c.execute(sa.text(sql), params).scalar_one()
    eng.dispose()
    return n


def night_stats(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    rate = rng.gamma(4.0, 5.0, N)
    rate[[3, 700]] = np.nan  # no value those nights: not stored
    return {"rate_hz": rate, "tau_mem_s": rng.uniform(5e-3, 30e-3, N)}


def run_night(store, board, night, seed, **kw):  # noqa: ANN001, ANN201
    run = store.start_run(board, night, provenance={"url": f"emu://?seed={seed}", "seed": seed})
    for name in ("probe", "characterize", "fit"):
        with store.stage(run, name) as detail:
            detail["seed"] = seed
    stats = night_stats(seed)
    cal = store.complete_run(run, stats=stats, **kw)
    return run, stats, cal


def test_run_roundtrip_history_trend_and_drift_matrix(store, store_url):
    nights = [date(2026, 3, d) for d in (1, 2, 3)]
    written = {}
    for i, night in enumerate(nights):
        run, stats, _ = run_night(store, "emu-7", night, seed=i, verdict="pass")
        written[night] = (run, stats)
    run_night(store, "emu-8", nights[0], seed=99)  # another board: must not leak into emu-7
    assert store.boards() == ["emu-7", "emu-8"]

    hist = store.history("emu-7")
    assert list(hist["night"]) == nights
    assert set(hist["status"]) == {"complete"} and set(hist["verdict"]) == {"pass"}
    assert (hist["duration_s"] >= 0).all() and (hist["failed_stages"] == "").all()

    for neuron in (0, 3, 517):
        tr = store.trend("emu-7", neuron)
        for night, (run, stats) in written.items():
            got = tr[tr["night"] == night].set_index("metric")["value"].to_dict()
            want = {m: v[neuron] for m, v in stats.items() if np.isfinite(v[neuron])}
            assert got == want  # exact float64 round trip; NaN not stored
            assert set(tr[tr["night"] == night]["run_id"]) == {run}

    h = store.stat_history("emu-7", "tau_mem_s", last=2)
    assert h.nights == tuple(nights[1:])
    np.testing.assert_array_equal(h.neurons, np.arange(N))
    np.testing.assert_array_equal(h.values, [written[n][1]["tau_mem_s"] for n in nights[1:]])
    rate = store.stat_history("emu-7", "rate_hz")
    assert 3 not in rate.neurons and 700 not in rate.neurons and len(rate.neurons) == N - 2
    col = int(np.searchsorted(rate.neurons, 4))
    np.testing.assert_array_equal(
        rate.values[:, col], [written[n][1]["rate_hz"][4] for n in nights]
    )
    some = store.stat_history("emu-7", "rate_hz", neurons=np.array([700, 3, 5]))
    np.testing.assert_array_equal(some.neurons, [3, 5, 700])
    assert np.isnan(some.values[:, [0, 2]]).all()
    np.testing.assert_array_equal(some.values[:, 1], [written[n][1]["rate_hz"][5] for n in nights])

    # Exactly the finite values were written, once each (the database's own count).
    want_rows = sum(int(np.isfinite(v).sum()) for _, s in written.values() for v in s.values())
    board_runs = (
        "SELECT id FROM runs r WHERE r.board_id = (SELECT id FROM boards WHERE name='emu-7')"
    )
    assert count(
        store_url, f"SELECT count(*) FROM neuron_stats WHERE run_id IN ({board_runs})"
    ) == (want_rows)

    stg = store.stages(written[nights[0]][0])
    assert list(stg["name"]) == ["probe", "characterize", "fit"]
    assert set(stg["status"]) == {"ok"} and stg["detail"][0] == {"seed": 0}
    r = store.run(np.int64(written[nights[2]][0]))  # numpy ids (from a DataFrame) work too
    assert len(store.trend("emu-7", np.int16(5))) == 2 * len(nights)
    assert (r.board, r.night, r.attempt, r.status) == ("emu-7", nights[2], 1, "complete")
    assert r.provenance == {"url": "emu://?seed=2", "seed": 2}
    assert r.started_at.tzinfo is not None and r.finished_at >= r.started_at


def test_stage_failure_is_stored_with_its_cause_and_the_night_can_be_rerun(store):
    run = store.start_run("emu-1", "2026-04-01")
    with store.stage(run, "probe"):
        pass
    with pytest.raises(ZeroDivisionError):
        with store.stage(run, "fit"):
            1 / 0  # noqa: B018
    stg = store.stages(run).set_index("name")
    assert stg.loc["fit", "status"] == "failed"
    assert stg.loc["fit", "error"] == "ZeroDivisionError: division by zero"
    store.fail_run(run, "fit failed: ZeroDivisionError")
    hist = store.history("emu-1")
    assert hist.loc[0, "status"] == "failed" and hist.loc[0, "failed_stages"] == "fit"
    assert hist.loc[0, "error"] == "fit failed: ZeroDivisionError"
    with pytest.raises(StoreError, match="is failed"):
        store.begin_stage(run, "calibrate")

    run2 = store.start_run("emu-1", "2026-04-01")  # a failed night may be run again
    store.complete_run(run2)
    assert [store.run(r).attempt for r in (run, run2)] == [1, 2]
    with pytest.raises(StoreError, match="already has a complete run"):
        store.start_run("emu-1", "2026-04-01")


def test_a_live_run_blocks_a_second_one_until_it_is_stale(store):
    run = store.start_run("emu-2", "2026-04-02")
    with pytest.raises(StoreError, match=r"is being run by process \d+"):
        store.start_run("emu-2", "2026-04-02")  # this process is alive, heartbeat fresh
    run2 = store.start_run("emu-2", "2026-04-02", stale_after_s=0.0)  # heartbeat too old
    old = store.run(run)
    assert old.status == "abandoned" and "no heartbeat" in old.error
    with pytest.raises(StoreError, match="is abandoned"):  # the old process must stop
        store.complete_run(run)
    with pytest.raises(StoreError, match="is abandoned"):
        store.begin_stage(run, "fit")
    store.complete_run(run2)
    assert store.run(run2).status == "complete"


def test_two_starts_of_one_night_at_the_same_moment(store, store_url):
    """Another writer inserts a running attempt and commits while start_run is under way: one of
    them wins, the other gets a StoreError (PostgreSQL: the unique index decides)."""
    store.add_calibration("emu-r", {})  # the board exists
    eng = raw_engine(store_url)
    other = eng.connect()
    tx = other.begin()
    other.execute(
        sa.text(
            "INSERT INTO runs (board_id, night, attempt, status, started_at, heartbeat_at, host,"
            " pid, software_version, provenance) SELECT id, :n, 1, 'running', :t, :t, 'h', 1, "
            "'x', '{}' FROM boards WHERE name = 'emu-r'"
        ),
        {"n": date(2026, 4, 9), "t": datetime.now(UTC)},
    )
    result: list = []
    t = threading.Thread(target=lambda: result.append(_try(store.start_run, "emu-r", "2026-04-09")))
    t.start()
    time.sleep(0.5)
    tx.commit()
    t.join(30)
    other.close()
    eng.dispose()
    assert isinstance(result[0], StoreError), result
    assert re.search(r"another process started a run at the same moment|is being run by process 1 on h",
                     str(result[0]))  # fmt: skip
    assert store.history("emu-r").status.tolist() == ["running"]


def _try(fn, *args):  # noqa: ANN001, ANN002, ANN202
    try:
        return fn(*args)
    except StoreError as e:
        return e


def test_a_run_does_not_complete_with_a_stage_still_running(store):
    run = store.start_run("emu-3", "2026-04-03")
    store.begin_stage(run, "fit")
    with pytest.raises(StoreError, match="stage fit is still running"):
        store.complete_run(run, stats=night_stats(0))
    assert store.run(run).status == "running"
    store.end_stage(run, "fit", "ok")
    store.complete_run(run, stats=night_stats(0))


def test_complete_run_is_one_transaction(store, store_url, monkeypatch):
    """A failure after the statistics are written, inside complete_run, leaves nothing of it."""
    _, _, first = run_night(store, "emu-4", "2026-05-01", seed=1, calibration={"v": 1},
                            activate=True)  # fmt: skip
    run = store.start_run("emu-4", "2026-05-02")

    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("killed between statistics and calibration")

    monkeypatch.setattr(type(store), "_activate", boom)
    with pytest.raises(RuntimeError):
        store.complete_run(run, stats=night_stats(2), calibration={"v": 2}, activate=True,
                           alerts=[Alert("drift", "moved")])  # fmt: skip
    monkeypatch.undo()
    assert store.run(run).status == "running"
    assert count(store_url, "SELECT count(*) FROM neuron_stats WHERE run_id = :r", r=run) == 0
    assert count(store_url, "SELECT count(*) FROM alerts WHERE run_id = :r", r=run) == 0
    assert count(store_url, "SELECT count(*) FROM calibrations") == 1
    assert store.active_calibration("emu-4").id == first
    assert list(store.trend("emu-4", 0)["night"].unique()) == [date(2026, 5, 1)]


def test_calibrations_rollback_and_diff(store, store_url):
    doc_a = {"cores": [{"SOIF_LEAK_N": [1, 40]}, {"SOIF_LEAK_N": [1, 50]}], "neurons": [0.1] * 4}
    doc_b = {"cores": [{"SOIF_LEAK_N": [1, 40]}, {"SOIF_LEAK_N": [2, 10]}], "neurons": [0.1] * 4}
    doc_b["neurons"][2] = 0.25
    _, _, a = run_night(store, "emu-5", "2026-06-01", 1, calibration=doc_a, activate=True)
    _, _, b = run_night(store, "emu-5", "2026-06-02", 2, calibration=doc_b, activate=True)
    assert store.active_calibration("emu-5").id == b
    assert store.active_calibration("emu-5").document == doc_b

    cal = store.use_calibration(a, reason="night 2 calibration was bad")  # rollback
    assert cal.active and cal.document == doc_a and store.active_calibration("emu-5").id == a
    act = store.activations("emu-5")
    assert list(act["calibration_id"]) == [a, b, a]
    assert act["reason"].iloc[-1] == "night 2 calibration was bad"
    assert int(act["previous_id"].iloc[-1]) == b
    cals = store.calibrations("emu-5")
    assert list(cals["id"]) == [a, b] and list(cals["active"]) == [True, False]
    assert count(store_url, "SELECT count(*) FROM calibrations WHERE active") == 1

    changes = {c.path: (c.old, c.new, c.delta) for c in store.calibration_diff(a, b)}
    assert changes == {
        "cores[1].SOIF_LEAK_N[0]": (1, 2, 1.0),
        "cores[1].SOIF_LEAK_N[1]": (50, 10, -40.0),
        "neurons[2]": (0.1, 0.25, 0.25 - 0.1),
    }
    other = store.add_calibration("emu-6", {"v": 0}, activate=True, note="by hand")
    assert store.active_calibration("emu-6").id == other
    assert store.active_calibration("emu-5").id == a  # boards are independent
    with pytest.raises(StoreError, match="calibration 999 is not in store"):
        store.use_calibration(999)
    with pytest.raises(StoreError, match="has no active calibration"):
        store.add_calibration("emu-9", {"v": 1})
        store.active_calibration("emu-9")


def test_the_database_itself_allows_one_active_calibration_per_board(store, store_url):
    store.add_calibration("emu-1", {"v": 1}, activate=True)
    store.add_calibration("emu-1", {"v": 2})
    eng = raw_engine(store_url)
    with pytest.raises(sa.exc.IntegrityError):
        with eng.begin() as c:
            c.execute(sa.text("UPDATE calibrations SET active = true"))
    with pytest.raises(sa.exc.IntegrityError):  # nor two live runs of one board and night
        with eng.begin() as c:
            c.execute(
                sa.text(
                    "INSERT INTO runs (board_id, night, attempt, status, started_at, heartbeat_at,"
                    " host, pid, software_version, provenance) SELECT id, :n, :a, 'running', "
                    ":t, :t, 'h', 1, 'x', '{}' FROM boards"
                ),
                [{"n": date(2026, 1, 1), "a": a, "t": "2026-01-01 00:00:00"} for a in (1, 2)],
            )
    eng.dispose()


def test_artifacts_are_content_addressed_and_checked(store, tmp_path):
    run = store.start_run("emu-1", "2026-07-01")
    data = b"PAR1" + bytes(range(256)) * 40
    rec = tmp_path / "rec.parquet"
    rec.write_bytes(data)
    sha = store.attach(run, "recordings/characterize.parquet", rec)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.attach(run, "copy.bin", data) == sha  # same bytes: one file
    path = store.artifact_path(sha)
    assert path.read_bytes() == data and path.parent.parent == store.objects.root
    assert sum(1 for p in store.objects.root.rglob("*") if p.is_file()) == 1
    with pytest.raises(StoreError, match="already has an artifact named"):
        store.attach(run, "copy.bin", b"other")
    store.complete_run(run)
    store.attach(run, "report.html", b"<html></html>")  # a complete run takes its report
    assert store.artifacts(run) == {
        "copy.bin": sha,
        "recordings/characterize.parquet": sha,
        "report.html": hashlib.sha256(b"<html></html>").hexdigest(),
    }
    assert store.read_artifact(sha) == data and store.check() == []

    path.chmod(0o644)
    path.write_bytes(data[:-1] + b"\0")  # damage the file on disk
    with pytest.raises(StoreError, match="does not match its hash"):
        store.read_artifact(sha)
    assert any("does not match its hash" in p for p in store.check())
    path.unlink()
    assert any("is missing" in p for p in store.check())


def test_alerts_are_stored_with_the_run(store):
    alerts = [
        Alert("drift", "core 2 leak moved 4.1 sigma", metric="tau_mem_s", core=2, value=4.1,
              threshold=3.0),
        Alert("dead", "neuron 17 stopped firing", metric="rate_hz", neuron=17, value=0.0),
    ]  # fmt: skip
    run, _, _ = run_night(store, "emu-1", "2026-08-01", 1, alerts=alerts, verdict="fail")
    got = store.alerts("emu-1", run)
    assert list(got["kind"]) == ["drift", "dead"]
    assert got.loc[0, "core"] == 2 and got.loc[1, "neuron"] == 17
    assert store.history("emu-1").loc[0, "n_alerts"] == 2
    assert store.history("emu-1").loc[0, "verdict"] == "fail"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda s: s.start_run("", "2026-01-01"), "board"),
        (lambda s: s.start_run("b", "last tuesday"), "night"),
        (lambda s: s.start_run("b", "2026-01-01", provenance={"x": float("nan")}), "provenance"),
        (lambda s: s.trend("nope", 0), r"board 'nope' is not in store .*known boards"),
        (lambda s: s.stat_history("b0", "nope"), "metric 'nope' is not stored"),
        (lambda s: s.run(12345), "run 12345 is not in store"),
        (lambda s: s.run("1"), "run id: '1' is not allowed; allowed: an integer"),
        (lambda s: s.begin_stage(s.start_run("b1", "2026-01-01"), "Bad Name"), "stage name"),
        (lambda s: s.complete_run(s.start_run("b2", "2026-01-01"), verdict="ok"), "verdict"),
        (lambda s: s.complete_run(s.start_run("b3", "2026-01-01"), stats={"Rate": [1.0]}),
         "metric name"),
        (lambda s: s.complete_run(s.start_run("b4", "2026-01-01"),
                                  stats={"a": np.ones(3), "b": np.ones(4)}), "3 values"),
        (lambda s: s.complete_run(s.start_run("b5", "2026-01-01"), stats={"a": np.ones(2)},
                                  neurons=np.array([1, 1])), "distinct"),
        (lambda s: s.complete_run(s.start_run("b6", "2026-01-01"),
                                  calibration={"x": float("inf")}), "calibration"),
        (lambda s: s.complete_run(s.start_run("b7", "2026-01-01"), activate=True), "activate"),
        (lambda s: s.read_artifact("abc"), "64 lowercase hex"),
    ],
)  # fmt: skip
def test_bad_input_is_a_clear_hil_error(shared_store, call, match):
    if "b0" not in shared_store.boards():
        shared_store.add_calibration("b0", {})
    with pytest.raises(HilError, match=match):
        call(shared_store)


@pytest.mark.parametrize(
    "url, match",
    [
        ("mysql://h/db", "store URL scheme"),
        ("sqlite://", "database file path"),
        ("sqlite:///:memory:", "database file path"),
        ("postgresql://u@h/db", "objects=DIR"),
        ("sqlite:///x.db?mode=ro", "only objects=DIR"),
        ("not a url", "store URL"),
    ],
)
def test_bad_store_urls(url, match):
    with pytest.raises(ConfigError, match=match):
        open_store(url)


def test_an_unusable_store_is_a_store_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot make folder"):
        open_store(f"sqlite:///{tmp_path / 'file' / 'hil.db'}")
    with pytest.raises(StoreError, match=r"postgresql://hil:\*\*\*@127.0.0.1:1/x.*connection"):
        open_store("postgresql://hil:pw@127.0.0.1:1/x?objects=/tmp/o")  # nothing listens there


def test_password_never_appears_in_messages():
    su = parse_url("postgresql://u:s3cret@127.0.0.1:1/db?objects=/tmp/x")
    assert su.display().startswith("postgresql://u:***@127.0.0.1:1/db?objects=")
    assert (
        "s3cret" not in str(ConfigError("x", su.display(), "y"))
        and su.objects.as_posix() == "/tmp/x"
    )
    assert su.url.drivername == "postgresql+psycopg"
    d = parse_url("sqlite:///reports/hil.db")
    assert d.objects.as_posix() == "reports/hil-objects"


# ---- schema versioning ---------------------------------------------------------------------------


def test_migrations_build_exactly_the_schema_module(store_url):
    """The migrations and hil.store.schema describe the same tables, columns, keys and indexes;
    downgrade to nothing and upgrade again works."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from hil.store.schema import metadata

    open_store(store_url).close()
    eng = raw_engine(store_url)
    with eng.connect() as c:
        diff = compare_metadata(MigrationContext.configure(c), metadata)
        assert diff == []
        names = set(sa.inspect(c).get_table_names())
    assert names >= {"boards", "runs", "stages", "artifacts", "run_artifacts", "metrics",
                     "neuron_stats", "calibrations", "calibration_activations", "alerts"}  # fmt: skip
    with eng.begin() as c:
        command.downgrade(alembic_config(c), "base")
    with eng.connect() as c:
        assert set(sa.inspect(c).get_table_names()) <= {"alembic_version"}
    eng.dispose()
    s = open_store(store_url)  # upgrade head on open
    assert s.revision == head_revision()
    s.close()


def test_a_store_from_a_newer_hil_is_refused(store_url):
    open_store(store_url).close()
    eng = raw_engine(store_url)
    with eng.begin() as c:
        c.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    eng.dispose()
    with pytest.raises(StoreError, match="revision 9999, which this hil does not know"):
        open_store(store_url)


def test_open_without_migrate_refuses_an_old_schema(tmp_path):
    with pytest.raises(StoreError, match="open it with migrate=True"):
        open_store(f"sqlite:///{tmp_path / 'new.db'}", migrate=False)


def test_sqlite_store_settings(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'a' / 'hil.db'}")
    with s._engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    s.close()


# ---- calibration diff (pure) ---------------------------------------------------------------------

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
json_doc = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text("abc", min_size=1, max_size=2), inner, max_size=3),
    ),
    max_leaves=12,
)


def resolve(doc: object, path: str) -> object:
    """The test's own reading of a change path: `a.b[2].c` (independent of hil.store.diff)."""
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        if index:
            if not isinstance(doc, list) or int(index) >= len(doc):
                return None
            doc = doc[int(index)]
        else:
            if not isinstance(doc, dict) or key not in doc:
                return None
            doc = doc[key]
    return doc


@settings(max_examples=200, deadline=None)
@given(json_doc, json_doc)
def test_diff_documents_finds_exactly_the_differences(a, b):
    changes = diff_documents({"d": a}, {"d": b})
    assert (changes == []) == (json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True))
    assert diff_documents({"d": a}, {"d": a}) == []
    for c in changes:
        if c.old is not None and not (isinstance(c.old, dict | list) and not c.old):
            assert resolve({"d": a}, c.path) == c.old
        if c.new is not None and not (isinstance(c.new, dict | list) and not c.new):
            assert resolve({"d": b}, c.path) == c.new
