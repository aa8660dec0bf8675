"""A throwaway PostgreSQL server (Debian's postgresql package) for the store's contract tests."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from shipway.core import launcher


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (Debian package postgresql); run `make test`")
    return found[-1]


class PostgresServer:
    """initdb + postgres on a free port in ``root``, run as the ``postgres`` user (it refuses root)."""

    def __init__(self, root: Path | None = None) -> None:
        # Its own directory under /tmp: the postgres user cannot enter pytest's root-only temp tree.
        self.root = root or Path(tempfile.mkdtemp(prefix="shipway-pg-"))
        self.data = self.root / "data"
        self.port = launcher.free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self) -> dict:
        if os.geteuid() != 0:
            return {}
        pw = pwd.getpwnam("postgres")
        return {"user": pw.pw_uid, "group": pw.pw_gid}

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        out = subprocess.run([_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                             capture_output=True, text=True, **self._as_postgres())
        if out.returncode != 0:
            raise RuntimeError(f"initdb failed: {out.stderr.strip()[-500:]}")
        log = open(self.root / "postgres.log", "ab")
        self.proc = subprocess.Popen(
            [_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
             "-k", str(self.root), "-c", "fsync=off"],
            stdout=log, stderr=subprocess.STDOUT, **self._as_postgres())
        log.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
