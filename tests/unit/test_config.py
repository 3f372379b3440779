"""_config: DSN normalisation and redaction, environment parsing, pool options. No I/O."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from psycopg import conninfo

from likecounter import InvalidInput
from likecounter._config import (
    Settings,
    connection_options,
    dsn_secrets,
    normalize_dsn,
    parse_bool,
    pool_options,
    redact_dsn,
    settings_from_env,
)

SECRET = "s3cr3t-must-not-leak"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql+psycopg://u:pw@h:5432/db", "postgresql://u:pw@h:5432/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql://u@h/db"),
        ("postgres+asyncpg://u@h/db", "postgres://u@h/db"),
        (
            "postgresql+psycopg://postgres@/postgres?host=/tmp/lc-socket",
            "postgresql://postgres@/postgres?host=/tmp/lc-socket",
        ),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("  postgresql://u@h/db\n", "postgresql://u@h/db"),
        ("host=h dbname=db user=u", "host=h dbname=db user=u"),
        ("", None),
        ("   ", None),
        ("mysql+pymysql://u@h/db", None),
        ("host='unterminated", None),
    ],
)
def test_normalize_dsn(given: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(InvalidInput):
            normalize_dsn(given)
    else:
        assert normalize_dsn(given) == expected


def test_normalized_sqlalchemy_dsn_keeps_every_parameter() -> None:
    dsn = normalize_dsn("postgresql+asyncpg://app:pw@db.example:6543/likes?sslmode=require")
    assert conninfo.conninfo_to_dict(dsn) == {
        "user": "app",
        "password": "pw",
        "host": "db.example",
        "port": "6543",
        "dbname": "likes",
        "sslmode": "require",
    }


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        (f"postgresql://app:{SECRET}@db:5432/likes", "postgresql://app:***@db:5432/likes"),
        (
            f"postgresql://app:{SECRET}@db/likes?sslmode=require",
            "postgresql://app:***@db/likes?sslmode=require",
        ),
        (f"postgresql://app:{SECRET}@h1:5432,h2:5433/likes", "postgresql://app:***@h1:5432,h2:5433/likes"),
        (f"postgresql://app:{SECRET}@[::1]:5432/likes", "postgresql://app:***@[::1]:5432/likes"),
        (f"postgresql://:{SECRET}@db/likes", "postgresql://:***@db/likes"),
        (f"postgresql://app@db/likes?password={SECRET}", "postgresql://app@db/likes?password=***"),
        ("postgresql://app@db/likes", "postgresql://app@db/likes"),
        ("postgresql://postgres@/postgres?host=/tmp/x", "postgresql://postgres@/postgres?host=/tmp/x"),
    ],
)
def test_redact_url_dsn(dsn: str, expected: str) -> None:
    assert redact_dsn(dsn) == expected


def test_redact_url_encoded_password() -> None:
    shown = redact_dsn("postgresql://app:p%40ss%2Fword@db/likes")
    assert shown == "postgresql://app:***@db/likes"
    assert set(dsn_secrets("postgresql://app:p%40ss%2Fword@db/likes")) == {"p%40ss%2Fword", "p@ss/word"}


@pytest.mark.parametrize(
    "dsn",
    [
        f"host=db user=app password={SECRET} dbname=likes",
        f"host=db password='{SECRET}' dbname=likes",
        f"password={SECRET}",
    ],
)
def test_redact_key_value_dsn(dsn: str) -> None:
    shown = redact_dsn(dsn)
    assert SECRET not in shown
    assert conninfo.conninfo_to_dict(shown)["password"] == "***"
    original = conninfo.conninfo_to_dict(dsn)
    redacted = conninfo.conninfo_to_dict(shown)
    assert {k: v for k, v in redacted.items() if k != "password"} == {
        k: v for k, v in original.items() if k != "password"
    }


def test_redact_key_value_without_password_is_unchanged() -> None:
    assert conninfo.conninfo_to_dict(redact_dsn("host=db user=app")) == {"host": "db", "user": "app"}


def test_redact_unparseable_dsn_shows_nothing() -> None:
    assert redact_dsn(f"host='x password={SECRET}") == "<unparseable DSN>"


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://bob:p@ss{SECRET}@db/app",  # libpq: password 'p', host 'ss...'
        f"postgresql://bob:pa/ss{SECRET}@db/app",  # libpq: host 'bob', port 'pa'
        # A '?' in the password does not start the query: libpq reads password '?' and database
        # '/<secret>@db/app' (found by the fuzz suite).
        f"postgresql+psycopg://bob:?@/{SECRET}@db/app?sslmode=disable?@/",
    ],
)
def test_a_url_that_splits_its_password_is_refused_without_showing_it(dsn: str) -> None:
    with pytest.raises(InvalidInput, match="percent-encode") as caught:
        normalize_dsn(dsn)
    assert SECRET not in str(caught.value)


def test_an_at_sign_in_the_query_is_not_a_split_password() -> None:
    dsn = "postgresql://bob:a?b@db/app?application_name=a@b"
    assert normalize_dsn(dsn) == dsn
    assert redact_dsn(dsn) == "postgresql://bob:***@db/app?application_name=a@b"


def test_dsn_secrets() -> None:
    assert dsn_secrets("postgresql://app@db/likes") == ()
    assert dsn_secrets(f"postgresql://app:{SECRET}@db/likes") == (SECRET,)
    assert dsn_secrets(f"host=db password={SECRET}") == (SECRET,)


# -- environment ----------------------------------------------------------------------------------


def test_settings_from_env_minimal() -> None:
    assert settings_from_env({"DATABASE_URL": "postgresql://u@h/db"}) == ("postgresql://u@h/db", {})


def test_settings_from_env_requires_database_url() -> None:
    for environ in ({}, {"DATABASE_URL": ""}, {"DATABASE_URL": "   "}):
        with pytest.raises(InvalidInput, match="DATABASE_URL"):
            settings_from_env(environ)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("50", 50), (" 7 ", 7), ("0", None), ("off", None), ("OFF", None), ("none", None), ("", "unset")],
)
def test_rate_limit_from_env(raw: str, expected: int | str | None) -> None:
    _, options = settings_from_env({"DATABASE_URL": "postgresql://u@h/db", "RATE_LIMIT_REQUESTS": raw})
    if expected == "unset":
        assert "rate_limit_per_minute" not in options
    else:
        assert options["rate_limit_per_minute"] == expected


@pytest.mark.parametrize("raw", ["abc", "1.5", "10/min", "1e3"])
def test_bad_rate_limit_from_env(raw: str) -> None:
    with pytest.raises(InvalidInput, match="RATE_LIMIT_REQUESTS") as caught:
        settings_from_env({"DATABASE_URL": "postgresql://u@h/db", "RATE_LIMIT_REQUESTS": raw})
    assert repr(raw) in str(caught.value)


def test_negative_rate_limit_from_env_is_rejected_by_settings() -> None:
    _, options = settings_from_env({"DATABASE_URL": "postgresql://u@h/db", "RATE_LIMIT_REQUESTS": "-5"})
    with pytest.raises(InvalidInput, match="rate_limit_per_minute"):
        Settings(**options)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        (" on ", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
        ("", False),
    ],
)
def test_debug_from_env(raw: str, expected: bool) -> None:
    _, options = settings_from_env({"DATABASE_URL": "postgresql://u@h/db", "DEBUG": raw})
    assert options == {"debug": expected}


@pytest.mark.parametrize("raw", ["2", "maybe", "enabled", "y e s"])
def test_bad_debug_from_env(raw: str) -> None:
    with pytest.raises(InvalidInput, match="DEBUG"):
        settings_from_env({"DATABASE_URL": "postgresql://u@h/db", "DEBUG": raw})


def test_parse_bool_names_the_variable() -> None:
    with pytest.raises(InvalidInput, match="SOME_FLAG"):
        parse_bool("perhaps", "SOME_FLAG")


def test_schema_from_env() -> None:
    _, options = settings_from_env({"DATABASE_URL": "postgresql://u@h/db", "LIKECOUNTER_SCHEMA": "likes_v2"})
    assert options == {"schema": "likes_v2"}


def test_all_env_options_together() -> None:
    environ = {
        "DATABASE_URL": "postgresql+asyncpg://u@h/db",
        "RATE_LIMIT_REQUESTS": "25",
        "DEBUG": "no",
        "LIKECOUNTER_SCHEMA": "s",
        "UNRELATED": "x",
    }
    # The DSN is returned as given; the constructor normalises it.
    assert settings_from_env(environ) == (
        "postgresql+asyncpg://u@h/db",
        {"rate_limit_per_minute": 25, "debug": False, "schema": "s"},
    )


# -- settings and pool options --------------------------------------------------------------------


def test_settings_defaults() -> None:
    settings = Settings()
    assert settings.schema == "likecounter"
    assert settings.rate_limit_per_minute == 100
    assert settings.max_batch_size == 1000
    assert settings.bootstrap is True


def test_settings_repr_hides_secrets() -> None:
    assert SECRET not in repr(Settings(secrets=(SECRET,)))


@pytest.mark.parametrize(("given", "expected"), [(0.5, 2), (2.0, 2), (2.6, 3), (10, 10)])
def test_pool_options(given: float, expected: int) -> None:
    settings = Settings(min_pool_size=2, max_pool_size=7, pool_timeout=1.5, connect_timeout=given)
    options: dict[str, Any] = pool_options(settings, "postgresql://u@h/db", "likecounter-x")
    assert options == {
        "conninfo": "postgresql://u@h/db",
        "min_size": 2,
        "max_size": 7,
        "timeout": 1.5,
        "name": "likecounter-x",
        "open": False,
        "kwargs": {"autocommit": True, "connect_timeout": expected, "application_name": "likecounter-x"},
    }


def test_connection_options_name_the_sessions_and_set_statement_timeout() -> None:
    settings = Settings(statement_timeout=0.25)
    assert connection_options(settings, "postgresql://u@h/db", "likecounter-x") == {
        "autocommit": True,
        "connect_timeout": 5,
        "application_name": "likecounter-x",
        "options": "-c statement_timeout=250",
    }
    # The DSN's own application name wins, and its own options are kept.
    dsn = "postgresql://u@h/db?application_name=web&options=-c%20search_path%3Dapp"
    options = connection_options(settings, dsn, "likecounter-x")
    assert "application_name" not in options
    assert options["options"] == "-c search_path=app -c statement_timeout=250"
    bad: Any
    for bad in (0, -1, float("nan"), "1"):
        with pytest.raises(InvalidInput, match="statement_timeout"):
            Settings(statement_timeout=bad)


def test_enable_debug_logging_sets_the_level() -> None:
    from likecounter._config import enable_debug_logging

    logger = logging.getLogger("likecounter.test_config_probe")
    handlers = list(logger.handlers)
    try:
        enable_debug_logging(logger)
        assert logger.isEnabledFor(logging.DEBUG)
    finally:
        logger.setLevel(logging.NOTSET)
        for handler in logger.handlers:
            if handler not in handlers:
                logger.removeHandler(handler)
