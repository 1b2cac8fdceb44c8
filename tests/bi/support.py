"""Helpers for the BI tests: databases with typed sample tables, a datasource, an engine, and a
small metadata-RPC client over PyHive's own Thrift client.

The engine runs the real wiring: ``engine.datasource.Datasource`` over the test database and
the engine's SQL tools, with the fake OpenAI-compatible server scripting the model.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy
from pyhive import hive
from TCLIService import ttypes

from tests.support import databases
from tests.support.databases import MARIADB_URL, PG_URL

AGENT = "kyuubi.engine.data.agent."

CREATE_ORDERS = """
CREATE TABLE {schema}orders (
    id INTEGER PRIMARY KEY,
    customer VARCHAR(40) NOT NULL,
    amount DECIMAL(10,2),
    quantity BIGINT,
    price DOUBLE PRECISION,
    paid BOOLEAN,
    ordered_on DATE,
    created_at TIMESTAMP NULL,
    note TEXT
)"""
CREATE_ITEMS = """
CREATE TABLE {schema}order_items (
    order_id INTEGER NOT NULL REFERENCES {schema}orders(id),
    line_no INTEGER NOT NULL,
    sku VARCHAR(20),
    PRIMARY KEY (order_id, line_no)
)"""
ORDERS = [
    (1, "ada", decimal.Decimal("12.50"), 3, 4.25, True, datetime.date(2024, 1, 5),
     datetime.datetime(2024, 1, 5, 10, 30, 0), "first"),
    (2, "bob", decimal.Decimal("7.25"), 1, 7.25, False, datetime.date(2024, 2, 1),
     datetime.datetime(2024, 2, 1, 8, 0, 0), None),
    (3, "ada", None, None, None, None, None, None, "nulls"),
]  # fmt: skip


@dataclass
class Database:
    """One test database/schema with the sample tables; ``schema`` is what clients see."""

    kind: str  # sqlite | postgresql | mariadb
    url: str  # SQLAlchemy URL the engine uses
    schema: str

    def engine(self) -> sqlalchemy.Engine:
        return sqlalchemy.create_engine(self.url)


def _fill(engine: sqlalchemy.Engine, prefix: str) -> None:
    with engine.begin() as connection:
        connection.exec_driver_sql(CREATE_ORDERS.format(schema=prefix))
        connection.exec_driver_sql(CREATE_ITEMS.format(schema=prefix))
        connection.exec_driver_sql(f"CREATE VIEW {prefix}big_orders AS SELECT id, amount FROM {prefix}orders")
        table = sqlalchemy.Table(
            "orders", sqlalchemy.MetaData(), autoload_with=connection, schema=prefix.rstrip(".") or None
        )
        connection.execute(
            table.insert(), [dict(zip(table.columns.keys(), row, strict=True)) for row in ORDERS]
        )
        connection.exec_driver_sql(f"INSERT INTO {prefix}order_items VALUES (1, 1, 'x-1'), (1, 2, 'x-2')")


def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / f"bi-{uuid.uuid4().hex[:8]}.db"
    url = f"sqlite:///{path}"
    engine = sqlalchemy.create_engine(url)
    _fill(engine, "")
    engine.dispose()
    yield Database("sqlite", url, "main")
    path.unlink(missing_ok=True)


def postgres_database() -> Iterator[Database]:
    with databases.pg_schema("bi") as schema:
        yield from _filled("postgresql", PG_URL, schema)


def mariadb_database() -> Iterator[Database]:
    with databases.mariadb_database("bi") as schema:
        yield from _filled("mariadb", MARIADB_URL, schema)


def _filled(kind: str, url: str, schema: str) -> Iterator[Database]:
    """The sample tables in ``schema`` on the server at ``url``."""
    admin = sqlalchemy.create_engine(url)
    try:
        _fill(admin, schema + ".")
    finally:
        admin.dispose()
    yield Database(kind, url, schema)


# --- engine -------------------------------------------------------------------------------------
def start_bi_engine(
    start_engine: Any, tmp_path: Path, url: str, llm: Any = None, conf: dict[str, str] | None = None
) -> Any:
    """An engine over ``url`` with the real datasource and tools; the fake LLM when given."""
    values = {AGENT + "jdbc.url": url}
    if llm is not None:
        values.update(
            {
                AGENT + "provider": "OPENAI_COMPATIBLE",
                AGENT + "openai.endpoint": llm.url,
                AGENT + "openai.api.key": "sk-bi-0123456789abcdefghij",
                AGENT + "model": "fake-model",
                AGENT + "llm.retry.backoff": "PT0.01S",
            }
        )
    values.update(conf or {})
    return start_engine(values)


def connect(engine: Any, user: str = "alice", configuration: dict[str, str] | None = None) -> Any:
    return hive.connect(host=engine.host, port=engine.port, username=user, configuration=configuration)


# --- metadata RPCs over PyHive's Thrift client ---------------------------------------------------
_TYPE_NAMES = {value: name for name, value in ttypes.TTypeId._NAMES_TO_VALUES.items()}


@dataclass
class MetaResult:
    columns: list[tuple[str, str]]  # (name, TTypeId name)
    rows: list[tuple[Any, ...]]
    op_type: int


def _column_values(column: Any) -> list[Any]:
    for field in ("boolVal", "byteVal", "i16Val", "i32Val", "i64Val", "doubleVal", "stringVal", "binaryVal"):
        holder = getattr(column, field)
        if holder is not None:
            nulls = holder.nulls or b""
            values = list(holder.values)
            return [
                None if index // 8 < len(nulls) and nulls[index // 8] & (1 << (index % 8)) else value
                for index, value in enumerate(values)
            ]
    raise AssertionError("empty column")


def metadata(connection: Any, rpc: str, **fields: Any) -> MetaResult:
    """Call one metadata RPC, then GetResultSetMetadata and FetchResults(50) until empty."""
    client, session = connection.client, connection.sessionHandle
    request = getattr(ttypes, f"T{rpc}Req")(sessionHandle=session, **fields)
    response = getattr(client, rpc)(request)
    assert response.status.statusCode == ttypes.TStatusCode.SUCCESS_STATUS, response.status
    handle = response.operationHandle
    try:
        meta = client.GetResultSetMetadata(ttypes.TGetResultSetMetadataReq(operationHandle=handle))
        assert meta.status.statusCode == ttypes.TStatusCode.SUCCESS_STATUS, meta.status
        columns = [
            (column.columnName, _TYPE_NAMES[column.typeDesc.types[0].primitiveEntry.type])
            for column in meta.schema.columns
        ]
        rows: list[tuple[Any, ...]] = []
        while True:
            fetched = client.FetchResults(
                ttypes.TFetchResultsReq(
                    operationHandle=handle, orientation=ttypes.TFetchOrientation.FETCH_NEXT, maxRows=50
                )
            )
            assert fetched.status.statusCode == ttypes.TStatusCode.SUCCESS_STATUS, fetched.status
            batch = [_column_values(column) for column in fetched.results.columns or []]
            if not batch or not batch[0]:
                break
            rows.extend(zip(*batch, strict=True))
        return MetaResult(columns, rows, handle.operationType)
    finally:
        client.CloseOperation(ttypes.TCloseOperationReq(operationHandle=handle))


def metadata_error(connection: Any, rpc: str, **fields: Any) -> str:
    """Call an RPC expected to fail; return the error message."""
    request = getattr(ttypes, f"T{rpc}Req")(sessionHandle=connection.sessionHandle, **fields)
    response = getattr(connection.client, rpc)(request)
    assert response.status.statusCode == ttypes.TStatusCode.ERROR_STATUS, response.status
    return str(response.status.errorMessage)
