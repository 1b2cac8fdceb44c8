"""Schema exploration tools: ``list_tables``, ``describe_table`` and ``sample_values``.

Tables, columns and keys come from the datasource catalog (SQLAlchemy inspection inside
``engine.datasource``, behind the :class:`~engine.tools.port.CatalogView` port); ``sample_values``
builds its query with sqlglot (identifiers quoted in the datasource's dialect) and runs it through
:func:`engine.tools.sql.read_query`, the read-only boundary, like every SAFE tool that runs SQL.
"""

from __future__ import annotations

import logging

from pydantic import Field
from sqlglot import exp

from engine.common.cancel import CancelToken
from engine.common.errors import InvalidStatementError
from engine.tools.base import RiskLevel, Tool, ToolArgs, ToolContext, ToolResult
from engine.tools.port import CatalogView, ReadSource
from engine.tools.render import cell, markdown_table
from engine.tools.schema_source import InspectedSchema, TableDescription
from engine.tools.sql import guard_dialect, query_limits, read_query

log = logging.getLogger(__name__)

LIST_TABLES = "list_tables"
DESCRIBE_TABLE = "describe_table"
SAMPLE_VALUES = "sample_values"


class ListTablesArgs(ToolArgs):
    schema_name: str | None = Field(
        None, alias="schema", description="Only this schema (database); omit for every schema."
    )
    pattern: str | None = Field(
        None, description="Only tables whose name matches this pattern (% any run, _ one character)."
    )


class DescribeTableArgs(ToolArgs):
    table: str = Field(description="Table or view name, optionally qualified as schema.table.")
    schema_name: str | None = Field(None, alias="schema", description="Schema of the table (optional).")


class SampleValuesArgs(ToolArgs):
    table: str = Field(description="Table or view name, optionally qualified as schema.table.")
    column: str = Field(description="Column whose distinct values to list.")
    schema_name: str | None = Field(None, alias="schema", description="Schema of the table (optional).")
    limit: int = Field(20, ge=1, le=200, description="At most this many distinct values.")


def _split_name(table: str, schema: str | None) -> tuple[str | None, str]:
    name = table.strip()
    if schema is None and "." in name:
        schema, name = name.rsplit(".", 1)
    strip = '"`[]'
    return (schema.strip().strip(strip) if schema else None), name.strip(strip)


def schema_tools(datasource: ReadSource, catalog: CatalogView) -> tuple[Tool, ...]:
    dialect = guard_dialect(datasource)
    source = InspectedSchema(catalog)

    def describe(table: str, schema: str | None, cancel: CancelToken) -> TableDescription:
        wanted_schema, name = _split_name(table, schema)
        if not name:
            raise InvalidStatementError("give a table name")
        return source.describe(name, wanted_schema, cancel)

    def list_tables(args: ListTablesArgs, ctx: ToolContext) -> ToolResult:
        tables = source.tables(args.schema_name, args.pattern, ctx.cancel)
        if not tables:
            return ToolResult("No tables found.")
        rows = [(t.schema, t.name, t.kind, t.comment) for t in tables]
        note = f"\n\n({len(rows)} tables; default schema: {source.default_schema})"
        return ToolResult(markdown_table(["schema", "table", "type", "comment"], rows) + note)

    def describe_table(args: DescribeTableArgs, ctx: ToolContext) -> ToolResult:
        found = describe(args.table, args.schema_name, ctx.cancel)
        table = found.table
        rows = [
            (
                c.name,
                c.type,
                "YES" if c.nullable else "NO",
                "PRI" if c.name in found.primary_key else "",
                c.default,
                c.comment,
            )
            for c in found.columns
        ]
        parts = [
            f"{table.kind.lower()} {table.schema}.{table.name}"
            + (f" -- {table.comment}" if table.comment else ""),
            markdown_table(["column", "type", "nullable", "key", "default", "comment"], rows),
        ]
        if found.primary_key:
            parts.append(f"Primary key: ({', '.join(found.primary_key)})")
        for columns, ref_schema, ref_table, ref_columns in found.foreign_keys:
            parts.append(
                f"Foreign key: ({', '.join(columns)}) references {ref_schema}.{ref_table} ({', '.join(ref_columns)})"
            )
        return ToolResult("\n\n".join(parts))

    def sample_values(args: SampleValuesArgs, ctx: ToolContext) -> ToolResult:
        found = describe(args.table, args.schema_name, ctx.cancel)
        table = found.table
        names = {c.name.lower(): c.name for c in found.columns}
        column = names.get(args.column.strip().strip('"`[]').lower())
        if column is None:
            return ToolResult.error(
                f"{table.name} has no column {args.column!r}; its columns are: {', '.join(c.name for c in found.columns)}"
            )
        target = exp.to_identifier(column, quoted=True)
        qualify = table.schema != source.default_schema and dialect != "sqlite"
        source_table = exp.Table(
            this=exp.to_identifier(table.name, quoted=True),
            db=exp.to_identifier(table.schema, quoted=True) if qualify else None,
        )
        query = (
            exp.select(target)
            .distinct()
            .from_(source_table)
            .where(exp.Not(this=exp.Is(this=target.copy(), expression=exp.Null())))
            .limit(args.limit + 1)
        )
        max_rows, timeout = query_limits(ctx)
        result = read_query(
            datasource,
            query.sql(dialect=dialect),
            max_rows=min(max_rows, args.limit + 1),
            timeout=timeout,
            cancel=ctx.cancel,
        )
        values = [row[0] for row in result.rows[: args.limit]]
        more = len(result.rows) > args.limit or result.truncated
        if not values:
            return ToolResult(f"{table.name}.{column} has no non-NULL values.")
        listed = ", ".join(cell(value) for value in values)
        count = (
            f"first {len(values)} distinct values; there are more"
            if more
            else f"{len(values)} distinct values"
        )
        return ToolResult(f"Distinct non-NULL values of {table.name}.{column} ({count}): {listed}")

    return (
        Tool(
            LIST_TABLES,
            "List the tables and views of the datasource (optionally of one schema, or matching a "
            "name pattern), with their schema, type and comment.",
            RiskLevel.SAFE,
            ListTablesArgs,
            list_tables,
        ),
        Tool(
            DESCRIBE_TABLE,
            "Describe a table or view: its columns with types, nullability, defaults and comments, "
            "and its primary and foreign keys.",
            RiskLevel.SAFE,
            DescribeTableArgs,
            describe_table,
        ),
        Tool(
            SAMPLE_VALUES,
            "List up to `limit` distinct non-NULL values of one column of a table, to learn how "
            "values are written (codes, spellings, formats) before filtering on them.",
            RiskLevel.SAFE,
            SampleValuesArgs,
            sample_values,
        ),
    )
