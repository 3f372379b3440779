"""Shared fixtures. The database comes from likecounter's own pytest plugin (likecounter.testing)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import psycopg
import pytest
from psycopg import sql

from likecounter import LikeCounter

from .bridge import LoopThread, SyncFacade

# pytester runs a host application's test session in a subprocess (test_plugin_host_app.py).
pytest_plugins = ["pytester"]

Snapshot = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
def likecounter_options() -> Mapping[str, Any]:
    # Most tests hammer one user far past 100 calls a minute; rate-limit tests build their own.
    return {"rate_limit_per_minute": None}


@pytest.fixture
def db(likecounter_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A plain autocommit connection for looking at rows directly."""
    with psycopg.connect(likecounter_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def snapshot(db: psycopg.Connection[Any], likecounter_schema: str) -> Callable[[], Snapshot]:
    """Every row of the counter's tables, sorted: equal snapshots mean nothing was written."""

    def take() -> Snapshot:
        tables: Snapshot = {}
        for table in ("item_types", "likes", "counters", "schema_version"):
            query = sql.SQL("SELECT * FROM {}.{} ORDER BY 1, 2").format(
                sql.Identifier(likecounter_schema), sql.Identifier(table)
            )
            rows = db.execute(query).fetchall()
            if table == "schema_version":
                rows = [row[:1] for row in rows]
            tables[table] = rows
        return tables

    return take


def assert_counters_match_rows(db: psycopg.Connection[Any], schema_name: str) -> None:
    """Assert that every counter shard equals the like rows counted in it (so every item's count
    equals its rows), and that no shard is negative."""
    schema = sql.Identifier(schema_name)
    drift = db.execute(
        sql.SQL(
            """
            WITH expected AS (
                SELECT type_id, item_id, shard, count(*) AS n FROM {schema}.likes GROUP BY 1, 2, 3
            ), actual AS (
                SELECT type_id, item_id, shard, like_count AS n FROM {schema}.counters
            )
            SELECT coalesce(e.type_id, a.type_id), coalesce(e.item_id, a.item_id),
                   coalesce(e.shard, a.shard), e.n, a.n
              FROM expected e FULL JOIN actual a USING (type_id, item_id, shard)
             WHERE coalesce(e.n, 0) <> coalesce(a.n, 0)
            """
        ).format(schema=schema)
    ).fetchall()
    assert drift == [], f"counters differ from like rows: {drift[:10]}"
    negative = db.execute(
        sql.SQL("SELECT count(*) FROM {}.counters WHERE like_count < 0").format(schema)
    ).fetchone()
    assert negative == (0,)


@pytest.fixture
def invariants(db: psycopg.Connection[Any], likecounter_schema: str) -> Callable[[], None]:
    """Assert that every counter equals its like rows and that no count is negative."""
    return lambda: assert_counters_match_rows(db, likecounter_schema)


@pytest.fixture(scope="session")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    """Which shell a test runs on: LikeCounter, or AsyncLikeCounter behind a sync facade."""
    return str(request.param)


@pytest.fixture
def make_counter(flavour: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """Build a counter of the test's flavour with LikeCounter's signature; closed after the test."""
    built: list[Any] = []

    def make(*args: Any, **options: Any) -> Any:
        if flavour == "sync":
            counter: Any = LikeCounter(*args, **options)
        else:
            counter = SyncFacade(request.getfixturevalue("loop_thread"), *args, **options)
        built.append(counter)
        return counter

    yield make
    for counter in built:
        counter.close()


@pytest.fixture
def schema_counter(
    make_counter: Callable[..., Any], likecounter_dsn: str, likecounter_schema: str
) -> Callable[..., Any]:
    """Build another counter of the test's flavour on the test's schema, with no rate limit."""
    return lambda **options: make_counter(
        likecounter_dsn, schema=likecounter_schema, **{"rate_limit_per_minute": None, **options}
    )


@pytest.fixture
def counter_from_env(flavour: str, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    """`LikeCounter.from_env`, or the facade over `AsyncLikeCounter.from_env`; closed after the test."""
    built: list[Any] = []

    def from_env(**overrides: Any) -> Any:
        if flavour == "sync":
            counter: Any = LikeCounter.from_env(**overrides)
        else:
            counter = SyncFacade.from_env(request.getfixturevalue("loop_thread"), **overrides)
        built.append(counter)
        return counter

    yield from_env
    for counter in built:
        counter.close()


@pytest.fixture
def like_counter(
    make_counter: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    likecounter_options: Mapping[str, Any],
) -> Any:
    """Overrides the plugin's fixture: the same counter, once per flavour (sync and async)."""
    return make_counter(
        likecounter_dsn, schema=likecounter_schema, **{"max_pool_size": 4, **likecounter_options}
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Report how many examples each fuzz test tried (see tests/fuzz.py)."""
    from .fuzz import EXAMPLES

    if not EXAMPLES:
        return
    terminalreporter.section("fuzz examples tried")
    for node_id, count in sorted(EXAMPLES.items()):
        terminalreporter.write_line(f"{count:6d}  {node_id}")
    terminalreporter.write_line(f"{sum(EXAMPLES.values()):6d}  total")
