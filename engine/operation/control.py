"""Control statements that never reach the LLM: approvals, USE, SET and probe queries (the run
registry's statements are in :mod:`engine.operation.run_view`).

Each operation gets its typed statement from the parser; none reads the statement text.
"""

from __future__ import annotations

import datetime
import decimal
import json
from typing import Any

from engine.common.config import strip_hive_prefix
from engine.common.statement import (
    Approval,
    Probe,
    ProbeItem,
    ProbeKind,
    SetStatement,
    UseDatabase,
)
from engine.common.types import REPLY_SCHEMA, ColumnSpec, HiveType, TableSchema
from engine.common.version import VERSION
from engine.operation.context import OperationContext
from engine.operation.operation import Operation
from engine.operation.settings_view import effective_settings, effective_value, shown

SET_SCHEMA = TableSchema.of(ColumnSpec("set", HiveType.STRING))
NO_RESULT = TableSchema(())


class ApprovalOperation(Operation):
    """``__approve:<id>`` / ``__deny:<id>[ reason]``: one ``reply`` row, synchronous (Kyuubi)."""

    def __init__(self, ctx: OperationContext, statement: Approval, text: str) -> None:
        super().__init__(ctx, text, schema=REPLY_SCHEMA, run_async=False)
        self.approval = statement

    def run_internal(self) -> None:
        approval = self.approval
        reason = f"approved: {approval.reason}" if approval.approved and approval.reason else approval.reason
        resolved = self.ctx.agent_session.approvals.decide(
            approval.request_id, self.ctx.user, approval.approved, reason
        )
        reply = {
            "status": "ok" if resolved else "not_found",
            "action": "approved" if approval.approved else "denied",
            "requestId": approval.request_id,
        }
        self.buffer.append(json.dumps(reply, separators=(",", ":"), ensure_ascii=False))


class UseOperation(Operation):
    """``USE db``: the session's current database (SHOW TABLES, DESCRIBE); no result set."""

    def __init__(self, ctx: OperationContext, statement: UseDatabase, text: str) -> None:
        super().__init__(ctx, text, schema=NO_RESULT, has_result_set=False, run_async=False)
        self.name = statement.name

    def run_internal(self) -> None:
        self.ctx.set_current_database(self.name)


class SetOperation(Operation):
    """``SET`` lists the effective agent settings (engine, then the session's overlay; secrets
    masked), ``SET key`` shows the effective value of any key, ``SET key=value`` sets one."""

    def __init__(self, ctx: OperationContext, statement: SetStatement, text: str) -> None:
        assigns = statement.value is not None
        super().__init__(
            ctx,
            text,
            schema=NO_RESULT if assigns else SET_SCHEMA,
            has_result_set=not assigns,
            run_async=False,
        )
        self.set = statement

    def run_internal(self) -> None:
        key, value = self.set.key, self.set.value
        if key is None:
            for name, current in effective_settings(self.ctx.conf, self.ctx.session_conf_items()):
                self.buffer.append(f"{name}={current}")
        elif value is None:
            key = strip_hive_prefix(key)
            found = effective_value(self.ctx.conf, self.ctx.session_conf_items(), key)
            self.buffer.append(
                f"{key}={shown(self.ctx.conf, key, found)}" if found is not None else f"{key} is undefined"
            )
        else:
            self.ctx.set_session_conf(key, value)


class ProbeOperation(Operation):
    """``SELECT <literal>, ...`` (JDBC validation queries, BI probes), answered with Hive's
    column names (``_c0``...) and typed values."""

    def __init__(self, ctx: OperationContext, statement: Probe, text: str) -> None:
        columns = tuple(
            ColumnSpec(item.alias if item.alias is not None else f"_c{index}", probe_type(item))
            for index, item in enumerate(statement.items)
        )
        super().__init__(ctx, text, schema=TableSchema(columns), run_async=False)
        self.items = statement.items

    def run_internal(self) -> None:
        self.buffer.append(tuple(self._value(item) for item in self.items))

    def _value(self, item: ProbeItem) -> Any:
        kind = probe_type(item)
        if item.kind is ProbeKind.NUMBER:
            if kind in (HiveType.INT, HiveType.BIGINT):
                return int(item.text)
            return decimal.Decimal(item.text) if kind is HiveType.DECIMAL else float(item.text)
        values: dict[ProbeKind, Any] = {
            ProbeKind.STRING: item.text,
            ProbeKind.BOOLEAN: item.text == "true",
            ProbeKind.NULL: None,
            ProbeKind.CURRENT_DATE: datetime.date.today(),
            ProbeKind.CURRENT_TIMESTAMP: datetime.datetime.now(),
            ProbeKind.VERSION: VERSION,
            ProbeKind.CURRENT_USER: self.ctx.user,
        }
        if item.kind is ProbeKind.CURRENT_DATABASE:
            return self.ctx.current_database()
        return values[item.kind]


def probe_type(item: ProbeItem) -> HiveType:
    """The Hive type a probe literal has: INT/BIGINT by size, DECIMAL, DOUBLE (exponent), ..."""
    if item.kind is ProbeKind.NUMBER:
        digits = item.text.lstrip("+-")
        if digits.isdigit():
            size = abs(int(item.text))
            if size < 2**63:
                return HiveType.INT if size < 2**31 else HiveType.BIGINT
        elif "e" in digits.lower():
            return HiveType.DOUBLE
        # a decimal, or an integer past BIGINT: DECIMAL up to 38 digits, as Hive types them
        return HiveType.DECIMAL if sum(char.isdigit() for char in digits) <= 38 else HiveType.DOUBLE
    return {
        ProbeKind.BOOLEAN: HiveType.BOOLEAN,
        ProbeKind.CURRENT_DATE: HiveType.DATE,
        ProbeKind.CURRENT_TIMESTAMP: HiveType.TIMESTAMP,
    }.get(item.kind, HiveType.STRING)
