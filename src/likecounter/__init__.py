"""likecounter: deduplicated, strongly consistent like counting on PostgreSQL, in your own process.

from likecounter import LikeCounter

with LikeCounter("postgresql://app@db/app") as counter:
    counter.like(user_id=1, item_id=456)
    counter.count(456)
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._async import AsyncLikeCounter
from ._errors import (
    DatabaseError,
    DatabaseUnavailable,
    InvalidInput,
    LikeCounterError,
    PoolTimeout,
    RateLimited,
    SchemaError,
    StatementTimeout,
)
from ._results import (
    BulkResult,
    Drift,
    Health,
    Item,
    LikeResult,
    LikeStatus,
    PoolStats,
    ReconcileReport,
    VerifyReport,
)
from ._sync import LikeCounter

try:
    __version__ = version("likecounter")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0+unknown"

__all__ = [
    "AsyncLikeCounter",
    "BulkResult",
    "DatabaseError",
    "DatabaseUnavailable",
    "Drift",
    "Health",
    "InvalidInput",
    "Item",
    "LikeCounter",
    "LikeCounterError",
    "LikeResult",
    "LikeStatus",
    "PoolStats",
    "PoolTimeout",
    "RateLimited",
    "ReconcileReport",
    "SchemaError",
    "StatementTimeout",
    "VerifyReport",
    "__version__",
]
