"""SessionManager: open sessions behind one lock, ownership checks and the idle reaper."""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from engine.agent.approval import ApprovalRegistry, AuditLog
from engine.agent.provider import AgentProvider
from engine.agent.settings import SettingsPolicy
from engine.common.config import (
    AUDIT_LOG,
    SESSION_CHECK_INTERVAL,
    SESSION_IDLE_TIMEOUT,
    WORK_DIR,
    EngineConf,
)
from engine.common.errors import InvalidHandleError, PermissionDeniedError
from engine.common.handle import OperationHandle, SessionHandle
from engine.common.logging_context import log_context
from engine.operation.manager import OperationManager
from engine.operation.operation import Operation
from engine.session.session import Session
from engine.tools import DEFAULT_TOOL_NAMES
from engine.tools.port import CatalogView, ReadSource

log = logging.getLogger(__name__)


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
    ) -> None:
        self.conf = conf
        self.policy = policy or SettingsPolicy.from_conf(conf, DEFAULT_TOOL_NAMES)
        self.provider = provider
        self.operations = operations
        self.datasource = datasource
        self.catalog = catalog
        self._lock = threading.Lock()
        self._sessions: dict[bytes, Session] = {}
        self._listeners: list[Callable[[int], None]] = []
        self.idle_since: float | None = time.monotonic()  # monotonic time the last session closed
        configured = conf.get(WORK_DIR)
        if configured:
            self.work_dir = Path(configured)
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._own_work_dir = False
        else:
            self.work_dir = Path(tempfile.mkdtemp(prefix="data-agent-"))
            self._own_work_dir = True
        audit_path = conf.get(AUDIT_LOG)
        self.audit = AuditLog(Path(audit_path) if audit_path else self.work_dir / "audit.log")
        # One registry of parked calls for the engine: any session of a user may answer them.
        self.approvals = ApprovalRegistry(self.audit)
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
            approvals=self.approvals,
            datasource=self.datasource,
            catalog=self.catalog,
        )
        with self._lock:
            self._sessions[session.handle.guid] = session
            self.idle_since = None
        with log_context(session.id):
            log.info(
                "opened session %s for user %s from %s (protocol V%d)", session.id, user, ip, protocol + 1
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

    def close_session(self, handle: SessionHandle, user: str | None) -> None:
        session = self.get_session(handle, user)
        with self._lock:
            if self._sessions.pop(handle.guid, None) is None:
                raise InvalidHandleError(f"Invalid SessionHandle: {handle.id}")
            remaining = len(self._sessions)
            if remaining == 0:
                self.idle_since = time.monotonic()
            listeners = list(self._listeners)
        with log_context(session.id):
            session.close()
            log.info("closed session %s after %.3f s", session.id, time.time() - session.created)
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
        with self._lock:
            return len(self._sessions)

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
        self._reaper.join(timeout=2.0)
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
