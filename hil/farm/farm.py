"""A farm of boards on Dask distributed: every board's night runs on a worker that has the board.

A worker declares the boards attached to its host as Dask worker resources, one per board, named
`board-<NAME>` with amount 1 (docs/farm.md):

    dask worker tcp://sched:8786 --nworkers 1 --nthreads 1 --resources "board-lab3=1 board-lab4=1"
    hil nightly --cluster tcp://sched:8786 --board lab3=/dev/ttyUSB0 --board lab4=/dev/ttyUSB1 \
        --store 'postgresql://hil@db/hil?objects=/srv/hil/objects'

Each job asks for its board's resource, so the scheduler runs it only on a worker that declared
that board, one job per board at a time. Without a cluster address, `run_farm` starts a
LocalCluster of worker processes on this host (all boards are local, so every worker declares every
board), at most one per core.

A job is `hil.nightly.nightly.run_night(NightJob)`: plain data in (the URL, the store URL, the
night), a JSON summary out; each worker opens its own store connection. A job that raises is
reported with its cause and does not stop the others.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from hil.errors import ConfigError, HilError
from hil.nightly.nightly import NightJob, run_night

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def resource(name: str) -> str:
    """The Dask resource a worker declares for board `name`."""
    if not NAME.fullmatch(name):
        raise ConfigError("board name", name, f"a name matching {NAME.pattern}")
    return f"board-{name}"


def parse_board(text: str, index: int) -> tuple[str, str]:
    """`NAME=URL` or a bare URL (named board<index>) -> (name, url). A URL holds '=' in its query
    (emu://?seed=3), so NAME= is recognized only before '://'."""
    head, sep, rest = text.partition("=")
    if sep and "://" not in head and "/" not in head and NAME.fullmatch(head):
        return head, rest
    return f"board{index}", text


def _guarded(job: NightJob) -> dict:
    """run_night(job), with a failure turned into a summary that says why (exit 2 for bad input,
    1 otherwise) instead of an exception that would hide the other boards' results."""
    try:
        return run_night(job)
    except HilError as e:
        from hil.errors import BoardURLError
        from hil.errors import ConfigError as Cfg

        bad = isinstance(e, BoardURLError | Cfg)
        return {"board": job.name, "url": job.url, "night": job.night, "exit_code": 2 if bad else 1,
                "verdict": "ERROR", "error": f"{type(e).__name__}: {e}", "stages": []}  # fmt: skip
    except Exception as e:  # a bug on one board must not lose the others' nights
        return {"board": job.name, "url": job.url, "night": job.night, "exit_code": 1,
                "verdict": "ERROR", "error": f"{type(e).__name__}: {e}", "stages": []}  # fmt: skip


def run_serial(jobs: Sequence[NightJob]) -> list[dict]:
    """Every job in this process, one after the other (the reference of the farm's results)."""
    return [_guarded(j) for j in jobs]


def local_workers(n_boards: int) -> int:
    """Worker processes of a local farm: one per board, at most one per core."""
    return max(1, min(n_boards, os.cpu_count() or 1))


def run_farm(
    jobs: Sequence[NightJob],
    cluster: str | None = None,
    n_workers: int | None = None,
    on_done: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Run every job on Dask: on the scheduler at `cluster` (tcp://HOST:8786; its workers declare
    the boards' resources), else on a LocalCluster of `n_workers` processes (default
    local_workers). Returns the summaries in the order of `jobs`; `on_done(summary)` as each ends."""
    from dask.distributed import Client, LocalCluster, as_completed

    names = [j.name for j in jobs]
    if len(set(names)) != len(names) or not all(names):
        raise ConfigError("boards", names, "one distinct name per board")
    resources = {resource(n): 1 for n in names}
    local = None
    if cluster is None:
        local = LocalCluster(
            n_workers=n_workers or local_workers(len(jobs)),
            threads_per_worker=1,
            processes=True,
            resources=resources,
            dashboard_address=None,
            host="127.0.0.1",
            silence_logs=logging.ERROR,
        )
        client = Client(local)
    else:
        client = Client(cluster, timeout=30)
    try:
        if cluster is not None:
            _check_declared(client, resources)
        futures = {
            client.submit(
                _guarded,
                j,
                resources={resource(j.name): 1},
                key=f"night-{j.name}-{j.night}",
                pure=False,
            ): i
            for i, j in enumerate(jobs)
        }
        out: list[dict[str, Any] | None] = [None] * len(jobs)
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                out[i] = fut.result()
            except Exception as e:  # the worker died (killed, out of memory): say so
                out[i] = {"board": jobs[i].name, "url": jobs[i].url, "night": jobs[i].night,
                          "exit_code": 1, "verdict": "ERROR",
                          "error": f"worker lost: {type(e).__name__}: {e}", "stages": []}  # fmt: skip
            if on_done is not None:
                on_done(out[i])  # type: ignore[arg-type]
        return [o for o in out if o is not None]
    finally:
        client.close()
        if local is not None:
            local.close()


def _check_declared(client: Any, resources: dict[str, int]) -> None:
    """A board no worker declares would wait forever: refuse it now, naming what is declared."""
    info = client.scheduler_info()
    declared: set[str] = set()
    for w in info.get("workers", {}).values():
        declared |= set(w.get("resources", {}))
    missing = sorted(set(resources) - declared)
    if missing:
        raise ConfigError(
            "boards",
            ", ".join(m.removeprefix("board-") for m in missing),
            "boards that some worker declares (dask worker ... --resources 'board-NAME=1'); "
            f"declared: {', '.join(sorted(declared)) or 'none'}",
        )


def named(jobs: Sequence[NightJob]) -> list[NightJob]:
    """`jobs` with a name each (board0, board1, ... where none was given)."""
    return [j if j.name else replace(j, name=f"board{i}") for i, j in enumerate(jobs)]
