"""Fault injection against a real PostgreSQL: deadlines, crashes, killed backends, a server that is
down, an exhausted pool, deadlocks and racing bootstraps. Every test is bounded in time: threads are
joined with a deadline and a test fails, rather than hangs, when a call does not come back.

Tests that need to kill or stop a server get one of their own (`own_server`); the others use the
session's server and a fresh schema.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

import likecounter._async
import likecounter._sync
from likecounter import (
    AsyncLikeCounter,
    DatabaseUnavailable,
    InvalidInput,
    LikeCounter,
    LikeCounterError,
    LikeResult,
    PoolTimeout,
    StatementTimeout,
)
from likecounter._queries import latest_version
from likecounter.embedded import EmbeddedPostgres

from ..bridge import LoopThread
from ..conftest import assert_counters_match_rows

pytestmark = pytest.mark.faults

# A generous ceiling for any single wait in these tests: reaching it means something hung.
HANG = 60.0


# -- helpers --------------------------------------------------------------------------------------


def run_threads(targets: list[Callable[[], None]], *, within: float = HANG) -> None:
    """Start one thread per target and join them all within `within` seconds, or fail."""
    threads = [threading.Thread(target=target, daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    ends = time.monotonic() + within
    for thread in threads:
        thread.join(max(0.0, ends - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    assert stuck == 0, f"{stuck} of {len(threads)} threads did not finish within {within} s (a hang)"


def retry(call: Callable[[], Any], *, within: float = 30.0) -> Any:
    """Call until it stops raising DatabaseUnavailable (the server is coming back), or fail."""
    ends = time.monotonic() + within
    while True:
        try:
            return call()
        except DatabaseUnavailable:
            if time.monotonic() > ends:
                raise
            time.sleep(0.1)


def like_keys(db: psycopg.Connection[Any], schema: str) -> set[tuple[int, int]]:
    query = sql.SQL("SELECT user_id, item_id FROM {}.likes").format(sql.Identifier(schema))
    return {(int(user), int(item)) for user, item in db.execute(query).fetchall()}


def sessions(db: psycopg.Connection[Any], application_name: str, state: str | None = None) -> list[int]:
    query = "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()"
    params: list[Any] = [application_name]
    if state is not None:
        query += " AND state = %s"
        params.append(state)
    return [int(pid) for (pid,) in db.execute(query, params).fetchall()]


def wait_for_lock_waiters(db: psycopg.Connection[Any], count: int, *, within: float = 10.0) -> None:
    ends = time.monotonic() + within
    while time.monotonic() < ends:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        ).fetchone()
        if row is not None and row[0] >= count:
            return
        time.sleep(0.01)
    pytest.fail(f"{count} statement(s) never blocked on the row lock")


def checked_out(counter: Any, *, settle: float = 5.0) -> int:
    """Connections the counter's pool has handed out and not had back.

    The pool's size also counts a connection it is still opening or checking in the background
    (after a kill it replaces the lost ones), so the figure is read again for up to `settle`
    seconds until it is 0: a connection that a call kept would stay out for good.
    """
    ends = time.monotonic() + settle
    while True:
        stats = counter.pool.get_stats()
        out = int(stats.get("pool_size", 0)) - int(stats.get("pool_available", 0))
        if out == 0 or time.monotonic() > ends:
            return out
        time.sleep(0.05)


def hold_connections(counter: Any, flavour: str, loop: LoopThread | None, count: int) -> Callable[[], None]:
    """Take `count` connections out of the counter's pool; return the function that gives them back."""
    pool = counter.pool
    if flavour == "sync":
        held = [pool.getconn() for _ in range(count)]
    else:
        assert loop is not None
        held = [loop.run(pool.getconn()) for _ in range(count)]

    def give_back() -> None:
        for conn in held:
            if flavour == "sync":
                pool.putconn(conn)
            else:
                assert loop is not None
                loop.run(pool.putconn(conn))

    return give_back


