"""Public result types. Immutable and typed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

LikeStatus = Literal["liked", "already_liked", "unliked", "not_liked"]


class Item(NamedTuple):
    """An item key: the id and its type. `counts()` returns a dict keyed by Item."""

    item_id: int
    item_type: str = "post"


@dataclass(frozen=True, slots=True)
class LikeResult:
    """The outcome of one like or unlike.

    `count` is the item's count as the statement that did the work left it (not re-read later).
    `changed` tells whether this call changed anything (`liked` or `unliked`).
    """

    status: LikeStatus
    count: int
    user_liked: bool

    @property
    def changed(self) -> bool:
        return self.status in ("liked", "unliked")


@dataclass(frozen=True, slots=True)
class BulkResult:
    """Summary of a bulk step (`apply_events`, `like_many`, `unlike_many`).

    `events` counts the events given; `keys` the distinct (user, item, type) keys after the last
    action for each key was kept; `liked`/`unliked` the rows really inserted/deleted.
    """

    events: int
    keys: int
    liked: int
    unliked: int

    @property
    def unchanged(self) -> int:
        return self.keys - self.liked - self.unliked

    def __add__(self, other: BulkResult) -> BulkResult:
        return BulkResult(
            self.events + other.events,
            self.keys + other.keys,
            self.liked + other.liked,
            self.unliked + other.unliked,
        )


@dataclass(frozen=True, slots=True)
class PoolStats:
    size: int
    available: int
    waiting: int
    max_size: int


@dataclass(frozen=True, slots=True)
class Health:
    """What `health()` found. A database or schema failure is reported in `error`, never raised.

    `ok` is true when the database answered and the schema is at the version this code expects.
    """

    ok: bool
    database_up: bool
    latency_ms: float | None
    schema_version: int | None
    expected_schema_version: int
    pool: PoolStats | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Drift:
    """One item whose counters disagree with its like rows.

    `expected` is the number of like rows, `actual` the sum of the item's counter shards. An item
    can drift with equal totals: `shards` lists every counter shard whose count differs from the
    like rows that name it (a missing counter row counts as 0).
    """

    item_id: int
    item_type: str
    expected: int
    actual: int
    shards: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What `verify()` found. Nothing was written.

    `drift_count` counts every drifted item; `drifted` keeps the first of them, in (type, item)
    order, up to the `max_reported` asked for. `missing_counters` counts counter shards that have
    like rows but no counter row; `orphan_counters` counter rows with a positive count and no like
    rows (both are included in the drift).
    """

    items_checked: int
    drift_count: int
    drifted: tuple[Drift, ...]
    missing_counters: int
    orphan_counters: int
    batches: int

    @property
    def ok(self) -> bool:
        return self.drift_count == 0


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What `reconcile()` did: `items_drifted` items were found drifted, and `rows_changed` counter
    rows of `items_fixed` items were set to the number of their like rows (a missing counter row is
    created; a counter with no like rows is set to 0)."""

    items_checked: int
    items_drifted: int
    items_fixed: int
    rows_changed: int
    batches: int
