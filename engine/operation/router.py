"""Which operation answers a statement: one explicit ordered table, statement type -> factory.

The :class:`~engine.operation.manager.OperationManager` owns a :class:`StatementRouter`. The
router parses the text once (:mod:`engine.operation.parser`) and hands the typed statement to
the factory its type maps to; no operation reads the text again. Control statements, catalog
forms and SQL never reach the agent provider; only questions (and wrappers around them) do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_args

from engine.common import statement as stmt
from engine.common.config import RESULT_MODE, SQL_ROUTING, STATEMENT_MAX_LENGTH, EngineConf
from engine.common.errors import InvalidStatementError
from engine.operation.catalog_forms import CatalogForm, CatalogOperation
from engine.operation.context import OperationContext
from engine.operation.control import ApprovalOperation, ProbeOperation, SetOperation, UseOperation
from engine.operation.execute import ExecuteStatement, exclusive_run
from engine.operation.operation import Operation
from engine.operation.parser import ParseOptions, parse_statement
from engine.operation.passthrough import (
    DescribeQueryOperation,
    PassthroughQuery,
    WrappedQuestion,
    wrapper_transform,
)
from engine.operation.run_view import AttachOperation, ShowConversationsOperation, ShowRunsOperation

S = TypeVar("S")

TABLE_WRAPPER_HINT = (
    "result mode 'table' supports only SELECT * | columns | COUNT(*) FROM (<question>) [AS] t "
    "[LIMIT n] around a question; send the question itself, or use result mode 'events'"
)


@dataclass(frozen=True)
class StatementRequest:
    """One ExecuteStatement: the session's context, the text as sent, the effective conf."""

    ctx: OperationContext
    text: str
    conf: EngineConf
    run_async: bool
    query_timeout: int = 0


@dataclass(frozen=True)
class Route(Generic[S]):
    kind: type[S]
    create: Callable[[StatementRequest, S], Operation]


# --- factories ------------------------------------------------------------------------------------
def _question(request: StatementRequest, statement: stmt.Question | stmt.UnsupportedWrapper) -> Operation:
    ctx = request.ctx
    return exclusive_run(
        ctx,
        lambda: ExecuteStatement(
            ctx,
            statement.render(),
            request.conf,
            run_async=request.run_async,
            query_timeout=request.query_timeout,
        ),
    )


def _unsupported_wrapper(request: StatementRequest, statement: stmt.UnsupportedWrapper) -> Operation:
    if request.conf.get(RESULT_MODE) == "table":
        raise InvalidStatementError(TABLE_WRAPPER_HINT)
    return _question(request, statement)


def _wrapper(request: StatementRequest, statement: stmt.BiWrapper) -> Operation:
    """In table mode the outer query applies to the inner answer; elsewhere the agent gets the
    statement as it was sent."""
    if request.conf.get(RESULT_MODE) != "table":
        return _question(request, stmt.Question(request.text.strip()))
    ctx, conf, inner = request.ctx, request.conf, statement.inner
    transform = wrapper_transform(statement)
    if inner[: len(stmt.SQL_PREFIX)].lower() == stmt.SQL_PREFIX:
        sql = parse_statement(inner, _options(request))
        if not isinstance(sql, stmt.Passthrough):
            raise InvalidStatementError("the wrapped __sql: statement is not a query")
        return PassthroughQuery(
            ctx, sql.sql, conf, run_async=request.run_async, text=request.text, transform=transform
        )
    if not inner:
        raise InvalidStatementError("the wrapped question is empty")
    return exclusive_run(ctx, lambda: WrappedQuestion(ctx, inner, transform, conf, request.run_async))


def _sql(request: StatementRequest, statement: stmt.SqlQuery | stmt.Passthrough) -> Operation:
    return PassthroughQuery(
        request.ctx, statement.sql, request.conf, run_async=request.run_async, text=request.text
    )


def _catalog(request: StatementRequest, statement: CatalogForm) -> Operation:
    return CatalogOperation(request.ctx, statement, request.text)


# The routing table, in the order a reader should meet it: control statements first, then the
# catalog forms, SQL, the run registry, BI wrappers and, last, questions for the agent.
ROUTES: tuple[Route[Any], ...] = (
    Route(stmt.Approval, lambda request, s: ApprovalOperation(request.ctx, s, request.text)),
    Route(stmt.UseDatabase, lambda request, s: UseOperation(request.ctx, s, request.text)),
    Route(stmt.SetStatement, lambda request, s: SetOperation(request.ctx, s, request.text)),
    Route(stmt.Probe, lambda request, s: ProbeOperation(request.ctx, s, request.text)),
    Route(stmt.ShowSchemas, _catalog),
    Route(stmt.ShowTables, _catalog),
    Route(stmt.DescribeTable, _catalog),
    Route(stmt.ShowCreateTable, _catalog),
    Route(stmt.Passthrough, _sql),
    Route(stmt.SqlQuery, _sql),
    Route(
        stmt.DescribeQuery,
        lambda request, s: DescribeQueryOperation(request.ctx, s.sql, request.conf, request.text),
    ),
    Route(
        stmt.Attach,
        lambda request, s: AttachOperation(request.ctx, s, request.text, run_async=request.run_async),
    ),
    Route(stmt.ShowRuns, lambda request, s: ShowRunsOperation(request.ctx, s, request.text)),
    Route(
        stmt.ShowConversations, lambda request, s: ShowConversationsOperation(request.ctx, s, request.text)
    ),
    Route(stmt.BiWrapper, _wrapper),
    Route(stmt.UnsupportedWrapper, _unsupported_wrapper),
    Route(stmt.Question, _question),
)


def _options(request: StatementRequest) -> ParseOptions:
    datasource = request.ctx.datasource
    return ParseOptions(
        dialect=datasource.sqlglot_dialect if datasource is not None else None,
        routing=request.conf.get(SQL_ROUTING),
        max_length=request.conf.get(STATEMENT_MAX_LENGTH),
        catalog=request.ctx.catalog,
    )


class StatementRouter:
    """Parses a statement once and builds the operation its type routes to (not started)."""

    def __init__(self, routes: tuple[Route[Any], ...] = ROUTES) -> None:
        self.routes = routes
        self._by_kind: dict[type, Route[Any]] = {}
        for route in routes:
            if route.kind in self._by_kind:
                raise ValueError(f"two routes for {route.kind.__name__}")
            self._by_kind[route.kind] = route
        missing = [kind.__name__ for kind in get_args(stmt.Statement) if kind not in self._by_kind]
        if missing:
            raise ValueError(f"no route for {', '.join(missing)}")

    def parse(self, request: StatementRequest) -> stmt.Statement:
        return parse_statement(request.text, _options(request))

    def build(self, request: StatementRequest, statement: stmt.Statement) -> Operation:
        """The operation the parsed ``statement`` routes to."""
        return self._by_kind[type(statement)].create(request, statement)
