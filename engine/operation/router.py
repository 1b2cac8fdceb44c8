"""Which operation answers a statement. Control statements never reach the agent provider."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from engine.common.config import EngineConf
from engine.common.errors import InvalidStatementError
from engine.operation.context import OperationContext
from engine.operation.control import ApprovalOperation, ControlOperation, is_approval, is_control
from engine.operation.execute import ExecuteStatement, exclusive_run
from engine.operation.operation import Operation


@dataclass(frozen=True)
class StatementRoute:
    """A statement form answered without the agent: ``matches`` decides, ``create`` builds."""

    name: str
    matches: Callable[[str], bool]
    create: Callable[[OperationContext, str, EngineConf, bool], Operation]


# Routes tried in order before the agent. Other modules (metadata SQL forms, __sql: passthrough)
# register theirs with register_route().
ROUTES: list[StatementRoute] = [
    StatementRoute("approval", is_approval, lambda ctx, stmt, conf, run_async: ApprovalOperation(ctx, stmt)),
    StatementRoute("control", is_control, lambda ctx, stmt, conf, run_async: ControlOperation(ctx, stmt)),
]


def register_route(route: StatementRoute, *, before: str | None = None) -> None:
    if any(existing.name == route.name for existing in ROUTES):
        return
    if before is None:
        ROUTES.append(route)
        return
    index = next((i for i, existing in enumerate(ROUTES) if existing.name == before), len(ROUTES))
    ROUTES.insert(index, route)


def create_statement_operation(
    ctx: OperationContext, statement: str, conf: EngineConf, run_async: bool, query_timeout: int
) -> Operation:
    if not statement or not statement.strip():
        raise InvalidStatementError("the statement is empty: send a question")
    for route in ROUTES:
        if route.matches(statement):
            return route.create(ctx, statement, conf, run_async)
    return exclusive_run(
        ctx,
        lambda: ExecuteStatement(
            ctx, statement.strip(), conf, run_async=run_async, query_timeout=query_timeout
        ),
    )


from engine.operation import passthrough as _passthrough  # noqa: E402,F401  registers its routes
