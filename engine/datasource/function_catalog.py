"""The function-volatility table the read-only guard checks PostgreSQL calls against.

PostgreSQL declares in ``pg_proc.provolatile`` whether each function is immutable (``i``),
stable (``s``: reads, never writes) or volatile (``v``: may do anything). The table is read once
from the datasource itself, through the datasource's own read-only executor, and kept until
:meth:`FunctionCatalog.invalidate` (the metadata catalog's refresh calls it) or until a failed
read is retried.

Every overload is read, in every schema the datasource's user can see in ``pg_proc``, so the
guard can refuse a name as soon as one of its overloads is volatile. Left out are what a query
cannot call: procedures, and functions with an ``internal`` argument (no SQL value has that type;
index, tablesample and language handlers). When the table cannot be read the result is
:meth:`FunctionPolicy.unavailable`: the guard then refuses every named PostgreSQL function call,
and the next read tries again after :data:`RETRY_AFTER` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from engine.common.cancel import CancelToken
from engine.common.errors import EngineError, OperationCanceledError
from engine.common.read_policy import FunctionPolicy

log = logging.getLogger(__name__)

PG_FUNCTIONS_SQL = (
    "SELECT n.nspname, p.proname, string_agg(DISTINCT p.provolatile::text, '') "
    "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
    "WHERE p.prokind <> 'p' AND NOT ('pg_catalog.internal'::pg_catalog.regtype::oid = ANY (p.proargtypes)) "
    "GROUP BY n.nspname, p.proname"
)
MAX_ROWS = 500_000  # (schema, name) pairs; a cut table could hide a volatile overload: refused
LOAD_TIMEOUT = 30.0  # seconds for the catalog query, and for a concurrent caller to wait for it
RETRY_AFTER = 30.0  # seconds before a failed read is tried again
_POLL = 0.1


class CatalogRows(Protocol):
    """The rows of a read (the datasource's QueryResult)."""

    @property
    def rows(self) -> list[tuple[object, ...]]: ...

    @property
    def truncated(self) -> bool: ...


Reader = Callable[[str, int, float, CancelToken], CatalogRows]


class FunctionCatalog:
    """A lazily read, cached :class:`FunctionPolicy`; thread-safe, one load at a time."""

    def __init__(self, read: Reader, label: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read  # (sql, max_rows, timeout, cancel) -> rows, read-only
        self._label = label
        self._clock = clock
        self._state = threading.Lock()  # guards _policy/_failed_at/_generation
        self._loading = threading.Lock()  # held by the one thread that reads the table
        self._policy: FunctionPolicy | None = None
        self._failed_at: float | None = None
        self._generation = 0

    def policy(self, cancel: CancelToken | None = None) -> FunctionPolicy:
        """The cached policy, reading it first when there is none (or a failure is due a retry)."""
        cancel = cancel or CancelToken()
        cached = self._cached()
        if cached is not None:
            return cached
        deadline = self._clock() + LOAD_TIMEOUT
        while not self._loading.acquire(timeout=_POLL):
            cancel.raise_if_cancelled()
            if self._clock() >= deadline:
                return FunctionPolicy.unavailable("the function catalog is still being read; try again")
        try:
            cached = self._cached()  # another thread may have read it meanwhile
            if cached is not None:
                return cached
            with self._state:
                generation = self._generation
            policy = self._load(cancel)
            with self._state:
                if generation == self._generation:
                    self._policy = policy
                    self._failed_at = None if policy.available else self._clock()
            return policy
        finally:
            self._loading.release()

    def invalidate(self) -> None:
        """Forget the table: the next read reads it again (new functions, dropped extensions)."""
        with self._state:
            self._policy = None
            self._failed_at = None
            self._generation += 1
        log.debug("function catalog of %s invalidated", self._label)

    def _cached(self) -> FunctionPolicy | None:
        with self._state:
            policy = self._policy
            if policy is None:
                return None
            if not policy.available and self._failed_at is not None:
                if self._clock() - self._failed_at >= RETRY_AFTER:
                    return None
            return policy

    def _load(self, cancel: CancelToken) -> FunctionPolicy:
        started = self._clock()
        try:
            result = self._read(PG_FUNCTIONS_SQL, MAX_ROWS, LOAD_TIMEOUT, cancel)
        except OperationCanceledError:
            raise
        except EngineError as exc:
            log.warning("cannot read the function catalog of %s: %s", self._label, exc)
            return FunctionPolicy.unavailable(f"the function catalog (pg_proc) could not be read: {exc}")
        if result.truncated:
            log.warning(
                "the function catalog of %s has more than %d names; refusing calls", self._label, MAX_ROWS
            )
            return FunctionPolicy.unavailable(
                f"the function catalog (pg_proc) has more than {MAX_ROWS} names"
            )
        rows = [(str(schema), str(name), str(codes or "")) for schema, name, codes in result.rows]
        policy = FunctionPolicy.from_catalog(rows, f"pg_proc of {self._label}")
        log.info(
            "function catalog of %s read: %d names in %.3f s",
            self._label,
            len(policy),
            self._clock() - started,
        )
        return policy
