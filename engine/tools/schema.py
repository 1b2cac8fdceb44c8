"""Schema exploration tools: ``list_tables``, ``describe_table`` and ``sample_values``.

Tables, columns and keys come from the datasource catalog (SQLAlchemy inspection inside
``engine.datasource``); ``sample_values`` builds its query with sqlglot (identifiers quoted in
the datasource's dialect) and runs it through :func:`engine.tools.sql.read_query`, the read-only
boundary, like every SAFE tool that runs SQL.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import Field
from sqlglot import exp

from engine.common.config import EngineConf
from engine.common.errors import InvalidStatementError
from engine.datasource.catalog import Catalog, TableInfo
from engine.tools.base import RiskLevel, Tool, ToolArgs, ToolContext, ToolResult
from engine.tools.render import cell, markdown_table
from engine.tools.sql import guard_dialect, query_limits, read_query

log = logging.getLogger(__name__)


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


def schema_tools(datasource: Any, conf: EngineConf) -> tuple[Tool, ...]:
    catalog = Catalog(datasource, conf)

    def find(table: str, schema: str | None) -> TableInfo:
        wanted_schema, name = _split_name(table, schema)
        if not name:
            raise InvalidStatementError("give a table name")
        try:
            return catalog.find_table(wanted_schema, name)
        except InvalidStatementError:
            raise InvalidStatementError(
                f"no table or view named {table!r}"
                + (f" in schema {wanted_schema!r}" if wanted_schema else "")
                + "; use list_tables to see what exists"
            ) from None

    def list_tables(args: ListTablesArgs, ctx: ToolContext) -> ToolResult:
        schema = args.schema_name
        if schema is not None and catalog.resolve_schema(schema) not in catalog.schemas():
            return ToolResult.error(f"no schema named {schema!r}; schemas: {', '.join(catalog.schemas())}")
        schema_pattern = catalog.resolve_schema(schema).replace("_", "\\_") if schema else None
        tables = catalog.search_tables(schema_pattern, args.pattern, None, ctx.cancel)
        if not tables:
            return ToolResult("No tables found.")
        rows = [(t.schema, t.name, t.kind, t.remarks or "") for t in tables]
        default = catalog.default_schema
        note = f"\n\n({len(rows)} tables; default schema: {default})"
        return ToolResult(markdown_table(["schema", "table", "type", "comment"], rows) + note)

    def describe_table(args: DescribeTableArgs, ctx: ToolContext) -> ToolResult:
        table = find(args.table, args.schema_name)
        columns = catalog.columns(table.schema, [table.name], ctx.cancel)[table.name]
        _pk_name, pk = catalog.primary_key(table.schema, table.name)
        foreign = catalog.foreign_keys(table.schema, table.name)
        rows = [
            (
                c.spec.name,
                c.source_type or c.spec.type.type_name,
                "YES" if c.nullable else "NO",
                "PRI" if c.spec.name in pk else "",
                c.default,
                c.spec.comment or "",
            )
            for c in columns
        ]
        parts = [
            f"{table.kind.lower()} {table.schema}.{table.name}"
            + (f" -- {table.remarks}" if table.remarks else ""),
            markdown_table(["column", "type", "nullable", "key", "default", "comment"], rows),
        ]
        if pk:
            parts.append(f"Primary key: ({', '.join(pk)})")
        for fk in foreign:
            parts.append(
                f"Foreign key: ({', '.join(fk.columns)}) references "
                f"{fk.referred_schema}.{fk.referred_table} ({', '.join(fk.referred_columns)})"
            )
        return ToolResult("\n\n".join(parts))

    def sample_values(args: SampleValuesArgs, ctx: ToolContext) -> ToolResult:
        table = find(args.table, args.schema_name)
        columns = catalog.columns(table.schema, [table.name], ctx.cancel)[table.name]
        names = {c.spec.name.lower(): c.spec.name for c in columns}
        column = names.get(args.column.strip().strip('"`[]').lower())
        if column is None:
            return ToolResult.error(
                f"{table.name} has no column {args.column!r}; its columns are: {', '.join(c.spec.name for c in columns)}"
            )
        dialect = guard_dialect(datasource)
        target = exp.to_identifier(column, quoted=True)
        source = exp.Table(
            this=exp.to_identifier(table.name, quoted=True),
            db=exp.to_identifier(table.schema, quoted=True)
            if table.schema != catalog.default_schema
            else None,
        )
        query = (
            exp.select(target)
            .distinct()
            .from_(source)
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
        tail = (
            f" (first {len(values)} distinct values; there are more)"
            if more
            else f" ({len(values)} distinct values)"
        )
        return ToolResult(f"Distinct non-NULL values of {table.name}.{column}{tail}: {listed}")

    return (
        Tool(
            "list_tables",
            "List the tables and views of the datasource (optionally of one schema, or matching a "
            "name pattern), with their schema, type and comment.",
            RiskLevel.SAFE,
            ListTablesArgs,
            list_tables,
        ),
        Tool(
            "describe_table",
            "Describe a table or view: its columns with types, nullability, defaults and comments, "
            "and its primary and foreign keys.",
            RiskLevel.SAFE,
            DescribeTableArgs,
            describe_table,
        ),
        Tool(
            "sample_values",
            "List up to `limit` distinct non-NULL values of one column of a table, to learn how "
            "values are written (codes, spellings, formats) before filtering on them.",
            RiskLevel.SAFE,
            SampleValuesArgs,
            sample_values,
        ),
    )
