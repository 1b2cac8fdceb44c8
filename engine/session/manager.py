"""SessionManager: open sessions behind one lock, ownership checks and the idle reaper.

It also holds the sessions closed by a dropped connection whose agent run goes on detached (see
:mod:`engine.session.session`): they count as sessions (the engine does not idle-stop under a
detached run) until the run ends and the session's agent state is released. Conversations are
shared through one :class:`~engine.session.conversation.ConversationTable`; approval decisions are
written to the audit log and, with a run registry, to the registry's approvals.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.agent.approval import ApprovalRegistry, AuditLog
from engine.agent.provider import AgentProvider
from engine.agent.settings import SettingsPolicy
from engine.common.config import (
    AUDIT_LOG,
    JDBC_URL,
    MEMORY_MAX_MESSAGES,
    SESSION_CHECK_INTERVAL,
    SESSION_IDLE_TIMEOUT,
    WORK_DIR,
    EngineConf,
)
from engine.common.errors import InvalidHandleError, PermissionDeniedError
from engine.common.handle import OperationHandle, SessionHandle
from engine.common.logging_context import log_context
from engine.common.record import ApprovalStatus, datasource_fingerprint
from engine.operation.manager import OperationManager
from engine.operation.operation import Operation
from engine.operation.run_registry import RunRegistry
from engine.session.conversation import ConversationTable
from engine.session.session import Session
from engine.tools import DEFAULT_TOOL_NAMES
from engine.tools.port import CatalogView, ReadSource

log = logging.getLogger(__name__)

# the audit log's decision names -> the registry's approval statuses
_DECISIONS = {
    "approved": ApprovalStatus.APPROVED,
    "denied": ApprovalStatus.DENIED,
    "timeout": ApprovalStatus.TIMED_OUT,
}


class RecordedAuditLog(AuditLog):
    """The audit log that also records every approval decision in the run registry."""

    def __init__(self, path: Path | None, registry: RunRegistry) -> None:
        super().__init__(path)
        self.registry = registry

    def write(self, record: dict[str, Any]) -> None:
        super().write(record)
        status = _DECISIONS.get(str(record.get("decision")))
        request_id = record.get("requestId")
        if status is None or not isinstance(request_id, str):
            return
        decided_by = record.get("decidedBy")
        reason = record.get("reason")
        self.registry.decide_approval(
            request_id,
            status,
            decided_by=str(decided_by) if decided_by else None,
            reason=str(reason) if reason else None,
        )


class SessionManager:
    def __init__(
        self,
        conf: EngineConf,
        provider: AgentProvider,
        operations: OperationManager,
        *,
        datasource: ReadSource | None = None,
        catalog: CatalogView | None = None,
        policy: SettingsPolicy | None = None,
        work_dir: Path | None = None,
    ) -> None:
        self.conf = conf
        self.policy = policy or SettingsPolicy.from_conf(conf, DEFAULT_TOOL_NAMES)
        self.provider = provider
        self.operations = operations
        self.datasource = datasource
        self.catalog = catalog
        self._lock = threading.Lock()
        self._sessions: dict[bytes, Session] = {}
        self._detached: dict[bytes, Session] = {}  # closed by a dropped connection, a run going on
        self._listeners: list[Callable[[int], None]] = []
        self.idle_since: float | None = time.monotonic()  # monotonic time the last session closed
        configured = conf.get(WORK_DIR)
        if work_dir is not None:  # the app's (it may hold the run registry's file)
            self.work_dir = work_dir
            self._own_work_dir = False
        elif configured:
            self.work_dir = Path(configured)
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._own_work_dir = False
        else:
            self.work_dir = Path(tempfile.mkdtemp(prefix="data-agent-"))
            self._own_work_dir = True
        registry = operations.hub.registry
        self.conversations = ConversationTable(
            registry, datasource_fingerprint(conf.get(JDBC_URL)), conf.get(MEMORY_MAX_MESSAGES)
        )
        audit_path = conf.get(AUDIT_LOG)
        path = Path(audit_path) if audit_path else self.work_dir / "audit.log"
        self.audit = AuditLog(path) if registry is None else RecordedAuditLog(path, registry)
        # One registry of parked calls for the engine: any session of a user may answer them.
        self.approvals = ApprovalRegistry(self.audit, metrics=operations.metrics)
        self.metrics = operations.metrics
        self._stopping = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="session-reaper", daemon=True)
        self._reaper.start()

    # --- sessions ------------------------------------------------------------------------------
    def open_session(self, protocol: int, user: str, ip: str, configuration: dict[str, str]) -> Session:
        session = Session(
            user=user,
            ip=ip,
            protocol=protocol,
            engine_conf=self.conf,
            configuration=configuration,
            provider=self.provider,
            operations=self.operations,
            workdir_root=self.work_dir / "sessions",
            policy=self.policy,
            conversations=self.conversations,
            approvals=self.approvals,
            datasource=self.datasource,
            catalog=self.catalog,
            on_released=self._released,
        )
        with self._lock:
            self._sessions[session.handle.guid] = session
            self.idle_since = None
        self.metrics.session_opened(user)
        with log_context(session.id):
            log.info(
                "opened session %s for user %s from %s (protocol V%d, conversation %s)",
                session.id,
                user,
                ip,
                protocol + 1,
                session.conversation_id,
            )
        return session

    def get_session(self, handle: SessionHandle, user: str | None) -> Session:
        with self._lock:
            session = self._sessions.get(handle.guid)
        if session is None or session.handle.secret != handle.secret:
            raise InvalidHandleError(f"Invalid SessionHandle: {handle.id}")
        if user is not None and user != session.user:
            raise PermissionDeniedError(
                f"user {user} may not use session {session.id}, which belongs to another user"
            )
        session.touch()
        return session

    def close_session(self, handle: SessionHandle, user: str | None, *, detach: bool = False) -> None:
        """CloseSession (and the reaper, the engine stopping): the session's statements stop. With
        ``detach`` (the client's connection dropped) a running agent run goes on detached."""
        session = self.get_session(handle, user)
        with self._lock:
            if self._sessions.pop(handle.guid, None) is None:
                raise InvalidHandleError(f"Invalid SessionHandle: {handle.id}")
            self._detached[handle.guid] = session  # until its agent state is released
        self.metrics.session_closed(session.user)
        with log_context(session.id):
            released = session.close(detach=detach)
            log.info(
                "closed session %s after %.3f s%s",
                session.id,
                time.time() - session.created,
                "" if released else "; its run goes on detached",
            )

    def _released(self, session: Session) -> None:
        """A closed session let go of its agent state (at once, or when its detached run ended)."""
        with self._lock:
            if self._detached.pop(session.handle.guid, None) is None:
                return
            remaining = len(self._sessions) + len(self._detached)
            if remaining == 0:
                self.idle_since = time.monotonic()
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(remaining)
            except Exception:
                log.warning("session listener failed", exc_info=True)

    def on_session_closed(self, listener: Callable[[int], None]) -> None:
        """``listener(remaining_sessions)`` runs after every close (must not block)."""
        with self._lock:
            self._listeners.append(listener)

    def session_count(self) -> int:
        """Open sessions, and closed ones whose detached run still goes on."""
        with self._lock:
            return len(self._sessions) + len(self._detached)

    def sessions(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    # --- operations ----------------------------------------------------------------------------
    def get_operation(self, handle: OperationHandle, user: str | None) -> Operation:
        operation = self.operations.get(handle)
        if user is not None and user != operation.user:
            raise PermissionDeniedError(
                f"user {user} may not use operation {operation.id}, which belongs to another user"
            )
        return operation

    def close_operation(self, handle: OperationHandle, user: str | None) -> None:
        operation = self.get_operation(handle, user)
        self.operations.remove(handle)
        operation.close()

    # --- reaping -------------------------------------------------------------------------------
    def _reap_loop(self) -> None:
        interval = self.conf.get(SESSION_CHECK_INTERVAL)
        while not self._stopping.wait(interval):
            try:
                self.reap_idle()
            except Exception:
                log.warning("session reaper failed", exc_info=True)

    def reap_idle(self) -> int:
        limit = self.conf.get(SESSION_IDLE_TIMEOUT)
        now = time.monotonic()
        reaped = 0
        for session in self.sessions():
            if not session.has_running() and now - session.last_access > limit:
                log.info("closing session %s idle for %.0f s", session.id, now - session.last_access)
                try:
                    self.close_session(session.handle, None)
                    reaped += 1
                except InvalidHandleError:
                    pass
        self.operations.reap_idle()
        return reaped

    def stop(self) -> None:
        self._stopping.set()
        for session in self.sessions():
            try:
                self.close_session(session.handle, None)
            except InvalidHandleError:
                pass
        self.operations.stop()
        with self._lock:
            leftover = list(self._detached.values())
        for session in leftover:  # runs that did not end within the operations' stop timeout
            session.release()
        self._reaper.join(timeout=2.0)
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
