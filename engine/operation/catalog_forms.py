"""Hive's SQL-text catalog forms, answered from the datasource's catalog in Hive's column shapes
(what PyHive's SQLAlchemy dialect, pandas and Superset send):

- ``SHOW DATABASES|SCHEMAS [LIKE 'p']`` (``database_name``);
- ``SHOW TABLES [IN|FROM db] [[LIKE] 'p']`` (``tab_name``);
- ``DESC[RIBE] [EXTENDED|FORMATTED] [TABLE] [db.]t`` (``col_name``, ``data_type``, ``comment``);
- ``SHOW CREATE TABLE [db.]t`` (``createtab_stmt``, one row per line, as Hive prints it).
"""

from __future__ import annotations

from engine.common.catalog import NamePattern, PatternFlavor, TableInfo
from engine.common.errors import InvalidStatementError, UnsupportedError
from engine.common.statement import (
    DescribeTable,
    ShowCreateTable,
    ShowSchemas,
    ShowTables,
    quote_name,
    quote_string,
)
from engine.common.types import ColumnSpec, HiveType, TableSchema
from engine.operation.context import OperationContext
from engine.operation.operation import Operation
from engine.tools.port import CatalogView

CatalogForm = ShowSchemas | ShowTables | DescribeTable | ShowCreateTable

DATABASES_SCHEMA = TableSchema.of(ColumnSpec("database_name", HiveType.STRING))
TABLES_SCHEMA = TableSchema.of(ColumnSpec("tab_name", HiveType.STRING, "from deserializer"))
DESCRIBE_SCHEMA = TableSchema.of(
    ColumnSpec("col_name", HiveType.STRING, "from deserializer"),
    ColumnSpec("data_type", HiveType.STRING, "from deserializer"),
    ColumnSpec("comment", HiveType.STRING, "from deserializer"),
)
CREATE_TABLE_SCHEMA = TableSchema.of(ColumnSpec("createtab_stmt", HiveType.STRING, "from deserializer"))
_SCHEMAS: dict[type[CatalogForm], TableSchema] = {
    ShowSchemas: DATABASES_SCHEMA,
    ShowTables: TABLES_SCHEMA,
    DescribeTable: DESCRIBE_SCHEMA,
    ShowCreateTable: CREATE_TABLE_SCHEMA,
}


def hive_type_text(spec: ColumnSpec) -> str:
    """Hive's type string as DESCRIBE shows it: ``int``, ``decimal(10,2)``, ``varchar(50)``."""
    if spec.type is HiveType.DECIMAL:
        return f"decimal({spec.precision or 38},{spec.scale or 0})"
    if spec.type in (HiveType.VARCHAR, HiveType.CHAR) and spec.max_length:
        return f"{spec.type.type_name.lower()}({spec.max_length})"
    return spec.type.type_name.lower()


def require_catalog(ctx: OperationContext) -> CatalogView:
    if ctx.catalog is None:
        raise UnsupportedError("no datasource catalog is configured: set kyuubi.engine.data.agent.jdbc.url")
    return ctx.catalog


def _hive_pattern(like: str | None) -> NamePattern:
    try:
        return NamePattern.compile(like, PatternFlavor.HIVE)
    except ValueError as exc:
        raise InvalidStatementError(f"invalid LIKE pattern: {exc}") from None


class CatalogOperation(Operation):
    """SHOW DATABASES / SHOW TABLES / DESCRIBE / SHOW CREATE TABLE; synchronous, fixed schema."""

    def __init__(self, ctx: OperationContext, statement: CatalogForm, text: str) -> None:
        super().__init__(ctx, text, schema=_SCHEMAS[type(statement)], run_async=False)
        self.form = statement

    def run_internal(self) -> None:
        catalog = require_catalog(self.ctx)
        form = self.form
        if isinstance(form, ShowSchemas):
            pattern = _hive_pattern(form.like)
            self.buffer.extend(name for name in catalog.schemas() if pattern.matches(name))
        elif isinstance(form, ShowTables):
            self._show_tables(catalog, form)
        elif isinstance(form, DescribeTable):
            table = catalog.find_table(form.schema, form.table)
            columns = catalog.columns(table.schema, [table.name], self.cancel_token)[table.name]
            self.buffer.extend((c.spec.name, hive_type_text(c.spec), c.spec.comment or "") for c in columns)
        else:
            table = catalog.find_table(form.schema, form.table)
            self.buffer.extend(create_table_lines(catalog, table, self))

    def _show_tables(self, catalog: CatalogView, form: ShowTables) -> None:
        schema = catalog.resolve_schema(form.schema or self.ctx.current_database())
        known = catalog.schemas()
        if form.schema and schema not in known:
            raise InvalidStatementError(
                f"Error while compiling statement: FAILED: SemanticException [Error 10072]: "
                f"Database does not exist: {form.schema}",
                sqlstate="42000",
                vendor_code=10072,
            )
        pattern = _hive_pattern(form.like)
        names = [t.name for t in catalog.tables(schema)] if schema in known else []
        self.buffer.extend(name for name in names if pattern.matches(name))


def create_table_lines(catalog: CatalogView, table: TableInfo, operation: Operation) -> list[str]:
    """Hive's ``SHOW CREATE TABLE`` text for a datasource table, from its catalog entry."""
    columns = catalog.columns(table.schema, [table.name], operation.cancel_token)[table.name]
    kind = "VIEW" if table.kind == "VIEW" else "TABLE"
    _, key = catalog.primary_key(table.schema, table.name) if kind == "TABLE" else (None, [])
    items = [
        f"  {quote_name(column.spec.name)} {hive_type_text(column.spec)}"
        + (f" COMMENT {quote_string(column.spec.comment)}" if column.spec.comment else "")
        for column in columns
    ]
    if key:
        items.append(f"  PRIMARY KEY ({', '.join(quote_name(name) for name in key)}) DISABLE NOVALIDATE")
    lines = [f"CREATE {kind} {quote_name(table.schema)}.{quote_name(table.name)}("]
    lines += [item + ("," if index < len(items) - 1 else ")") for index, item in enumerate(items)]
    if not items:
        lines[0] += ")"
    if table.remarks:
        lines.append(f"COMMENT {quote_string(table.remarks)}")
    return lines
