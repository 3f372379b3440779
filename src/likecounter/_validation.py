"""Argument checks shared by every method of both shells. Pure functions, no I/O."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ._errors import InvalidInput

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# ASCII only: `re.ASCII` keeps \w-style surprises out, and `fullmatch` rejects a trailing newline.
ITEM_TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}", re.ASCII)
# Schema names are identifiers we create; the same conservative alphabet, a little longer (63 is
# PostgreSQL's identifier limit).
SCHEMA_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}", re.ASCII)
# The longest duration we accept (about 68 years): libpq reads connect_timeout as a C int, and a
# longer wait overflows the thread and timer APIs that the pool waits with.
MAX_SECONDS = 2**31 - 1


def check_id(value: Any, what: str) -> int:
    """Return `value` if it is a plain int in the signed 64-bit range, else raise InvalidInput."""
    # bool is an int subclass, and so are IntEnum members; only exact ints are ids.
    if type(value) is not int:
        raise InvalidInput(f"{what} must be an int, not {type(value).__name__}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidInput(f"{what} must fit in a signed 64-bit integer, got {value}")
    return value


def check_item_type(value: Any) -> str:
    """Return the item type name if it matches ^[a-z][a-z0-9_]{0,31}$, else raise InvalidInput."""
    if type(value) is not str:
        raise InvalidInput(f"item_type must be a str, not {type(value).__name__}")
    if ITEM_TYPE_PATTERN.fullmatch(value) is None:
        raise InvalidInput(f"item_type must match ^[a-z][a-z0-9_]{{0,31}}$ (lowercase ASCII), got {value!r}")
    return value


def check_schema(value: Any) -> str:
    """Return the schema name if it is a plain lowercase identifier, else raise InvalidInput."""
    if type(value) is not str or SCHEMA_PATTERN.fullmatch(value) is None or value.startswith("pg_"):
        raise InvalidInput(
            f"schema must match ^[a-z_][a-z0-9_]{{0,62}}$ and not start with pg_, got {value!r}"
        )
    return value


def check_batch(values: Any, what: str, max_batch_size: int) -> list[Any]:
    """Materialise a batch argument and enforce the size limit. Strings are not batches."""
    if type(values) is list or type(values) is tuple:
        if len(values) > max_batch_size:
            raise InvalidInput(f"{what} holds more than max_batch_size={max_batch_size} entries")
        return list(values)
    if isinstance(values, str | bytes | bytearray) or not isinstance(values, Iterable):
        raise InvalidInput(f"{what} must be a list or other iterable, not {type(values).__name__}")
    batch: list[Any] = []
    for value in values:
        batch.append(value)
        if len(batch) > max_batch_size:
            raise InvalidInput(f"{what} holds more than max_batch_size={max_batch_size} entries")
    return batch


def check_positive_int(
    value: Any, what: str, *, allow_none: bool = False, minimum: int = 1, maximum: int | None = None
) -> Any:
    """Validate an integer option (pool sizes, limits)."""
    if value is None and allow_none:
        return None
    if type(value) is not int or value < minimum:
        raise InvalidInput(f"{what} must be an int >= {minimum}, got {value!r}")
    if maximum is not None and value > maximum:
        raise InvalidInput(f"{what} must be an int <= {maximum}, got {value!r}")
    return value


def check_seconds(value: Any, what: str) -> float:
    """Validate a positive duration in seconds, at most MAX_SECONDS."""
    # `0 < value <= MAX_SECONDS` is False for NaN and infinities, and compares huge ints exactly.
    if type(value) not in (int, float) or not (0 < value <= MAX_SECONDS):
        raise InvalidInput(
            f"{what} must be a number of seconds above 0 and at most {MAX_SECONDS}, got {value!r}"
        )
    return float(value)
