"""_queries: the named queries in sql/queries.sql and the migration files. No database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from likecounter import _queries

# Every name the core and the shells look up.
USED_BY_THE_CORE = {
    "migration_lock",
    "create_schema",
    "create_version_table",
    "current_version",
    "use_schema",
    "record_version",
    "table_exists",
    "find_types",
    "register_type",
    "like",
    "unlike",
    "write_batch",
    "count",
    "counts",
    "has_liked",
}


def test_every_query_the_core_uses_exists() -> None:
    queries = _queries.named_queries()
    assert set(queries) >= USED_BY_THE_CORE
    for name, text in queries.items():
        assert re.fullmatch(r"[a-z_]+", name)
        assert text, f"query {name} is empty"
        assert "-- name:" not in text
        assert not any(line.lstrip().startswith("--") for line in text.splitlines()), name


def test_every_query_composes_for_a_schema() -> None:
    statements = _queries.Statements("lc_unit")
    for name, text in _queries.named_queries().items():
        # `{schema}` is the only placeholder; any other brace would break sql.SQL.format.
        assert set(re.findall(r"\{[^}]*\}", text)) <= {"{schema}"}, name
        rendered = statements[name].as_string()
        assert "{" not in rendered and "}" not in rendered, name
        if "{schema}" in text:
            assert '"lc_unit".' in rendered or '"lc_unit"' in rendered, name


def test_query_parameters_are_named_placeholders_only() -> None:
    for name, text in _queries.named_queries().items():
        # psycopg would read a bare % as a placeholder: only %(name)s (or %(name)b, binary) may appear.
        assert re.sub(r"%\([a-z_]+\)[sb]", "", text).count("%") == 0, name


def test_statements_quote_the_schema_and_name_tables() -> None:
    statements = _queries.Statements("lc_unit")
    assert statements.table_names == {
        "schema_version": '"lc_unit"."schema_version"',
        "likes": '"lc_unit"."likes"',
        "counters": '"lc_unit"."counters"',
        "item_types": '"lc_unit"."item_types"',
    }
    assert statements["create_schema"].as_string() == 'CREATE SCHEMA IF NOT EXISTS "lc_unit"'


def test_parse_named_queries() -> None:
    text = (
        "-- preamble, ignored\n"
        "-- name: first\n"
        "-- a comment\n"
        "SELECT 1\n"
        "\n"
        "-- name: second\n"
        "SELECT 2 -- trailing comments stay\n"
        "  FROM x\n"
    )
    assert _queries.parse_named_queries(text) == {
        "first": "SELECT 1",
        "second": "SELECT 2 -- trailing comments stay\n  FROM x",
    }


def test_parse_named_queries_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match="twice"):
        _queries.parse_named_queries("-- name: a\nSELECT 1\n-- name: a\nSELECT 2\n")


def test_migrations_run_in_sequence_from_one() -> None:
    migrations = _queries.migrations()
    assert migrations, "no migrations found"
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert _queries.latest_version() == len(migrations)
    assert migrations[0].name == "0001_init.sql"
    for migration in migrations:
        assert re.fullmatch(r"\d{4}_[a-z0-9_]+\.sql", migration.name)
        assert migration.name.startswith(f"{migration.version:04d}_")
        # Migrations run with search_path set; they name no schema and hold no placeholder.
        assert "{schema}" not in migration.text
        assert "likecounter." not in migration.text
        assert migration.text.strip()


def test_first_migration_creates_the_tables() -> None:
    text = _queries.migrations()[0].text
    for table in ("item_types", "likes", "counters"):
        assert re.search(rf"CREATE TABLE {table}\b", text), table
    assert isinstance(_queries.Statements.migration(_queries.migrations()[0]), sql.SQL)


@pytest.fixture
def sql_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the loader at a scratch sql/ folder, with its caches cleared before and after."""
    (tmp_path / "migrations").mkdir()
    monkeypatch.setattr(_queries, "_sql_root", lambda: tmp_path)
    _queries.migrations.cache_clear()
    _queries.named_queries.cache_clear()
    yield tmp_path
    _queries.migrations.cache_clear()
    _queries.named_queries.cache_clear()


def test_migrations_sort_and_ignore_other_files(sql_root: Path) -> None:
    folder = sql_root / "migrations"
    (folder / "0002_second.sql").write_text("SELECT 2;\n")
    (folder / "0001_first.sql").write_text("SELECT 1;\n")
    (folder / "README.md").write_text("not a migration\n")
    (folder / "0003_Bad-Name.sql").write_text("ignored\n")
    migrations = _queries.migrations()
    assert [(m.version, m.name, m.text) for m in migrations] == [
        (1, "0001_first.sql", "SELECT 1;\n"),
        (2, "0002_second.sql", "SELECT 2;\n"),
    ]
    assert _queries.latest_version() == 2


def test_a_gap_in_migrations_is_an_error(sql_root: Path) -> None:
    folder = sql_root / "migrations"
    (folder / "0001_first.sql").write_text("SELECT 1;\n")
    (folder / "0003_third.sql").write_text("SELECT 3;\n")
    with pytest.raises(ValueError, match=r"0003_third\.sql breaks the sequence"):
        _queries.migrations()


def test_migrations_must_start_at_one(sql_root: Path) -> None:
    (sql_root / "migrations" / "0002_second.sql").write_text("SELECT 2;\n")
    with pytest.raises(ValueError, match="expected 0001"):
        _queries.migrations()


def test_sql_root_is_found() -> None:
    root = _queries._sql_root()
    assert (root / "queries.sql").is_file()
    assert (root / "migrations").is_dir()
