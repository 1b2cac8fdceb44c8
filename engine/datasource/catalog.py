"""The datasource's real catalog, read through SQLAlchemy inspection, for metadata RPCs and the
Hive SQL-text forms (SHOW SCHEMAS, SHOW TABLES, DESCRIBE).

- Schemas are the database's schemas (SQLite ``main``, PostgreSQL schemas, MySQL/MariaDB
  databases); system schemas are hidden. ``default`` (what Hive clients ``USE``) names the
  datasource's default schema unless a schema of that name exists.
- Search arguments follow JDBC ``DatabaseMetaData`` pattern semantics: ``%`` any run of
  characters, ``_`` one character, ``\\`` escapes either; None or empty matches everything.
  As in HiveServer2, ``*`` and ``.*`` (what impyla sends) also match any run. Matching ignores
  case, as Hive's metastore does.
- Results are cached for ``catalog.cache.ttl``; :meth:`Catalog.invalidate` drops them (SET or
  a confOverlay calls it), and with them the datasource's function-volatility table that the
  read-only guard checks against. Inspection runs outside the cache lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import sqlalchemy
from sqlalchemy import types as satypes
from sqlalchemy.engine.reflection import Inspector, ObjectKind

from engine.common.cancel import CancelToken
from engine.common.catalog import (
    TABLE_TYPES,
    ColumnInfo,
    ForeignKey,
    NamePattern,
    TableInfo,
    is_literal_pattern,
    is_system_schema,
    unescape_pattern,
)
from engine.common.config import CATALOG_CACHE_TTL, EngineConf
from engine.common.errors import DatasourceError, EngineError, InvalidStatementError
from engine.common.redaction import redact_text
from engine.common.types import ColumnSpec, HiveType
from engine.datasource.datasource import Datasource

log = logging.getLogger(__name__)

T = TypeVar("T")

VARCHAR_MAX = 65535  # Hive's VARCHAR limit; longer strings are STRING


# --- SQLAlchemy types -> Hive types -------------------------------------------------------------
def hive_column(name: str, sa_type: satypes.TypeEngine[Any], comment: str | None = None) -> ColumnSpec:
    """The Hive column a datasource column of SQLAlchemy type ``sa_type`` is presented as."""
    comment = comment or ""
    type_name = type(sa_type).__name__.upper()
    if isinstance(sa_type, satypes.Boolean):
        return ColumnSpec(name, HiveType.BOOLEAN, comment)
    if isinstance(sa_type, satypes.Integer):
        if type_name == "TINYINT":
            return ColumnSpec(name, HiveType.TINYINT, comment)
        if isinstance(sa_type, satypes.SmallInteger):
            return ColumnSpec(name, HiveType.SMALLINT, comment)
        if isinstance(sa_type, satypes.BigInteger):
            return ColumnSpec(name, HiveType.BIGINT, comment)
        return ColumnSpec(name, HiveType.INT, comment)
    if isinstance(sa_type, satypes.Float):  # REAL is 8 bytes in SQLite; widening is always safe
        return ColumnSpec(name, HiveType.DOUBLE, comment)
    if isinstance(sa_type, satypes.Numeric):
        precision = getattr(sa_type, "precision", None)
        scale = getattr(sa_type, "scale", None)
        if precision is None:
            precision, scale = 38, 18 if scale is None else scale
        return ColumnSpec(
            name, HiveType.DECIMAL, comment, precision=min(int(precision), 38), scale=int(scale or 0)
        )
    if isinstance(sa_type, satypes.DateTime):
        return ColumnSpec(name, HiveType.TIMESTAMP, comment)
    if isinstance(sa_type, satypes.Date):
        return ColumnSpec(name, HiveType.DATE, comment)
    if isinstance(sa_type, satypes._Binary):
        return ColumnSpec(name, HiveType.BINARY, comment)
    if isinstance(sa_type, satypes.String) and not isinstance(sa_type, satypes.Enum):
        length = getattr(sa_type, "length", None)
        if length and 0 < length <= 255 and isinstance(sa_type, satypes.CHAR):
            return ColumnSpec(name, HiveType.CHAR, comment, max_length=int(length))
        if length and 0 < length <= VARCHAR_MAX and not isinstance(sa_type, satypes.Text):
            return ColumnSpec(name, HiveType.VARCHAR, comment, max_length=int(length))
    return ColumnSpec(name, HiveType.STRING, comment)


# --- the catalog --------------------------------------------------------------------------------
class Catalog:
    """Cached, pattern-searchable view of one datasource's catalog. Thread-safe."""

    table_types = TABLE_TYPES

    def __init__(self, datasource: Datasource, conf: EngineConf) -> None:
        self._datasource = datasource
        self._ttl = conf.get(CATALOG_CACHE_TTL)
        self._lock = threading.Lock()
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._generation = 0

    # --- cache ---------------------------------------------------------------------------------
    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()
            self._generation += 1
        self._datasource.refresh_read_policy()
        log.debug("catalog cache invalidated")

    def _cached(self, key: tuple[Any, ...], load: Callable[[], T]) -> T:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            generation = self._generation
            if hit is not None and hit[0] > now:
                return hit[1]  # type: ignore[no-any-return]
        value = load()
        with self._lock:
            if self._ttl > 0 and generation == self._generation:
                self._cache[key] = (time.monotonic() + self._ttl, value)
        return value

    def _inspect(self, action: Callable[[Inspector], T], what: str) -> T:
        try:
            with self._datasource.sa_engine.connect() as connection:
                return action(sqlalchemy.inspect(connection))
        except EngineError:
            raise
        except Exception as exc:
            log.warning("catalog inspection failed (%s): %s", what, redact_text(str(exc)))
            raise DatasourceError(
                f"could not read {what} from the datasource: {redact_text(str(exc))}"
            ) from None

    # --- schemas -------------------------------------------------------------------------------
    @property
    def default_schema(self) -> str:
        return self._cached(
            ("default",),
            lambda: self._inspect(lambda i: i.default_schema_name or "main", "the default schema"),
        )

    def schemas(self) -> list[str]:
        def load() -> list[str]:
            names = self._inspect(lambda i: i.get_schema_names(), "the schemas")
            return sorted(n for n in names if not is_system_schema(n))

        return self._cached(("schemas",), load)

    def resolve_schema(self, name: str | None) -> str:
        """A schema name as clients send it (``default``, empty, any case) -> the real name."""
        if not name:
            return self.default_schema
        names = self.schemas()
        if name in names:
            return name
        for real in names:
            if real.lower() == name.lower():
                return real
        if name.lower() == "default":
            return self.default_schema
        return name

    def search_schemas(self, pattern: str | None) -> list[str]:
        if is_literal_pattern(pattern):
            assert pattern is not None
            wanted = self.resolve_schema(unescape_pattern(pattern))
            return [name for name in self.schemas() if name == wanted]
        compiled = NamePattern.compile(pattern)
        return [name for name in self.schemas() if compiled.matches(name)]

    # --- tables --------------------------------------------------------------------------------
    def tables(self, schema: str) -> list[TableInfo]:
        def read(inspector: Inspector) -> list[TableInfo]:
            query_schema = self._query_schema(inspector, schema)
            remarks: dict[str, str] = {}
            try:
                comments = inspector.get_multi_table_comment(schema=query_schema, kind=ObjectKind.ANY)
                remarks = {key[1]: (value or {}).get("text") or "" for key, value in comments.items()}
            except NotImplementedError:
                pass
            found = [
                TableInfo(schema, name, "TABLE", remarks.get(name, ""))
                for name in inspector.get_table_names(query_schema)
            ]
            found += [
                TableInfo(schema, name, "VIEW", remarks.get(name, ""))
                for name in inspector.get_view_names(query_schema)
            ]
            return sorted(found, key=lambda table: table.name)

        return self._cached(("tables", schema), lambda: self._inspect(read, f"the tables of {schema}"))

    def search_tables(
        self,
        schema_pattern: str | None,
        table_pattern: str | None,
        types: Iterable[str] | None = None,
        cancel: CancelToken | None = None,
    ) -> list[TableInfo]:
        wanted_types = {t.upper() for t in types} if types else None
        compiled = NamePattern.compile(table_pattern)
        found: list[TableInfo] = []
        for schema in self.search_schemas(schema_pattern):
            if cancel is not None:
                cancel.raise_if_cancelled()
            for table in self.tables(schema):
                if compiled.matches(table.name) and (wanted_types is None or table.kind in wanted_types):
                    found.append(table)
        return found

    def find_table(self, schema: str | None, name: str) -> TableInfo:
        real_schema = self.resolve_schema(schema)
        tables = self.tables(real_schema) if real_schema in self.schemas() else []
        for table in tables:
            if table.name == name:
                return table
        for table in tables:
            if table.name.lower() == name.lower():
                return table
        label = f"{schema}.{name}" if schema else name
        raise InvalidStatementError(
            f"Error while compiling statement: FAILED: SemanticException [Error 10001]: Table not found {label}",
            sqlstate="42S02",
            vendor_code=10001,
        )

    # --- columns and keys ----------------------------------------------------------------------
    def search_columns(
        self,
        schema_pattern: str | None,
        table_pattern: str | None,
        column_pattern: str | None,
        cancel: CancelToken | None = None,
    ) -> list[tuple[TableInfo, ColumnInfo]]:
        """Columns matching the patterns, ordered by schema, table and ordinal position."""
        compiled = NamePattern.compile(column_pattern)
        by_schema: dict[str, list[TableInfo]] = {}
        for table in self.search_tables(schema_pattern, table_pattern, None, cancel):
            by_schema.setdefault(table.schema, []).append(table)
        found: list[tuple[TableInfo, ColumnInfo]] = []
        for schema, tables in by_schema.items():
            columns = self.columns(schema, [table.name for table in tables], cancel)
            for table in tables:
                found.extend(
                    (table, column) for column in columns[table.name] if compiled.matches(column.spec.name)
                )
        return found

    def columns(
        self, schema: str, tables: list[str], cancel: CancelToken | None = None
    ) -> dict[str, list[ColumnInfo]]:
        """Columns of ``tables`` in ``schema`` (one multi-table inspection for the cache misses)."""
        now = time.monotonic()
        result: dict[str, list[ColumnInfo]] = {}
        missing: list[str] = []
        with self._lock:
            generation = self._generation
            for table in tables:
                hit = self._cache.get(("columns", schema, table))
                if hit is not None and hit[0] > now:
                    result[table] = hit[1]
                else:
                    missing.append(table)
        if missing:
            if cancel is not None:
                cancel.raise_if_cancelled()
            loaded = self._inspect(
                lambda i: self._read_columns(i, schema, missing), f"the columns of {schema}"
            )
            with self._lock:
                if self._ttl > 0 and generation == self._generation:
                    expiry = time.monotonic() + self._ttl
                    for table, columns in loaded.items():
                        self._cache[("columns", schema, table)] = (expiry, columns)
            result.update(loaded)
        return {table: result.get(table, []) for table in tables}

    def _read_columns(
        self, inspector: Inspector, schema: str, tables: list[str]
    ) -> dict[str, list[ColumnInfo]]:
        query_schema = self._query_schema(inspector, schema)
        raw = inspector.get_multi_columns(schema=query_schema, filter_names=tables, kind=ObjectKind.ANY)
        out: dict[str, list[ColumnInfo]] = {}
        for (_schema, table), columns in raw.items():
            out[table] = [
                ColumnInfo(
                    spec=hive_column(column["name"], column["type"], column.get("comment")),
                    ordinal=position,
                    nullable=bool(column.get("nullable", True)),
                    default=None if column.get("default") is None else str(column.get("default")),
                    autoincrement=column.get("autoincrement") is True,
                    source_type=_type_label(column["type"]),
                )
                for position, column in enumerate(columns, start=1)
            ]
        return out

    def primary_key(self, schema: str, table: str) -> tuple[str | None, list[str]]:
        def read(inspector: Inspector) -> tuple[str | None, list[str]]:
            constraint = (
                inspector.get_pk_constraint(table, schema=self._query_schema(inspector, schema)) or {}
            )
            return constraint.get("name"), list(constraint.get("constrained_columns") or [])

        return self._cached(
            ("pk", schema, table), lambda: self._inspect(read, f"the primary key of {schema}.{table}")
        )

    def foreign_keys(self, schema: str, table: str) -> list[ForeignKey]:
        def read(inspector: Inspector) -> list[ForeignKey]:
            query_schema = self._query_schema(inspector, schema)
            keys = []
            for fk in inspector.get_foreign_keys(table, schema=query_schema):
                keys.append(
                    ForeignKey(
                        name=fk.get("name"),
                        schema=schema,
                        table=table,
                        columns=tuple(fk.get("constrained_columns") or ()),
                        referred_schema=fk.get("referred_schema") or schema,
                        referred_table=fk["referred_table"],
                        referred_columns=tuple(fk.get("referred_columns") or ()),
                    )
                )
            return keys

        return self._cached(
            ("fk", schema, table), lambda: self._inspect(read, f"the foreign keys of {schema}.{table}")
        )

    @staticmethod
    def _query_schema(inspector: Inspector, schema: str) -> str | None:
        """SQLAlchemy wants None for the default schema on some dialects (SQLite's ``main`` works
        either way; passing the name keeps PostgreSQL and MySQL explicit)."""
        return None if schema == inspector.default_schema_name else schema


def _type_label(sa_type: Any) -> str:
    try:
        return str(sa_type)
    except Exception:  # some reflected types cannot compile without a dialect
        return type(sa_type).__name__
