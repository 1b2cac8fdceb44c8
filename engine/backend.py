"""BackendService: the domain API the Thrift frontend adapts, mirroring Kyuubi's BackendService.

Every method takes and returns domain types (``engine.common.handle``, ``engine.common.types``,
``engine.operation``); the frontend converts Thrift structs on both sides. ``user`` is the caller
established by the transport (the SASL authcid), or None when the transport has no identity
(NOSASL), in which case the handle alone is the capability. Errors are
``engine.common.errors.EngineError`` subclasses.

Runs and conversations are reached through :attr:`BackendService.runs` (the engine's
:class:`~engine.operation.run_service.RunService`): list and get runs and conversations of a user,
follow a run's events from a sequence number (replayed, then live), cancel a run. A frontend
needs no session for any of it; the Thrift frontend reaches the same service through
``__attach:``, ``SHOW RUNS`` and ``SHOW CONVERSATIONS``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from engine.common.config import (
    APPROVAL_MODE,
    APPROVAL_MODES,
    MODEL,
    OPERATION_STATUS_POLLING_TIMEOUT,
    SERVER_NAME,
    EngineConf,
)
from engine.common.errors import InvalidHandleError, PermissionDeniedError, UnsupportedError
from engine.common.handle import OperationHandle, SessionHandle
from engine.common.metrics import Metrics
from engine.common.types import LATEST_PROTOCOL, RowBatch, TableSchema
from engine.common.version import KYUUBI_VERSION
from engine.operation.fetch_buffer import FetchOrientation
from engine.operation.metadata import MetadataArguments
from engine.operation.operation import OperationStatus
from engine.operation.run_service import RunService
from engine.operation.state import OperationState
from engine.session.manager import SessionManager
from engine.tools.port import CatalogView

log = logging.getLogger(__name__)

DBMS_NAME = "Kyuubi Data Agent"


@dataclass(frozen=True)
class SessionInfo:
    """What a frontend may show of an open session (the REST API's ``GET /sessions/{id}``)."""

    handle: SessionHandle
    user: str
    ip: str
    created: float  # epoch seconds
    conversation_id: str
    configuration: dict[str, str]  # the session's overlay (secrets never kept there)


@dataclass(frozen=True)
class AgentDefaults:
    """The engine's agent settings a UI starts from: model, approval mode and the modes allowed."""

    model: str | None
    approval_mode: str
    approval_modes: tuple[str, ...]


class BackendService:
    def __init__(self, conf: EngineConf, sessions: SessionManager) -> None:
        self.conf = conf
        self.sessions = sessions
        self.metrics: Metrics = sessions.metrics  # the frontends record connections and rows here
        self.status_wait = conf.get(OPERATION_STATUS_POLLING_TIMEOUT)

    @property
    def runs(self) -> RunService:
        """Runs and conversations for any frontend (see the module docstring)."""
        return self.sessions.operations.runs

    # --- sessions --------------------------------------------------------------------------
    def open_session(
        self,
        protocol: int,
        user: str,
        password: str | None,
        ip: str,
        configuration: Mapping[str, str] | None,
    ) -> tuple[SessionHandle, int, dict[str, str]]:
        """Open a session. Returns its handle, the protocol version to answer
        (``min(client, server)``) and the configuration map to send back (never None)."""
        version = min(protocol, LATEST_PROTOCOL)
        session = self.sessions.open_session(version, user, ip, dict(configuration or {}))
        return session.handle, version, session.response_configuration()

    def close_session(self, handle: SessionHandle, user: str | None, *, detach: bool = False) -> None:
        """CloseSession stops the session's statements. ``detach``: the client's connection dropped
        without closing it; a running agent run goes on, detached, and can be attached again."""
        self.sessions.close_session(handle, user, detach=detach)

    def get_info(self, handle: SessionHandle, user: str | None, info_type: str) -> str | int:
        """``info_type`` is the ``TGetInfoType`` name (``CLI_SERVER_NAME``...)."""
        session = self.sessions.get_session(handle, user)
        values: dict[str, str | int] = {
            "CLI_SERVER_NAME": self.conf.get(SERVER_NAME),
            "CLI_DBMS_NAME": DBMS_NAME,
            "CLI_DBMS_VER": KYUUBI_VERSION,
            "CLI_ODBC_KEYWORDS": "",
            "CLI_MAX_COLUMN_NAME_LEN": 128,
            "CLI_MAX_SCHEMA_NAME_LEN": 128,
            "CLI_MAX_TABLE_NAME_LEN": 128,
            "CLI_TXN_CAPABLE": 0,
            "CLI_IDENTIFIER_CASE": 0,
            "CLI_IDENTIFIER_QUOTE_CHAR": "`",
            "CLI_SEARCH_PATTERN_ESCAPE": "\\",
            "CLI_MAX_IDENTIFIER_LEN": 128,
            "CLI_USER_NAME": session.user,
        }
        if info_type not in values:
            raise UnsupportedError(f"unrecognized GetInfoType value: {info_type}")
        return values[info_type]

    def find_session(self, identifier: str, user: str | None) -> SessionHandle:
        """The handle of an open session named by its id (the REST API's ``sessionHandle``): any
        session of ``user``, whichever frontend opened it. Unknown or malformed: InvalidHandleError."""
        try:
            guid = uuid.UUID(identifier).bytes
        except (ValueError, TypeError):
            raise InvalidHandleError(f"Invalid SessionHandle: {identifier[:64]!r}") from None
        for session in self.sessions.sessions():
            if session.handle.guid == guid:
                return self.sessions.get_session(session.handle, user).handle
        raise InvalidHandleError(f"Invalid SessionHandle: {identifier}")

    def session_info(self, handle: SessionHandle, user: str | None) -> SessionInfo:
        session = self.sessions.get_session(handle, user)
        return SessionInfo(
            handle=session.handle,
            user=session.user,
            ip=session.ip,
            created=session.created,
            conversation_id=session.conversation_id,
            configuration=session.conf_items(),
        )

    def agent_defaults(self) -> AgentDefaults:
        floor = self.sessions.policy.approval_floor
        allowed = APPROVAL_MODES[APPROVAL_MODES.index(floor) :] if floor in APPROVAL_MODES else APPROVAL_MODES
        return AgentDefaults(self.conf.get(MODEL), self.conf.get(APPROVAL_MODE), tuple(allowed))

    @property
    def catalog(self) -> CatalogView | None:
        """The datasource's catalog (the REST API's schema browser); None without a datasource."""
        return self.sessions.catalog

    def check_approval(self, request_id: str, user: str) -> None:
        """Refuse (PermissionDeniedError) a decision on a call another user parked; an unknown id
        passes (the decision then answers ``not_found``, as Kyuubi's does)."""
        for pending in self.sessions.approvals.pending():
            if pending.request_id == request_id and pending.user != user:
                raise PermissionDeniedError(
                    f"user {user} may not decide approval {request_id}, which belongs to another user"
                )

    # --- statements ------------------------------------------------------------------------
    def execute_statement(
        self,
        handle: SessionHandle,
        user: str | None,
        statement: str,
        conf_overlay: Mapping[str, str] | None,
        run_async: bool,
        query_timeout: int = 0,
    ) -> OperationHandle:
        session = self.sessions.get_session(handle, user)
        operation = session.execute_statement(statement, dict(conf_overlay or {}), run_async, query_timeout)
        return operation.handle

    def run_metadata(
        self, handle: SessionHandle, user: str | None, kind: str, arguments: MetadataArguments
    ) -> OperationHandle:
        """GetCatalogs/GetSchemas/GetTables/GetTableTypes/GetColumns/GetTypeInfo/GetFunctions/
        GetPrimaryKeys/GetCrossReference: ``kind`` is the RPC name, ``arguments`` its
        snake_case fields (``catalog_name``, ``schema_name``, ``table_name``, ``table_types``,
        ``column_name``, ``function_name``, ``parent_*``/``foreign_*``)."""
        session = self.sessions.get_session(handle, user)
        return session.run_metadata(kind, arguments).handle

    # --- operations ------------------------------------------------------------------------
    def get_operation_status(self, handle: OperationHandle, user: str | None) -> OperationStatus:
        """The operation's status, long-polled (``kyuubi.operation.status.polling.timeout``) while
        it is pending or running: it answers at once on a state change or a new log line."""
        operation = self.sessions.get_operation(handle, user)
        operation.wait_for_progress(self.status_wait)
        return operation.status()

    def settled_status(
        self, handle: OperationHandle, user: str | None
    ) -> tuple[OperationStatus, Callable[[], bool] | None]:
        """:meth:`get_operation_status`, and for a settled operation (FINISHED, ERROR, CANCELED...:
        terminal, not closed) a check that answers cheaply whether that status still holds (it
        counts as an access, as a status call does). beeline and hive-jdbc 2.3 ask for the status
        before every row they read: a frontend answers those from the status it has, while the
        check holds, without looking the operation up again."""
        operation = self.sessions.get_operation(handle, user)
        operation.wait_for_progress(self.status_wait)
        status = operation.status()
        if not status.state.terminal or status.state is OperationState.CLOSED:
            return status, None
        state = status.state

        def holds() -> bool:
            operation.touch()
            return operation.state is state

        return status, holds

    def cancel_operation(self, handle: OperationHandle, user: str | None) -> None:
        self.sessions.get_operation(handle, user).cancel()

    def run_of(self, handle: OperationHandle, user: str | None) -> str | None:
        """The id of the agent run an operation runs or follows (None: not an agent run); a
        frontend then follows it through :attr:`runs`."""
        return self.sessions.get_operation(handle, user).run_id

    def close_operation(self, handle: OperationHandle, user: str | None) -> None:
        self.sessions.close_operation(handle, user)

    def detach_operation(self, handle: OperationHandle, user: str | None) -> bool:
        """Its client went away without stopping it: an agent run goes on, unwatched (the detached
        timeout applies), and its operation is closed when it ends; anything else is closed now.
        True when a run goes on."""
        operation = self.sessions.get_operation(handle, user)

        def close_when_ended() -> None:
            try:
                self.sessions.close_operation(handle, None)
            except InvalidHandleError:
                pass  # closed meanwhile (its session, the reaper)

        if operation.detach(close_when_ended):
            return True
        close_when_ended()
        return False

    def get_result_set_metadata(self, handle: OperationHandle, user: str | None) -> TableSchema:
        return self.sessions.get_operation(handle, user).result_schema()

    def fetch_results(
        self,
        handle: OperationHandle,
        user: str | None,
        orientation: FetchOrientation,
        max_rows: int,
        fetch_log: bool = False,
    ) -> RowBatch:
        operation = self.sessions.get_operation(handle, user)
        if fetch_log:
            return operation.fetch_log(orientation, max_rows)
        return operation.fetch(orientation, max_rows)

    def stop(self) -> None:
        self.sessions.stop()
