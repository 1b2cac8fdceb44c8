"""The datasource: a bounded SQLAlchemy pool and one executor for reads and writes.

``execute_read`` is read-only by the database's own rules (see :mod:`engine.datasource.dialect`)
and always rolled back; the sqlglot guard in ``engine.tools.guard`` sits in front of it for the
agent's tools. ``execute_write`` runs one statement in a transaction and commits it. Both enforce
``timeout`` (``query.timeout``) inside the database and on the engine's deadline scheduler, stop the
statement when ``cancel`` fires (for any reason, its deadline included), and raise only
:class:`EngineError` subclasses with short, credential-free text. A timeout's message names the key
whose deadline fired: ``query.timeout`` here, or the caller's (``tool.call.timeout``, ``run.timeout``)
when the caller's deadline came first.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import sqlalchemy

from engine.common.cancel import CancelReason, CancelToken
from engine.common.config import (
    DATASOURCE_POOL_OVERFLOW,
    DATASOURCE_POOL_SIZE,
    JDBC_URL,
    WORK_DIR,
    EngineConf,
)
from engine.common.deadline import DeadlineScheduler
from engine.common.errors import (
    BusyError,
    DatasourceError,
    EngineError,
    InvalidStatementError,
    OperationCanceledError,
    OperationTimeoutError,
)
from engine.common.read_policy import ReadPolicy
from engine.common.result import QueryResult, WriteResult
from engine.datasource import demo
from engine.datasource.dialect import MysqlOps, ops_for, wait_threads
from engine.datasource.failure import describe
from engine.datasource.function_catalog import FunctionCatalog
from engine.datasource.sqltext import (
    READ_KEYWORDS,
    SQLITE_READ_KEYWORDS,
    SqlTextError,
    StatementShape,
    require_single_statement,
)
from engine.datasource.stream import ReadStream, StreamParts
from engine.datasource.typemap import type_columns
from engine.datasource.url import SourceSpec, parse_source

log = logging.getLogger(__name__)

POOL_TIMEOUT = 30.0  # seconds to wait for a free pooled connection
_PROMPTS = {
    "mysql": "mysql",
    "postgresql": "postgresql",
    "sqlite": "sqlite",
    "hive": "hive",
    "trino": "trino",
    "duckdb": "duckdb",
}


@dataclass
class _Run:
    """One statement's stop state, shared by the executing thread and the token's cancel hook."""

    token: CancelToken  # the statement's own token: a child of the caller's, with query.timeout
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopped: bool = False  # the interrupt was sent
    done: bool = False
    threads: list[threading.Thread] = field(default_factory=list)


class Datasource:
    def __init__(
        self,
        spec: SourceSpec,
        *,
        scheduler: DeadlineScheduler,
        pool_size: int = 8,
        max_overflow: int = 8,
        display_url: str | None = None,
        pool_timeout: float = POOL_TIMEOUT,
    ) -> None:
        self.spec = spec
        self.dialect = spec.dialect
        self.sqlglot_dialect = spec.sqlglot_dialect
        self.display_url = display_url or spec.display_url
        self._secrets = [spec.password]
        self._ops = ops_for(spec)
        self._pool_timeout = pool_timeout
        self._scheduler = scheduler
        pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
        options = self._ops.engine_options()
        if options.get("poolclass") is not None:
            pool = {}
        self.sa_engine = sqlalchemy.create_engine(spec.sa_url, **pool, **options)
        read_options = self._ops.read_engine_options()
        self._read_engine = (
            self.sa_engine
            if read_options is None
            else sqlalchemy.create_engine(spec.sa_url, **pool, **read_options)
        )
        if isinstance(self._ops, MysqlOps):
            self._ops.kill_connect = self._control_connection
        if not self._ops.enforces_read_only:
            log.warning(
                "the %s datasource has no database-enforced read-only mode; reads rely on the SQL guard",
                self.dialect,
            )
        self._closed = False
        self._functions = (
            FunctionCatalog(self._read_catalog, self.display_url) if self.dialect == "postgresql" else None
        )
        log.info(
            "datasource %s (%s dialect), pool %d+%d", self.display_url, self.dialect, pool_size, max_overflow
        )

    # --- construction ----------------------------------------------------------------------------
    @classmethod
    def from_conf(cls, conf: EngineConf, scheduler: DeadlineScheduler) -> Datasource:
        """The configured datasource, or the bundled demo database when no JDBC URL is set."""
        url = conf.get(JDBC_URL)
        pool_size = conf.get(DATASOURCE_POOL_SIZE)
        max_overflow = conf.get(DATASOURCE_POOL_OVERFLOW)
        if not url:
            work_dir = conf.get(WORK_DIR)
            path = demo.materialize(Path(work_dir) if work_dir else None)
            spec = parse_source(f"jdbc:sqlite:{path}")
            return cls(
                spec,
                scheduler=scheduler,
                pool_size=pool_size,
                max_overflow=max_overflow,
                display_url=f"demo:{path}",
            )
        return cls(parse_source(url), scheduler=scheduler, pool_size=pool_size, max_overflow=max_overflow)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        scheduler: DeadlineScheduler,
        pool_size: int = 8,
        max_overflow: int = 8,
        pool_timeout: float = POOL_TIMEOUT,
    ) -> Datasource:
        return cls(
            parse_source(url),
            scheduler=scheduler,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
        )

    # --- execution -------------------------------------------------------------------------------
    def execute_read(
        self, sql: str, *, max_rows: int, timeout: float, cancel: CancelToken | None = None
    ) -> QueryResult:
        """Run one statement read-only (database-enforced, always rolled back); at most ``max_rows`` rows."""
        return self._execute(
            sql, read_only=True, max_rows=max(0, int(max_rows)), timeout=timeout, cancel=cancel
        )

    def execute_write(self, sql: str, *, timeout: float, cancel: CancelToken | None = None) -> WriteResult:
        """Run one statement in a transaction and commit it; reports the rows it affected."""
        return self._execute(sql, read_only=False, max_rows=0, timeout=timeout, cancel=cancel)

    def _execute(
        self, sql: str, *, read_only: bool, max_rows: int, timeout: float, cancel: CancelToken | None
    ) -> Any:
        text, scanned = self._prepare(sql, read_only=read_only)
        caller = cancel or CancelToken(self._scheduler)
        caller.raise_if_cancelled()
        timeout = max(0.001, float(timeout))
        message = f"the query timed out after {timeout:g}s (query.timeout) and was stopped"
        with caller.child(timeout, message=message, scheduler=self._scheduler) as token:
            remaining = caller.remaining()  # the caller's deadline may come first
            limit = timeout if remaining is None else max(0.001, min(timeout, remaining))
            return self._execute_under(text, scanned, token, limit, read_only=read_only, max_rows=max_rows)

    def _prepare(self, sql: str, *, read_only: bool) -> tuple[str, StatementShape]:
        if self._closed:
            raise DatasourceError("the datasource is closed")
        try:
            scanned = require_single_statement(sql or "", self.sqlglot_dialect)
        except SqlTextError as exc:
            raise InvalidStatementError(f"the SQL could not be read: {exc.detail}") from None
        if read_only:
            self._check_read_form(scanned)
        return sql.strip().rstrip(";").rstrip(), scanned

    def stream_read(
        self,
        sql: str,
        *,
        timeout: float,
        cancel: CancelToken | None = None,
        batch_rows: int = 10_000,
        max_rows: int = 0,
    ) -> ReadStream:
        """Open one statement as a read-only stream (see :mod:`engine.datasource.stream`): its
        columns are known on return, its rows come in batches of ``batch_rows`` as the caller
        iterates; ``max_rows`` > 0 cuts it there. The caller must close it."""
        text, scanned = self._prepare(sql, read_only=True)
        caller = cancel or CancelToken(self._scheduler)
        caller.raise_if_cancelled()
        pooled = self._checkout(self._read_engine)
        stream = ReadStream(
            self._stream_parts, pooled, caller, timeout=timeout, batch_rows=batch_rows, max_rows=max_rows
        )
        try:
            stream.open(text, scanned.first_keyword)
        except BaseException:
            stream.close()
            raise
        return stream

    @cached_property
    def _stream_parts(self) -> StreamParts:
        return StreamParts(
            dialect=self.dialect,
            ops=self._ops,
            scheduler=self._scheduler,
            release=lambda pooled, discard: self._release(pooled, read_only=True, discard=discard),
            failure=self._failure,
        )

    def _checkout(self, engine: sqlalchemy.Engine) -> Any:
        """A pooled connection, waiting at most the pool timeout."""
        try:
            return engine.raw_connection()
        except sqlalchemy.exc.TimeoutError:
            raise BusyError(
                f"all datasource connections stayed busy for {self._pool_timeout:g}s "
                "(kyuubi.engine.data.agent.datasource.pool.size / pool.overflow)"
            ) from None
        except Exception as exc:
            raise self._connect_error(exc) from None

    def _execute_under(
        self,
        text: str,
        scanned: StatementShape,
        token: CancelToken,
        limit: float,
        *,
        read_only: bool,
        max_rows: int,
    ) -> Any:
        clock = self._scheduler.clock
        started = time.monotonic()
        deadline = token.deadline
        assert deadline is not None  # a child with a timeout always has one
        engine = self._read_engine if read_only else self.sa_engine
        pooled = self._checkout(engine)
        run = _Run(token)
        discard = False
        try:
            result = self._run_on(
                pooled.dbapi_connection,
                run,
                text,
                scanned.first_keyword,
                read_only=read_only,
                max_rows=max_rows,
                limit=limit,
                deadline=deadline,
            )
            if run.stopped or token.cancelled or clock() >= deadline:
                # an interrupted statement may still return (MariaDB's SLEEP and BENCHMARK do): its
                # result is not trustworthy
                raise _Expired()
            discard = read_only and self.dialect == "mysql" and result[2]
        except BaseException as exc:
            # an interrupted connection may be mid-protocol: drop it; after an ordinary SQL error
            # the rollback in _release decides (a failing rollback drops it too)
            discard = run.stopped or not isinstance(exc, Exception)
            raise self._failure(exc, token, deadline) from None
        finally:
            self._release(pooled, read_only=read_only, discard=discard)
        elapsed = time.monotonic() - started
        if read_only:
            columns, rows, truncated = result
            return QueryResult(columns, rows, truncated, elapsed)
        return WriteResult(result, elapsed)

    # --- what the read-only guard checks against ------------------------------------------------
    def read_policy(self, cancel: CancelToken | None = None) -> ReadPolicy:
        """The facts the sqlglot guard needs: PostgreSQL's function volatility (read from
        ``pg_proc`` on first use, then cached) and MySQL's default database."""
        functions = None if self._functions is None else self._functions.policy(cancel)
        default_schema = self.spec.sa_url.database if self.dialect == "mysql" else None
        return ReadPolicy(functions=functions, default_schema=default_schema or None)

    def refresh_read_policy(self) -> None:
        """Read the function catalog again on next use (the metadata catalog's refresh calls this)."""
        if self._functions is not None:
            self._functions.invalidate()

    def _read_catalog(self, sql: str, max_rows: int, timeout: float, cancel: CancelToken) -> QueryResult:
        return self.execute_read(sql, max_rows=max_rows, timeout=timeout, cancel=cancel)

    def _check_read_form(self, scanned: StatementShape) -> None:
        """What the database cannot refuse inside a read-only transaction (session SETs, files
        written by MySQL's INTO OUTFILE) is refused here; the sqlglot guard does the full check."""
        allowed = SQLITE_READ_KEYWORDS if self.dialect == "sqlite" else READ_KEYWORDS
        if scanned.first_keyword not in allowed:
            shown = scanned.first_keyword or "this"
            raise InvalidStatementError(
                f"{shown} statements are not read-only queries; a read must start with "
                "SELECT, WITH, VALUES, TABLE, FROM, EXPLAIN, SHOW or DESCRIBE"
            )
        if self.dialect == "mysql" and scanned.words & {"OUTFILE", "DUMPFILE"}:
            raise InvalidStatementError(
                "SELECT ... INTO OUTFILE/DUMPFILE writes a file; it is not a read-only query"
            )

    def _run_on(
        self,
        dbapi: Any,
        run: _Run,
        sql: str,
        first_keyword: str,
        *,
        read_only: bool,
        max_rows: int,
        limit: float,
        deadline: float,
    ) -> Any:
        ops = self._ops
        interrupt = ops.interrupter(dbapi)

        def stop() -> None:  # the token's cancel hook: quick (network interrupts run on their own thread)
            with run.lock:
                if run.done or run.stopped:
                    return
                run.stopped = True
                if interrupt is not None:
                    thread = interrupt()
                    if isinstance(thread, threading.Thread):
                        run.threads.append(thread)

        token = run.token
        unregister = token.on_cancel(stop)
        # The database's own check (SQLite's progress handler) ends the statement at the deadline
        # even if the interrupt above were lost.
        clock = self._scheduler.clock
        ops.watch(dbapi, lambda: token.cancelled or clock() >= deadline)
        try:
            ops.begin(dbapi, read_only=read_only, timeout=limit)
            if token.cancelled:
                raise token.error()
            if not read_only:
                cursor = dbapi.cursor()
                try:
                    cursor.execute(sql)
                    affected = cursor.rowcount
                finally:
                    cursor.close()
                ops.finish(dbapi, commit=True)
                return -1 if affected is None else int(affected)  # -1: the driver does not know (DDL)
            cursor = ops.cursor(dbapi, first_keyword)
            cursor.execute(ops.read_statement(sql, first_keyword, max_rows + 1))
            if cursor.description is not None:
                rows = list(cursor.fetchmany(max_rows + 1))
                description = cursor.description
            else:
                rows, description = [], None
            truncated = len(rows) > max_rows
            if truncated:
                del rows[max_rows:]
            if not (truncated and self.dialect == "mysql"):
                cursor.close()
                ops.finish(dbapi, commit=False)
            # else: the unbuffered cursor would drain every remaining row; the connection is
            # discarded instead and the server rolls back when it closes
            columns, typed = type_columns(self.dialect, description, [tuple(row) for row in rows])
            return columns, typed, truncated
        finally:
            with run.lock:
                run.done = True
            unregister()
            try:
                ops.unwatch(dbapi)
            except Exception:
                log.debug("could not remove the statement watch", exc_info=True)
            wait_threads(run.threads, 5.0)

    def _release(self, pooled: Any, *, read_only: bool, discard: bool) -> None:
        if not discard:
            try:
                self._ops.finish(pooled.dbapi_connection, commit=False)
                self._ops.end(pooled.dbapi_connection, read_only=read_only)
            except Exception:
                discard = True
        if discard:
            try:
                pooled.invalidate()
            except Exception:
                log.debug("could not invalidate a datasource connection", exc_info=True)
        try:
            pooled.close()
        except Exception:
            log.debug("could not return a datasource connection", exc_info=True)

    # --- errors ----------------------------------------------------------------------------------
    def _failure(self, exc: BaseException, token: CancelToken, deadline: float) -> BaseException:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            return exc
        reason = token.reason
        if reason is not None and reason is not CancelReason.TIMEOUT:
            suffix = "" if reason is CancelReason.USER else f": {token.message}"
            return OperationCanceledError(f"the query was cancelled{suffix}")
        if (
            reason is CancelReason.TIMEOUT
            or isinstance(exc, _Expired)
            or self._ops.timed_out(_orig(exc))
            or (self._scheduler.clock() >= deadline and "interrupt" in str(exc).lower())
        ):
            # the database's own timeout and our deadline are the same instant: either way the
            # message names the key whose deadline it was
            return OperationTimeoutError(token.timeout_message)
        if isinstance(exc, EngineError):
            return exc
        message = describe(exc, self._secrets)
        log.info("datasource query failed: %s", message)
        return DatasourceError(message)

    def _connect_error(self, exc: BaseException) -> DatasourceError:
        message = describe(exc, self._secrets)
        if self.dialect == "sqlite" and self.spec.sqlite_path and not Path(self.spec.sqlite_path).exists():
            message = f"the SQLite database file {self.spec.sqlite_path} does not exist"
        log.warning("cannot connect to the datasource %s: %s", self.display_url, message)
        return DatasourceError(f"cannot connect to the datasource: {message}")

    def _control_connection(self) -> Any:
        """A fresh, unpooled DBAPI connection (MySQL KILL QUERY must not wait for the pool)."""
        dialect = self.sa_engine.dialect
        cargs, cparams = dialect.create_connect_args(self.sa_engine.url)
        cparams = dict(cparams)
        cparams["connect_timeout"] = 5
        return dialect.loaded_dbapi.connect(*cargs, **cparams)

    # --- prompt and lifecycle --------------------------------------------------------------------
    @cached_property
    def _prompt(self) -> str:
        folder = resources.files("engine.datasource").joinpath("prompts")
        name = _PROMPTS.get(self.dialect, "generic")
        return folder.joinpath(f"{name}.md").read_text(encoding="utf-8").strip()

    def prompt_section(self) -> str:
        """The dialect's markdown section for the system prompt."""
        return self._prompt

    def check(self, timeout: float = 10.0) -> None:
        """Probe the database (raises DatasourceError when it is down or rejects the credentials)."""
        self.execute_read("SELECT 1", max_rows=1, timeout=timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._read_engine is not self.sa_engine:
            self._read_engine.dispose()
        self.sa_engine.dispose()

    def __repr__(self) -> str:
        return f"Datasource({self.display_url!r}, dialect={self.dialect!r})"


class _Expired(Exception):
    """The statement came back after its deadline."""


def _orig(exc: BaseException) -> BaseException:
    inner = getattr(exc, "orig", None)
    return inner if isinstance(inner, BaseException) else exc
