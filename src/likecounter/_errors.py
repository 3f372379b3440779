"""The one error hierarchy of likecounter, and the one place where driver errors are translated."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
import psycopg.errors
import psycopg_pool

__all__ = [
    "DatabaseError",
    "DatabaseUnavailable",
    "InvalidInput",
    "LikeCounterError",
    "PoolTimeout",
    "RateLimited",
    "SchemaError",
    "StatementTimeout",
    "translate",
]


class LikeCounterError(Exception):
    """Base class of every error that likecounter raises on purpose."""

    __module__ = "likecounter"


class InvalidInput(LikeCounterError, ValueError):
    """An argument was rejected before any SQL ran; nothing was written."""

    __module__ = "likecounter"


class RateLimited(LikeCounterError):
    """The user made too many like/unlike calls in the sliding window; this call did not count.

    `retry_after` is the number of seconds until the oldest call in the window expires.
    """

    __module__ = "likecounter"

    def __init__(self, user_id: int, limit: int, retry_after: float) -> None:
        super().__init__(
            f"user {user_id} is over the limit of {limit} like/unlike calls per minute; "
            f"retry after {retry_after:.3f} s"
        )
        self.user_id = user_id
        self.limit = limit
        self.retry_after = retry_after


class SchemaError(LikeCounterError):
    """The database schema is missing, or newer than this version of likecounter understands."""

    __module__ = "likecounter"


class DatabaseError(LikeCounterError):
    """PostgreSQL refused or failed a statement. The original driver error is the `__cause__`."""

    __module__ = "likecounter"


class DatabaseUnavailable(DatabaseError):
    """The server could not be reached, or the connection broke during the call."""

    __module__ = "likecounter"


class PoolTimeout(DatabaseUnavailable, TimeoutError):
    """No pool connection became free (or could be opened) within the pool timeout."""

    __module__ = "likecounter"


class StatementTimeout(DatabaseError, TimeoutError):
    """PostgreSQL cancelled the statement (statement_timeout or a cancel request)."""

    __module__ = "likecounter"


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def translate(
    exc: BaseException, *, secrets: Iterable[str] = (), pool_timeout: float | None = None
) -> Exception:
    """Map a driver or pool exception to its likecounter class, with secrets removed from the text.

    Errors that are already ours pass through unchanged; anything unknown is returned as is.
    """
    if isinstance(exc, LikeCounterError):
        return exc
    secrets = tuple(secrets)
    detail = _scrub(str(exc).strip() or type(exc).__name__, secrets)
    if isinstance(exc, psycopg_pool.PoolTimeout):
        waited = f" within {pool_timeout:g} s" if pool_timeout is not None else ""
        return PoolTimeout(
            f"no database connection was available{waited}: the server may be down or every pool "
            f"connection busy (raise pool_timeout or max_pool_size). Driver said: {detail}"
        )
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return StatementTimeout(
            f"the statement was cancelled by PostgreSQL (statement_timeout or a cancel): {detail}"
        )
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return SchemaError(
            f"the likecounter tables are missing ({detail.splitlines()[0]}); open the counter with "
            "bootstrap=True or run `likecounter init`"
        )
    if isinstance(exc, psycopg.errors.TransactionRollback):
        # Deadlock or serialization failure: the statement was rolled back whole.
        return DatabaseError(
            f"a concurrent transaction conflicted with this one and it was rolled back; "
            f"it is safe to retry: {detail}"
        )
    if isinstance(exc, psycopg_pool.PoolClosed):
        # Before OperationalError, which PoolClosed subclasses.
        return DatabaseUnavailable(f"the counter is closed: {detail}")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return DatabaseUnavailable(f"the database is unavailable: {detail}")
    if isinstance(exc, psycopg.Error):
        return DatabaseError(f"the database refused the operation: {detail}")
    return exc  # type: ignore[return-value]
