"""Loads the SQL that lives in `sql/`: the named queries and the versioned migrations.

The files ship inside the wheel as `likecounter/sql/`. In a source checkout (editable install) they
are read from the repository's top-level `sql/` folder instead.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.abc import Traversable

from psycopg import sql

_NAME_HEADER = re.compile(r"^-- name: ([a-z_]+)\s*$", re.MULTILINE)
_MIGRATION_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def _sql_root() -> Traversable:
    packaged = resources.files("likecounter") / "sql"
    if packaged.is_dir():
        return packaged
    source_tree = Path(__file__).resolve().parents[2] / "sql"
    if source_tree.is_dir():
        return source_tree
    raise FileNotFoundError("likecounter's sql/ folder is missing from this installation")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    text: str


def parse_named_queries(text: str) -> dict[str, str]:
    """Split a queries file on its `-- name: NAME` headers. Comment lines are kept out."""
    parts = _NAME_HEADER.split(text)
    queries: dict[str, str] = {}
    # parts = [preamble, name1, body1, name2, body2, ...]
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("--")]
        queries[name] = "\n".join(lines).strip()
    return queries


@functools.cache
def named_queries() -> dict[str, str]:
    return parse_named_queries((_sql_root() / "queries.sql").read_text(encoding="utf-8"))


@functools.cache
def migrations() -> tuple[Migration, ...]:
    """All migrations, in version order; versions must run 1, 2, 3... with no gap."""
    folder = _sql_root() / "migrations"
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise ValueError(f"migration {migration.name} breaks the sequence (expected {expected:04d})")
    return tuple(found)


def latest_version() -> int:
    return len(migrations())


class Statements:
    """The named queries, composed once for one schema. Index by name: `statements["like"]`."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        identifier = sql.Identifier(schema)
        # Rendered once: psycopg would otherwise join a Composed's parts on every execute. What is
        # left is plain SQL text with only %(name)s placeholders, and the quoted schema in it.
        self._rendered: dict[str, sql.SQL] = {
            name: sql.SQL(sql.SQL(text).format(schema=identifier).as_string())
            for name, text in named_queries().items()
        }
        self.table_names = {
            table: sql.Composed([identifier, sql.SQL("."), sql.Identifier(table)]).as_string()
            for table in ("schema_version", "likes", "counters", "item_types")
        }

    def __getitem__(self, name: str) -> sql.SQL:
        return self._rendered[name]

    @staticmethod
    def migration(migration: Migration) -> sql.SQL:
        # Migration files name no schema (search_path points at it), so they hold no placeholder.
        return sql.SQL(migration.text)
