"""_errors: the hierarchy and the translation of driver errors, with secrets scrubbed."""

from __future__ import annotations

import psycopg
import psycopg.errors
import psycopg_pool
import pytest

import likecounter
from likecounter import (
    DatabaseError,
    DatabaseUnavailable,
    InvalidInput,
    LikeCounterError,
    PoolTimeout,
    RateLimited,
    SchemaError,
    StatementTimeout,
)
from likecounter._config import Settings
from likecounter._core import Core
from likecounter._errors import ConnectFailures, translate
from likecounter._queries import latest_version

SECRET = "s3cr3t-must-not-leak"


def test_hierarchy() -> None:
    for cls in (InvalidInput, RateLimited, SchemaError, DatabaseError, DatabaseUnavailable, PoolTimeout):
        assert issubclass(cls, LikeCounterError)
    assert issubclass(InvalidInput, ValueError)
    assert issubclass(DatabaseUnavailable, DatabaseError)
    assert issubclass(PoolTimeout, DatabaseUnavailable) and issubclass(PoolTimeout, TimeoutError)
    assert issubclass(StatementTimeout, DatabaseError) and issubclass(StatementTimeout, TimeoutError)
    assert not issubclass(StatementTimeout, DatabaseUnavailable)
    # Shown as `likecounter.X` in tracebacks, as they are exported.
    for name in ("InvalidInput", "PoolTimeout", "SchemaError"):
        cls = getattr(likecounter, name)
        assert cls.__module__ == "likecounter"


@pytest.mark.parametrize(
    ("driver_error", "expected"),
    [
        (psycopg_pool.PoolTimeout("couldn't get a connection after 1.00 sec"), PoolTimeout),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), StatementTimeout),
        (psycopg.errors.UndefinedTable('relation "x.likes" does not exist'), SchemaError),
        (psycopg.OperationalError("connection is bad"), DatabaseUnavailable),
        (psycopg.InterfaceError("the connection is closed"), DatabaseUnavailable),
        (psycopg.errors.CheckViolation("violates check constraint"), DatabaseError),
        (psycopg_pool.PoolClosed("the pool is closed"), DatabaseUnavailable),
    ],
)
def test_translate(driver_error: Exception, expected: type[LikeCounterError]) -> None:
    translated = translate(driver_error, pool_timeout=1.5)
    assert type(translated) is expected
    assert str(driver_error) in str(translated)


@pytest.mark.parametrize(
    "driver_error",
    [
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.SerializationFailure("could not serialize access"),
    ],
)
def test_a_rolled_back_transaction_is_a_database_error_not_an_outage(driver_error: Exception) -> None:
    # psycopg does not derive DeadlockDetected from TransactionRollback: the SQLSTATE class decides.
    translated = translate(driver_error)
    assert type(translated) is DatabaseError
    assert "safe to retry" in str(translated)


def test_a_terminated_session_is_unavailable_and_says_a_retry_is_safe() -> None:
    translated = translate(
        psycopg.errors.AdminShutdown("terminating connection due to administrator command")
    )
    assert type(translated) is DatabaseUnavailable
    assert "may or may not have been committed" in str(translated)
    assert "idempotent" in str(translated) and "safe to retry" in str(translated)


def test_timeout_messages_say_what_to_tune() -> None:
    server_side = translate(
        psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), statement_timeout=0.25
    )
    assert type(server_side) is StatementTimeout
    assert "statement_timeout (0.25 s)" in str(server_side)
    by_call = translate(
        psycopg.errors.QueryCanceled("canceling statement due to user request"), call_timeout=2
    )
    assert type(by_call) is StatementTimeout and "timeout=2 s" in str(by_call)
    waited = translate(psycopg_pool.PoolTimeout("x"), pool_timeout=0.5, call_timeout=0.5)
    assert type(waited) is PoolTimeout and "timeout=0.5" in str(waited) and "pool_timeout" not in str(waited)
    pooled = translate(psycopg_pool.PoolTimeout("x"), pool_timeout=0.5, call_timeout=3.0)
    assert "raise pool_timeout or max_pool_size" in str(pooled)


