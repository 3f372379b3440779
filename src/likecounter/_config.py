"""Options, environment parsing and DSN handling. No I/O."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from psycopg import conninfo as pg_conninfo

from ._errors import InvalidInput
from ._validation import check_positive_int, check_schema, check_seconds

DEFAULT_SCHEMA = "likecounter"
DEFAULT_RATE_LIMIT_PER_MINUTE = 100
DEFAULT_MAX_BATCH_SIZE = 1000
MAX_HOT_SHARDS = 256
# PostgreSQL never accepts more connections than this (MAX_BACKENDS), so no pool can grow past it;
# a larger min_pool_size would have the pool schedule that many connection attempts when it opens.
MAX_POOL_SIZE = 262_143
# Coalescing waits microseconds for company; a second or more is a misconfiguration (and a huge
# value overflows the sleep).
MAX_LINGER_US = 1_000_000

# SQLAlchemy-style schemes (`postgresql+asyncpg://`, `postgresql+psycopg://`) name a driver that
# libpq does not know; the part before `+` is what it understands.
_SQLALCHEMY_SCHEME = re.compile(r"^(postgres(?:ql)?)\+[a-z0-9_]+://", re.IGNORECASE)
_QUOTED = re.compile(r'"([^"]*)"')
# libpq's port value: one number per host, comma-separated (empty for the default port).
_PORTS = re.compile(r"[0-9]*(?:,[0-9]*)*", re.ASCII)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class Settings:
    """Every option of a counter, validated. Built by the constructor or by `from_env`."""

    schema: str = DEFAULT_SCHEMA
    rate_limit_per_minute: int | None = DEFAULT_RATE_LIMIT_PER_MINUTE
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    bootstrap: bool = True
    min_pool_size: int = 1
    max_pool_size: int = 10
    pool_timeout: float = 5.0
    connect_timeout: float = 5.0
    statement_timeout: float | None = None
    debug: bool = False
    coalesce: bool = True
    coalesce_max_batch: int = 256
    coalesce_max_inflight: int | None = None
    coalesce_linger_us: int = 200
    hot_shards: int = 8
    hot_threshold: int = 100
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        check_schema(self.schema)
        check_positive_int(self.rate_limit_per_minute, "rate_limit_per_minute", allow_none=True)
        check_positive_int(self.max_batch_size, "max_batch_size")
        check_positive_int(self.min_pool_size, "min_pool_size", minimum=0, maximum=MAX_POOL_SIZE)
        check_positive_int(self.max_pool_size, "max_pool_size", maximum=MAX_POOL_SIZE)
        if self.max_pool_size < self.min_pool_size:
            raise InvalidInput("max_pool_size must be >= min_pool_size")
        check_seconds(self.pool_timeout, "pool_timeout")
        check_seconds(self.connect_timeout, "connect_timeout")
        if self.statement_timeout is not None:
            check_seconds(self.statement_timeout, "statement_timeout")
        if (
            type(self.bootstrap) is not bool
            or type(self.debug) is not bool
            or type(self.coalesce) is not bool
        ):
            raise InvalidInput("bootstrap, debug and coalesce must be bools")
        check_positive_int(self.coalesce_max_batch, "coalesce_max_batch")
        check_positive_int(self.coalesce_max_inflight, "coalesce_max_inflight", allow_none=True)
        check_positive_int(self.coalesce_linger_us, "coalesce_linger_us", minimum=0, maximum=MAX_LINGER_US)
        check_positive_int(self.hot_shards, "hot_shards", maximum=MAX_HOT_SHARDS)
        check_positive_int(self.hot_threshold, "hot_threshold")

    @property
    def coalesce_inflight(self) -> int:
        """How many coalesced statements may be in flight at once (each holds one connection)."""
        if self.coalesce_max_inflight is not None:
            return self.coalesce_max_inflight
        # Leave the rest of the pool to reads and bulk calls.
        return max(1, self.max_pool_size // 2)


def normalize_dsn(dsn: Any) -> str:
    """Accept a libpq URL or key=value string, including SQLAlchemy `postgresql+driver://` URLs."""
    if type(dsn) is not str or not dsn.strip():
        raise InvalidInput("the DSN must be a non-empty str")
    if "\x00" in dsn:
        # libpq stops reading at a NUL: what follows would be ignored, yet shown in reprs.
        raise InvalidInput("the DSN must not contain NUL characters")
    dsn = dsn.strip()
    dsn = _SQLALCHEMY_SCHEME.sub(lambda match: match.group(1) + "://", dsn)
    try:
        params = pg_conninfo.conninfo_to_dict(dsn)
    except Exception as exc:
        detail: str | None = str(exc).strip()
    else:
        detail = None
    if detail is not None:
        # The parser's message can quote the DSN: pass it on with any password taken out. Raised
        # outside the `except` block, so that the parser's error is not kept as `__context__`
        # (`from None` only hides it from tracebacks; error reporters can still read it).
        for secret in dsn_secrets(dsn):
            detail = detail.replace(secret, "***")
        detail = _QUOTED.sub(lambda match: _quoted_fragment(match, dsn), detail)
        raise InvalidInput(f"the DSN is not a valid PostgreSQL connection string: {detail}")
    if _misplaced_credentials(dsn, params):
        raise InvalidInput(
            "the DSN's host, port or database name is malformed: in a URL, percent-encode any '/', "
            "'@' or ':' in the user name or password (e.g. '@' as %40)"
        )
    return str(dsn)


def _misplaced_credentials(dsn: str, params: dict[str, Any]) -> bool:
    """Whether libpq read part of a URL's user name or password as a host, port or database name.

    libpq ends the user part at the first `@` before any `/`: `postgresql://user:pa/ss@host` is
    host `user`, port `pa`, database `ss@host`, and `postgresql://user:p@ss@host` is password `p`,
    host `ss@host`. Such a DSN cannot connect, and the rest of the password would be shown where a
    password is redacted (reprs, error messages).
    """
    if "://" not in dsn:
        return False
    # The query starts at the first `?` after the user part: a `?` in a password does not start it.
    split = _url_userinfo(dsn)
    after_user = split[2] if split is not None else dsn.partition("://")[2]
    path = after_user.partition("?")[0].partition("/")[2]
    return (
        "@" in path
        or "@" in str(params.get("dbname") or "")
        or "@" in str(params.get("host") or "")
        or _PORTS.fullmatch(str(params.get("port") or "")) is None
    )


def _quoted_fragment(match: re.Match[str], dsn: str) -> str:
    """libpq quotes the piece of a DSN it could not read, and that piece can be part of a password
    that the DSN's own syntax has cut up (`password=two words`, `user:pa/ss%@host`): keep it only
    when it is an option name, used as one in the DSN."""
    fragment = match.group(1)
    if fragment == "=" or (
        re.fullmatch(r"[a-z_]{1,40}", fragment, re.ASCII)
        and re.search(rf"(?:^|[\s?&]){fragment}\s*=", dsn) is not None
    ):
        return match.group(0)
    return '"***"'


def dsn_secrets(dsn: str) -> tuple[str, ...]:
    """The strings that must never be shown: the password, as given and as URL-decoded, and what
    looks like one in a DSN that does not parse."""
    secrets: set[str] = set(_raw_password_guess(dsn))
    try:
        password = pg_conninfo.conninfo_to_dict(dsn).get("password")
    except Exception:
        password = None
    if password:
        secrets.add(str(password))
    return tuple(sorted(secrets, key=len, reverse=True))


def _url_userinfo(dsn: str) -> tuple[str, str, str] | None:
    """Split a URL DSN as libpq does: ("scheme://", "user[:password]", "rest after @"), or None when
    it has no user part. libpq's rule: the user part ends at the first `@` that comes before any `/`.
    """
    scheme, sep, rest = dsn.partition("://")
    if not sep:
        return None
    end = re.search(r"[@/]", rest)
    if end is None or end.group() != "@":
        return None
    return scheme + sep, rest[: end.start()], rest[end.end() :]


def _raw_password_guess(dsn: str) -> tuple[str, ...]:
    """Passwords as written, found without a full parse (for a DSN that does not parse)."""
    found = re.findall(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn)
    split = _url_userinfo(dsn)
    if split is not None and ":" in split[1]:
        raw = split[1].split(":", 1)[1]
        found += [raw, unquote(raw)]
    return tuple(secret.strip("'") for secret in found if secret.strip("'"))


def redact_dsn(dsn: str) -> str:
    """The DSN with its password replaced by `***`, for reprs and logs."""
    secrets = dsn_secrets(dsn)
    if "://" in dsn:
        split = _url_userinfo(dsn)
        if split is not None and ":" in split[1]:
            # The rest (hosts, ports, IPv6 brackets, query) is kept exactly as written.
            prefix, userinfo, rest = split
            dsn = f"{prefix}{userinfo.partition(':')[0]}:***@{rest}"
    else:
        try:
            params = pg_conninfo.conninfo_to_dict(dsn)
        except Exception:
            return "<unparseable DSN>"
        if "password" in params:
            params["password"] = "***"
            dsn = pg_conninfo.make_conninfo(**params)  # type: ignore[arg-type]
    for secret in secrets:
        dsn = dsn.replace(secret, "***")
    return dsn


def parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidInput(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {value!r}")


def settings_from_env(environ: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """Read DATABASE_URL, RATE_LIMIT_REQUESTS and DEBUG; return the DSN and constructor options."""
    dsn = environ.get("DATABASE_URL", "")
    if not dsn.strip():
        raise InvalidInput("DATABASE_URL is not set")
    options: dict[str, Any] = {}
    raw_limit = environ.get("RATE_LIMIT_REQUESTS")
    if raw_limit is not None and raw_limit.strip():
        text = raw_limit.strip().lower()
        if text in ("none", "off", "0"):
            options["rate_limit_per_minute"] = None
        else:
            try:
                options["rate_limit_per_minute"] = int(text)
            except ValueError:
                raise InvalidInput(
                    f"RATE_LIMIT_REQUESTS must be a whole number (or 0/off), got {raw_limit!r}"
                ) from None
    raw_debug = environ.get("DEBUG")
    if raw_debug is not None:
        options["debug"] = parse_bool(raw_debug, "DEBUG")
    schema = environ.get("LIKECOUNTER_SCHEMA")
    if schema:
        options["schema"] = schema
    return dsn, options


def environ() -> Mapping[str, str]:
    return os.environ


def pool_options(settings: Settings, dsn: str, name: str) -> dict[str, Any]:
    """Keyword arguments for the psycopg_pool pool that a counter builds and owns (sync or async)."""
    return {
        "conninfo": dsn,
        "min_size": settings.min_pool_size,
        "max_size": settings.max_pool_size,
        "timeout": settings.pool_timeout,
        "name": name,
        "open": False,
        "kwargs": connection_options(settings, dsn, name),
    }


def connection_options(settings: Settings, dsn: str, name: str) -> dict[str, Any]:
    """libpq parameters added to the DSN's for each pool connection."""
    params = pg_conninfo.conninfo_to_dict(dsn)
    # Every like is one statement; autocommit makes it one round trip with no BEGIN/COMMIT.
    # libpq's connect_timeout is whole seconds, at least 2.
    options: dict[str, Any] = {
        "autocommit": True,
        "connect_timeout": max(2, round(settings.connect_timeout)),
    }
    if not params.get("application_name"):
        # Names the counter's sessions in pg_stat_activity (a DSN's own name wins).
        options["application_name"] = name
    if settings.statement_timeout is not None:
        # Set at connection start-up: no extra round trip. Added to the DSN's own options, if any.
        milliseconds = max(1, round(settings.statement_timeout * 1000))
        own = str(params.get("options") or "").strip()
        options["options"] = f"{own} -c statement_timeout={milliseconds}".strip()
    return options


def enable_debug_logging(logger: logging.Logger) -> None:
    """DEBUG=1: log every operation and its duration on the `likecounter` logger."""
    logger.setLevel(logging.DEBUG)
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
