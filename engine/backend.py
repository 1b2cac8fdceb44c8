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
from collections.abc import Mapping

from engine.common.config import OPERATION_STATUS_POLLING_TIMEOUT, SERVER_NAME, EngineConf
from engine.common.errors import UnsupportedError
from engine.common.handle import OperationHandle, SessionHandle
from engine.common.metrics import Metrics
from engine.common.types import LATEST_PROTOCOL, RowBatch, TableSchema
from engine.common.version import KYUUBI_VERSION
from engine.operation.fetch_buffer import FetchOrientation
from engine.operation.metadata import MetadataArguments
from engine.operation.operation import OperationStatus
from engine.operation.run_service import RunService
from engine.session.manager import SessionManager

log = logging.getLogger(__name__)

DBMS_NAME = "Kyuubi Data Agent"


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

    def cancel_operation(self, handle: OperationHandle, user: str | None) -> None:
        self.sessions.get_operation(handle, user).cancel()

    def run_of(self, handle: OperationHandle, user: str | None) -> str | None:
        """The id of the agent run an operation runs or follows (None: not an agent run); a
        frontend then follows it through :attr:`runs`."""
        return self.sessions.get_operation(handle, user).run_id

    def close_operation(self, handle: OperationHandle, user: str | None) -> None:
        self.sessions.close_operation(handle, user)

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
