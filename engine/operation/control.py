"""Control statements that never reach the LLM: approvals, USE, SET and probe queries."""

from __future__ import annotations

import datetime
import decimal
import json
import re
from typing import Any

from engine.common.errors import InvalidStatementError
from engine.common.types import REPLY_SCHEMA, ColumnSpec, HiveType, TableSchema
from engine.operation.context import OperationContext
from engine.operation.operation import Operation

APPROVE_PREFIX = "__approve:"
DENY_PREFIX = "__deny:"

_USE_RE = re.compile(r"^\s*use\s+(`[^`]+`|\"[^\"]+\"|[\w.$-]+)\s*;?\s*$", re.IGNORECASE)
_SET_RE = re.compile(r"^\s*set(?:\s+(?P<body>.*?))?\s*;?\s*$", re.IGNORECASE | re.DOTALL)

# SELECT <literal> [[AS] alias] [, ...] with no FROM: JDBC validation queries and BI probes.
_LITERAL = r"(?:[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|'(?:[^']|'')*'|true|false|null|current_date(?:\(\))?|current_timestamp(?:\(\))?|version\(\)|current_database\(\)|current_user\(\))"
_ITEM = rf"{_LITERAL}(?:\s+(?:as\s+)?(?:`[^`]+`|\"[^\"]+\"|\w+))?"
_PROBE_RE = re.compile(rf"^\s*select\s+{_ITEM}(?:\s*,\s*{_ITEM})*\s*;?\s*$", re.IGNORECASE)
_ITEM_RE = re.compile(rf"({_LITERAL})(?:\s+(?:as\s+)?(`[^`]+`|\"[^\"]+\"|\w+))?", re.IGNORECASE)


def is_approval(statement: str) -> bool:
    text = statement.strip()
    return text.startswith(APPROVE_PREFIX) or text.startswith(DENY_PREFIX)


def is_control(statement: str) -> bool:
    return bool(_USE_RE.match(statement) or _SET_RE.match(statement) or _PROBE_RE.match(statement))


class ApprovalOperation(Operation):
    """``__approve:<id>`` / ``__deny:<id>[ reason]``: one ``reply`` row, synchronous (Kyuubi)."""

    def __init__(self, ctx: OperationContext, statement: str) -> None:
        super().__init__(ctx, statement, schema=REPLY_SCHEMA, run_async=False)

    def run_internal(self) -> None:
        text = self.statement.strip()
        approved = text.startswith(APPROVE_PREFIX)
        body = text[len(APPROVE_PREFIX if approved else DENY_PREFIX) :].strip()
        request_id, _, reason = body.partition(" ")
        request_id = request_id.strip().rstrip(";")
        reason = reason.strip().rstrip(";").strip()
        if not request_id:
            raise InvalidStatementError(
                "requestId cannot be empty: use __approve:<requestId> or __deny:<requestId> [reason]"
            )
        if approved and reason:
            reason = f"approved: {reason}"
        resolved = self.ctx.agent_session.approvals.decide(request_id, self.ctx.user, approved, reason)
        reply = {
            "status": "ok" if resolved else "not_found",
            "action": "approved" if approved else "denied",
            "requestId": request_id,
        }
        self.buffer.append(json.dumps(reply, separators=(",", ":"), ensure_ascii=False))


class ControlOperation(Operation):
    """USE, SET and probe queries, answered from the session without the provider."""

    def __init__(self, ctx: OperationContext, statement: str) -> None:
        use = _USE_RE.match(statement)
        set_match = None if use else _SET_RE.match(statement)
        self._kind = "use" if use else ("set" if set_match else "probe")
        self._set_body = (set_match.group("body") or "").strip() if set_match else ""
        has_result = not (self._kind == "use" or (self._kind == "set" and "=" in self._set_body))
        schema = (
            self._probe_schema(statement) if self._kind == "probe" else SET_SCHEMA if has_result else None
        )
        super().__init__(ctx, statement, schema=schema, has_result_set=has_result, run_async=False)
        self._use_name = use.group(1).strip('`"') if use else ""
        if not has_result:
            self.set_schema(TableSchema(()))

    def run_internal(self) -> None:
        if self._kind == "use":
            self.ctx.set_current_database(self._use_name)
        elif self._kind == "set":
            self._run_set()
        else:
            self.buffer.append(
                tuple(_evaluate(literal, self.ctx) for literal, _ in _probe_items(self.statement))
            )

    def _run_set(self) -> None:
        body = self._set_body
        if not body:
            for key, value in sorted(self.ctx.session_conf_items().items()):
                self.buffer.append(f"{key}={value}")
            return
        if "=" not in body:
            key = body.strip()
            current = self.ctx.session_conf_items().get(key)
            self.buffer.append(f"{key}={current}" if current is not None else f"{key} is undefined")
            return
        key, _, value = body.partition("=")
        key, value = key.strip(), value.strip()
        if not key:
            raise InvalidStatementError("SET needs a key: SET key=value")
        self.ctx.set_session_conf(key, value)

    @staticmethod
    def _probe_schema(statement: str) -> TableSchema:
        columns = []
        for index, (literal, alias) in enumerate(_probe_items(statement)):
            name = alias.strip('`"') if alias else f"_c{index}"
            columns.append(ColumnSpec(name, _literal_type(literal)))
        return TableSchema(tuple(columns))


SET_SCHEMA = TableSchema.of(ColumnSpec("set", HiveType.STRING))


def _probe_items(statement: str) -> list[tuple[str, str | None]]:
    body = re.sub(r"^\s*select\s+", "", statement.strip().rstrip(";"), flags=re.IGNORECASE)
    return [(m.group(1), m.group(2)) for m in _ITEM_RE.finditer(body)]


def _literal_type(literal: str) -> HiveType:
    lowered = literal.lower()
    if lowered in ("true", "false"):
        return HiveType.BOOLEAN
    if lowered == "null":
        return HiveType.STRING
    if lowered.startswith("current_date"):
        return HiveType.DATE
    if lowered.startswith("current_timestamp"):
        return HiveType.TIMESTAMP
    if re.fullmatch(r"[-+]?\d+", literal):
        return HiveType.INT if abs(int(literal)) < 2**31 else HiveType.BIGINT
    if re.fullmatch(r"[-+]?\d+\.\d+", literal):
        return HiveType.DECIMAL
    if re.fullmatch(r"[-+]?\d+(?:\.\d+)?[eE][-+]?\d+", literal):
        return HiveType.DOUBLE
    return HiveType.STRING


def _evaluate(literal: str, ctx: OperationContext) -> Any:
    lowered = literal.lower()
    kind = _literal_type(literal)
    if lowered == "null":
        return None
    if kind == HiveType.BOOLEAN:
        return lowered == "true"
    if kind == HiveType.DATE:
        return datetime.date.today()
    if kind == HiveType.TIMESTAMP:
        return datetime.datetime.now()
    if kind in (HiveType.INT, HiveType.BIGINT):
        return int(literal)
    if kind == HiveType.DECIMAL:
        return decimal.Decimal(literal)
    if kind == HiveType.DOUBLE:
        return float(literal)
    if lowered == "version()":
        from engine.common.version import VERSION

        return VERSION
    if lowered == "current_database()":
        return ctx.current_database()
    if lowered == "current_user()":
        return ctx.user
    return literal[1:-1].replace("''", "'")