def test_pool_timeout_message_names_the_wait() -> None:
    translated = translate(psycopg_pool.PoolTimeout("x"), pool_timeout=1.5)
    assert "within 1.5 s" in str(translated)
    assert "within" not in str(translate(psycopg_pool.PoolTimeout("x")))


def test_pool_timeout_says_when_the_pool_cannot_connect_and_why() -> None:
    failures = ConnectFailures()
    busy = translate(psycopg_pool.PoolTimeout("x"), pool_timeout=2.0, connect_failures=failures)
    assert "every connection was busy or still connecting" in str(busy)
    assert "cannot connect" not in str(busy)
    failures.failed(
        psycopg.OperationalError(
            'connection failed: connection to server at "127.0.0.1", port 9 failed: Connection refused\n'
            "\tIs the server running on that host and accepting TCP/IP connections?"
        )
    )
    down = translate(psycopg_pool.PoolTimeout("x"), pool_timeout=2.0, connect_failures=failures)
    assert type(down) is PoolTimeout
    assert "within 2 s: the pool cannot connect to the server" in str(down)
    assert "Connection refused" in str(down) and "Is the server running" not in str(down)
    assert "Nothing was written" in str(down)
    failures.failed(psycopg.OperationalError("password authentication failed for user hunter2"))
    scrubbed = translate(
        psycopg_pool.PoolTimeout("x"), secrets=["hunter2"], pool_timeout=2.0, connect_failures=failures
    )
    assert "hunter2" not in str(scrubbed) and "password authentication failed" in str(scrubbed)
    failures.succeeded()
    again = translate(psycopg_pool.PoolTimeout("x"), pool_timeout=2.0, connect_failures=failures)
    assert "cannot connect" not in str(again)
    borrowed = translate(psycopg_pool.PoolTimeout("x"), pool_timeout=2.0)
    assert "the server may be down or every connection busy" in str(borrowed)


def test_translate_leaves_ours_and_unknown_errors_alone() -> None:
    ours = InvalidInput("bad")
    assert translate(ours) is ours
    unknown = KeyError("k")
    assert translate(unknown) is unknown


@pytest.mark.parametrize(
    "driver_error",
    [
        psycopg.OperationalError(f'password authentication failed, password was "{SECRET}"'),
        psycopg.errors.CheckViolation(f"row contains {SECRET}"),
        psycopg_pool.PoolTimeout(f"conninfo password={SECRET}"),
    ],
)
def test_translate_scrubs_secrets(driver_error: Exception) -> None:
    translated = translate(driver_error, secrets=[SECRET, ""])
    assert SECRET not in str(translated)
    assert "***" in str(translated)


def test_an_empty_driver_message_names_the_error() -> None:
    assert "OperationalError" in str(translate(psycopg.OperationalError()))


def test_health_report_scrubs_secrets() -> None:
    core = Core(Settings(secrets=(SECRET,), rate_limit_per_minute=None))
    health = core.health_report(
        version=None, latency_s=None, pool=None, error=RuntimeError(f"could not connect with {SECRET}")
    )
    assert health.error == "RuntimeError: could not connect with ***"
    assert (health.ok, health.database_up) == (False, False)


def test_health_report_versions() -> None:
    core = Core(Settings(schema="app_likes"))
    ok = core.health_report(version=latest_version(), latency_s=0.0123456, pool=None, error=None)
    assert (ok.ok, ok.database_up, ok.error, ok.latency_ms) == (True, True, None, 12.346)
    missing = core.health_report(version=None, latency_s=0.001, pool=None, error=None)
    assert missing.ok is False and missing.database_up is True
    assert missing.error is not None and "'app_likes' has not been created" in missing.error
    newer = core.health_report(version=7, latency_s=0.001, pool=None, error=None)
    assert newer.error == f"schema 'app_likes' is at version 7, expected {latest_version()}"


def test_rate_limited_carries_its_numbers() -> None:
    error = RateLimited(5, 100, retry_after=1.23456)
    assert (error.user_id, error.limit, error.retry_after) == (5, 100, 1.23456)
    assert str(error) == "user 5 is over the limit of 100 like/unlike calls per minute; retry after 1.235 s"
