"""Parked tool calls: one engine-wide registry of approval requests, seen per session.

A gated tool call opens a request and waits (with a timeout and a cancel check) until its user
sends ``__approve:<id>`` or ``__deny:<id> [reason]`` from any of that user's sessions. The
:class:`ApprovalRegistry` (one per engine, owned by the session manager) keys requests by id and
binds each to the user whose session parked it; another user's decision is ``not_found`` and
changes nothing. A request is also bound to the exact arguments (their hash is recorded); a
timeout, a cancel or the parking session closing counts as a deny. Every decision is written as
one audit line naming who decided and from which session.
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
from engine.common.metrics import Metrics, NoMetrics

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
    session_id: str = ""  # the session that parked it; closing that session denies it
    user: str = ""  # the owner: only this user may decide
    created: float = field(default_factory=time.time)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)
    decision: ApprovalDecision | None = None

    @classmethod
    def create(
        cls,
        session_id: str,
        user: str,
        tool_call_id: str,
        name: str,
        args: dict[str, Any],
        risk_level: str,
        operation_id: str,
    ) -> PendingApproval:
        """A new request with a fresh id, bound to its user and to the hash of ``args``."""
        return cls(
            request_id=uuid.uuid4().hex,
            tool_call_id=tool_call_id,
            name=name,
            args=args,
            risk_level=risk_level,
            operation_id=operation_id,
            args_hash=args_hash(args),
            session_id=session_id,
            user=user,
        )


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


class ApprovalRegistry:
    """Every pending approval of the engine, keyed by request id. Thread-safe (one lock)."""

    def __init__(self, audit: AuditLog | None = None, *, metrics: Metrics | None = None) -> None:
        self._audit = audit or AuditLog(None)
        self._metrics: Metrics = metrics or NoMetrics()
        self._lock = threading.Lock()
        self._pending: dict[str, PendingApproval] = {}

    def park(self, pending: PendingApproval) -> PendingApproval:
        """Register a new request (see :meth:`PendingApproval.create`); it waits for a decision."""
        with self._lock:
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

    def decide(
        self, request_id: str, user: str, approved: bool, reason: str = "", session_id: str = ""
    ) -> bool:
        """Apply ``user``'s decision, sent from ``session_id`` (any session of the owner).

        False (``not_found``) for an unknown id or another user's request, which stays parked.
        """
        with self._lock:
            pending = self._pending.get(request_id)
        if pending is None or user != pending.user:
            return False
        if not reason:
            reason = "approved by the user" if approved else "denied by the user"
        return self._resolve(pending, ApprovalDecision(approved, reason), user, session_id)

    def pending(self, session_id: str | None = None) -> list[PendingApproval]:
        """Pending requests, of one parking session or of all."""
        with self._lock:
            return [p for p in self._pending.values() if session_id is None or p.session_id == session_id]

    def deny_operation(self, operation_id: str, reason: str) -> None:
        for pending in self.pending():
            if pending.operation_id == operation_id:
                self._resolve(pending, ApprovalDecision(False, reason), "system")

    def close_session(self, session_id: str, reason: str = "the session was closed") -> None:
        """Deny every request ``session_id`` parked."""
        for pending in self.pending(session_id):
            self._resolve(pending, ApprovalDecision(False, reason), "system")

    def _resolve(
        self, pending: PendingApproval, decision: ApprovalDecision, decided_by: str, decided_in: str = ""
    ) -> bool:
        with self._lock:
            if self._pending.pop(pending.request_id, None) is None:
                return False
            pending.decision = decision
        pending._done.set()
        outcome = "approved" if decision.approved else ("timeout" if decision.timed_out else "denied")
        self._metrics.approval(outcome)
        self._audit.write(
            {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "user": pending.user,
                "decidedBy": decided_by,
                "decidedInSession": decided_in,
                "session": pending.session_id,
                "operation": pending.operation_id,
                "requestId": pending.request_id,
                "tool": pending.name,
                "argsSha256": pending.args_hash,
                "decision": outcome,
                "reason": decision.reason,
            }
        )
        return True


class ApprovalBroker:
    """One session's view of the engine's :class:`ApprovalRegistry`: requests it parks are bound
    to its user, and its user's decisions reach requests parked by any of their sessions."""

    def __init__(self, session_id: str, user: str, registry: ApprovalRegistry | None = None) -> None:
        self.session_id = session_id
        self.user = user
        self._registry = registry or ApprovalRegistry()
        self._lock = threading.Lock()  # orders open_request against close
        self._closed = False

    def open_request(
        self, tool_call_id: str, name: str, args: dict[str, Any], risk_level: str, operation_id: str = ""
    ) -> PendingApproval:
        pending = PendingApproval.create(
            self.session_id, self.user, tool_call_id, name, args, risk_level, operation_id
        )
        with self._lock:
            if not self._closed:
                return self._registry.park(pending)
        pending.decision = ApprovalDecision(False, "the session is closed")
        pending._done.set()
        return pending

    def wait(self, pending: PendingApproval, timeout: float, cancel: CancelToken) -> ApprovalDecision:
        return self._registry.wait(pending, timeout, cancel)

    def decide(self, request_id: str, user: str, approved: bool, reason: str = "") -> bool:
        """``user``'s decision sent from this session. False (``not_found``) for unknown ids or
        another user's requests."""
        return self._registry.decide(request_id, user, approved, reason, self.session_id)

    def pending(self) -> list[PendingApproval]:
        """The requests this session parked."""
        return self._registry.pending(self.session_id)

    def deny_operation(self, operation_id: str, reason: str) -> None:
        self._registry.deny_operation(operation_id, reason)

    def close(self, reason: str = "the session was closed") -> None:
        """Deny what this session parked, and every request it opens from now on."""
        with self._lock:
            self._closed = True
        self._registry.close_session(self.session_id, reason)
