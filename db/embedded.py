"""A private PostgreSQL cluster for development, the demo and tests.

Uses the machine's PostgreSQL server binaries (initdb, pg_ctl). PostgreSQL
refuses to run as root, so when we are root the cluster's files belong to the
``postgres`` system user and every server command runs through ``runuser``.
The server listens on a free loopback port only (no unix socket: socket paths
under a deep ORIGIN_HOME can exceed the 107-byte limit) and requires a
password that is generated once and kept beside the data directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

SUPERUSER = "origin"
SERVER_USER = "postgres"  # the unprivileged account Debian's package creates


class EmbeddedPostgresError(RuntimeError):
    """The private cluster cannot be set up or started; the message says why."""


def find_bindir() -> Path:
    """Locate the directory with initdb and pg_ctl, newest major version first."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(os.path.realpath(on_path)).parent)

    def major(path: Path) -> int:
        return int(path.name) if path.name.isdigit() else 0

    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        for version in sorted(debian.iterdir(), key=major, reverse=True):
            candidates.append(version / "bin")
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise EmbeddedPostgresError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's "
        "'postgresql' package (make run and make test do this) or set DATABASE_URL"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedCluster:
    """One private cluster rooted at ``root`` (data, log, password, lock)."""

    def __init__(self, root: Path, *, settings: Mapping[str, str] | None = None) -> None:
        self.root = root.resolve()
        self.data_dir = self.root / "data"
        self.log_file = self.root / "postgres.log"
        self.password_file = self.root / "password"
        self.settings = dict(settings or {})
        self._as_root = os.geteuid() == 0

    # -- running server commands as the right user ------------------------

    def _server_cmd(self, argv: list[str]) -> list[str]:
        if self._as_root:
            return ["runuser", "-u", SERVER_USER, "--", *argv]
        return argv

    def _run(self, argv: list[str], *, input_text: str | None = None, check: bool = True) -> str:
        result = subprocess.run(
            self._server_cmd(argv),
            input=input_text,
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=120,
            check=False,
        )
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise EmbeddedPostgresError(
                f"{Path(argv[0]).name} failed: {detail[-1] if detail else result.returncode}"
                f" (see {self.log_file})"
            )
        return result.stdout

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not self._as_root:
            return
        try:
            server = pwd.getpwnam(SERVER_USER)
        except KeyError:
            raise EmbeddedPostgresError(
                "running as root needs the unprivileged 'postgres' system user "
                "(created by Debian's postgresql package)"
            ) from None
        os.chown(self.root, server.pw_uid, server.pw_gid)
        self.root.chmod(0o700)
        probe = subprocess.run(self._server_cmd(["test", "-w", str(self.root)]), check=False)
        if probe.returncode != 0:
            raise EmbeddedPostgresError(
                f"the 'postgres' user cannot reach {self.root}: a parent directory is "
                "not searchable by other users; choose an ORIGIN_HOME outside it"
            )

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise set-up and start-up between concurrent CLI invocations."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root.parent / f".{self.root.name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    # -- lifecycle ---------------------------------------------------------

    @property
    def initialised(self) -> bool:
        """True once initdb has created the data directory."""
        return (self.data_dir / "PG_VERSION").is_file()

    def running_port(self) -> int | None:
        """The port of the running server, or None when it is not running."""
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.is_file():
            return None
        status = subprocess.run(
            self._server_cmd([str(find_bindir() / "pg_ctl"), "status", "-D", str(self.data_dir)]),
            capture_output=True,
            cwd=self.root,
            check=False,
        )
        if status.returncode != 0:
            return None
        lines = pid_file.read_text().splitlines()
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def _initdb(self) -> None:
        password = secrets.token_urlsafe(24)
        # initdb reads the password from a file; it must be readable by the
        # server user (a pipe on stdin is not, once runuser dropped privileges).
        pwfile = self.root / "initdb-password"
        pwfile.write_text(password + "\n")
        try:
            if self._as_root:
                server = pwd.getpwnam(SERVER_USER)
                os.chown(pwfile, server.pw_uid, server.pw_gid)
            pwfile.chmod(0o600)
            self._run(
                [
                    str(find_bindir() / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
                    "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                    "--locale=C", "--no-sync",
                ]
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        # Written only after initdb succeeded, so a failed init leaves no
        # password that does not match the cluster.
        self.password_file.write_text(password)
        self.password_file.chmod(0o600)

    def _choose_port(self) -> int:
        """The port used last time when it is still free, so DSNs survive a restart."""
        port_file = self.root / "port"
        try:
            previous = int(port_file.read_text())
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                # As PostgreSQL does: a port in TIME_WAIT after a stop is free.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", previous))
            return previous
        except (OSError, ValueError):
            port = _free_port()
            port_file.write_text(str(port))
            return port

    def _start(self) -> int:
        port = self._choose_port()
        options = [f"-p {port}", "-c listen_addresses=127.0.0.1", "-c unix_socket_directories=''"]
        options += [f"-c {name}={value}" for name, value in self.settings.items()]
        self._run(
            [
                str(find_bindir() / "pg_ctl"), "start", "-D", str(self.data_dir),
                "-l", str(self.log_file), "-w", "-t", "60", "-o", " ".join(options),
            ]
        )  # fmt: skip
        return port

    def ensure_running(self) -> str:
        """Initialise and start the cluster if needed; return the superuser DSN.

        The DSN names the ``postgres`` maintenance database; the caller
        creates its own database with :func:`db.connection.ensure_database`.
        """
        for name, value in self.settings.items():
            if not re.fullmatch(r"[a-z_]+", name) or not re.fullmatch(r"[\w.]+", value):
                raise EmbeddedPostgresError(f"bad server setting {name}={value}")
        with self._locked():
            self._prepare_root()
            if not self.initialised:
                if self.data_dir.exists():
                    shutil.rmtree(self.data_dir)  # a half-made directory from a failed initdb
                self._initdb()
            port = self.running_port()
            if port is None:
                port = self._start()
        password = self.password_file.read_text().strip()
        return f"postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/postgres"

    def stop(self) -> bool:
        """Stop the server (fast shutdown); return False when it was not running."""
        with self._locked():
            if self.running_port() is None:
                return False
            self._run([str(find_bindir() / "pg_ctl"), "stop", "-D", str(self.data_dir),
                       "-m", "fast", "-w", "-t", "60"])  # fmt: skip
            return True


def private_cluster(home: Path) -> EmbeddedCluster:
    """The cluster the CLI and the demo use when DATABASE_URL is unset."""
    return EmbeddedCluster(home / "pg")
