"""Operations tools against a real PostgreSQL: verify finds drift without writing, reconcile repairs
it while writers are live, erase_user removes a user's likes and their counts."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from psycopg import sql

from likecounter import DatabaseError, Drift, InvalidInput, LikeCounter, ReconcileReport
from likecounter._queries import Statements
from likecounter.cli import EXIT_MISMATCH, EXIT_OK, main

from ..conftest import Snapshot


def run(db: psycopg.Connection[Any], schema: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    """Run test SQL on the test's schema (`{schema}` in the text); return its rows, if any."""
    cursor = db.execute(sql.SQL(query).format(schema=sql.Identifier(schema)), params)
    return cursor.fetchall() if cursor.description is not None else []


def type_id(db: psycopg.Connection[Any], schema: str, name: str) -> int:
    return int(run(db, schema, "SELECT type_id FROM {schema}.item_types WHERE name = %s", (name,))[0][0])


def shard_counts(db: psycopg.Connection[Any], schema: str, item_id: int) -> dict[int, int]:
    rows = run(db, schema, "SELECT shard, like_count FROM {schema}.counters WHERE item_id = %s", (item_id,))
    return {int(shard): int(count) for shard, count in rows}


def rows_per(item: int) -> int:
    """How many users like cold post `item` in the seeded data."""
    return item % 7 + 1


def seed(counter: Any, db: psycopg.Connection[Any], schema: str) -> None:
    """Posts 1..60 liked by users 1..rows_per(item), comments 5 and 6 by users 1..3, and post 500
    liked by 40 users one call at a time, spread over shards 0..3 (the counter must be hot-sharding)."""
    counter.like_many([(user, item) for item in range(1, 61) for user in range(1, rows_per(item) + 1)])
    counter.like_many([(user, item) for item in (5, 6) for user in (1, 2, 3)], "comment")
    for user in range(1, 41):
        counter.like(user, 500)
    assert set(shard_counts(db, schema, 500)) == {0, 1, 2, 3}


DRIFTED_COLD = list(range(20, 60, 4))  # ten cold posts whose counter is zeroed


def corrupt(db: psycopg.Connection[Any], schema: str) -> list[Drift]:
    """Break the counters in every way verify must see; return the drift, in (type, item) order."""
    post, comment = type_id(db, schema, "post"), type_id(db, schema, "comment")
    assert post < comment
    shards_500 = shard_counts(db, schema, 500)
    # A shard counted with no like rows next to a correct one (post 1), a wrong count (post 3), a
    # missing counter row (post 7), many zeroed counters (spread over several batches), a like
    # moved from one shard of a sharded item to another (post 500: the total is still right), a
    # counter with no like rows at all (post 1000), a wrong count of another type (comment 6).
    run(db, schema, "INSERT INTO {schema}.counters VALUES (%s, 1, 3, 2)", (post,))
    run(db, schema, "UPDATE {schema}.counters SET like_count = like_count + 5 WHERE item_id = 3")
    run(db, schema, "DELETE FROM {schema}.counters WHERE item_id = 7")
    run(db, schema, "UPDATE {schema}.counters SET like_count = 0 WHERE item_id = ANY(%s)", (DRIFTED_COLD,))
    run(
        db,
        schema,
        "UPDATE {schema}.counters SET like_count = like_count - 1 WHERE item_id = 500 AND shard = 1",
    )
    run(
        db,
        schema,
        "UPDATE {schema}.counters SET like_count = like_count + 1 WHERE item_id = 500 AND shard = 2",
    )
    run(db, schema, "INSERT INTO {schema}.counters VALUES (%s, 1000, 0, 4)", (post,))
    run(
        db,
        schema,
        "UPDATE {schema}.counters SET like_count = 5 WHERE type_id = %s AND item_id = 6",
        (comment,),
    )
    # Not drift: a counter row at 0 with no like rows agrees with them.
    run(db, schema, "INSERT INTO {schema}.counters VALUES (%s, 2000, 0, 0)", (post,))
    assert sum(shard_counts(db, schema, 500).values()) == sum(shards_500.values()) == 40
    return [
        Drift(1, "post", rows_per(1), rows_per(1) + 2, (3,)),
        Drift(3, "post", rows_per(3), rows_per(3) + 5, (0,)),
        Drift(7, "post", rows_per(7), 0, (0,)),
        *[Drift(item, "post", rows_per(item), 0, (0,)) for item in DRIFTED_COLD],
        Drift(500, "post", 40, 40, (1, 2)),
        Drift(1000, "post", 0, 4, (0,)),
        Drift(6, "comment", 3, 5, (0,)),
    ]


