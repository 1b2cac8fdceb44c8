"""The store's URL: a SQLite file or a PostgreSQL database, as a SQLAlchemy URL.

Accepted: ``sqlite:///path`` (and ``jdbc:sqlite:path``), ``postgresql://…``, ``postgres://…``,
``postgresql+psycopg2://…`` and ``jdbc:postgresql://host[:port]/db[?user=u&password=p]``. Nothing
else is a store. No message ever carries the password.

JDBC URLs are parsed by ``engine.common.jdbc``, the one JDBC parser; this maps the result.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from engine.common.errors import ConfigError
from engine.common.jdbc import JdbcUrl, libpq_options, parse_jdbc_url
from engine.common.redaction import redact_text

STORE_FILE = "store.db"
_ACCEPTED = "sqlite:///path, postgresql://user@host/db or jdbc:postgresql://host/db?user=u"


def default_store_url(work_dir: Path) -> URL:
    """The SQLite file the store uses when ``store.url`` is unset."""
    return URL.create("sqlite", database=str(Path(work_dir) / STORE_FILE))


def store_url(text: str) -> URL:
    """Map a configured store URL to a SQLAlchemy URL; raises ConfigError naming the masked URL."""
    raw = (text or "").strip()
    shown = redact_text(raw)
    lowered = raw.lower()
    if lowered.startswith("jdbc:postgresql:"):
        try:
            return _jdbc_postgresql(parse_jdbc_url(raw, network=True))
        except ConfigError as exc:
            raise ConfigError(f"invalid store URL: {exc}") from None
    if lowered.startswith("jdbc:sqlite:"):
        path = unquote(raw[len("jdbc:sqlite:") :].split("?", 1)[0])
        if path.startswith("file:"):
            path = path[len("file:") :]
        return _sqlite_file(path, shown)
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError(f"malformed store URL {shown}; expected {_ACCEPTED}") from None
    backend = url.get_backend_name()
    if backend in ("postgresql", "postgres"):
        driver = url.drivername.partition("+")[2]  # explicit only: SQLAlchemy's default varies
        if driver not in ("", "psycopg2"):
            raise ConfigError(f"unsupported PostgreSQL driver {driver!r} in store URL {shown}; use psycopg2")
        return url.set(drivername="postgresql+psycopg2")
    if backend == "sqlite":
        return _sqlite_file(url.database or "", shown)
    raise ConfigError(f"unsupported store URL {shown}; expected {_ACCEPTED}")


def _sqlite_file(path: str, shown: str) -> URL:
    if path in ("", ":memory:") or path.startswith("file::memory:"):
        raise ConfigError(f"the store must be a SQLite file, not an in-memory database: {shown}")
    return URL.create("sqlite", database=path)


def _jdbc_postgresql(jdbc: JdbcUrl) -> URL:
    """A parsed ``jdbc:postgresql://…`` URL as a psycopg2 URL (pgjdbc properties without a libpq
    equivalent are ignored)."""
    query, _ignored = libpq_options(jdbc)
    return URL.create(
        "postgresql+psycopg2",
        username=jdbc.user,
        password=jdbc.password,
        host=jdbc.host,
        port=jdbc.port,
        database=jdbc.database,
        query=query,
    )
