"""SQL injection: identifiers are validated, and every value reaches PostgreSQL as a parameter."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql
from psycopg_pool import ConnectionPool

from likecounter import InvalidInput, LikeCounter
from likecounter.cli import EXIT_USAGE, main

from .. import fuzz
from ..conftest import Snapshot

MALICIOUS_SCHEMAS = [
    'x"; DROP TABLE likecounter.likes; --', "likecounter.likes", "likecounter; DROP SCHEMA public",
    "x' OR '1'='1", "my schema", "Likecounter", "pg_catalog", "pg_temp", "public\x00", "schéma",
    "\u202elikes", "a" * 64, "", " likecounter", "likecounter\n", "1likes", "$1", "%s", '"quoted"',
]  # fmt: skip
MALICIOUS_TYPES = [
    "post'; DROP TABLE likes; --", "post'); DELETE FROM likes; --", 'post"', "post;", "post--",
    "post/*", "$1", "%(name)s", "{schema}", "post OR 1=1", "Post", "pöst", "post\x00", "\u202epost",
    "po\u0301st", "a" * 33,
]  # fmt: skip
# Nothing is listening here: a counter that tried to connect would fail with DatabaseUnavailable.
DEAD_DSN = "host=/nonexistent-socket-dir port=1 connect_timeout=2"


def _catalog(db: psycopg.Connection[Any]) -> tuple[list[Any], list[Any]]:
    """Every schema and every relation of the database, to compare before and after."""
    schemas = db.execute("SELECT nspname FROM pg_namespace ORDER BY 1").fetchall()
    relations = db.execute(
        "SELECT n.nspname, c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " ORDER BY 1, 2"
    ).fetchall()
    return schemas, relations


@pytest.mark.parametrize("schema", MALICIOUS_SCHEMAS)
def test_malicious_schema_is_refused_before_any_connection(
    flavour: str, make_counter: Callable[..., Any], schema: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(InvalidInput, match="schema"):
        make_counter(DEAD_DSN, schema=schema)
    # Refused by validation: no connection attempt (which would have waited and failed differently).
    assert time.perf_counter() - started < 1.0


def test_malicious_schema_is_refused_by_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    for schema in MALICIOUS_SCHEMAS[:6]:
        assert main(["init", "--dsn", DEAD_DSN, "--schema", schema]) == EXIT_USAGE
        assert "schema must match" in capsys.readouterr().err


def test_malicious_item_types_are_refused_and_nothing_changes(
    like_counter: Any, db: psycopg.Connection[Any], snapshot: Callable[[], Snapshot]
) -> None:
    like_counter.like(1, 1, "post")
    like_counter.like(2, 1, "post")
    before, catalog = snapshot(), _catalog(db)
    calls: list[Callable[[str], Any]] = [
        lambda t: like_counter.like(1, 1, t),
        lambda t: like_counter.unlike(1, 1, t),
        lambda t: like_counter.count(1, t),
        lambda t: like_counter.counts([(1, "post"), (1, t)]),
        lambda t: like_counter.has_liked(1, [1], t),
        lambda t: like_counter.like_many([(3, 1)], t),
        lambda t: like_counter.unlike_many([(1, 1)], t),
        lambda t: like_counter.apply_events([(3, 1, "post", "like"), (4, 1, t, "like")]),
    ]
    for item_type in MALICIOUS_TYPES:
        for call in calls:
            with pytest.raises(InvalidInput, match="item_type"):
                call(item_type)
    assert snapshot() == before
    assert _catalog(db) == catalog
    assert like_counter.count(1, "post") == 2


class RecordingConnection(psycopg.Connection[Any]):
    """A real connection that also keeps every statement it is asked to execute."""

    executed: list[tuple[str, Any]]

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        text = query.as_string(self) if isinstance(query, sql.Composable) else str(query)
        type(self).executed.append((text, params))
        return super().execute(query, params, **kwargs)


def test_values_reach_postgres_only_as_parameters(likecounter_dsn: str, likecounter_schema: str) -> None:
    RecordingConnection.executed = []
    user, item, other, name = 918_273_645, 564_738_291, 112_233_445, "zq_marker_type"
    pool: ConnectionPool[Any] = ConnectionPool(
        likecounter_dsn, connection_class=RecordingConnection, kwargs={"autocommit": True}, open=True
    )
    with pool, LikeCounter(pool=pool, schema=likecounter_schema, rate_limit_per_minute=None) as counter:
        counter.like(user, item, name)
        counter.unlike(user, item, name)
        counter.like(user, item, name)
        counter.like_many([(user, other)], name)
        counter.unlike_many([(user, other)], name)
        counter.apply_events([(user, other, name, "like"), (user, item, name, "unlike")])
        assert counter.count(other, name) == 1
        assert counter.counts([(other, name)]) == {(other, name): 1}
        assert counter.has_liked(user, [item, other], name) == {item: False, other: True}
    statements = RecordingConnection.executed
    assert len(statements) > 10
    passed = repr([params for _, params in statements])
    for value in (str(user), str(item), str(other), name):
        assert value in passed  # the values were sent ...
        for text, _ in statements:
            assert value not in text  # ... but never inside a statement's text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.one_of(
        fuzz.valid_types,
        st.from_regex(r"[a-zA-Z0-9_ \-'\"]{0,40}", fullmatch=True),
        st.text(max_size=40),
        st.sampled_from(fuzz.ODD_STRINGS + MALICIOUS_TYPES),
    )
)
def test_item_types_check_constraint_agrees_with_the_validator(
    name: str, like_counter: Any, db: psycopg.Connection[Any], likecounter_schema: str,
    request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    fuzz.tried(request.node.nodeid)
    like_counter.bootstrap()
    table = sql.Identifier(likecounter_schema, "item_types")
    insert = sql.SQL("INSERT INTO {} (name) VALUES (%s)").format(table)
    try:
        with db.transaction(force_rollback=True):
            db.execute(insert, (name,))
        stored = True
    except psycopg.errors.CheckViolation:
        stored = False
    except (psycopg.DataError, UnicodeEncodeError):
        stored = False  # NUL or a lone surrogate: no text column can hold it
    python_accepts = fuzz.run_or_error(lambda: like_counter.count(1, name))[0] == "ok"
    assert stored == python_accepts == fuzz.valid_type(name), repr(name)
