"""A throwaway PostgreSQL server for tests and benchmarks: initdb and pg_ctl (Debian's `postgresql`
package) in a temporary folder, on a free loopback port, removed on stop.

    with PostgresServer() as pg:
        url = pg.create_database("t1")          # postgresql://hil@127.0.0.1:PORT/t1

Debian keeps the server programs off PATH, in /usr/lib/postgresql/<version>/bin; HIL_PG_BIN names
another folder. PostgreSQL refuses to run as root, so under root the server runs as the `postgres`
user (which the package creates). Authentication is `trust` for loopback TCP only, and the server
listens on 127.0.0.1 alone.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from hil.errors import StoreError

USER = "hil"


def find_bindir() -> tuple[Path | None, str]:
    """The folder with initdb and pg_ctl, and why not when there is none."""
    candidates = []
    if os.environ.get("HIL_PG_BIN"):
        candidates.append(Path(os.environ["HIL_PG_BIN"]))
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += debian
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for d in candidates:
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            return d, ""
    return None, (
        "PostgreSQL server programs (initdb, pg_ctl) not found in HIL_PG_BIN, "
        "/usr/lib/postgresql/*/bin or on PATH; install Debian's `postgresql` package"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A private PostgreSQL server; see the module docstring. `fast` turns off fsync (tests)."""

    def __init__(self, bindir: Path | None = None, fast: bool = True):
        found, why = (bindir, "") if bindir else find_bindir()
        if found is None:
            raise StoreError(why)
        self.bindir = Path(found)
        self.fast = fast
        self.root: Path | None = None
        self.port = 0
        self._user: str | None = None

    def _run(self, *args: str, timeout: float = 120) -> None:
        proc = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.root,
            user=self._user,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            log = self.root / "server.log" if self.root else None
            tail = log.read_text()[-2000:] if log and log.exists() else ""
            raise StoreError(
                f"PostgreSQL {args[0]} failed ({proc.returncode}): "
                f"{(proc.stderr or proc.stdout).strip()[-2000:]}\n{tail}"
            )

    def start(self) -> PostgresServer:
        """initdb in a new temporary folder and start the server; returns self."""
        self.root = Path(tempfile.mkdtemp(prefix="hil-pg-"))
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                self.stop()
                raise StoreError(
                    "running as root, and there is no `postgres` user to run the server as"
                ) from None
            self._user = "postgres"
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        try:
            self._run("initdb", "-D", "data", "-U", USER, "--auth=trust", "-E", "UTF8",
                      "--no-sync", "--no-instructions")  # fmt: skip
            opts = f"-c listen_addresses=127.0.0.1 -k {self.root} -c max_connections=50"
            if self.fast:
                opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            for _ in range(3):  # the port may be taken between choosing and binding it
                self.port = _free_port()
                try:
                    self._run("pg_ctl", "-D", "data", "-l", "server.log", "-w", "-t", "60",
                              "-o", f"{opts} -p {self.port}", "start")  # fmt: skip
                    return self
                except StoreError:
                    if "already in use" not in (self.root / "server.log").read_text():
                        raise
            raise StoreError("PostgreSQL could not bind a free loopback port in 3 tries")
        except BaseException:
            self.stop()
            raise

    def url(self, database: str = "postgres") -> str:
        """A postgresql:// URL for a database of this server (without ?objects=)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create an empty database; return its URL."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        if self.root is None:
            return
        if (self.root / "data" / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", "data", "-m", "fast", "-w", "-t", "60", "stop")
            except (StoreError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", "data", "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
