"""What differs per database: engine options, read-only and timeout set-up, interrupting a
running statement, and which driver errors mean "timed out" or "cancelled".

All methods work on DBAPI connections checked out of the datasource's bounded pool.

- SQLite: reads use a separate ``mode=ro`` pool whose connections also carry an authorizer
  (only SELECT, reads, recursive CTEs, allow-listed functions and introspection PRAGMAs) and
  ``PRAGMA query_only``; the timeout is a progress handler; cancel is ``interrupt()``.
- PostgreSQL: ``SET TRANSACTION READ ONLY`` and ``SET LOCAL statement_timeout``; cancel is
  the driver's cancel request; rows stream through a server-side cursor where PostgreSQL allows.
- MySQL/MariaDB: ``START TRANSACTION READ ONLY`` and ``max_execution_time`` (MySQL) or
  ``max_statement_time`` (MariaDB); cancel is ``KILL QUERY`` from another connection.
- Others (Hive, Trino, DuckDB, generic): no database-side read-only transaction is available
  (DuckDB opens its file read-only); the sqlglot guard is the boundary there.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import quote

from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPICursor

from engine.datasource.sqltext import QUERY_KEYWORDS
from engine.datasource.url import SourceSpec

log = logging.getLogger(__name__)

_interrupt_ids = itertools.count(1)

# SQLite authorizer action codes (sqlite3.SQLITE_* constants, spelled out for older Pythons)
_SQLITE_OK, _SQLITE_DENY = 0, 1
_SQLITE_PRAGMA, _SQLITE_READ, _SQLITE_SELECT, _SQLITE_FUNCTION, _SQLITE_RECURSIVE = 19, 20, 21, 31, 33
_SQLITE_DENIED_FUNCTIONS = frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"})
_SQLITE_READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "database_list",
        "collation_list",
        "function_list",
        "pragma_list",
        "module_list",
        "compile_options",
    }
)
_SQLITE_VALUE_PRAGMAS = frozenset(
    {
        "user_version",
        "schema_version",
        "application_id",
        "page_count",
        "page_size",
        "encoding",
        "freelist_count",
    }
)


def in_background(action: Callable[[], None], what: str) -> threading.Thread:
    """Run a network interrupt on its own short-lived named thread so cancel() never blocks."""

    def run() -> None:
        try:
            action()
        except Exception as exc:
            log.warning("%s failed: %s", what, type(exc).__name__)

    thread = threading.Thread(target=run, name=f"ds-interrupt-{next(_interrupt_ids)}", daemon=True)
    thread.start()
    return thread


class DialectOps:
    """Generic behaviour: no read-only transaction, no in-database timeout, no driver cancel."""

    enforces_read_only = False

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec

    def engine_options(self) -> dict[str, Any]:
        return {}

    def read_engine_options(self) -> dict[str, Any] | None:
        """Options of a separate read pool (SQLite mode=ro, DuckDB read_only); None: share the pool."""
        return None

    def begin(self, dbapi: DBAPIConnection, *, read_only: bool, timeout: float) -> None:
        """Statements run before the user's SQL on a freshly checked-out connection."""

    def end(self, dbapi: DBAPIConnection, *, read_only: bool) -> None:
        """Undo session-level settings made by :meth:`begin` (the transaction is already over)."""

    def cursor(self, dbapi: DBAPIConnection, first_keyword: str) -> DBAPICursor:
        return dbapi.cursor()

    def read_statement(self, sql: str, first_keyword: str, limit: int) -> str:
        """The text actually run for a read that may return ``limit`` rows."""
        return sql

    def stream_cursor(self, dbapi: DBAPIConnection, first_keyword: str) -> DBAPICursor:
        """A cursor whose ``fetchmany`` reads rows off the database as it is called."""
        return self.cursor(dbapi, first_keyword)

    def describes_after_fetch(self, cursor: DBAPICursor) -> bool:
        """True when ``cursor.description`` is known only after the first fetch."""
        return False

    def interrupter(self, dbapi: DBAPIConnection) -> Callable[[], threading.Thread | None] | None:
        return None

    def finish(self, dbapi: DBAPIConnection, *, commit: bool) -> None:
        """End the statement's transaction: commit a write, roll back everything else."""
        if commit:
            dbapi.commit()
        else:
            dbapi.rollback()

    def watch(self, dbapi: DBAPIConnection, stop: Callable[[], bool]) -> None:
        """Install an in-database check that ends the statement once ``stop()`` is true."""

    def unwatch(self, dbapi: DBAPIConnection) -> None:
        pass

    def timed_out(self, exc: BaseException) -> bool:
        return False


