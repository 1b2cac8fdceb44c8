"""JDBC URLs (what Kyuubi users configure) mapped to SQLAlchemy URLs.

Accepted forms:

- ``jdbc:sqlite:/abs/path.db``, ``jdbc:sqlite:relative.db``, ``jdbc:sqlite::memory:``
- ``jdbc:postgresql://host[:port]/db[?user=u&password=p][;k=v]``
- ``jdbc:mysql://...`` and ``jdbc:mariadb://...`` (same forms, PyMySQL driver)
- ``jdbc:hive2://host[:port]/db[;auth=noSasl][;user=u]`` and ``jdbc:kyuubi://...`` (PyHive)
- ``jdbc:trino://host[:port]/catalog[/schema]?user=u`` (needs the ``trino`` package)
- ``jdbc:duckdb:/path.duckdb`` or ``jdbc:duckdb:`` (needs ``duckdb-engine``)
- plain SQLAlchemy URLs (``dialect+driver://...``), taken as they are.

A bad URL raises :class:`ConfigError` at engine start. No message ever carries the password.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import sqlalchemy
from sqlalchemy.engine import URL, make_url

from engine.common.errors import ConfigError
from engine.common.jdbc import JdbcUrl, is_jdbc, libpq_options, mask_url, parse_jdbc_url
from engine.common.redaction import MASK

log = logging.getLogger(__name__)

SUPPORTED_SCHEMES = (
    "jdbc:sqlite:",
    "jdbc:postgresql:",
    "jdbc:mysql:",
    "jdbc:mariadb:",
    "jdbc:hive2:",
    "jdbc:kyuubi:",
    "jdbc:trino:",
    "jdbc:duckdb:",
)
SUPPORTED_TEXT = (
    ", ".join(SUPPORTED_SCHEMES) + ", or a SQLAlchemy URL such as postgresql+psycopg2://user@host/db"
)

# Engine dialect name -> sqlglot dialect name.
SQLGLOT_DIALECTS = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "mysql": "mysql",
    "hive": "hive",
    "trino": "trino",
    "duckdb": "duckdb",
    "generic": "",
}

# SQLAlchemy backend name -> engine dialect name.
_BACKENDS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
    "hive": "hive",
    "trino": "trino",
    "presto": "trino",
    "duckdb": "duckdb",
}

# Driver packages a scheme needs, for a clear message when one is missing.
_DRIVERS = {
    "postgresql": ("psycopg2", "psycopg2-binary"),
    "mysql": ("pymysql", "PyMySQL"),
    "hive": ("pyhive", "pyhive[hive-pure-sasl]"),
    "trino": ("trino", "trino[sqlalchemy]"),
    "duckdb": ("duckdb_engine", "duckdb duckdb-engine"),
}

# MySQL client options that would widen what one call can do (stacked statements, LOCAL INFILE).
_MYSQL_FORBIDDEN = frozenset({"client_flag", "local_infile", "init_command"})


@dataclass(frozen=True)
class SourceSpec:
    """A datasource URL resolved for SQLAlchemy."""

    sa_url: URL
    dialect: str  # sqlite | postgresql | mysql | hive | trino | duckdb | generic
    display_url: str  # password hidden
    password: str | None = None
    connect_args: dict[str, Any] = field(default_factory=dict)

    @property
    def sqlglot_dialect(self) -> str:
        return SQLGLOT_DIALECTS[self.dialect]

    @property
    def sqlite_path(self) -> str | None:
        """The database file of a SQLite URL; None for an in-memory database."""
        if self.dialect != "sqlite":
            return None
        database = self.sa_url.database or ""
        return None if database in ("", ":memory:") or database.startswith("file::memory:") else database


def hide_password(url: str) -> str:
    """``url`` with any password replaced by the mask (JDBC ?password=, ;password=, user:pw@)."""
    return mask_url(url)


def parse_source(url: str) -> SourceSpec:
    """Map a JDBC or SQLAlchemy URL to a :class:`SourceSpec`; raises ConfigError when it cannot."""
    text = (url or "").strip()
    if not text:
        raise ConfigError(f"the JDBC URL is empty; supported: {SUPPORTED_TEXT}")
    if is_jdbc(text):
        scheme = text[5:].partition(":")[0].lower()
        mapper = _JDBC_MAPPERS.get(scheme)
        if mapper is None:
            raise ConfigError(
                f"unsupported JDBC URL scheme {scheme[:40] or '(none)'!r} in {hide_password(text)}; "
                f"supported: {SUPPORTED_TEXT}"
            )
        spec = mapper(parse_jdbc_url(text, network=scheme not in ("sqlite", "duckdb")))
    else:
        spec = _plain(text, hide_password(text))
    _require_driver(spec, hide_password(text))
    return spec


# --- JDBC forms ---------------------------------------------------------------------------------
def _sqlite(jdbc: JdbcUrl) -> SourceSpec:
    path = jdbc.path
    if path.startswith("file:"):
        path = path[len("file:") :].split("?", 1)[0]
    if path.startswith("//"):  # jdbc:sqlite:///abs or //host-less forms
        path = "/" + path.lstrip("/")
    path = unquote(path)
    if path in ("", ":memory:"):
        path = ":memory:"
    sa_url = URL.create("sqlite", database=path)
    return SourceSpec(sa_url, "sqlite", jdbc.shown)


def _postgresql(jdbc: JdbcUrl) -> SourceSpec:
    query, ignored = libpq_options(jdbc)
    for key in ignored:
        log.info("ignoring JDBC property %s of the PostgreSQL URL", key[:100])
    return _network_spec("postgresql+psycopg2", "postgresql", jdbc, query)


def _mysql(jdbc: JdbcUrl) -> SourceSpec:
    query: dict[str, str] = {"charset": "utf8mb4"}
    for key, value in jdbc.properties.items():
        lowered = key.lower()
        if lowered in ("connecttimeout", "connect_timeout"):
            # JDBC gives milliseconds, PyMySQL wants seconds
            query["connect_timeout"] = str(max(1, int(value) // 1000)) if value.isdigit() else value
        else:
            log.info("ignoring JDBC property %s of the MySQL/MariaDB URL", key[:100])
    return _network_spec("mysql+pymysql", "mysql", jdbc, query)


def _network_spec(
    driver: str,
    dialect: str,
    jdbc: JdbcUrl,
    query: dict[str, str],
    *,
    default_user: str | None = None,
    default_port: int | None = None,
    database: str | None = None,
) -> SourceSpec:
    """A server datasource: the first path element is the database unless ``database`` is given."""
    sa_url = URL.create(
        driver,
        username=jdbc.user or default_user,
        password=jdbc.password,
        host=jdbc.host,
        port=jdbc.port or default_port,
        database=database if database is not None else jdbc.database,
        query=query,
    )
    return SourceSpec(sa_url, dialect, jdbc.shown, jdbc.password)


def _hive(jdbc: JdbcUrl) -> SourceSpec:
    if (jdbc.properties.get("serviceDiscoveryMode") or "").lower() == "zookeeper":
        raise ConfigError(
            f"{jdbc.shown}: ZooKeeper service discovery is not supported here; give the server's host:port"
        )
    auth = (jdbc.properties.get("auth") or "").lower()
    query: dict[str, str] = {}
    if auth == "nosasl":
        query["auth"] = "NOSASL"
    elif jdbc.password:
        query["auth"] = "CUSTOM"
    return _network_spec(
        "hive",
        "hive",
        jdbc,
        query,
        default_user="anonymous",
        default_port=10000,
        database=jdbc.database or "default",
    )


def _trino(jdbc: JdbcUrl) -> SourceSpec:
    return _network_spec(
        "trino", "trino", jdbc, {}, default_user="trino", default_port=8080, database=jdbc.path or None
    )


def _duckdb(jdbc: JdbcUrl) -> SourceSpec:
    path = unquote(jdbc.path) or ":memory:"
    return SourceSpec(URL.create("duckdb", database=path), "duckdb", jdbc.shown)


_JDBC_MAPPERS: dict[str, Callable[[JdbcUrl], SourceSpec]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
    "postgres": _postgresql,
    "mysql": _mysql,
    "mariadb": _mysql,
    "hive2": _hive,
    "kyuubi": _hive,
    "trino": _trino,
    "duckdb": _duckdb,
}


# --- SQLAlchemy URLs ----------------------------------------------------------------------------
def _plain(text: str, shown: str) -> SourceSpec:
    if "://" not in text:
        raise ConfigError(f"not a JDBC or SQLAlchemy URL: {shown}; supported: {SUPPORTED_TEXT}")
    try:
        sa_url = make_url(text)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        raise ConfigError(f"malformed SQLAlchemy URL {shown}; supported: {SUPPORTED_TEXT}") from None
    backend = sa_url.get_backend_name()
    dialect = _BACKENDS.get(backend, "generic")
    if dialect == "mysql":
        forbidden = _MYSQL_FORBIDDEN.intersection(sa_url.query)
        if forbidden:
            raise ConfigError(f"{shown}: the URL option(s) {', '.join(sorted(forbidden))} are not allowed")
    try:
        sa_url.get_dialect()
    except Exception:
        raise ConfigError(
            f"no SQLAlchemy dialect {sa_url.drivername!r} is installed for {shown}; supported: {SUPPORTED_TEXT}"
        ) from None
    display = sa_url.render_as_string(hide_password=True).replace("***", MASK)
    return SourceSpec(sa_url, dialect, display, sa_url.password)


def _require_driver(spec: SourceSpec, shown: str) -> None:
    module = None
    if spec.dialect in _DRIVERS and spec.sa_url.drivername in (
        "postgresql+psycopg2",
        "mysql+pymysql",
        "hive",
        "trino",
        "duckdb",
    ):
        module, package = _DRIVERS[spec.dialect]
        if importlib.util.find_spec(module) is None:
            raise ConfigError(
                f"{shown} needs the Python package {package!r}, which is not installed (pip install {package})"
            )
