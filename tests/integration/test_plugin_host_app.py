"""The pytest plugin as a host application meets it: a separate test session, only the plugin's fixtures.

Each test runs pytest in a subprocess (pytester) on a small host-app test file, with an ini of its own
(warnings are errors there too), so none of this suite's conftest is involved.
"""

from __future__ import annotations

import os

import psycopg
import pytest

HOST_INI = """
[pytest]
asyncio_mode = strict
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

HOST_TESTS = """
import pytest


def test_sync(like_counter):
    assert like_counter.like(1, 1).status == "liked"
    assert like_counter.count(1) == 1


@pytest.mark.asyncio
async def test_async(async_like_counter):
    assert (await async_like_counter.like(1, 1)).status == "liked"
    assert await async_like_counter.count(1) == 1
"""

NO_DOCKER_MESSAGE = "--likecounter-source=testcontainers was asked for, but no Docker engine answers"


@pytest.fixture
def host_app(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A host application's project: its own ini and test file; no database configured yet."""
    for variable in ("LIKECOUNTER_TEST_DSN", "PYTEST_ADDOPTS", "DOCKER_HOST"):
        monkeypatch.delenv(variable, raising=False)
    pytester.makefile(".ini", pytest=HOST_INI)
    pytester.makepyfile(test_host_app=HOST_TESTS)
    return pytester


def schemas(dsn: str) -> set[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT nspname FROM pg_namespace").fetchall()}


def test_a_host_app_uses_the_plugin_fixtures(
    host_app: pytest.Pytester, likecounter_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reuse this session's server: the DSN variable is the plugin's first source.
    monkeypatch.setenv("LIKECOUNTER_TEST_DSN", likecounter_dsn)
    before = schemas(likecounter_dsn)
    result = host_app.runpytest_subprocess("-v")
    assert result.parseoutcomes() == {"passed": 2}, result.stdout.str()
    result.stdout.fnmatch_lines(["likecounter: database source auto (DSN given)"])
    # Both tests liked (1, 1) and saw a count of 1: each had a fresh schema, dropped afterwards.
    assert schemas(likecounter_dsn) == before


@pytest.mark.parametrize("docker_host", ["unset", "dead socket"])
def test_a_forced_source_that_is_missing_fails_loudly(
    host_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, docker_host: str
) -> None:
    if docker_host == "unset":
        if os.path.exists("/var/run/docker.sock"):
            pytest.skip("a Docker engine may answer on /var/run/docker.sock here")
    else:
        # The docker SDK is asked, and finds nobody (its cleanup must not warn: warnings are errors).
        monkeypatch.setenv("DOCKER_HOST", f"unix://{host_app.path}/no-docker.sock")
    result = host_app.runpytest_subprocess("--likecounter-source=testcontainers")
    outcomes = result.parseoutcomes()
    assert outcomes == {"errors": 2}, result.stdout.str()
    assert "skipped" not in outcomes
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*{NO_DOCKER_MESSAGE}*"])
    # Said plainly: not repeated under a chained "During handling of the above exception".
    assert "During handling" not in result.stdout.str()
    result.stdout.no_fnmatch_line("*SKIP*")