# --- SQLite ----------------------------------------------------------------------------------------
def _sqlite_read_authorizer(
    action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None
) -> int:
    if action in (_SQLITE_SELECT, _SQLITE_READ, _SQLITE_RECURSIVE):
        return _SQLITE_OK
    if action == _SQLITE_FUNCTION:
        return _SQLITE_DENY if (arg2 or "").lower() in _SQLITE_DENIED_FUNCTIONS else _SQLITE_OK
    if action == _SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if name in _SQLITE_READ_PRAGMAS or (name in _SQLITE_VALUE_PRAGMAS and arg2 is None):
            return _SQLITE_OK
    return _SQLITE_DENY


class SqliteOps(DialectOps):
    enforces_read_only = True

    def engine_options(self) -> dict[str, Any]:
        from sqlalchemy.pool import StaticPool

        options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 5.0}}
        if self.spec.sqlite_path is None:  # one shared in-memory database
            options["poolclass"] = StaticPool
        return options

    def read_engine_options(self) -> dict[str, Any] | None:
        path = self.spec.sqlite_path
        if path is None:
            return None

        def connect() -> sqlite3.Connection:
            connection = sqlite3.connect(
                f"file:{quote(path)}?mode=ro", uri=True, check_same_thread=False, timeout=5.0
            )
            connection.execute("PRAGMA query_only = ON")
            return connection

        return {"creator": connect}

    def begin(self, dbapi: DBAPIConnection, *, read_only: bool, timeout: float) -> None:
        if read_only:
            connection = _sqlite(dbapi)
            if self.spec.sqlite_path is None:  # in-memory: no mode=ro pool
                connection.execute("PRAGMA query_only = ON")
            # only while the user's statement runs: SQLAlchemy's own connect-time PRAGMAs must pass
            connection.set_authorizer(_sqlite_read_authorizer)

    def end(self, dbapi: DBAPIConnection, *, read_only: bool) -> None:
        if read_only and self.spec.sqlite_path is None:
            _sqlite(dbapi).execute("PRAGMA query_only = OFF")

    def interrupter(self, dbapi: DBAPIConnection) -> Callable[[], threading.Thread | None]:
        connection = _sqlite(dbapi)

        def interrupt() -> None:
            connection.interrupt()
            return None

        return interrupt

    def watch(self, dbapi: DBAPIConnection, stop: Callable[[], bool]) -> None:
        _sqlite(dbapi).set_progress_handler(lambda: 1 if stop() else 0, 2000)

    def unwatch(self, dbapi: DBAPIConnection) -> None:
        connection = _sqlite(dbapi)
        connection.set_progress_handler(None, 0)
        connection.set_authorizer(None)


def _sqlite(dbapi: DBAPIConnection) -> sqlite3.Connection:
    """The sqlite3 connection behind a pooled DBAPI connection of a SQLite datasource."""
    return cast(sqlite3.Connection, dbapi)


# --- PostgreSQL --------------------------------------------------------------------------------------
_PG_STREAMABLE = QUERY_KEYWORDS - {"FROM"}  # what DECLARE ... CURSOR FOR takes


class PostgresOps(DialectOps):
    enforces_read_only = True

    def engine_options(self) -> dict[str, Any]:
        args: dict[str, Any] = {"application_name": "data-agent-engine"}
        if "connect_timeout" not in self.spec.sa_url.query:
            args["connect_timeout"] = 10
        return {"connect_args": args, "pool_pre_ping": True}

    def begin(self, dbapi: DBAPIConnection, *, read_only: bool, timeout: float) -> None:
        millis = max(1, int(timeout * 1000))
        with contextlib.closing(dbapi.cursor()) as cursor:
            prefix = "SET TRANSACTION READ ONLY; " if read_only else ""
            cursor.execute(f"{prefix}SET LOCAL statement_timeout = {millis}")

    def read_statement(self, sql: str, first_keyword: str, limit: int) -> str:
        """Rows past the cap stay on the server: a cursor declared and fetched in one round trip
        (pg_stat_activity still shows the user's SQL). DECLARE takes SELECT and VALUES only."""
        if first_keyword not in _PG_STREAMABLE:
            return sql
        return f"DECLARE dae_read NO SCROLL CURSOR FOR {sql}\n; FETCH FORWARD {int(limit)} FROM dae_read"

    def stream_cursor(self, dbapi: DBAPIConnection, first_keyword: str) -> DBAPICursor:
        """A server-side cursor (``DECLARE``, then ``FETCH FORWARD n`` per fetch) where
        PostgreSQL allows one (SELECT, WITH, VALUES); a client-side cursor for the rest."""
        if first_keyword not in _PG_STREAMABLE:
            return dbapi.cursor()
        return cast(DBAPICursor, cast(Any, dbapi).cursor(name="dae_stream", scrollable=False))

    def describes_after_fetch(self, cursor: DBAPICursor) -> bool:
        return getattr(cursor, "name", None) is not None

    def interrupter(self, dbapi: DBAPIConnection) -> Callable[[], threading.Thread | None]:
        return lambda: in_background(dbapi.cancel, "PostgreSQL cancel request")

    def timed_out(self, exc: BaseException) -> bool:
        return getattr(exc, "pgcode", None) == "57014" and "statement timeout" in str(exc)


