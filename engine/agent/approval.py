"""Parked tool calls: a per-session broker of approval requests and their decisions.

A gated tool call opens a request and waits (with a timeout and a cancel check) until the same
session's user sends ``__approve:<id>`` or ``__deny:<id> [reason]``. A request is bound to the
session's user and to the exact arguments (their hash is recorded); a timeout, a cancel or the
session closing counts as a deny. Every decision is written as one audit line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.common.cancel import CancelReason, CancelToken
from engine.common.config import APPROVAL_MODE, APPROVAL_MODE_MIN, APPROVAL_MODES
from engine.common.errors import ConfigError

log = logging.getLogger(__name__)
audit_log = logging.getLogger("engine.audit")


def check_approval_floor(mode: str, floor: str) -> None:
    """An approval mode weaker than the administrator's floor (``approval.mode.min``) is refused."""
    if APPROVAL_MODES.index(mode) < APPROVAL_MODES.index(floor):
        raise ConfigError(
            f"invalid value for {APPROVAL_MODE.key}: {mode} is weaker than the engine's floor "
            f"{APPROVAL_MODE_MIN.key}={floor}; accepted values: "
            + ", ".join(APPROVAL_MODES[APPROVAL_MODES.index(floor) :])
        )


def args_hash(args: dict[str, Any]) -> str:
    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApprovalDecision:
    approved: bool
    reason: str = ""
    timed_out: bool = False


@dataclass
class PendingApproval:
    request_id: str
    tool_call_id: str
    name: str
    args: dict[str, Any]
    risk_level: str
    operation_id: str
    args_hash: str
    created: float = field(default_factory=time.time)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    decision: ApprovalDecision | None = None


class AuditLog:
    """Appends one JSON line per decision to a file (and to the ``engine.audit`` logger)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, separators=(",", ":"), default=str)
        audit_log.info("%s", line)
        if self._path is None:
            return
        with self._lock:
            try:
                with self._path.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            except OSError:
                log.warning("cannot write the audit log %s", self._path, exc_info=True)


class ApprovalBroker:
    """Pending approvals of one session. Thread-safe; the map lives behind one lock."""

    def __init__(self, session_id: str, user: str, audit: AuditLog | None = None) -> None:
        self.session_id = session_id
        self.user = user
        self._audit = audit or AuditLog(None)
        self._lock = threading.Lock()
        self._pending: dict[str, PendingApproval] = {}
        self._closed = False

    def open_request(
        self, tool_call_id: str, name: str, args: dict[str, Any], risk_level: str, operation_id: str = ""
    ) -> PendingApproval:
        pending = PendingApproval(
            request_id=uuid.uuid4().hex,
            tool_call_id=tool_call_id,
            name=name,
            args=args,
            risk_level=risk_level,
            operation_id=operation_id,
            args_hash=args_hash(args),
        )
        with self._lock:
            if self._closed:
                pending.decision = ApprovalDecision(False, "the session is closed")
                pending._done.set()
                return pending
            self._pending[pending.request_id] = pending
        return pending

    def wait(self, pending: PendingApproval, timeout: float, cancel: CancelToken) -> ApprovalDecision:
        """Block until decided, ``approval.timeout`` passes (a deny) or ``cancel`` fires (a deny).

        One wait on the request's event: a decision sets it, and so does ``cancel`` (through a
        callback, the run's deadline included), so nothing polls.
        """
        unregister = cancel.on_cancel(pending._done.set)
        try:
            pending._done.wait(timeout)
        finally:
            unregister()
        if cancel.cancelled:
            reason = (
                "the run passed its deadline"
                if cancel.reason is CancelReason.TIMEOUT
                else "the operation was cancelled"
            )
            self._resolve(pending, ApprovalDecision(False, reason), "system")
        else:
            # a no-op when the decision came first (the request is no longer pending)
            self._resolve(
                pending,
                ApprovalDecision(False, f"no decision within {timeout:g} s", timed_out=True),
                "system",
            )
        assert pending.decision is not None
        return pending.decision

    def decide(self, request_id: str, user: str, approved: bool, reason: str = "") -> bool:
        """Apply a user's decision. False (``not_found``) for unknown ids or another user's."""
        with self._lock:
            pending = self._pending.get(request_id)
        if pending is None or user != self.user:
            return False
        if not reason:
            reason = "approved by the user" if approved else "denied by the user"
        return self._resolve(pending, ApprovalDecision(approved, reason), user)

    def pending(self) -> list[PendingApproval]:
        with self._lock:
            return list(self._pending.values())

    def deny_operation(self, operation_id: str, reason: str) -> None:
        for pending in self.pending():
            if pending.operation_id == operation_id:
                self._resolve(pending, ApprovalDecision(False, reason), "system")

    def close(self, reason: str = "the session was closed") -> None:
        with self._lock:
            self._closed = True
        for pending in self.pending():
            self._resolve(pending, ApprovalDecision(False, reason), "system")

    def _resolve(self, pending: PendingApproval, decision: ApprovalDecision, decided_by: str) -> bool:
        with self._lock:
            if self._pending.pop(pending.request_id, None) is None:
                return False
            pending.decision = decision
        pending._done.set()
        self._audit.write(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "user": self.user,
                "decidedBy": decided_by,
                "session": self.session_id,
                "operation": pending.operation_id,
                "requestId": pending.request_id,
                "tool": pending.name,
                "argsSha256": pending.args_hash,
                "decision": "approved"
                if decision.approved
                else ("timeout" if decision.timed_out else "denied"),
                "reason": decision.reason,
            }
        )
        return True
