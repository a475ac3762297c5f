"""Fixtures for the store tests: every store test runs on SQLite and on a real PostgreSQL server.

The server is started once per session (initdb + pg_ctl in a temporary folder, on a free loopback
port) and every test gets a fresh database. Without the server programs the PostgreSQL tests skip
with the reason, except in CI (CI=true), where that is a failure: .ci/run installs them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hil.store import Store, open_store
from hil.store.pgserver import PostgresServer, find_bindir

BACKENDS = ["sqlite", "postgresql"]
_names = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    bindir, why = find_bindir()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL store tests: {why}")
        pytest.skip(why)
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


def make_url(backend: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store of `backend` (files under `tmp`)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp / 'hil.db'}"
    server = request.getfixturevalue("pg_server")
    return f"{server.create_database(f'test_{next(_names)}')}?objects={tmp / 'objects'}"


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return make_url(request.param, tmp_path, request)


@pytest.fixture
def new_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """new_store_url(backend) -> the URL of a fresh, empty store of that backend."""
    return lambda backend: make_url(backend, tmp_path, request)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    yield s
    s.close()


@pytest.fixture(scope="module", params=BACKENDS)
def shared_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """One store per backend for a whole module, for tests that cannot disturb each other."""
    s = open_store(make_url(request.param, tmp_path_factory.mktemp("store"), request))
    yield s
    s.close()