@pytest.fixture
def own_server() -> Iterator[EmbeddedPostgres]:
    """A durable server (fsync and synchronous_commit on) of this test's own, which it may kill.

    The data directory has a short path, so the Unix socket lives inside it and the DSN stays the
    same across restarts.
    """
    base = Path(tempfile.mkdtemp(prefix="lcf-"))
    server = EmbeddedPostgres(base / "data", durable=True, settings={"max_connections": "50"})
    server.start()
    try:
        yield server
    finally:
        server.stop(mode="immediate")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def no_deadlock_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every deadlock surface as an error instead of being retried away."""
    monkeypatch.setattr(likecounter._async, "DEADLOCK_RETRIES", 0)
    monkeypatch.setattr(likecounter._sync, "DEADLOCK_RETRIES", 0)


def deadlocks(db: psycopg.Connection[Any]) -> int:
    row = db.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()
    assert row is not None
    return int(row[0])


# -- 1. deadlines ---------------------------------------------------------------------------------


def test_a_like_blocked_by_a_row_lock_hits_statement_timeout(
    schema_counter: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
) -> None:
    counter = schema_counter(statement_timeout=0.3)
    assert counter.like(2, 5) == LikeResult("liked", 1, True)
    likes = sql.SQL("{}.likes").format(sql.Identifier(likecounter_schema))
    with psycopg.connect(likecounter_dsn) as blocker:
        blocker.execute(sql.SQL("INSERT INTO {} VALUES (1, 5, 1)").format(likes))
        started = time.monotonic()
        with pytest.raises(StatementTimeout) as caught:
            counter.like(1, 5)
        elapsed = time.monotonic() - started
        blocker.rollback()
    assert 0.25 <= elapsed < 5.0, elapsed
    assert "statement_timeout" in str(caught.value)
    assert "0.3 s" in str(caught.value)
    assert isinstance(caught.value, LikeCounterError) and isinstance(caught.value, TimeoutError)
    # The cancelled statement left nothing behind, and the connection is usable again.
    assert like_keys(db, likecounter_schema) == {(2, 5)}
    assert counter.like(1, 5) == LikeResult("liked", 2, True)
    assert sessions(db, f"likecounter-{likecounter_schema}", "idle in transaction") == []
    assert_counters_match_rows(db, likecounter_schema)


@pytest.mark.parametrize("coalesce", [True, False])
def test_a_per_call_timeout_cancels_a_blocked_like(
    schema_counter: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    coalesce: bool,
) -> None:
    counter = schema_counter(coalesce=coalesce)
    assert counter.like(2, 5).status == "liked"
    likes = sql.SQL("{}.likes").format(sql.Identifier(likecounter_schema))
    with psycopg.connect(likecounter_dsn) as blocker:
        blocker.execute(sql.SQL("INSERT INTO {} VALUES (1, 5, 1)").format(likes))
        started = time.monotonic()
        with pytest.raises(StatementTimeout) as caught:
            counter.like(1, 5, timeout=0.3)
        elapsed = time.monotonic() - started
        # Reads take the deadline too; this one is not blocked, so it answers.
        assert counter.count(5, timeout=2.0) == 1
        blocker.rollback()
    assert 0.25 <= elapsed < 5.0, elapsed
    assert "timeout=0.3" in str(caught.value)
    assert like_keys(db, likecounter_schema) == {(2, 5)}
    assert counter.like(1, 5, timeout=2.0) == LikeResult("liked", 2, True)
    assert sessions(db, f"likecounter-{likecounter_schema}", "idle in transaction") == []
    assert_counters_match_rows(db, likecounter_schema)


def test_a_per_call_timeout_must_be_a_positive_number(schema_counter: Callable[..., Any]) -> None:
    counter = schema_counter()
    for bad in (0, -1.0, float("nan"), float("inf"), "1", True):
        with pytest.raises(InvalidInput, match="timeout"):
            counter.like(1, 1, timeout=bad)
        with pytest.raises(InvalidInput, match="timeout"):
            counter.counts([(1, "post")], timeout=bad)
    assert counter.count(1) == 0


def test_a_timed_out_caller_does_not_cancel_the_others_in_its_batch(
    schema_counter: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
) -> None:
    # One statement in flight at a time, so that calls queue up and share the next statement.
    counter = schema_counter(coalesce_max_inflight=1, coalesce_linger_us=0)
    assert counter.like(9, 9).status == "liked"  # registers the type
    likes = sql.SQL("{}.likes").format(sql.Identifier(likecounter_schema))
    outcomes: dict[str, Any] = {}

    def call(name: str, user: int, item: int, timeout: float | None = None) -> Callable[[], None]:
        def run() -> None:
            try:
                outcomes[name] = counter.like(user, item, timeout=timeout)
            except LikeCounterError as exc:
                outcomes[name] = exc

        return run

    with psycopg.connect(likecounter_dsn) as first, psycopg.connect(likecounter_dsn) as second:
        first.execute(sql.SQL("INSERT INTO {} VALUES (1, 5, 1)").format(likes))
        second.execute(sql.SQL("INSERT INTO {} VALUES (1, 6, 1)").format(likes))
        plug = threading.Thread(target=call("plug", 1, 5), daemon=True)
        plug.start()  # leads, and blocks on the first row lock
        wait_for_lock_waiters(db, 1)
        shared = threading.Thread(target=call("shared", 2, 7), daemon=True)
        shared.start()
        time.sleep(0.1)  # queued first: it leads the next statement
        timed = threading.Thread(target=call("timed", 1, 6, timeout=1.5), daemon=True)
        timed.start()
        time.sleep(0.2)
        first.rollback()  # the plug's statement ends; ("shared", "timed") go as one statement ...
        wait_for_lock_waiters(db, 1)  # ... that blocks on the second row lock
        timed.join(HANG)
        assert isinstance(outcomes["timed"], StatementTimeout), outcomes
        assert "shared with other calls" in str(outcomes["timed"])
        assert "shared" not in outcomes  # the statement was not cancelled: it still waits
        second.rollback()
        shared.join(HANG)
        plug.join(HANG)
    assert outcomes["plug"] == LikeResult("liked", 1, True)
    assert outcomes["shared"] == LikeResult("liked", 1, True)
    # The timed-out caller's like was applied by the shared statement, as the message warned.
    assert like_keys(db, likecounter_schema) == {(9, 9), (1, 5), (2, 7), (1, 6)}
    assert counter.like(1, 6).status == "already_liked"
    assert_counters_match_rows(db, likecounter_schema)


def test_an_exhausted_pool_times_out_quickly(
    schema_counter: Callable[..., Any],
    flavour: str,
    loop_thread: LoopThread,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
) -> None:
    counter = schema_counter(max_pool_size=2, pool_timeout=0.5)
    assert counter.like(1, 1).status == "liked"
    give_back = hold_connections(counter, flavour, loop_thread, 2)
    try:
        started = time.monotonic()
        with pytest.raises(PoolTimeout) as caught:
            counter.like(2, 1)
        assert time.monotonic() - started < 3.0
        assert "pool_timeout" in str(caught.value) and "max_pool_size" in str(caught.value)
        started = time.monotonic()
        with pytest.raises(PoolTimeout) as caught:
            counter.count(1, timeout=0.1)
        assert time.monotonic() - started < 1.0
        assert "timeout=0.1" in str(caught.value)
    finally:
        give_back()
    assert counter.like(2, 1) == LikeResult("liked", 2, True)
    assert checked_out(counter) == 0
    assert sessions(db, f"likecounter-{likecounter_schema}", "idle in transaction") == []


# -- 2. crash durability --------------------------------------------------------------------------


@pytest.mark.slow
def test_acknowledged_likes_survive_server_crashes(
    own_server: EmbeddedPostgres, make_counter: Callable[..., Any], flavour: str
) -> None:
    server = own_server
    schema = "crash"
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        settings: dict[str, str] = dict(admin.execute("SELECT name, setting FROM pg_settings").fetchall())
    assert (settings["fsync"], settings["synchronous_commit"]) == ("on", "on"), "not a durable server"
    counter = make_counter(
        server.dsn,
        schema=schema,
        rate_limit_per_minute=None,
        max_pool_size=6,
        pool_timeout=2.0,
        connect_timeout=2.0,
    )
    acknowledged: set[tuple[int, int]] = set()
    failures: Counter[str] = Counter()
    untyped: list[BaseException] = []
    lock = threading.Lock()
    stop = threading.Event()

    def worker(user: int) -> None:
        item = 0
        while not stop.is_set():
            item += 1  # every call is a new key: a failed one is never retried
            try:
                result = counter.like(user, item)
            except LikeCounterError as exc:
                with lock:
                    failures[type(exc).__name__] += 1
                time.sleep(0.02)
                continue
            except BaseException as exc:
                untyped.append(exc)
                return
            assert result.status == "liked", result
            with lock:
                acknowledged.add((user, item))

    def acknowledged_now() -> int:
        with lock:
            return len(acknowledged)

    def wait_for_progress(more_than: int, within: float = 30.0) -> None:
        ends = time.monotonic() + within
        while acknowledged_now() <= more_than + 20:
            assert time.monotonic() < ends, "no likes were acknowledged: the counter did not reconnect"
            assert not untyped, untyped
            time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(user,), daemon=True) for user in range(1, 5)]
    for thread in threads:
        thread.start()
    kills = 3
    try:
        for _ in range(kills):
            wait_for_progress(acknowledged_now())
            server.kill()
            time.sleep(0.3)  # calls made while the server is down fail too
            server.start()
        wait_for_progress(acknowledged_now())  # the same counter object works again
    finally:
        stop.set()
        for thread in threads:
            thread.join(HANG)
    assert not any(thread.is_alive() for thread in threads), "a like hung"
    assert untyped == [], f"untyped errors escaped: {untyped[:3]}"
    assert sum(failures.values()) > 0, "no call was in flight during a kill: the test proved nothing"
    assert retry(lambda: counter.like(99, 10**9)) == LikeResult("liked", 1, True)
    with psycopg.connect(server.dsn, autocommit=True) as admin:
        stored = like_keys(admin, schema)
        lost = acknowledged - stored
        assert_counters_match_rows(admin, schema)
    print(
        f"\n[crash {flavour}] kills={kills} acknowledged={len(acknowledged)} lost={len(lost)} "
        f"rows={len(stored)} failed_calls={dict(failures)}"
    )
    assert lost == set()


# -- 3. backend kills -----------------------------------------------------------------------------


@pytest.mark.slow
def test_terminated_backends_lose_nothing_and_the_pool_heals(
    schema_counter: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    flavour: str,
) -> None:
    counter = schema_counter(max_pool_size=6, pool_timeout=5.0)
    application_name = f"likecounter-{likecounter_schema}"
    items = range(12)
    users = range(1, 9)
    # Every call that returned tells the key's state; a call that failed is run again until it
    # returns, so the final state of each key is known exactly.
    state: dict[tuple[int, int], bool] = {}
    failures: Counter[str] = Counter()
    untyped: list[BaseException] = []
    lock = threading.Lock()
    stop = threading.Event()
    killed = 0

    def settle(user: int, item: int, liked: bool) -> None:
        call = counter.like if liked else counter.unlike
        for _attempt in range(100):
            try:
                result = call(user, item)
            except LikeCounterError as exc:
                with lock:
                    failures[type(exc).__name__] += 1
                continue
            except BaseException as exc:
                untyped.append(exc)
                raise
            assert result.user_liked is liked
            state[(user, item)] = liked
            return
        pytest.fail(f"{user}, {item} never succeeded")

    def worker(user: int) -> None:
        rng = random.Random(user)
        for _ in range(60):
            settle(user, rng.choice(items), rng.random() < 0.6)

    def killer() -> None:
        nonlocal killed
        with psycopg.connect(likecounter_dsn, autocommit=True) as admin:
            while not stop.is_set():
                for pid in sessions(admin, application_name):
                    row = admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()
                    killed += bool(row and row[0])
                time.sleep(0.03)

    kill_thread = threading.Thread(target=killer, daemon=True)
    started = time.monotonic()
    kill_thread.start()
    try:
        run_threads([partial(worker, user) for user in users])
    finally:
        stop.set()
        kill_thread.join(HANG)
    assert untyped == [], f"untyped errors escaped: {untyped[:3]}"
    assert killed > 0 and sum(failures.values()) > 0, (killed, failures)
    # The pool heals: calls work, nothing is checked out, nobody waits. The killer's last round
    # can hit connections idle in the pool; each such one fails one call (the pool does not test
    # a connection before lending it), so reads go through retry() until every pooled
    # connection (the pool lends them in turn) has been used once.
    for _ in range(counter.pool.max_size):
        assert retry(lambda: counter.count(0)) >= 0
    expected_counts = Counter(item for (_, item), liked in state.items() if liked)
    assert retry(lambda: counter.counts([(item, "post") for item in items])) == {
        (item, "post"): expected_counts[item] for item in items
    }
    assert like_keys(db, likecounter_schema) == {key for key, liked in state.items() if liked}
    assert_counters_match_rows(db, likecounter_schema)
    health = counter.health()
    assert health.ok, health
    assert health.pool is not None and health.pool.waiting == 0 and health.pool.size <= 6
    assert checked_out(counter) == 0
    assert sessions(db, application_name, "idle in transaction") == []
    print(
        f"\n[backend kills {flavour}] terminated={killed} failed_calls={dict(failures)} "
        f"keys={len(state)} seconds={time.monotonic() - started:.1f}"
    )


# -- 4. server down -------------------------------------------------------------------------------


def test_a_counter_built_while_the_server_is_down_recovers(
    own_server: EmbeddedPostgres, make_counter: Callable[..., Any]
) -> None:
    server = own_server
    make_counter(server.dsn, schema="down").close()  # the schema exists
    server.stop()
    counter = make_counter(server.dsn, schema="down", bootstrap=False, pool_timeout=1.0, connect_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(PoolTimeout) as caught:
        counter.like(1, 1)
    assert time.monotonic() - started < 4.0
    assert "within 1 s: the pool cannot connect to the server" in str(caught.value)
    assert "Connection refused" in str(caught.value) or "No such file" in str(caught.value)
    started = time.monotonic()
    health = counter.health(timeout=0.5)
    assert time.monotonic() - started < 3.0
    assert (health.ok, health.database_up) == (False, False)
    assert health.error is not None and health.error.startswith("PoolTimeout")
    server.start()
    assert retry(lambda: counter.like(1, 1)) == LikeResult("liked", 1, True)
    assert counter.count(1) == 1
    assert counter.health().ok


def test_bootstrap_against_a_server_that_is_down(
    own_server: EmbeddedPostgres, flavour: str, loop_thread: LoopThread
) -> None:
    server = own_server
    server.stop()
    options: dict[str, Any] = {"schema": "boot", "pool_timeout": 1.0, "connect_timeout": 1.0}
    started = time.monotonic()
    if flavour == "sync":
        # The constructor opens and migrates, so it is what fails, within the pool timeout.
        with pytest.raises(PoolTimeout):
            LikeCounter(server.dsn, **options)
        assert time.monotonic() - started < 4.0
        server.start()
        with LikeCounter(server.dsn, **options) as counter:
            assert counter.like(1, 1).status == "liked"
        return
    native = AsyncLikeCounter(server.dsn, **options)  # no I/O until the first call
    try:
        with pytest.raises(PoolTimeout):
            loop_thread.run(native.like(1, 1))
        assert time.monotonic() - started < 4.0
        server.start()
        # The same object opens and migrates on a later call.
        assert retry(lambda: loop_thread.run(native.like(1, 1))) == LikeResult("liked", 1, True)
    finally:
        loop_thread.run(native.close())


# -- 5. pool exhaustion ---------------------------------------------------------------------------


@pytest.mark.slow
def test_an_exhausted_pool_fails_fast_and_leaks_nothing(
    schema_counter: Callable[..., Any],
    flavour: str,
    loop_thread: LoopThread,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
) -> None:
    counter = schema_counter(max_pool_size=2, pool_timeout=0.3)
    application_name = f"likecounter-{likecounter_schema}"
    assert counter.like(1, 1).status == "liked"
    schema = sql.Identifier(likecounter_schema)
    # Item 666 makes the statement fail in the database: an error path that takes a connection.
    db.execute(sql.SQL("ALTER TABLE {}.likes ADD CHECK (item_id <> 666)").format(schema))
    calls: list[tuple[str, Callable[[], Any]]] = [
        ("like", lambda: counter.like(2, 1)),
        ("already_liked", lambda: counter.like(1, 1)),
        ("unlike_unknown_type", lambda: counter.unlike(1, 1, "never_liked")),
        ("invalid", lambda: counter.like("x", 1)),
        ("statement_error", lambda: counter.like(3, 666)),
        ("count", lambda: counter.count(1)),
        ("bulk", lambda: counter.like_many([(4, 1), (5, 1)])),
        ("timed", lambda: counter.has_liked(1, [1], timeout=0.1)),
    ]
    outcomes: Counter[tuple[str, str]] = Counter()
    lock = threading.Lock()

    def worker(index: int) -> None:
        name, call = calls[index % len(calls)]
        for _ in range(3):
            try:
                result = call()
                kind: str = "ok" if not isinstance(result, LikeResult) else result.status
            except LikeCounterError as exc:
                kind = type(exc).__name__
                if exc.__cause__ is not None and type(exc) is not PoolTimeout:
                    kind += f":{type(exc.__cause__).__name__}"
            with lock:
                outcomes[(name, kind)] += 1

    # Phase 1: every connection is held elsewhere; every call that needs one must time out.
    give_back = hold_connections(counter, flavour, loop_thread, 2)
    started = time.monotonic()
    try:
        run_threads([partial(worker, index) for index in range(32)], within=20.0)
    finally:
        give_back()
    held_seconds = time.monotonic() - started
    kinds = {name: {kind for (n, kind) in outcomes if n == name} for name, _ in calls}
    assert kinds["invalid"] == {"InvalidInput"}  # rejected before asking the pool
    for name in ("like", "already_liked", "unlike_unknown_type", "statement_error", "count", "bulk", "timed"):
        assert kinds[name] == {"PoolTimeout"}, (name, kinds[name])
    # Phase 2: the connections are back; 32 threads share 2 connections and all get real answers.
    assert checked_out(counter) == 0  # every timed-out call gave back what it had
    outcomes.clear()
    counter = schema_counter(max_pool_size=2, pool_timeout=10.0)
    started = time.monotonic()
    run_threads([partial(worker, index) for index in range(32)], within=40.0)
    shared_seconds = time.monotonic() - started
    kinds = {name: {kind for (n, kind) in outcomes if n == name} for name, _ in calls}
    # A coalesced write that shared its statement with the failing op fails with it (by design);
    # any other outcome is a bug.
    shared_failure = "DatabaseError:CheckViolation"
    assert kinds["like"] <= {"liked", "already_liked", shared_failure}
    assert kinds["already_liked"] <= {"already_liked", shared_failure}
    assert kinds["unlike_unknown_type"] == {"not_liked"}
    assert kinds["invalid"] == {"InvalidInput"}
    assert kinds["statement_error"] == {shared_failure}
    assert kinds["count"] == {"ok"} and kinds["bulk"] == {"ok"} and kinds["timed"] <= {"ok", "PoolTimeout"}
    assert counter.like(2, 1).status in ("liked", "already_liked")
    assert counter.count(1) == len(like_keys(db, likecounter_schema) & {(1, 1), (2, 1), (4, 1), (5, 1)}) == 4
    assert checked_out(counter) == 0
    assert counter.health().ok
    assert sessions(db, application_name, "idle in transaction") == []
    assert_counters_match_rows(db, likecounter_schema)
    print(f"\n[pool {flavour}] held={held_seconds:.2f}s shared={shared_seconds:.2f}s")


# -- 6. deadlock freedom --------------------------------------------------------------------------


@pytest.mark.slow
def test_bulk_and_coalesced_writes_in_opposite_orders_never_deadlock(
    schema_counter: Callable[..., Any],
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    flavour: str,
    no_deadlock_retries: None,
) -> None:
    counter = schema_counter(max_pool_size=12, coalesce_max_inflight=6)
    users = range(1, 7)
    items = range(1, 9)
    keys = [(user, item) for user in users for item in items]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)
    before = deadlocks(db)

    def guarded(body: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                body()
            except BaseException as exc:
                errors.append(exc)
                barrier.abort()  # the other bulk writers stop too, rather than wait for this one

        return run

    rounds = 25

    def bulk(seed: int) -> None:
        # Four bulk writers in lockstep: each round they all like every key, then all take the
        # likes back, half of them walking the keys forwards and half backwards (with a few likes
        # mixed in by apply_events), so that their DELETEs meet the same rows in opposite orders.
        rng = random.Random(seed)
        for round_number in range(rounds):
            order = sorted(keys, reverse=bool((seed + round_number) % 2))
            barrier.wait(HANG)
            counter.like_many(order)
            barrier.wait(HANG)
            if round_number % 2:
                counter.unlike_many(order)
            else:
                counter.apply_events(
                    [(user, item, "post", "like" if rng.random() < 0.2 else "unlike") for user, item in order]
                )

    def singles(seed: int) -> None:
        # Coalesced likes and unlikes of the same keys meanwhile, in random order.
        rng = random.Random(seed)
        for _ in range(150):
            user, item = rng.choice(keys)
            (counter.like if rng.random() < 0.5 else counter.unlike)(user, item)

    started = time.monotonic()
    run_threads(
        [guarded(partial(bulk, seed)) for seed in range(4)]
        + [guarded(partial(singles, seed)) for seed in range(100, 108)]
    )
    seen = deadlocks(db) - before
    print(
        f"\n[deadlocks {flavour}] observed={seen} errors={len(errors)} "
        f"seconds={time.monotonic() - started:.1f}"
    )
    assert [exc for exc in errors if not isinstance(exc, threading.BrokenBarrierError)] == []
    assert seen == 0
    assert_counters_match_rows(db, likecounter_schema)
    # Everyone takes every like back: all counts go to zero, exactly.
    counter.unlike_many(keys)
    assert counter.counts([(item, "post") for item in items]) == {(item, "post"): 0 for item in items}
    assert like_keys(db, likecounter_schema) == set()


# -- 7. concurrent bootstrap ----------------------------------------------------------------------

BOOTSTRAP_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys, time
    from likecounter import AsyncLikeCounter, LikeCounter

    dsn, schema, user, flavour, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    options = {"schema": schema, "rate_limit_per_minute": None, "max_pool_size": 2}
    if flavour == "sync":
        with LikeCounter(dsn, **options) as counter:
            result = counter.like(user, 1)
    else:
        async def main():
            async with AsyncLikeCounter(dsn, **options) as counter:
                return await counter.like(user, 1)
        result = asyncio.run(main())
    print(json.dumps([result.status, result.count, result.user_liked]), flush=True)
    """
)


@pytest.mark.slow
def test_eight_processes_bootstrap_one_schema_at_once(
    likecounter_dsn: str, likecounter_schema: str, db: psycopg.Connection[Any], tmp_path: Path
) -> None:
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                BOOTSTRAP_SCRIPT,
                likecounter_dsn,
                likecounter_schema,
                str(user),
                "sync" if user % 2 else "async",
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for user in range(1, 9)
    ]
    try:
        for process in processes:  # every one has imported everything: now they race
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        go.touch()
        results = []
        for process in processes:
            out, err = process.communicate(timeout=HANG)
            assert process.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert all(status == "liked" and liked for status, _, liked in results), results
    # Each like's count is the one its own statement left: the eight statements ran one after another.
    assert sorted(count for _, count, _ in results) == list(range(1, 9))
    schema = sql.Identifier(likecounter_schema)
    versions = db.execute(
        sql.SQL("SELECT version FROM {}.schema_version ORDER BY 1").format(schema)
    ).fetchall()
    assert [version for (version,) in versions] == list(range(1, latest_version() + 1))
    assert like_keys(db, likecounter_schema) == {(user, 1) for user in range(1, 9)}
    assert_counters_match_rows(db, likecounter_schema)
