"""Every argument is checked before any SQL runs.

The counter under test sits on a pool that cannot connect (a socket folder that does not exist, no
background connections, a tiny pool timeout): any database access would raise DatabaseUnavailable,
never InvalidInput, so an InvalidInput proves the call was rejected before it reached the pool.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from likecounter import DatabaseUnavailable, InvalidInput, LikeCounter, LikeCounterError, PoolTimeout

DEAD_DSN = "postgresql://nobody@/nowhere?host=/nonexistent/likecounter-socket-dir"

BAD_ITEM_TYPES: list[Any] = [
    "Post",
    "post ",
    "",
    5,
    None,
    "pöst",
    "poste\u0301",
    "a" * 33,
    "post\n",
    " post",
    "1post",
    "_post",
    "po-st",
    b"post",
]
BAD_IDS: list[Any] = [True, False, 1.0, "1", None, 2**63, -(2**63) - 1, 1 + 0j, [1]]

Call = Callable[[LikeCounter, Any], object]

# For each public method: one call with a bad item type in place.
TYPE_CALLS: dict[str, Call] = {
    "like": lambda c, t: c.like(1, 1, t),
    "unlike": lambda c, t: c.unlike(1, 1, t),
    "count": lambda c, t: c.count(1, t),
    "counts": lambda c, t: c.counts([(1, "post"), (2, t)]),
    "has_liked": lambda c, t: c.has_liked(1, [1, 2], t),
    "apply_events": lambda c, t: c.apply_events([(1, 1, "post", "like"), (1, 2, t, "like")]),
    "like_many": lambda c, t: c.like_many([(1, 1), (1, 2)], t),
    "unlike_many": lambda c, t: c.unlike_many([(1, 1), (1, 2)], t),
}

# For each public method: every position that takes an id, with the bad id in place.
ID_CALLS: dict[str, Call] = {
    "like.user_id": lambda c, v: c.like(v, 1),
    "like.item_id": lambda c, v: c.like(1, v),
    "unlike.user_id": lambda c, v: c.unlike(v, 1),
    "unlike.item_id": lambda c, v: c.unlike(1, v),
    "count.item_id": lambda c, v: c.count(v),
    "counts.item_id": lambda c, v: c.counts([(1, "post"), (v, "post")]),
    "has_liked.user_id": lambda c, v: c.has_liked(v, [1]),
    "has_liked.item_ids": lambda c, v: c.has_liked(1, [1, v]),
    "apply_events.user_id": lambda c, v: c.apply_events([(1, 1, "post", "like"), (v, 1, "post", "like")]),
    "apply_events.item_id": lambda c, v: c.apply_events([(1, 1, "post", "like"), (1, v, "post", "unlike")]),
    "like_many.user_id": lambda c, v: c.like_many([(1, 1), (v, 1)]),
    "like_many.item_id": lambda c, v: c.like_many([(1, 1), (1, v)]),
    "unlike_many.user_id": lambda c, v: c.unlike_many([(1, 1), (v, 1)]),
    "unlike_many.item_id": lambda c, v: c.unlike_many([(1, 1), (1, v)]),
}

# Malformed batches and batch entries.
SHAPE_CALLS: dict[str, Callable[[LikeCounter], object]] = {
    "counts: str is not a batch": lambda c: c.counts("post"),
    "counts: int is not a batch": lambda c: c.counts(5),
    "counts: entry is a str": lambda c: c.counts(["ab"]),
    "counts: entry too short": lambda c: c.counts([(1,)]),
    "counts: entry too long": lambda c: c.counts([(1, "post", 3)]),
    "counts: entry is a dict": lambda c: c.counts([{"item_id": 1, "item_type": "post"}]),
    "has_liked: bytes is not a batch": lambda c: c.has_liked(1, b"\x01\x02"),
    "has_liked: None is not a batch": lambda c: c.has_liked(1, None),
    "apply_events: unknown action": lambda c: c.apply_events([(1, 1, "post", "love")]),
    "apply_events: action not a str": lambda c: c.apply_events([(1, 1, "post", True)]),
    "apply_events: action in capitals": lambda c: c.apply_events([(1, 1, "post", "LIKE")]),
    "apply_events: three values": lambda c: c.apply_events([(1, 1, "post")]),
    "apply_events: entry is None": lambda c: c.apply_events([None]),
    "like_many: three values": lambda c: c.like_many([(1, 1, 1)]),
    "unlike_many: str is not a batch": lambda c: c.unlike_many("11"),
}


@pytest.fixture(scope="module")
def dead_counter() -> Iterator[LikeCounter]:
    counter = LikeCounter(
        DEAD_DSN,
        bootstrap=False,
        min_pool_size=0,
        max_pool_size=1,
        pool_timeout=0.2,
        rate_limit_per_minute=None,
    )
    yield counter
    counter.close()


def test_the_dead_counter_does_fail_on_database_access(dead_counter: LikeCounter) -> None:
    # The control: a valid call does reach the pool, and fails with a different error.
    with pytest.raises(PoolTimeout) as caught:
        dead_counter.count(1, "a" * 32)
    assert not isinstance(caught.value, InvalidInput)
    assert isinstance(caught.value, DatabaseUnavailable)


@pytest.mark.parametrize("bad_type", BAD_ITEM_TYPES, ids=repr)
@pytest.mark.parametrize("method", list(TYPE_CALLS))
def test_bad_item_type_is_rejected_before_sql(dead_counter: LikeCounter, method: str, bad_type: Any) -> None:
    with pytest.raises(InvalidInput, match="item_type"):
        TYPE_CALLS[method](dead_counter, bad_type)


@pytest.mark.parametrize("bad_id", BAD_IDS, ids=repr)
@pytest.mark.parametrize("position", list(ID_CALLS))
def test_bad_id_is_rejected_before_sql(dead_counter: LikeCounter, position: str, bad_id: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        ID_CALLS[position](dead_counter, bad_id)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, LikeCounterError)
    argument = position.split(".")[1].removesuffix("s")
    assert argument in str(caught.value)


@pytest.mark.parametrize("case", list(SHAPE_CALLS))
def test_malformed_batches_are_rejected_before_sql(dead_counter: LikeCounter, case: str) -> None:
    with pytest.raises(InvalidInput):
        SHAPE_CALLS[case](dead_counter)


def test_extreme_ids_are_valid(dead_counter: LikeCounter) -> None:
    # In range, so validation passes and the call goes on to the (dead) pool.
    for value in (2**63 - 1, -(2**63), 0):
        with pytest.raises(PoolTimeout):
            dead_counter.like(value, value)


def test_batch_limit_is_checked_before_sql() -> None:
    with LikeCounter(
        DEAD_DSN, bootstrap=False, min_pool_size=0, pool_timeout=0.2, max_batch_size=2
    ) as counter:
        three = [(1, 1), (1, 2), (1, 3)]
        calls: list[Callable[[], object]] = [
            lambda: counter.counts([(1, "post"), (2, "post"), (3, "post")]),
            lambda: counter.has_liked(1, [1, 2, 3]),
            lambda: counter.apply_events([(1, i, "post", "like") for i in range(3)]),
            lambda: counter.like_many(three),
            lambda: counter.unlike_many(three),
            # Counted as given, before duplicates collapse.
            lambda: counter.counts([(1, "post")] * 3),
            # A generator is consumed only up to the limit.
            lambda: counter.has_liked(1, iter(range(10**9))),
        ]
        for call in calls:
            with pytest.raises(InvalidInput, match="max_batch_size=2"):
                call()


def test_empty_batches_need_no_database(dead_counter: LikeCounter) -> None:
    assert dead_counter.counts([]) == {}
    assert dead_counter.has_liked(1, []) == {}
    assert dead_counter.has_liked(1, iter(())) == {}


# -- constructor options --------------------------------------------------------------------------


def _build(**options: Any) -> LikeCounter:
    defaults: dict[str, Any] = {"bootstrap": False, "min_pool_size": 0, "pool_timeout": 0.2}
    return LikeCounter(DEAD_DSN, **{**defaults, **options})


@pytest.mark.parametrize(
    "schema",
    ["Bad-Name", "pg_x", "pg_", "a;drop", "", "1abc", "Public", "a" * 64, "a b", "é", None, 5, "x\n"],
    ids=repr,
)
def test_bad_schema_names_are_rejected(schema: Any) -> None:
    with pytest.raises(InvalidInput, match="schema"):
        _build(schema=schema)


@pytest.mark.parametrize("schema", ["likecounter", "_private", "a" * 63, "app_likes_2"])
def test_good_schema_names_are_accepted(schema: str) -> None:
    counter = _build(schema=schema)
    try:
        assert counter.settings.schema == schema
    finally:
        counter.close()


@pytest.mark.parametrize(
    "options",
    [
        {"rate_limit_per_minute": 0},
        {"rate_limit_per_minute": -1},
        {"rate_limit_per_minute": "5"},
        {"rate_limit_per_minute": 5.0},
        {"rate_limit_per_minute": True},
        {"max_batch_size": 0},
        {"max_batch_size": "10"},
        {"min_pool_size": -1},
        {"max_pool_size": 0},
        {"max_pool_size": 2.5},
        {"min_pool_size": 5, "max_pool_size": 4},
        {"pool_timeout": math.nan},
        {"pool_timeout": -1},
        {"pool_timeout": 0},
        {"pool_timeout": math.inf},
        {"pool_timeout": "5"},
        {"connect_timeout": math.nan},
        {"connect_timeout": -1},
        {"connect_timeout": True},
        {"bootstrap": 1},
        {"debug": "yes"},
    ],
    ids=repr,
)
def test_bad_options_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput):
        _build(**options)


def test_good_options_are_kept() -> None:
    counter = _build(rate_limit_per_minute=None, max_batch_size=5, max_pool_size=3, connect_timeout=2.5)
    try:
        settings = counter.settings
        assert settings.rate_limit_per_minute is None
        assert settings.max_batch_size == 5
        assert settings.min_pool_size == 0
        assert settings.max_pool_size == 3
        assert settings.pool_timeout == 0.2
        assert settings.connect_timeout == 2.5
        assert counter.pool.max_size == 3
    finally:
        counter.close()


def test_exactly_one_of_dsn_or_pool_is_required() -> None:
    with pytest.raises(InvalidInput, match="exactly one"):
        LikeCounter()
    from psycopg_pool import ConnectionPool

    pool: ConnectionPool[Any] = ConnectionPool(DEAD_DSN, min_size=0, max_size=1, open=False)
    with pytest.raises(InvalidInput, match="exactly one"):
        LikeCounter(DEAD_DSN, pool=pool)
    assert pool.closed


def test_pool_must_be_a_connection_pool() -> None:
    with pytest.raises(InvalidInput, match="ConnectionPool"):
        LikeCounter(pool=object())  # type: ignore[arg-type]


@pytest.mark.parametrize("dsn", ["", "   ", 5, b"postgresql://x", "host='unterminated"], ids=repr)
def test_bad_dsns_are_rejected(dsn: Any) -> None:
    with pytest.raises(InvalidInput, match="DSN"):
        LikeCounter(dsn, bootstrap=False)


def test_a_rejected_dsn_does_not_echo_its_password() -> None:
    with pytest.raises(InvalidInput) as caught:
        LikeCounter("host='x password=s3cr3t-must-not-leak", bootstrap=False)
    assert "s3cr3t" not in str(caught.value)
    assert "unterminated quoted string" in str(caught.value)  # the parser's reason, scrubbed
    # The driver's own exception quotes the DSN, so it is not chained: a logged traceback would
    # print it.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None
