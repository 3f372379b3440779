"""likecounter.testing.choose_source: where the test database comes from, with fake probes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from likecounter.testing import DSN_VARIABLE, NoDatabase, Source, choose_source


class Probe:
    """A fake availability probe that records whether it was asked."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.answer


def choose(requested: str, dsn: str | None, *, docker: bool, embedded: bool) -> tuple[Source, Probe, Probe]:
    docker_probe, embedded_probe = Probe(docker), Probe(embedded)
    source = choose_source(requested, dsn, docker_answers=docker_probe, embedded_installed=embedded_probe)
    return source, docker_probe, embedded_probe


@pytest.mark.parametrize("docker", [True, False])
@pytest.mark.parametrize("embedded", [True, False])
def test_an_explicit_dsn_wins_without_probing(docker: bool, embedded: bool) -> None:
    source, docker_probe, embedded_probe = choose(
        "auto", "postgresql://u@h/db", docker=docker, embedded=embedded
    )
    assert source == "dsn"
    assert docker_probe.calls == 0
    assert embedded_probe.calls == 0


def test_forced_dsn_with_a_dsn() -> None:
    assert choose("dsn", "postgresql://u@h/db", docker=False, embedded=False)[0] == "dsn"


@pytest.mark.parametrize("dsn", [None, ""])
def test_forced_dsn_without_a_dsn_is_an_error(dsn: str | None) -> None:
    with pytest.raises(NoDatabase, match=DSN_VARIABLE):
        choose("dsn", dsn, docker=True, embedded=True)


@pytest.mark.parametrize("embedded", [True, False])
def test_docker_is_used_when_it_answers(embedded: bool) -> None:
    source, docker_probe, embedded_probe = choose("auto", None, docker=True, embedded=embedded)
    assert source == "testcontainers"
    assert docker_probe.calls == 1
    assert embedded_probe.calls == 0


def test_embedded_otherwise() -> None:
    source, docker_probe, embedded_probe = choose("auto", None, docker=False, embedded=True)
    assert source == "embedded"
    assert (docker_probe.calls, embedded_probe.calls) == (1, 1)


def test_an_empty_dsn_counts_as_none() -> None:
    assert choose("auto", "", docker=False, embedded=True)[0] == "embedded"


def test_forced_testcontainers_with_docker() -> None:
    assert choose("testcontainers", None, docker=True, embedded=False)[0] == "testcontainers"


def test_forced_testcontainers_ignores_a_dsn() -> None:
    assert choose("testcontainers", "postgresql://u@h/db", docker=True, embedded=True)[0] == "testcontainers"


def test_forced_testcontainers_without_docker_is_an_error_not_a_fallback() -> None:
    with pytest.raises(NoDatabase) as caught:
        choose("testcontainers", None, docker=False, embedded=True)
    message = str(caught.value)
    assert "--likecounter-source=testcontainers" in message
    assert "Docker" in message
    assert "DOCKER_HOST" in message


def test_forced_embedded_skips_docker() -> None:
    source, docker_probe, _ = choose("embedded", "postgresql://u@h/db", docker=True, embedded=True)
    assert source == "embedded"
    assert docker_probe.calls == 0


def test_forced_embedded_not_installed_is_an_error() -> None:
    with pytest.raises(NoDatabase, match=r"likecounter\[embedded\]"):
        choose("embedded", None, docker=True, embedded=False)


def test_nothing_available_names_every_way_out() -> None:
    with pytest.raises(NoDatabase) as caught:
        choose("auto", None, docker=False, embedded=False)
    message = str(caught.value)
    assert DSN_VARIABLE in message
    assert "LIKECOUNTER_TEST_DSN" in message
    assert "--likecounter-dsn" in message
    assert "Docker" in message
    assert "likecounter[embedded]" in message


def test_unknown_source_is_an_error() -> None:
    probes: list[Callable[[], bool]] = [Probe(True), Probe(True)]
    with pytest.raises(NoDatabase, match="unknown likecounter source 'docker'"):
        choose_source("docker", None, docker_answers=probes[0], embedded_installed=probes[1])


def test_no_database_is_a_runtime_error() -> None:
    assert issubclass(NoDatabase, RuntimeError)
