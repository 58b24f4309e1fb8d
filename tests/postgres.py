"""A throw-away PostgreSQL server for tests: its own data folder, loopback only, a free port, stopped and removed at
the end. PostgreSQL refuses to run as root, so as root the server runs as `nobody` (setpriv)."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

USER, PASSWORD, DB = "dagster", "throwaway-test-password", "dagster"


@dataclass
class Postgres:
    host: str
    port: int

    def env(self) -> dict[str, str]:
        """The DAGSTER_PG_* variables deploy/dagster.yaml reads."""
        return {
            "DAGSTER_PG_USERNAME": USER,
            "DAGSTER_PG_PASSWORD": PASSWORD,
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_DB": DB,
            "DAGSTER_PG_PORT": str(self.port),
        }

    def connect(self):
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=USER, password=PASSWORD, dbname=DB, connect_timeout=10
        )


def server_binaries() -> str | None:
    """The newest installed PostgreSQL server's bin folder (Debian layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[-3]))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def throwaway_postgres(timeout: int = 60) -> Iterator[Postgres]:
    bindir = server_binaries()
    if bindir is None:
        raise FileNotFoundError("no PostgreSQL server under /usr/lib/postgresql/*/bin")
    root = tempfile.mkdtemp(prefix="pg-")  # directly under /tmp: `nobody` must reach it
    as_server = []
    if os.geteuid() == 0:
        import pwd

        nobody = pwd.getpwnam("nobody")
        os.chown(root, nobody.pw_uid, nobody.pw_gid)
        as_server = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", "--"]
    data, log, pwfile = (os.path.join(root, n) for n in ("data", "server.log", "pw"))
    port = _free_port()

    def run(*cmd: str) -> None:
        subprocess.run(
            as_server + list(cmd),
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8", "PGPASSWORD": PASSWORD},
        )

    try:
        with open(pwfile, "w") as f:
            f.write(PASSWORD)
        if as_server:
            os.chown(pwfile, os.stat(root).st_uid, os.stat(root).st_gid)
        run(
            os.path.join(bindir, "initdb"),
            "-D",
            data,
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        )
        run(
            os.path.join(bindir, "pg_ctl"),
            "-D",
            data,
            "-l",
            log,
            "-w",
            "-t",
            str(timeout),
            "-o",
            f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off",
            "start",
        )
        try:
            run(os.path.join(bindir, "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DB)
            yield Postgres("127.0.0.1", port)
        finally:
            run(os.path.join(bindir, "pg_ctl"), "-D", data, "-w", "-t", str(timeout), "-m", "fast", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
