"""Statements answered without the LLM for tools and notebooks:

- ``__sql: <query>`` runs the query through the read-only boundary that ``run_select_query``
  uses (``engine.tools.read_query``: the sqlglot guard, then the datasource's read-only
  execution) and returns its typed columns, in every result mode.
- Hive's SQL-text metadata forms, answered from the catalog in Hive's column shapes:
  ``SHOW DATABASES|SCHEMAS [LIKE 'p']``, ``SHOW TABLES [IN|FROM db] [LIKE 'p']`` (``tab_name``)
  and ``DESC[RIBE] [EXTENDED|FORMATTED] [db.]t`` (``col_name``, ``data_type``, ``comment``).
- BI wrapper probes over a question, in ``table`` result mode:
  ``SELECT * | cols | COUNT(*) FROM (<question>) [AS] alias [LIMIT n]``. The inner question is
  answered once and the outer operation is applied to its table; any other outer query over a
  question fails with a clear error rather than reaching the model. In other result modes the
  statement goes to the agent as it is.
"""

from __future__ import annotations

import logging
import re

from engine.common.config import PASSTHROUGH_MAX_ROWS, QUERY_TIMEOUT, RESULT_MODE, EngineConf
from engine.common.errors import InvalidStatementError, UnsupportedError
from engine.common.types import ColumnSpec, HiveType, TableSchema
from engine.operation.context import OperationContext
from engine.operation.execute import ExecuteStatement, exclusive_run
from engine.operation.operation import Operation
from engine.operation.result_mode import Rows, TableTransform, emit_table
from engine.operation.router import StatementRoute, register_route
from engine.tools import read_query
from engine.tools.port import CatalogView

log = logging.getLogger(__name__)

SQL_PREFIX = "__sql:"