# --- MySQL / MariaDB ---------------------------------------------------------------------------------
class MysqlOps(DialectOps):
    enforces_read_only = True

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec)
        self._mariadb: bool | None = None
        self.kill_connect: Callable[[], Any] | None = None  # set by the datasource

    def engine_options(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if "connect_timeout" not in self.spec.sa_url.query:
            args["connect_timeout"] = 10
        return {"connect_args": args, "pool_pre_ping": True}

    def _is_mariadb(self, dbapi: DBAPIConnection) -> bool:
        if self._mariadb is None:
            self._mariadb = "mariadb" in str(dbapi.get_server_info()).lower()
        return self._mariadb

    def begin(self, dbapi: DBAPIConnection, *, read_only: bool, timeout: float) -> None:
        with contextlib.closing(dbapi.cursor()) as cursor:
            if self._is_mariadb(dbapi):
                cursor.execute(f"SET SESSION max_statement_time = {max(0.001, timeout):.3f}")
            else:
                cursor.execute(f"SET SESSION max_execution_time = {max(1, int(timeout * 1000))}")
            if read_only:
                # START TRANSACTION READ ONLY alone lets DDL through (its implicit commit ends the
                # transaction); a read-only session refuses DDL and temporary tables too.
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
                cursor.execute("START TRANSACTION READ ONLY")
            else:
                cursor.execute("START TRANSACTION")

    def end(self, dbapi: DBAPIConnection, *, read_only: bool) -> None:
        with contextlib.closing(dbapi.cursor()) as cursor:
            variable = "max_statement_time" if self._is_mariadb(dbapi) else "max_execution_time"
            cursor.execute(f"SET SESSION {variable} = DEFAULT")
            if read_only:
                cursor.execute("SET SESSION TRANSACTION READ WRITE")

    def cursor(self, dbapi: DBAPIConnection, first_keyword: str) -> DBAPICursor:
        import pymysql.cursors

        return dbapi.cursor(pymysql.cursors.SSCursor)  # unbuffered: rows beyond the cap stay on the server

    def interrupter(self, dbapi: DBAPIConnection) -> Callable[[], threading.Thread | None]:
        thread_id = int(dbapi.thread_id())
        connect = self.kill_connect

        def kill() -> None:
            if connect is None:
                return
            killer = connect()
            try:
                with killer.cursor() as cursor:
                    cursor.execute(f"KILL QUERY {thread_id}")
            finally:
                killer.close()

        return lambda: in_background(kill, "KILL QUERY")

    def timed_out(self, exc: BaseException) -> bool:
        code = exc.args[0] if getattr(exc, "args", None) else None
        return code in (1969, 3024)  # MariaDB max_statement_time, MySQL max_execution_time


class HiveOps(DialectOps):
    """HiveServer2 (PyHive): no transactions and no driver-level interrupt (CancelOperation would
    share the blocked call's non-thread-safe transport). A timed-out or cancelled statement is
    reported as such when it returns; the server's own query timeout bounds it."""

    def finish(self, dbapi: DBAPIConnection, *, commit: bool) -> None:
        pass


class DuckdbOps(DialectOps):
    enforces_read_only = True

    def read_engine_options(self) -> dict[str, Any] | None:
        if self.spec.sa_url.database in (None, "", ":memory:"):
            return None
        return {"connect_args": {"read_only": True}}

    def interrupter(self, dbapi: DBAPIConnection) -> Callable[[], threading.Thread | None] | None:
        interrupt = getattr(dbapi, "interrupt", None)
        return None if interrupt is None else (lambda: interrupt())  # type: ignore[return-value]


def ops_for(spec: SourceSpec) -> DialectOps:
    return {
        "sqlite": SqliteOps,
        "postgresql": PostgresOps,
        "mysql": MysqlOps,
        "duckdb": DuckdbOps,
        "hive": HiveOps,
    }.get(spec.dialect, DialectOps)(spec)


def wait_threads(threads: list[threading.Thread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