# posts 1..60, 500, 1000, 2000 and comments 5, 6
ITEMS = 60 + 3 + 2


def test_verify_reports_exactly_the_seeded_drift_and_reconcile_repairs_it(
    schema_counter: Callable[..., Any],
    db: psycopg.Connection[Any],
    likecounter_schema: str,
    snapshot: Callable[[], Snapshot],
    invariants: Callable[[], None],
) -> None:
    counter = schema_counter(hot_shards=4, hot_threshold=1)
    seed(counter, db, likecounter_schema)
    clean = counter.verify(batch_size=7)
    assert (clean.ok, clean.items_checked, clean.drift_count, clean.drifted) == (True, ITEMS - 2, 0, ())

    seeded = corrupt(db, likecounter_schema)
    before = snapshot()
    seen: list[int] = []
    report = counter.verify(batch_size=7, progress=seen.append)
    assert snapshot() == before  # read-only
    assert list(report.drifted) == seeded
    assert (report.drift_count, report.missing_counters, report.orphan_counters) == (16, 1, 2)
    assert report.items_checked == ITEMS
    # 65 items, 7 a batch: nine full batches and one of two.
    assert report.batches == 10
    assert seen == [min(7 * batch, ITEMS) for batch in range(1, 11)]
    assert not report.ok

    # The list is capped; the count is not.
    capped = counter.verify(batch_size=1000, max_reported=5)
    assert (capped.drift_count, capped.drifted, capped.batches) == (16, tuple(seeded[:5]), 1)
    assert snapshot() == before

    repaired = counter.reconcile(batch_size=7)
    # Shards changed: post 1 shard 3, posts 3 and 7, ten cold posts, two shards of post 500,
    # post 1000 and comment 6.
    assert repaired == ReconcileReport(
        items_checked=ITEMS, items_drifted=16, items_fixed=16, rows_changed=17, batches=10
    )
    after = counter.verify(batch_size=7)
    assert (after.ok, after.items_checked, after.drift_count, after.drifted) == (True, ITEMS, 0, ())
    invariants()
    assert counter.count(3) == rows_per(3)
    assert counter.count(7) == rows_per(7)
    assert counter.count(1) == rows_per(1)
    assert counter.count(1000) == 0
    assert counter.count(6, "comment") == 3
    assert sum(shard_counts(db, likecounter_schema, 500).values()) == 40
    assert all(counter.count(item) == rows_per(item) for item in DRIFTED_COLD)
    # Counters with no like rows are set to 0 and kept (they cost a row; dropping them would race
    # with a writer recreating them for nothing).
    assert shard_counts(db, likecounter_schema, 1000) == {0: 0}

    # Nothing left to do: a second pass writes nothing.
    settled = snapshot()
    again = counter.reconcile(batch_size=7)
    assert (again.items_drifted, again.items_fixed, again.rows_changed) == (0, 0, 0)
    assert snapshot() == settled


def test_verify_and_reconcile_of_an_empty_schema(like_counter: Any, snapshot: Callable[[], Snapshot]) -> None:
    before = snapshot()
    report = like_counter.verify()
    assert (report.ok, report.items_checked, report.batches, report.drifted) == (True, 0, 1, ())
    assert like_counter.reconcile() == ReconcileReport(0, 0, 0, 0, 1)
    assert snapshot() == before


