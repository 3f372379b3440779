"""Every named query is accepted by PostgreSQL: each one is parsed and planned (PREPARE) on a schema."""

from __future__ import annotations

import re
from typing import Any

import psycopg
import pytest

from likecounter import LikeCounter, _queries

# Utility statements cannot be prepared; bootstrap runs them on every counter start anyway.
UTILITY = {"create_schema", "use_schema", "create_version_table"}


def positional(text: str) -> str:
    """Turn %(name)s placeholders into $1, $2... (one number per distinct name)."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${numbers.setdefault(match.group(1), len(numbers) + 1)}"

    return re.sub(r"%\(([a-z_]+)\)[sb]", number, text)


@pytest.mark.parametrize("name", sorted(set(_queries.named_queries()) - UTILITY))
def test_query_prepares(
    like_counter: LikeCounter, db: psycopg.Connection[Any], likecounter_schema: str, name: str
) -> None:
    statement = _queries.Statements(likecounter_schema)[name].as_string(db)
    db.execute(f"PREPARE lc_check AS {positional(statement)}")
    db.execute("DEALLOCATE lc_check")
