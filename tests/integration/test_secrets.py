"""DSN passwords never show: not in errors (with their chained causes), logs at DEBUG from every
logger, reprs, health() or the CLI. Against a host that refuses connections, and against a real
PostgreSQL that checks passwords."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from likecounter import DatabaseUnavailable, LikeCounterError, LikeResult
from likecounter.cli import EXIT_DATABASE, main
from likecounter.embedded import EmbeddedPostgres

from .. import fuzz

SECRET = "S3cr3t-must-not-leak-7f9e"
ODD_SECRET = "S3cr3t@must:not/leak%7f9e"  # every character a URL must escape
# Every form a password can take in a DSN: what a leak would show is the password as written and
# as decoded.
DEAD_DSNS = [
    pytest.param(f"postgresql://bob:{SECRET}@127.0.0.1:1/app", (SECRET,), id="url"),
    pytest.param(f"postgresql+psycopg://bob:{SECRET}@127.0.0.1:1/app", (SECRET,), id="sqlalchemy-url"),
    pytest.param(f"host=127.0.0.1 port=1 user=bob password={SECRET} dbname=app", (SECRET,), id="keyvalue"),
    pytest.param(f"host=127.0.0.1 port=1 password='{ODD_SECRET}'", (ODD_SECRET,), id="keyvalue-quoted"),
    pytest.param(
        f"postgresql://bob:{quote(ODD_SECRET, safe='')}@127.0.0.1:1/app",
        (ODD_SECRET, quote(ODD_SECRET, safe=""), "S3cr3t%40must"),
        id="url-escaped",
    ),
    pytest.param(f"postgresql://bob@127.0.0.1:1/app?password={SECRET}", (SECRET,), id="url-query"),
]


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Callable[[], str]:
    """Every record of every logger at DEBUG (psycopg's and the pool's included), formatted."""
    caplog.set_level(logging.DEBUG)
    for name in ("psycopg", "psycopg.pool", "likecounter"):
        caplog.set_level(logging.DEBUG, logger=name)

    def text() -> str:
        records = [f"{record.getMessage()} {record.args!r} {record.exc_text}" for record in caplog.records]
        return caplog.text + "\n".join(records)

    return text


def _check(secrets: tuple[str, ...], *texts: str) -> None:
    for text in texts:
        fuzz.no_leak(text, secrets)


@pytest.mark.parametrize(("dsn", "secrets"), DEAD_DSNS)
def test_a_refused_connection_shows_no_password(
    flavour: str, make_counter: Callable[..., Any], all_logs: Callable[[], str], dsn: str,
    secrets: tuple[str, ...],
) -> None:  # fmt: skip
    counter = make_counter(dsn, bootstrap=False, debug=True, pool_timeout=0.5, min_pool_size=0)
    _check(secrets, repr(counter), repr(counter.settings), str(counter.settings))
    report = counter.health(timeout=0.5)
    assert not report.database_up and report.error
    _check(secrets, repr(report))
    with pytest.raises(DatabaseUnavailable) as caught:
        counter.like(1, 1)
    _check(secrets, fuzz.rendered(caught.value))
    with pytest.raises(DatabaseUnavailable) as caught:
        make_counter(dsn, debug=True, pool_timeout=0.5)  # opening bootstraps: fails in the constructor
    _check(secrets, fuzz.rendered(caught.value))
    logs = all_logs()
    assert "Connection refused" in logs  # the pool did log its failed attempts
    _check(secrets, logs)


def test_database_url_from_the_environment_shows_no_password(
    flavour: str, counter_from_env: Callable[..., Any], monkeypatch: pytest.MonkeyPatch,
    all_logs: Callable[[], str],
) -> None:  # fmt: skip
    monkeypatch.setenv("DATABASE_URL", f"postgresql://bob:{quote(ODD_SECRET, safe='')}@127.0.0.1:1/app")
    monkeypatch.setenv("DEBUG", "1")
    counter = counter_from_env(bootstrap=False, pool_timeout=0.5)
    with pytest.raises(DatabaseUnavailable) as caught:
        counter.count(1)
    _check((ODD_SECRET, "S3cr3t%40must"), repr(counter), fuzz.rendered(caught.value), all_logs())


@pytest.mark.slow  # the CLI waits out its pool timeout (3-5 s) each time
@pytest.mark.parametrize(
    ("command", "given_as", "dsn", "secrets"),
    [
        pytest.param(["count", "1"], "env", *DEAD_DSNS[4].values, id="count-url-escaped-env"),
        pytest.param(["count", "1"], "option", *DEAD_DSNS[2].values, id="count-keyvalue-option"),
        pytest.param(["health"], "env", *DEAD_DSNS[0].values, id="health-url-env"),
        pytest.param(["health"], "option", *DEAD_DSNS[3].values, id="health-keyvalue-quoted-option"),
    ],
)
def test_the_cli_shows_no_password(
    capsys: pytest.CaptureFixture[str], all_logs: Callable[[], str], command: list[str], dsn: str,
    secrets: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, given_as: str,
) -> None:  # fmt: skip
    if given_as == "env":
        monkeypatch.setenv("DATABASE_URL", dsn)
        assert main(command) == EXIT_DATABASE
    else:
        assert main([*command, "--dsn", dsn]) == EXIT_DATABASE
    captured = capsys.readouterr()
    assert "database" in captured.out + captured.err
    _check(secrets, captured.out, captured.err, all_logs())


# -- a server that checks passwords ------------------------------------------------------------------

ROLE = "lc_password_user"


@pytest.fixture(scope="module")
def password_server() -> Iterator[EmbeddedPostgres]:
    """An embedded PostgreSQL where ROLE must log in with the password SECRET (scram-sha-256)."""
    with EmbeddedPostgres(durable=False) as server:
        with psycopg.connect(server.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(SECRET)
            ))  # fmt: skip
            # The file keeps its owner (the server's user) when rewritten in place.
            (server.data_dir / "pg_hba.conf").write_text(
                f"local all {ROLE} scram-sha-256\nlocal all all trust\n"
            )
            assert conn.execute("SELECT pg_reload_conf()").fetchone() == (True,)
        yield server


def _role_dsn(server: EmbeddedPostgres, password: str) -> str:
    return f"postgresql://{ROLE}:{quote(password, safe='')}@/postgres?host={server.socket_dir}"


@pytest.mark.slow
def test_a_wrong_password_against_a_real_server_shows_no_password(
    flavour: str, make_counter: Callable[..., Any], password_server: EmbeddedPostgres,
    all_logs: Callable[[], str],
) -> None:  # fmt: skip
    wrong = "Wr0ng-" + SECRET
    with pytest.raises(LikeCounterError) as caught:
        make_counter(_role_dsn(password_server, wrong), debug=True, pool_timeout=1.0)
    logs = all_logs()
    assert "password authentication failed" in logs  # the server really checked, and refused
    _check((wrong, SECRET), fuzz.rendered(caught.value), logs)


@pytest.mark.slow
def test_the_right_password_works_and_is_not_logged(
    flavour: str, make_counter: Callable[..., Any], password_server: EmbeddedPostgres,
    all_logs: Callable[[], str],
) -> None:  # fmt: skip
    counter = make_counter(_role_dsn(password_server, SECRET), debug=True, schema=f"lc_pw_{flavour}")
    assert counter.like(1, 1) == LikeResult("liked", 1, True)
    report = counter.health()
    assert report.ok
    _check((SECRET,), repr(counter), repr(report), all_logs())