_NAME = r"(?:`[^`]+`|\"[^\"]+\"|[\w$]+)"
_SHOW_SCHEMAS_RE = re.compile(
    r"^\s*show\s+(?:databases|schemas)(?:\s+like\s+'(?P<like>(?:[^']|'')*)')?\s*;?\s*$", re.IGNORECASE
)
_SHOW_TABLES_RE = re.compile(
    rf"^\s*show\s+tables(?:\s+(?:in|from)\s+(?P<db>{_NAME}))?(?:\s+(?:like\s+)?'(?P<like>(?:[^']|'')*)')?\s*;?\s*$",
    re.IGNORECASE,
)
_DESCRIBE_RE = re.compile(
    rf"^\s*desc(?:ribe)?\s+(?:(?:extended|formatted)\s+)?(?:table\s+)?(?:(?P<db>{_NAME})\.)?(?P<table>{_NAME})\s*;?\s*$",
    re.IGNORECASE,
)
_WRAPPER_LOOSE_RE = re.compile(r"^\s*select\s.+?\bfrom\s*\(.+\)", re.IGNORECASE | re.DOTALL)
_COUNT = r"count\s*\(\s*(?:\*|1)\s*\)"
_WRAPPER_RE = re.compile(
    rf"^\s*select\s+(?P<what>\*|{_COUNT}(?:\s+(?:as\s+)?(?P<alias>{_NAME}))?|{_NAME}(?:\s*,\s*{_NAME})*)"
    rf"\s+from\s*\((?P<inner>.+)\)\s*(?:(?:as\s+)?(?!limit\b){_NAME})?(?:\s+limit\s+(?P<limit>\d+))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)

DATABASES_SCHEMA = TableSchema.of(ColumnSpec("database_name", HiveType.STRING))
TABLES_SCHEMA = TableSchema.of(ColumnSpec("tab_name", HiveType.STRING, "from deserializer"))
DESCRIBE_SCHEMA = TableSchema.of(
    ColumnSpec("col_name", HiveType.STRING, "from deserializer"),
    ColumnSpec("data_type", HiveType.STRING, "from deserializer"),
    ColumnSpec("comment", HiveType.STRING, "from deserializer"),
)


def _unquote(name: str | None) -> str | None:
    if name and len(name) >= 2 and name[0] == name[-1] and name[0] in '`"':
        return name[1:-1]
    return name


def hive_like(pattern: str | None) -> re.Pattern[str] | None:
    """Hive's SHOW ... LIKE pattern: ``*`` (and ``%``) any run, ``|`` alternatives, no case."""
    if not pattern:
        return None
    text = pattern.replace("''", "'")
    alternatives = [
        re.escape(part.strip()).replace(r"\*", ".*").replace("%", ".*") for part in text.split("|")
    ]
    return re.compile("|".join(f"(?:{alt})" for alt in alternatives), re.IGNORECASE)


def hive_type_text(spec: ColumnSpec) -> str:
    """Hive's type string as DESCRIBE shows it: ``int``, ``decimal(10,2)``, ``varchar(50)``."""
    if spec.type is HiveType.DECIMAL:
        return f"decimal({spec.precision or 38},{spec.scale or 0})"
    if spec.type in (HiveType.VARCHAR, HiveType.CHAR) and spec.max_length:
        return f"{spec.type.type_name.lower()}({spec.max_length})"
    return spec.type.type_name.lower()


def _catalog(ctx: OperationContext) -> CatalogView:
    if ctx.catalog is None:
        raise UnsupportedError("no datasource catalog is configured: set kyuubi.engine.data.agent.jdbc.url")
    return ctx.catalog


class CatalogStatement(Operation):
    """SHOW DATABASES / SHOW TABLES / DESCRIBE from the catalog; synchronous, fixed schema."""

    def __init__(self, ctx: OperationContext, statement: str) -> None:
        if _SHOW_SCHEMAS_RE.match(statement):
            schema = DATABASES_SCHEMA
        elif _SHOW_TABLES_RE.match(statement):
            schema = TABLES_SCHEMA
        else:
            schema = DESCRIBE_SCHEMA
        super().__init__(ctx, statement, schema=schema, run_async=False)

    def run_internal(self) -> None:
        catalog = _catalog(self.ctx)
        if (match := _SHOW_SCHEMAS_RE.match(self.statement)) is not None:
            regex = hive_like(match.group("like"))
            self.buffer.extend(name for name in catalog.schemas() if regex is None or regex.fullmatch(name))
        elif (match := _SHOW_TABLES_RE.match(self.statement)) is not None:
            schema = catalog.resolve_schema(_unquote(match.group("db")) or self.ctx.current_database())
            regex = hive_like(match.group("like"))
            names = [t.name for t in catalog.tables(schema)] if schema in catalog.schemas() else []
            if not names and match.group("db") and schema not in catalog.schemas():
                raise InvalidStatementError(
                    f"Error while compiling statement: FAILED: SemanticException [Error 10072]: "
                    f"Database does not exist: {_unquote(match.group('db'))}",
                    sqlstate="42000",
                    vendor_code=10072,
                )
            self.buffer.extend(name for name in names if regex is None or regex.fullmatch(name))
        else:
            match = _DESCRIBE_RE.match(self.statement)
            assert match is not None
            given_schema = _unquote(match.group("db"))
            table = catalog.find_table(given_schema, _unquote(match.group("table")) or "")
            columns = catalog.columns(table.schema, [table.name], self.cancel_token)[table.name]
            self.buffer.extend((c.spec.name, hive_type_text(c.spec), c.spec.comment or "") for c in columns)


class PassthroughQuery(Operation):
    """``__sql:`` raw SQL through the read-only boundary, typed columns, optional outer transform."""

    def __init__(
        self,
        ctx: OperationContext,
        sql: str,
        conf: EngineConf,
        *,
        run_async: bool,
        transform: TableTransform | None = None,
    ) -> None:
        super().__init__(ctx, sql, schema=None, run_async=run_async)
        self.sql = sql.strip().rstrip(";").strip()
        if not self.sql:
            raise InvalidStatementError("__sql: needs a query after the prefix, e.g. __sql: SELECT 1")
        self.conf = conf
        self.transform = transform

    def run_internal(self) -> None:
        datasource = self.ctx.datasource
        if datasource is None:
            raise UnsupportedError("no datasource is configured: set kyuubi.engine.data.agent.jdbc.url")
        result = read_query(
            datasource,
            self.sql,
            max_rows=self.conf.get(PASSTHROUGH_MAX_ROWS),
            timeout=self.conf.get(QUERY_TIMEOUT),
            cancel=self.cancel_token,
        )
        if result.truncated:
            self.add_log(f"WARN the result was cut at {len(result.rows)} rows (passthrough.max.rows)")
        emit_table(result.columns, result.rows, self.buffer, self.set_schema, self.transform)


# --- wrapper probes --------------------------------------------------------------------------------
def wrapper_transform(statement: str) -> tuple[str, TableTransform] | None:
    """``(inner question, transform)`` for a supported wrapper; None when it is not one."""
    match = _WRAPPER_RE.match(statement)
    if match is None:
        return None
    what = match.group("what").strip()
    limit = int(match.group("limit")) if match.group("limit") is not None else None
    inner = match.group("inner").strip()
    if re.match(_COUNT, what, re.IGNORECASE):
        label = _unquote(match.group("alias")) or "_c0"

        def count(schema: TableSchema, rows: Rows) -> tuple[TableSchema, Rows]:
            counted: Rows = [(len(rows),)]
            return TableSchema.of(ColumnSpec(label, HiveType.BIGINT)), counted[:limit]

        return inner, count
    wanted = None if what == "*" else [_unquote(name.strip()) or "" for name in what.split(",")]

    def project(schema: TableSchema, rows: Rows) -> tuple[TableSchema, Rows]:
        if wanted is not None:
            names = [column.name for column in schema.columns]
            lowered = [name.lower() for name in names]
            missing = [name for name in wanted if name.lower() not in lowered]
            if missing:
                raise InvalidStatementError(
                    f"the answer to the inner question has no column {', '.join(missing)}; "
                    f"its columns are: {', '.join(names)}"
                )
            picks = [lowered.index(name.lower()) for name in wanted]
            schema = TableSchema(tuple(schema.columns[i] for i in picks))
            rows = [tuple(row[i] for i in picks) for row in rows]
        return schema, rows if limit is None else rows[:limit]

    return inner, project


class WrappedQuestion(ExecuteStatement):
    """A BI probe over a question: the agent answers ``inner`` in table mode, then the outer
    SELECT/COUNT/LIMIT applies to that table."""

    def __init__(
        self, ctx: OperationContext, inner: str, transform: TableTransform, conf: EngineConf, run_async: bool
    ) -> None:
        super().__init__(ctx, inner, conf, run_async=run_async, transform=transform)


def _create_wrapper(ctx: OperationContext, statement: str, conf: EngineConf, run_async: bool) -> Operation:
    if conf.get(RESULT_MODE) != "table":
        return exclusive_run(ctx, lambda: ExecuteStatement(ctx, statement.strip(), conf, run_async=run_async))
    parsed = wrapper_transform(statement)
    if parsed is None:
        raise InvalidStatementError(
            "result mode 'table' supports only SELECT * | columns | COUNT(*) FROM (<question>) [AS] t "
            "[LIMIT n] around a question; send the question itself, or use result mode 'events'"
        )
    inner, transform = parsed
    if inner.lower().startswith(SQL_PREFIX):
        return PassthroughQuery(ctx, inner[len(SQL_PREFIX) :], conf, run_async=run_async, transform=transform)
    if not inner:
        raise InvalidStatementError("the wrapped question is empty")
    return exclusive_run(ctx, lambda: WrappedQuestion(ctx, inner, transform, conf, run_async))


def is_passthrough(statement: str) -> bool:
    return statement.lstrip()[: len(SQL_PREFIX)].lower() == SQL_PREFIX


def is_catalog_statement(statement: str) -> bool:
    return bool(
        _SHOW_SCHEMAS_RE.match(statement) or _SHOW_TABLES_RE.match(statement) or _DESCRIBE_RE.match(statement)
    )


def is_wrapper(statement: str) -> bool:
    return bool(_WRAPPER_LOOSE_RE.match(statement)) and not is_passthrough(statement)


register_route(
    StatementRoute(
        "passthrough",
        is_passthrough,
        lambda ctx, stmt, conf, run_async: PassthroughQuery(
            ctx, stmt.lstrip()[len(SQL_PREFIX) :], conf, run_async=run_async
        ),
    ),
    before="control",
)
register_route(
    StatementRoute(
        "catalog", is_catalog_statement, lambda ctx, stmt, conf, run_async: CatalogStatement(ctx, stmt)
    ),
    before="control",
)
register_route(StatementRoute("wrapper", is_wrapper, _create_wrapper), before="control")
