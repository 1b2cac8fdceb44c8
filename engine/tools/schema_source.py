"""Where the schema tools learn tables, columns and keys: the datasource catalog (a
:class:`~engine.tools.port.CatalogView`, SQLAlchemy inspection inside ``engine.datasource``,
cached), presented in the shapes the tools render.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.common.cancel import CancelToken
from engine.common.catalog import escape_pattern
from engine.common.errors import InvalidStatementError
from engine.tools.port import CatalogView


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


class InspectedSchema:
    """The datasource catalog as the schema tools see it."""

    def __init__(self, catalog: CatalogView) -> None:
        self.catalog = catalog

    @property
    def default_schema(self) -> str:
        return self.catalog.default_schema

    def tables(self, schema: str | None, pattern: str | None, cancel: CancelToken) -> list[TableRow]:
        if schema is not None:
            real = self.catalog.resolve_schema(schema)
            if real not in self.catalog.schemas():
                raise InvalidStatementError(
                    f"no schema named {schema!r}; schemas: {', '.join(self.catalog.schemas())}"
                )
            schema_pattern = escape_pattern(real)
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