def test_batches_end_exactly_at_the_last_item(
    like_counter: Any, db: psycopg.Connection[Any], likecounter_schema: str
) -> None:
    # Items at the ends of the id range, and a batch size that divides the item count: the last
    # full batch is followed by one empty batch, and no key is skipped or read twice.
    items = [-(2**63), -1, 0, 1, 2**63 - 2, 2**63 - 1]
    like_counter.like_many([(1, item) for item in items])
    run(
        db,
        likecounter_schema,
        "UPDATE {schema}.counters SET like_count = 9 WHERE item_id = ANY(%s)",
        ([items[0], items[-1]],),
    )
    report = like_counter.verify(batch_size=3)
    assert (report.items_checked, report.batches) == (6, 3)
    assert [(drift.item_id, drift.actual) for drift in report.drifted] == [(items[0], 9), (items[-1], 9)]
    assert like_counter.reconcile(batch_size=2).rows_changed == 2
    assert like_counter.verify(batch_size=1).ok


@pytest.mark.parametrize(
    ("method", "kwargs", "message"),
    [
        ("verify", {"batch_size": 0}, "batch_size"),
        ("verify", {"batch_size": "10"}, "batch_size"),
        ("verify", {"batch_size": True}, "batch_size"),
        ("verify", {"batch_size": 2_000_000}, "batch_size"),
        ("verify", {"progress": 5}, "progress"),
        ("verify", {"max_reported": -1}, "max_reported"),
        ("reconcile", {"batch_size": 0}, "batch_size"),
        ("reconcile", {"batch_size": 1.5}, "batch_size"),
        ("reconcile", {"progress": "bar"}, "progress"),
        ("erase_user", {"user_id": "1"}, "user_id"),
        ("erase_user", {"user_id": True}, "user_id"),
        ("erase_user", {"user_id": 2**63}, "user_id"),
        ("erase_user", {"user_id": None}, "user_id"),
        ("erase_user", {"user_id": 1, "batch_size": 0}, "batch_size"),
        ("erase_user", {"user_id": 1, "batch_size": 1001}, "batch_size"),  # over max_batch_size
    ],
)
def test_bad_arguments_raise_invalid_input_before_any_sql(
    make_counter: Callable[..., Any],
    like_counter: Any,
    snapshot: Callable[[], Snapshot],
    method: str,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    like_counter.like(1, 1)
    before = snapshot()
    with pytest.raises(InvalidInput, match=message):
        getattr(like_counter, method)(**kwargs)
    assert snapshot() == before
    # A counter with no reachable server: a query would fail with a database error, not this.
    offline = make_counter(
        "postgresql://nobody@127.0.0.1:9/none", bootstrap=False, min_pool_size=0, pool_timeout=0.5
    )
    with pytest.raises(InvalidInput, match=message):
        getattr(offline, method)(**kwargs)


# -- reconcile under live writes ----------------------------------------------------------------------


class Writer(threading.Thread):
    """Likes and unlikes shared items as its own users until stopped, keeping a model of the
    outcome: the last successful action per key."""

    def __init__(
        self, counter: Any, users: range, items: list[int], seed: int, stop: threading.Event
    ) -> None:
        super().__init__(daemon=True)
        self.counter, self.users, self.items, self.stop = counter, users, items, stop
        self.rng = random.Random(seed)
        self.model: dict[tuple[int, int], bool] = {}
        self.calls = self.refused = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                key = (self.rng.choice(self.users), self.rng.choice(self.items))
                like = self.rng.random() < 0.6
                try:
                    result = self.counter.like(*key) if like else self.counter.unlike(*key)
                except DatabaseError as exc:
                    # An unlike of a shard corrupted below its like rows (and not repaired yet)
                    # would go negative; the statement is refused whole.
                    if "like_count_check" not in str(exc):
                        raise
                    self.refused += 1
                    continue
                self.calls += 1
                self.model[key] = result.user_liked
        except BaseException as exc:
            self.error = exc


@pytest.mark.slow
def test_reconcile_during_live_writes_loses_and_double_counts_nothing(
    schema_counter: Callable[..., Any],
    db: psycopg.Connection[Any],
    likecounter_schema: str,
    invariants: Callable[[], None],
) -> None:
    counter = schema_counter(hot_shards=4, hot_threshold=5, max_pool_size=8)
    items = list(range(1, 9))
    counter.like_many([(user, item) for item in items for user in range(900, 905)])
    post = type_id(db, likecounter_schema, "post")
    stop = threading.Event()
    writers = [Writer(counter, range(10 * n, 10 * n + 6), items, n, stop) for n in range(1, 5)]
    for writer in writers:
        writer.start()
    rng = random.Random(5)
    reports = []
    try:
        for round_ in range(8):
            time.sleep(0.05)
            # Corrupt while the writers run, then repair while they still run.
            hit = rng.sample(items, 3)
            run(
                db,
                likecounter_schema,
                "UPDATE {schema}.counters SET like_count = like_count + 3 WHERE item_id = %s AND shard = 0",
                (hit[0],),
            )
            run(
                db,
                likecounter_schema,
                "UPDATE {schema}.counters SET like_count = like_count + 1 WHERE item_id = %s AND shard > 0",
                (hit[1],),
            )
            run(
                db,
                likecounter_schema,
                "DELETE FROM {schema}.counters WHERE item_id = %s AND shard = 0",
                (hit[2],),
            )
            run(
                db,
                likecounter_schema,
                "INSERT INTO {schema}.counters VALUES (%s, %s, 0, 2)",
                (post, 100 + round_),
            )
            reports.append(counter.reconcile(batch_size=3))
    finally:
        time.sleep(0.05)
        stop.set()
        for writer in writers:
            writer.join(timeout=30)
    for writer in writers:
        assert writer.error is None, writer.error
        assert not writer.is_alive()
    # Every pass found the drift seeded just before it: the writers cannot undo it. (Whether the
    # item given a shard > 0 has such a shard yet depends on the race; the other three drift.)
    assert all(report.items_drifted >= 3 and report.items_fixed >= 3 for report in reports), reports
    assert sum(report.items_fixed for report in reports) >= 3 * len(reports) + 1
    invariants()
    assert counter.verify(batch_size=3).ok
    # The like rows are exactly what the writers were told, and the counts follow them.
    liked = {key for writer in writers for key, now in writer.model.items() if now}
    rows = run(db, likecounter_schema, "SELECT user_id, item_id FROM {schema}.likes WHERE user_id < 900")
    assert set(rows) == liked
    for item in items:
        assert counter.count(item) == 5 + sum(1 for _, liked_item in liked if liked_item == item)
    calls = sum(writer.calls for writer in writers)
    assert calls > 200, calls


def drifted_shard(
    counter: Any, db: psycopg.Connection[Any], schema: str, item: int, users: range, corruption: str
) -> tuple[Statements, dict[str, list[int]]]:
    """Like post `item` as `users`, break its counter with `corruption` (SQL taking the item id),
    and return the statements and parameters of a reconcile transaction over its shard 0, for a
    test to run step by step."""
    counter.like_many([(user, item) for user in users])
    run(db, schema, corruption, (item,))
    keys = {"type_ids": [type_id(db, schema, "post")], "item_ids": [item], "shards": [0]}
    return Statements(schema), keys


def test_a_repair_holds_back_an_unlike_of_a_counter_row_it_creates(
    schema_counter: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    invariants: Callable[[], None],
) -> None:
    """The one interleaving where a missing counter row meets a live unlike, forced step by step:
    the unlike's statement starts before reconcile's transaction creates the row and recounts, and
    deletes its like row after that recount. It must wait for the repair and then take its one
    off the repaired count. (With `unlike` as a plain UPDATE it skipped the uncommitted row and the
    repaired count kept its like.)"""
    counter = schema_counter(coalesce=False)
    corruption = "DELETE FROM {schema}.counters WHERE item_id = %s"
    statements, keys = drifted_shard(counter, db, likecounter_schema, 7, range(1, 4), corruption)
    with psycopg.connect(likecounter_dsn) as holder, psycopg.connect(likecounter_dsn) as repair:
        # Hold user 1's like row so that the unlike's DELETE waits after its snapshot is taken.
        holder.execute(
            sql.SQL("SELECT FROM {}.likes WHERE user_id = 1 FOR UPDATE").format(
                sql.Identifier(likecounter_schema)
            )
        )
        outcome: list[Any] = []
        unliker = threading.Thread(target=lambda: outcome.append(counter.unlike(1, 7)), daemon=True)
        unliker.start()
        time.sleep(0.3)
        repair.execute(statements["reconcile_lock"], keys)
        assert repair.execute(statements["reconcile_fix"], keys).fetchall() == [(keys["type_ids"][0], 7, 0)]
        holder.commit()  # the unlike deletes its like row now, after the recount saw it
        time.sleep(0.3)
        assert unliker.is_alive()  # now waiting on the counter row the repair created
        repair.commit()
        unliker.join(timeout=10)
    assert not unliker.is_alive()
    assert outcome[0].status == "unliked"
    invariants()
    assert counter.count(7) == 2


def test_writers_of_a_shard_under_repair_wait_and_land_on_the_repaired_count(
    schema_counter: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    invariants: Callable[[], None],
) -> None:
    """Between reconcile's recount and its commit, a like and an unlike of the shard under repair
    (their like rows already written) must wait on its lock, then add to and take from the count
    it set: nothing is lost and nothing counted twice."""
    counter = schema_counter(coalesce=False)
    corruption = "UPDATE {schema}.counters SET like_count = 40 WHERE item_id = %s"
    statements, keys = drifted_shard(counter, db, likecounter_schema, 8, range(1, 6), corruption)
    outcomes: list[Any] = []
    writers = [
        threading.Thread(target=lambda: outcomes.append(counter.like(6, 8)), daemon=True),
        threading.Thread(target=lambda: outcomes.append(counter.unlike(1, 8)), daemon=True),
    ]
    with psycopg.connect(likecounter_dsn) as repair:
        repair.execute(statements["reconcile_lock"], keys)
        for writer in writers:
            writer.start()
        time.sleep(0.3)
        assert all(writer.is_alive() for writer in writers)  # held back by the lock
        assert repair.execute(statements["reconcile_fix"], keys).fetchall() == [(keys["type_ids"][0], 8, 0)]
        assert all(writer.is_alive() for writer in writers)
    for writer in writers:
        writer.join(timeout=10)
        assert not writer.is_alive()
    assert sorted(outcome.status for outcome in outcomes) == ["liked", "unliked"]
    invariants()
    assert counter.count(8) == 5


# -- erase_user ---------------------------------------------------------------------------------------


def test_erase_user_removes_every_like_and_its_count(
    schema_counter: Callable[..., Any],
    db: psycopg.Connection[Any],
    likecounter_schema: str,
    invariants: Callable[[], None],
) -> None:
    counter = schema_counter(hot_shards=4, hot_threshold=1)
    counter.like_many([(user, item) for item in range(1, 8) for user in range(1, 6)])
    counter.like_many([(5, item) for item in range(1, 4)], "comment")
    for user in range(1, 31):
        counter.like(user, 500)  # hot: user 5's like sits in one of four shards
    assert len(shard_counts(db, likecounter_schema, 500)) == 4
    others = "SELECT * FROM {schema}.likes WHERE user_id <> 5 ORDER BY 1, 2, 3"
    kept = run(db, likecounter_schema, others)

    # 7 posts, 3 comments and post 500, two keys a statement.
    assert counter.erase_user(5, batch_size=2) == 11
    assert run(db, likecounter_schema, "SELECT count(*) FROM {schema}.likes WHERE user_id = 5") == [(0,)]
    assert run(db, likecounter_schema, others) == kept
    assert all(counter.count(item) == 4 for item in range(1, 8))
    assert all(counter.count(item, "comment") == 0 for item in range(1, 4))
    assert counter.count(500) == 29
    assert counter.has_liked(5, [1, 500]) == {1: False, 500: False}
    invariants()
    # Nothing left: a repeat erases nothing; a user who never liked anything neither.
    assert counter.erase_user(5) == 0
    assert counter.erase_user(12345) == 0
    invariants()


def test_erase_user_while_the_user_keeps_clicking(
    schema_counter: Callable[..., Any],
    db: psycopg.Connection[Any],
    likecounter_schema: str,
    invariants: Callable[[], None],
) -> None:
    counter = schema_counter(max_pool_size=6)
    old = list(range(1, 301))
    new = list(range(1_000, 1_030))  # what the user clicks while the erasure runs
    counter.like_many([(9, item) for item in old])
    counter.like_many([(user, item) for item in old[:50] + new for user in (1, 2)])
    stop = threading.Event()
    clicker = Writer(counter, range(9, 10), old[:20] + new, 1, stop)
    bystander = Writer(counter, range(1, 3), old[:50] + new, 2, stop)
    for writer in (clicker, bystander):
        writer.start()
    try:
        time.sleep(0.05)
        erased = counter.erase_user(9, batch_size=7)
        time.sleep(0.05)
    finally:
        stop.set()
        for writer in (clicker, bystander):
            writer.join(timeout=30)
    for writer in (clicker, bystander):
        assert writer.error is None, writer.error
        assert writer.refused == 0
    assert clicker.calls > 20, clicker.calls
    # Every like from before the erasure that the user did not click again is gone. Of the likes
    # clicked during it, each was either erased or stands, and is counted either way.
    remaining = {
        item
        for (item,) in run(db, likecounter_schema, "SELECT item_id FROM {schema}.likes WHERE user_id = 9")
    }
    clicked_last = {item for (_, item), liked in clicker.model.items() if liked}
    assert remaining <= clicked_last
    untouched = set(old) - {item for _, item in clicker.model}
    assert len(untouched) >= 280 and not remaining & untouched
    assert len(untouched) <= erased <= 300 + clicker.calls
    invariants()
    assert counter.verify().ok


# -- CLI ----------------------------------------------------------------------------------------------


def test_cli_verify_and_reconcile(
    likecounter_dsn: str,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    capsys: pytest.CaptureFixture[str],
    invariants: Callable[[], None],
) -> None:
    target = ["--dsn", likecounter_dsn, "--schema", likecounter_schema]
    with LikeCounter(likecounter_dsn, schema=likecounter_schema, rate_limit_per_minute=None) as counter:
        counter.like_many([(user, item) for item in range(1, 26) for user in range(1, 4)])
    assert main(["verify", *target, "--batch-size", "10"]) == EXIT_OK
    captured = capsys.readouterr()
    assert "checked 25 items in " in captured.out and ": no drift" in captured.out
    assert captured.err == ""  # no bar when stderr is not a terminal

    run(
        db,
        likecounter_schema,
        "UPDATE {schema}.counters SET like_count = 1 WHERE item_id = ANY(%s)",
        ([4, 17],),
    )
    assert main(["verify", *target, "--batch-size", "10"]) == EXIT_MISMATCH
    out = capsys.readouterr().out
    assert "2 drifted items (0 missing counter rows, 0 counter rows with no like rows)" in out
    assert "  drift: item 4 (post): 3 like rows, counters sum to 1 (shard 0)" in out
    assert "  drift: item 17 (post): 3 like rows, counters sum to 1 (shard 0)" in out
    assert main(["verify", *target, "--show", "1"]) == EXIT_MISMATCH
    assert "  ... and 1 more item" in capsys.readouterr().out

    assert main(["reconcile", *target, "--batch-size", "4", "--no-progress"]) == EXIT_OK
    out = capsys.readouterr().out
    assert (
        "checked 25 items in " in out and ": 2 drifted items, fixed 2 items (2 counter rows changed)" in out
    )
    invariants()
    assert main(["verify", *target]) == EXIT_OK
    capsys.readouterr()

    assert main(["erase-user", "2", *target]) == EXIT_OK
    assert "erased 25 likes of user 2" in capsys.readouterr().out
    assert run(db, likecounter_schema, "SELECT sum(like_count) FROM {schema}.counters") == [(50,)]
    invariants()


def test_cli_rejects_bad_batch_sizes(likecounter_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["verify", "--batch-size", "0"], ["reconcile", "--batch-size", "x"], ["erase-user", "x"]):
        with pytest.raises(SystemExit) as exited:
            main([*command, "--dsn", likecounter_dsn])
        assert exited.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err
