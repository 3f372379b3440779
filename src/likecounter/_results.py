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
