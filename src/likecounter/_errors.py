"""The one error hierarchy of likecounter, and the one place where driver errors are translated."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import psycopg
import psycopg.errors
import psycopg_pool

__all__ = [
    "ConnectFailures",
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


class ConnectFailures:
    """What the last connection attempt of a counter's own pool said, when it failed.

    A pool keeps retrying in the background and only logs why; a PoolTimeout then says just
    "couldn't get a connection". Recording the last failure lets the error tell "the server is
    down" (and libpq's reason) apart from "every connection is busy". No I/O here.
    """

    __slots__ = ("last",)

    def __init__(self) -> None:
        self.last: str | None = None

    def failed(self, exc: BaseException) -> None:
        self.last = (str(exc).strip().splitlines() or [type(exc).__name__])[0]

    def succeeded(self) -> None:
        self.last = None


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


# A write whose connection broke before the reply came may or may not have been committed.
_RETRY_IS_SAFE = (
    "If the call was a write, it may or may not have been committed; like, unlike and the bulk "
    "methods are idempotent (a repeat changes nothing), so it is safe to retry"
)


def translate(
    exc: BaseException,
    *,
    secrets: Iterable[str] = (),
    pool_timeout: float | None = None,
    call_timeout: float | None = None,
    statement_timeout: float | None = None,
    connect_failures: ConnectFailures | None = None,
) -> Exception:
    """Map a driver or pool exception to its likecounter class, with secrets removed from the text.

    `pool_timeout` is how long the call waited for a connection; `call_timeout` the call's own
    `timeout=` when there was one (it then bounded the wait and the statement), and
    `statement_timeout` the counter's option; they only shape the messages, as does
    `connect_failures`, the record of a pool the counter built (None for a borrowed pool).
    Errors that are already ours pass through unchanged; anything unknown is returned as is.
    """
    if isinstance(exc, LikeCounterError):
        return exc
    secrets = tuple(secrets)
    detail = _scrub(str(exc).strip() or type(exc).__name__, secrets)
    if isinstance(exc, psycopg_pool.PoolTimeout):
        return _pool_timeout(detail, secrets, pool_timeout, call_timeout, connect_failures)
    if isinstance(exc, psycopg.errors.QueryCanceled | asyncio.TimeoutError):
        return _cancelled(detail, call_timeout, statement_timeout)
    if isinstance(exc, psycopg.errors.UndefinedTable):
        return SchemaError(
            f"the likecounter tables are missing ({detail.splitlines()[0]}); open the counter with "
            "bootstrap=True or run `likecounter init`"
        )
    if isinstance(exc, psycopg.Error) and str(exc.sqlstate or "").startswith("40"):
        # Class 40, transaction rollback: deadlock or serialization failure. psycopg does not make
        # DeadlockDetected a subclass of TransactionRollback, so the SQLSTATE class decides.
        return DatabaseError(
            f"a concurrent transaction conflicted with this one and it was rolled back; "
            f"it is safe to retry: {detail}"
        )
    if isinstance(exc, psycopg_pool.PoolClosed):
        # Before OperationalError, which PoolClosed subclasses.
        return DatabaseUnavailable(f"the counter is closed: {detail}")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        # Connection failures, and the server ending the session (pg_terminate_backend, shutdown).
        return DatabaseUnavailable(
            f"the database is unavailable or the connection broke: {detail}. {_RETRY_IS_SAFE}"
        )
    if isinstance(exc, psycopg.Error):
        return DatabaseError(f"the database refused the operation: {detail}")
    return exc  # type: ignore[return-value]


def _pool_timeout(
    detail: str,
    secrets: tuple[str, ...],
    pool_timeout: float | None,
    call_timeout: float | None,
    connect_failures: ConnectFailures | None,
) -> PoolTimeout:
    waited = f" within {pool_timeout:g} s" if pool_timeout is not None else ""
    by_call = call_timeout is not None and pool_timeout is not None and call_timeout <= pool_timeout
    last = connect_failures.last if connect_failures is not None else None
    if last is not None:
        # The pool's latest attempt to connect failed: the server is down, unreachable or refusing.
        return PoolTimeout(
            f"no database connection was available{waited}: the pool cannot connect to the server "
            f"(its last attempt failed: {_scrub(last, secrets)}). Check that the server is up and that "
            "the DSN is right; the pool keeps trying, and calls work again once it connects. "
            "Nothing was written."
        )
    if by_call:
        hint = f"the call's timeout={call_timeout:g} ran out; pass a larger timeout= or raise max_pool_size"
    elif connect_failures is not None:
        hint = "every connection was busy or still connecting; raise pool_timeout or max_pool_size"
    else:
        hint = "the server may be down or every connection busy; raise pool_timeout or max_pool_size"
    return PoolTimeout(
        f"no database connection was available{waited} ({hint}). Nothing was written. Driver said: {detail}"
    )


def _cancelled(detail: str, call_timeout: float | None, statement_timeout: float | None) -> StatementTimeout:
    if "statement timeout" in detail:
        limit = f" ({statement_timeout:g} s)" if statement_timeout is not None else ""
        return StatementTimeout(
            f"the statement ran longer than statement_timeout{limit} and PostgreSQL cancelled it; "
            "a cancelled statement is rolled back whole. Raise the statement_timeout option, or look "
            f"for what held it up (a lock held by another session). Driver said: {detail}"
        )
    if call_timeout is not None:
        return StatementTimeout(
            f"the call's timeout={call_timeout:g} s ran out while its statement ran, and the "
            "statement was cancelled; a cancelled statement is rolled back whole (if the cancel came "
            "too late, it was committed: like and unlike are idempotent, so it is safe to retry). "
            f"Pass a larger timeout= to wait longer. Driver said: {detail}"
        )
    return StatementTimeout(
        f"the statement was cancelled by PostgreSQL (statement_timeout or a cancel request): {detail}"
    )


def queued_timeout(call_timeout: float, inflight: int) -> PoolTimeout:
    """A coalesced write whose timeout ran out before any statement took it: it was withdrawn."""
    return PoolTimeout(
        f"the call's timeout={call_timeout:g} s ran out while its write waited for one of the "
        f"{inflight} statement slot(s) (coalesce_max_inflight); it was withdrawn and nothing was "
        "written. Pass a larger timeout=, or raise max_pool_size or coalesce_max_inflight"
    )


def shared_statement_timeout(call_timeout: float) -> StatementTimeout:
    """A coalesced write whose timeout ran out while its op was in a statement shared with others."""
    return StatementTimeout(
        f"the call's timeout={call_timeout:g} s ran out while its write was in a statement shared "
        "with other calls; that statement is not cancelled (it carries their writes too), so this "
        "write may still be applied. Like and unlike are idempotent: it is safe to retry, or to read "
        "the state back. Pass a larger timeout=, or set statement_timeout to bound every statement"
    )
