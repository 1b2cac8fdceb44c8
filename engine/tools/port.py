"""What the tools (and the layers above them) need from a datasource: typed ports.

``engine.datasource.Datasource`` and ``engine.datasource.catalog.Catalog`` implement them; this
package never imports SQLAlchemy, and the layers above reach the datasource only through these.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from engine.common.cancel import CancelToken
from engine.common.catalog import ColumnInfo, ForeignKey, TableInfo
from engine.common.read_policy import ReadPolicy
from engine.common.result import QueryResult, WriteResult
from engine.common.types import ColumnSpec, Row


class RowStream(Protocol):
    """An open streaming read: typed columns at once, then batches of rows as they are iterated.

    Iterating reads the database as it goes (one batch per step); ``close`` ends the statement
    at once, whether or not rows remain. ``truncated``: the caller's row cap cut the result.
    """

    columns: tuple[ColumnSpec, ...]
    rows_read: int
    truncated: bool

    def __iter__(self) -> Iterator[list[Row]]: ...

    def close(self) -> None: ...


class ReadSource(Protocol):
    """Runs reads that the database itself keeps read-only (the second layer of the boundary)."""

    @property
    def sqlglot_dialect(self) -> str:
        """The sqlglot dialect name of the datasource; empty for the generic fallback."""
        ...

    def read_policy(self, cancel: CancelToken | None = None) -> ReadPolicy:
        """What the guard checks calls and relations against (PostgreSQL's function
        volatility, MySQL's default database)."""
        ...

    def execute_read(
        self, sql: str, *, max_rows: int, timeout: float, cancel: CancelToken | None = None
    ) -> QueryResult: ...

    def stream_read(
        self,
        sql: str,
        *,
        timeout: float,
        cancel: CancelToken | None = None,
        batch_rows: int = 10_000,
        max_rows: int = 0,
    ) -> RowStream:
        """The same read-only execution as :meth:`execute_read`, streaming: ``timeout`` bounds
        each database call; ``max_rows`` > 0 cuts the stream there. The caller closes it."""
        ...


class SqlSource(ReadSource, Protocol):
    """A datasource the agent may also change, with approval (``run_mutation_query``)."""

    def execute_write(
        self, sql: str, *, timeout: float, cancel: CancelToken | None = None
    ) -> WriteResult: ...

    def prompt_section(self) -> str:
        """The dialect's markdown section of the system prompt."""
        ...


class CatalogView(Protocol):
    """The datasource's catalog: schemas, tables, columns and keys, searchable by JDBC patterns."""

    @property
    def table_types(self) -> tuple[str, ...]: ...

    @property
    def default_schema(self) -> str: ...

    def invalidate(self) -> None: ...

    def schemas(self) -> list[str]: ...

    def resolve_schema(self, name: str | None) -> str: ...

    def search_schemas(self, pattern: str | None) -> list[str]: ...

    def tables(self, schema: str) -> list[TableInfo]: ...

    def search_tables(
        self,
        schema_pattern: str | None,
        table_pattern: str | None,
        types: Iterable[str] | None = None,
        cancel: CancelToken | None = None,
    ) -> list[TableInfo]: ...

    def find_table(self, schema: str | None, name: str) -> TableInfo: ...

    def search_columns(
        self,
        schema_pattern: str | None,
        table_pattern: str | None,
        column_pattern: str | None,
        cancel: CancelToken | None = None,
    ) -> list[tuple[TableInfo, ColumnInfo]]: ...

    def columns(
        self, schema: str, tables: list[str], cancel: CancelToken | None = None
    ) -> dict[str, list[ColumnInfo]]: ...

    def primary_key(self, schema: str, table: str) -> tuple[str | None, list[str]]: ...

    def foreign_keys(self, schema: str, table: str) -> list[ForeignKey]: ...
