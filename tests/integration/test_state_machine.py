"""A hypothesis state machine: every operation against a Python set model, on a real PostgreSQL.

Each example run gets its own counter on a fresh schema, dropped when the run ends. The machine runs
once per flavour: on LikeCounter, and on AsyncLikeCounter behind the sync facade.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from psycopg import sql

from likecounter import BulkResult, Item, LikeResult, LikeStatus

from ..conftest import assert_counters_match_rows

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
USER_IDS = [1, 2, 3, INT64_MAX]
ITEM_IDS = [1, 2, INT64_MIN, INT64_MAX]
ITEM_TYPES = ["post", "reel", "comment"]
ALL_ITEMS = [Item(item_id, item_type) for item_type in ITEM_TYPES for item_id in ITEM_IDS]

users = st.sampled_from(USER_IDS)
items = st.sampled_from(ITEM_IDS)
item_types = st.sampled_from(ITEM_TYPES)
actions = st.sampled_from(["like", "unlike"])
pairs = st.lists(st.tuples(users, items), max_size=8)

Key = tuple[int, int, str]


class LikeMachine(RuleBasedStateMachine):
    # The test subclasses this with an argument-free constructor: hypothesis builds one per run.
    def __init__(
        self,
        make_counter: Callable[..., Any],
        dsn: str,
        admin: psycopg.Connection[Any],
        options: dict[str, Any],
    ) -> None:
        super().__init__()
        self.admin = admin
        self.schema = f"lc_sm_{uuid.uuid4().hex[:16]}"
        self.counter = make_counter(
            dsn, schema=self.schema, rate_limit_per_minute=None, min_pool_size=1, max_pool_size=2, **options
        )
        self.model: set[Key] = set()

    # -- the model ----------------------------------------------------------------------------------

    def expected_count(self, item_id: int, item_type: str) -> int:
        return sum(1 for _, i, t in self.model if i == item_id and t == item_type)

    def apply_final(self, final: dict[Key, bool], events: int) -> BulkResult:
        liked = sum(1 for key, like in final.items() if like and key not in self.model)
        unliked = sum(1 for key, like in final.items() if not like and key in self.model)
        for key, like in final.items():
            if like:
                self.model.add(key)
            else:
                self.model.discard(key)
        return BulkResult(events, len(final), liked, unliked)

    # -- single writes ------------------------------------------------------------------------------

    @rule(user=users, item=items, item_type=item_types)
    def like(self, user: int, item: int, item_type: str) -> None:
        status: LikeStatus = "already_liked" if (user, item, item_type) in self.model else "liked"
        self.model.add((user, item, item_type))
        result = self.counter.like(user, item, item_type)
        assert result == LikeResult(status, self.expected_count(item, item_type), True)

    @rule(user=users, item=items, item_type=item_types)
    def unlike(self, user: int, item: int, item_type: str) -> None:
        status: LikeStatus = "unliked" if (user, item, item_type) in self.model else "not_liked"
        self.model.discard((user, item, item_type))
        result = self.counter.unlike(user, item, item_type)
        assert result == LikeResult(status, self.expected_count(item, item_type), False)

    # -- bulk writes --------------------------------------------------------------------------------

    @rule(events=st.lists(st.tuples(users, items, item_types, actions), max_size=12))
    def apply_events(self, events: list[tuple[int, int, str, str]]) -> None:
        final: dict[Key, bool] = {}
        for user, item, item_type, action in events:
            final[(user, item, item_type)] = action == "like"
        expected = self.apply_final(final, len(events))
        assert self.counter.apply_events(events) == expected

    @rule(pairs=pairs, item_type=item_types)
    def like_many(self, pairs: list[tuple[int, int]], item_type: str) -> None:
        expected = self.apply_final({(u, i, item_type): True for u, i in pairs}, len(pairs))
        assert self.counter.like_many(pairs, item_type) == expected

    @rule(pairs=pairs, item_type=item_types)
    def unlike_many(self, pairs: list[tuple[int, int]], item_type: str) -> None:
        expected = self.apply_final({(u, i, item_type): False for u, i in pairs}, len(pairs))
        assert self.counter.unlike_many(pairs, item_type) == expected

    # -- reads --------------------------------------------------------------------------------------

    @rule(item=items, item_type=item_types)
    def count(self, item: int, item_type: str) -> None:
        assert self.counter.count(item, item_type) == self.expected_count(item, item_type)

    @rule(asked=st.lists(st.tuples(items, item_types), max_size=10))
    def counts(self, asked: list[tuple[int, str]]) -> None:
        expected = {Item(item, item_type): self.expected_count(item, item_type) for item, item_type in asked}
        result = self.counter.counts(asked)
        assert result == expected
        assert list(result) == list(expected)

    @rule(user=users, asked=st.lists(items, max_size=6), item_type=item_types)
    def has_liked(self, user: int, asked: list[int], item_type: str) -> None:
        expected = {item: (user, item, item_type) in self.model for item in asked}
        assert self.counter.has_liked(user, asked, item_type) == expected

    # -- invariants ---------------------------------------------------------------------------------

    @invariant()
    def every_count_matches_the_model(self) -> None:
        expected = {item: self.expected_count(*item) for item in ALL_ITEMS}
        assert self.counter.counts(ALL_ITEMS) == expected

    @invariant()
    def counters_match_like_rows_and_none_is_negative(self) -> None:
        assert_counters_match_rows(self.admin, self.schema)
        schema = sql.Identifier(self.schema)
        rows = self.admin.execute(
            sql.SQL(
                "SELECT l.user_id, l.item_id, t.name FROM {s}.likes l JOIN {s}.item_types t USING (type_id)"
            ).format(s=schema)
        ).fetchall()
        assert set(rows) == self.model
        assert len(rows) == len(self.model)

    def teardown(self) -> None:
        self.counter.close()
        self.admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))


@pytest.fixture
def admin(likecounter_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(likecounter_dsn, autocommit=True) as conn:
        yield conn


# "hot": every liked item counts as hot, so likes rotate over 3 counter shards and the model also
# checks the shard bookkeeping (unlikes return their one to the right shard, reads sum the shards).
@pytest.mark.parametrize(
    "options",
    [{}, {"hot_threshold": 1, "hot_shards": 3}, {"coalesce": False, "hot_threshold": 1}],
    ids=["default", "hot", "hot-uncoalesced"],
)
def test_like_counter_matches_a_set_model(
    make_counter: Callable[..., Any],
    likecounter_dsn: str,
    admin: psycopg.Connection[Any],
    options: dict[str, Any],
) -> None:
    class Machine(LikeMachine):
        def __init__(self) -> None:
            # make_counter builds a LikeCounter, or an AsyncLikeCounter behind the facade.
            super().__init__(make_counter, likecounter_dsn, admin, options)

    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=75,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
