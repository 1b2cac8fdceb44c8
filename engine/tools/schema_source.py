"""Where the schema tools learn tables, columns and keys.

Two sources with one small interface (``default_schema``, ``tables``, ``describe``):

- :class:`InspectedSchema` wraps the datasource catalog (``engine.datasource.catalog.Catalog``,
  SQLAlchemy inspection, cached); it is handed in, so this package never imports SQLAlchemy.
- :class:`QueriedSchema` asks the database itself with catalog queries (SQLite ``sqlite_master``
  and ``PRAGMA``s, ``information_schema`` elsewhere), each through the read-only boundary.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from engine.common.cancel import CancelToken
from engine.common.errors import InvalidStatementError

SYSTEM_SCHEMAS = frozenset(
    {"information_schema", "pg_catalog", "pg_toast", "mysql", "performance_schema", "sys"}
)


@dataclass(frozen=True)
class TableRow:
    schema: str
    name: str
    kind: str  # TABLE | VIEW
    comment: str = ""


@dataclass(frozen=True)
class ColumnRow:
    name: str
    type: str
    nullable: bool = True
    default: str | None = None
    comment: str = ""


@dataclass(frozen=True)
class TableDescription:
    table: TableRow
    columns: list[ColumnRow]
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[tuple[list[str], str, str, list[str]]] = field(default_factory=list)


def name_regex(pattern: str | None) -> re.Pattern[str] | None:
    """A ``%``/``_`` name pattern (``*`` also matches any run) as a case-insensitive regex."""
    if not pattern or pattern in ("%", "*"):
        return None
    parts = [".*" if c in "%*" else "." if c == "_" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.IGNORECASE)


def _pick(tables: list[TableRow], schema: str | None, name: str) -> TableRow:
    candidates = [t for t in tables if schema is None or t.schema.lower() == schema.lower()]
    for table in candidates:
        if table.name == name:
            return table
    for table in candidates:
        if table.name.lower() == name.lower():
            return table
    label = f"{schema}.{name}" if schema else name
    raise InvalidStatementError(f"no table or view named {label!r}; use list_tables to see what exists")


def _type_label(row: tuple[Any, ...]) -> str:
    """``data_type`` with its length or precision from ``information_schema.columns``."""
    name = str(row[1])
    if len(row) < 8:
        return name
    length, precision, scale = row[5], row[6], row[7]
    if name.lower() in ("numeric", "decimal") and precision is not None:
        return f"{name}({precision},{scale or 0})"
    if length is not None and name.lower() in ("character varying", "varchar", "character", "char"):
        return f"{name}({length})"
    return name


class InspectedSchema:
    """Adapter over the datasource catalog (duck-typed ``Catalog``)."""

    def __init__(self, catalog: Any) -> None:
        self.catalog = catalog

    @property
    def default_schema(self) -> str:
        return str(self.catalog.default_schema)

    def tables(self, schema: str | None, pattern: str | None, cancel: CancelToken) -> list[TableRow]:
        if schema is not None:
            real = self.catalog.resolve_schema(schema)
            if real not in self.catalog.schemas():
                raise InvalidStatementError(
                    f"no schema named {schema!r}; schemas: {', '.join(self.catalog.schemas())}"
                )
            schema_pattern = real.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
        else:
            schema_pattern = None
        found = self.catalog.search_tables(schema_pattern, pattern, None, cancel)
        return [TableRow(t.schema, t.name, t.kind, t.remarks or "") for t in found]

    def describe(self, name: str, schema: str | None, cancel: CancelToken) -> TableDescription:
        try:
            info = self.catalog.find_table(schema, name)
        except InvalidStatementError:
            label = f"{schema}.{name}" if schema else name
            raise InvalidStatementError(
                f"no table or view named {label!r}; use list_tables to see what exists"
            ) from None
        columns = self.catalog.columns(info.schema, [info.name], cancel)[info.name]
        _pk_name, pk = self.catalog.primary_key(info.schema, info.name)
        keys = [
            (list(fk.columns), fk.referred_schema, fk.referred_table, list(fk.referred_columns))
            for fk in self.catalog.foreign_keys(info.schema, info.name)
        ]
        rows = [
            ColumnRow(
                c.spec.name,
                c.source_type or c.spec.type.type_name,
                c.nullable,
                c.default,
                c.spec.comment or "",
            )
            for c in columns
        ]
        return TableDescription(
            TableRow(info.schema, info.name, info.kind, info.remarks or ""), rows, list(pk), keys
        )


Reader = Callable[[str, CancelToken], list[tuple[Any, ...]]]


class QueriedSchema:
    """Catalog queries through the read-only boundary (``read(sql, cancel) -> rows``)."""

    def __init__(self, dialect: str | None, read: Reader) -> None:
        self.dialect = dialect
        self.read = read
        self._default: str | None = None

    def _literal(self, value: str) -> str:
        return exp.Literal.string(value).sql(dialect=self.dialect)

    @property
    def default_schema(self) -> str:
        if self._default is None:
            if self.dialect == "sqlite":
                self._default = "main"
            else:
                query = "SELECT DATABASE()" if self.dialect == "mysql" else "SELECT current_schema()"
                rows = self.read(query, CancelToken())
                self._default = str(rows[0][0]) if rows and rows[0][0] is not None else ""
        return self._default

    def tables(self, schema: str | None, pattern: str | None, cancel: CancelToken) -> list[TableRow]:
        if self.dialect == "sqlite":
            rows = self.read(
                "SELECT 'main', name, upper(type), '' FROM sqlite_master "
                "WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
                cancel,
            )
        else:
            comment = "table_comment" if self.dialect == "mysql" else "''"
            rows = self.read(
                f"SELECT table_schema, table_name, table_type, {comment} FROM information_schema.tables "
                "ORDER BY table_schema, table_name",
                cancel,
            )
        found = [
            TableRow(str(s), str(n), "VIEW" if "VIEW" in str(k).upper() else "TABLE", str(c or ""))
            for s, n, k, c in rows
            if str(s).lower() not in SYSTEM_SCHEMAS and not str(s).lower().startswith("pg_")
        ]
        if schema is not None:
            wanted = self.default_schema if schema.lower() == "default" else schema
            known = sorted({t.schema for t in found} | {self.default_schema})
            if wanted.lower() not in {s.lower() for s in known}:
                raise InvalidStatementError(f"no schema named {schema!r}; schemas: {', '.join(known)}")
            found = [t for t in found if t.schema.lower() == wanted.lower()]
        regex = name_regex(pattern)
        return [t for t in found if regex is None or regex.fullmatch(t.name)]

    def describe(self, name: str, schema: str | None, cancel: CancelToken) -> TableDescription:
        tables = self.tables(None, None, cancel)
        if schema:
            table = _pick(tables, self.default_schema if schema.lower() == "default" else schema, name)
        else:
            try:
                table = _pick([t for t in tables if t.schema == self.default_schema], None, name)
            except InvalidStatementError:
                table = _pick(tables, None, name)
        if self.dialect == "sqlite":
            return self._describe_sqlite(table, cancel)
        return self._describe_information_schema(table, cancel)

    def _describe_sqlite(self, table: TableRow, cancel: CancelToken) -> TableDescription:
        if '"' in table.name:
            raise InvalidStatementError(
                f"cannot describe a table whose name contains a double quote: {table.name!r}"
            )
        info = self.read(f'PRAGMA table_info("{table.name}")', cancel)
        columns = [
            ColumnRow(str(r[1]), str(r[2] or ""), not r[3], None if r[4] is None else str(r[4])) for r in info
        ]
        pk = [str(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
        keys: dict[int, tuple[list[str], str, str, list[str]]] = {}
        for row in self.read(f'PRAGMA foreign_key_list("{table.name}")', cancel):
            entry = keys.setdefault(int(row[0]), ([], "main", str(row[2]), []))
            entry[0].append(str(row[3]))
            entry[3].append(str(row[4]))
        return TableDescription(table, columns, pk, list(keys.values()))

    def _describe_information_schema(self, table: TableRow, cancel: CancelToken) -> TableDescription:
        where = f"table_schema = {self._literal(table.schema)} AND table_name = {self._literal(table.name)}"
        if self.dialect == "mysql":
            select = "column_name, column_type, is_nullable, column_default, column_comment"
        else:
            select = (
                "column_name, data_type, is_nullable, column_default, '', "
                "character_maximum_length, numeric_precision, numeric_scale"
            )
        rows = self.read(
            f"SELECT {select} FROM information_schema.columns WHERE {where} ORDER BY ordinal_position", cancel
        )
        columns = [
            ColumnRow(
                str(r[0]),
                _type_label(r),
                str(r[2]).upper() != "NO",
                None if r[3] is None else str(r[3]),
                str(r[4] or ""),
            )
            for r in rows
        ]
        pk: list[str] = []
        keys: list[tuple[list[str], str, str, list[str]]] = []
        if self.dialect in ("mysql", "postgres"):
            pk, keys = self._keys(table, cancel)
        return TableDescription(table, columns, pk, keys)

    def _keys(
        self, table: TableRow, cancel: CancelToken
    ) -> tuple[list[str], list[tuple[list[str], str, str, list[str]]]]:
        schema, name = self._literal(table.schema), self._literal(table.name)
        if self.dialect == "mysql":
            rows = self.read(
                "SELECT constraint_name, column_name, referenced_table_schema, referenced_table_name, "
                "referenced_column_name FROM information_schema.key_column_usage "
                f"WHERE table_schema = {schema} AND table_name = {name} ORDER BY constraint_name, ordinal_position",
                cancel,
            )
            pk = [str(r[1]) for r in rows if r[0] == "PRIMARY"]
            refs = [(r[0], r[1], r[2], r[3], r[4]) for r in rows if r[3] is not None]
        else:
            rows = self.read(
                "SELECT tc.constraint_name, tc.constraint_type, k.column_name, ccu.table_schema, ccu.table_name, "
                "ccu.column_name FROM information_schema.table_constraints tc "
                "JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name "
                "AND k.constraint_schema = tc.constraint_schema "
                "LEFT JOIN information_schema.constraint_column_usage ccu ON tc.constraint_type = 'FOREIGN KEY' "
                "AND ccu.constraint_name = tc.constraint_name AND ccu.constraint_schema = tc.constraint_schema "
                f"WHERE tc.table_schema = {schema} AND tc.table_name = {name} "
                "AND tc.constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY') ORDER BY tc.constraint_name, k.ordinal_position",
                cancel,
            )
            pk = [str(r[2]) for r in rows if r[1] == "PRIMARY KEY"]
            refs = [(r[0], r[2], r[3], r[4], r[5]) for r in rows if r[1] == "FOREIGN KEY"]
        grouped: dict[str, tuple[list[str], str, str, list[str]]] = {}
        for constraint, column, ref_schema, ref_table, ref_column in refs:
            entry = grouped.setdefault(str(constraint), ([], str(ref_schema), str(ref_table), []))
            if str(column) not in entry[0]:
                entry[0].append(str(column))
            if str(ref_column) not in entry[3]:
                entry[3].append(str(ref_column))
        return pk, list(grouped.values())
