"""The function-volatility table the read-only guard checks PostgreSQL calls against: read from
the real ``pg_proc``, cached, refreshed with the catalog, and fail-closed when it cannot be read."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field

import pytest

from engine.common.cancel import CancelReason, CancelToken
from engine.common.config import EngineConf
from engine.common.deadline import DeadlineScheduler
from engine.common.errors import DatasourceError, OperationCanceledError
from engine.common.read_policy import Volatility
from engine.datasource import Datasource
from engine.datasource.catalog import Catalog
from engine.datasource.function_catalog import RETRY_AFTER, FunctionCatalog
from engine.tools import ReadOnlyViolationError, read_query
from tests.support.databases import pg_query


def _read(datasource: Datasource, sql: str) -> list[tuple[object, ...]]:
    return read_query(datasource, sql, max_rows=10, timeout=10, cancel=CancelToken()).rows


def test_the_policy_is_read_from_pg_proc_and_cached(pg_ds: Datasource) -> None:
    policy = pg_ds.read_policy().functions
    assert policy is not None and policy.available and "pg_proc" in policy.source
    assert len(policy) > 1000
    assert policy.volatility("lower", "pg_catalog") is Volatility.IMMUTABLE
    assert policy.volatility("now") is Volatility.STABLE
    assert policy.volatility("random") is Volatility.VOLATILE
    assert policy.volatility("brin_summarize_new_values") is Volatility.VOLATILE
    assert policy.volatility("system") is None  # a tablesample handler (internal argument) cannot be called
    assert pg_ds.read_policy().functions is policy  # read once
    pg_ds.refresh_read_policy()
    assert pg_ds.read_policy().functions is not policy


def test_a_function_created_later_is_known_after_a_catalog_refresh(pg_ds: Datasource, pg_schema: str) -> None:
    name = f"dae_new_{uuid.uuid4().hex[:8]}"
    assert _read(pg_ds, "SELECT count(*) FROM customers")  # the function table is read now
    pg_query(f"CREATE FUNCTION {pg_schema}.{name}() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 7'")
    pg_query(f"CREATE FUNCTION {pg_schema}.{name}_v() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 8'")
    with pytest.raises(ReadOnlyViolationError, match=f"no function named {name}"):
        _read(pg_ds, f"SELECT {name}()")
    Catalog(pg_ds, EngineConf.load([], environ={})).invalidate()  # SET ...catalog.refresh=true does this
    assert _read(pg_ds, f"SELECT {name}()") == [(7,)]
    with pytest.raises(ReadOnlyViolationError, match="volatile"):
        _read(pg_ds, f"SELECT {name}_v()")


def test_an_unreadable_catalog_fails_closed(unused_port: int, scheduler: DeadlineScheduler) -> None:
    datasource = Datasource.from_url(
        f"jdbc:postgresql://127.0.0.1:{unused_port}/test?user=postgres", scheduler=scheduler
    )
    try:
        policy = datasource.read_policy().functions
        assert policy is not None and not policy.available
        assert "could not be read" in policy.source
        with pytest.raises(ReadOnlyViolationError, match="cannot be vouched for"):
            _read(datasource, "SELECT count(*) FROM customers")
        with pytest.raises(DatasourceError):
            _read(datasource, "SELECT 1")  # no function: the guard passes it, the database is down
    finally:
        datasource.close()


def test_other_dialects_have_no_volatility_catalog(
    mysql_ds: Datasource, mysql_db: str, sqlite_ds: Datasource
) -> None:
    assert mysql_ds.read_policy().functions is None
    assert mysql_ds.read_policy().default_schema == mysql_db
    assert sqlite_ds.read_policy().functions is None and sqlite_ds.read_policy().default_schema is None


# --- the cache on its own, over a fake reader ----------------------------------------------------
@dataclass
class FakeRows:
    rows: list[tuple[object, ...]]
    truncated: bool = False


@dataclass
class FakeReader:
    """Answers the catalog query like PostgreSQL would, or fails; counts its reads."""

    fail: bool = False
    truncated: bool = False
    reads: int = 0
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=lambda: _set(threading.Event()))

    def __call__(self, sql: str, max_rows: int, timeout: float, cancel: CancelToken) -> FakeRows:
        self.reads += 1
        self.entered.set()
        assert self.release.wait(10)
        assert "pg_proc" in sql and max_rows > 0 and timeout > 0
        if self.fail:
            raise DatasourceError("connection refused")
        return FakeRows([("pg_catalog", "lower", "i"), ("pg_catalog", "random", "v")], self.truncated)


def _set(event: threading.Event) -> threading.Event:
    event.set()
    return event


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failed_read_is_retried_after_a_while() -> None:
    reader, clock = FakeReader(fail=True), FakeClock()
    catalog = FunctionCatalog(reader, "test", clock)
    assert not catalog.policy().available and reader.reads == 1
    clock.now += RETRY_AFTER / 2
    assert not catalog.policy().available and reader.reads == 1  # not hammered
    reader.fail = False
    clock.now += RETRY_AFTER
    assert catalog.policy().available and reader.reads == 2
    assert catalog.policy().volatility("lower") is Volatility.IMMUTABLE and reader.reads == 2


def test_a_cut_table_is_refused() -> None:
    policy = FunctionCatalog(FakeReader(truncated=True), "test").policy()
    assert not policy.available and "more than" in policy.source


def test_concurrent_first_reads_read_once() -> None:
    reader = FakeReader()
    reader.release.clear()
    catalog = FunctionCatalog(reader, "test")
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(catalog.policy()), name=f"test-reader-{n}")
        for n in range(3)
    ]
    threads[0].start()
    assert reader.entered.wait(10)
    for thread in threads[1:]:
        thread.start()
    reader.release.set()
    for thread in threads:
        thread.join(10)
    assert reader.reads == 1 and len(results) == 3 and all(p is results[0] for p in results)


def test_a_cancelled_wait_for_the_reader_stops() -> None:
    reader = FakeReader()
    reader.release.clear()
    catalog = FunctionCatalog(reader, "test")
    first = threading.Thread(target=catalog.policy, name="test-reader-first")
    first.start()
    assert reader.entered.wait(10)
    cancel = CancelToken()
    cancel.cancel(CancelReason.USER)
    with pytest.raises(OperationCanceledError):
        catalog.policy(cancel)
    reader.release.set()
    first.join(10)
    assert catalog.policy().available and reader.reads == 1
