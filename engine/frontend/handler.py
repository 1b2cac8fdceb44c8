"""The TCLIService handler: one PascalCase method per RPC, each a thin adapter onto
:class:`engine.backend.BackendService`.

One instance serves one connection. It knows the connection's user (the SASL authcid, or None in
NOSASL mode, where the user named in OpenSession owns the session and the handle alone is the
capability). The :func:`rpc` decorator is the only place where exceptions become ``TStatus``:
nothing escapes to thriftpy2, because an escaped exception drops the connection.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from engine.backend import BackendService
from engine.common.errors import BusyError, EngineError, MalformedRequestError, UnsupportedError
from engine.common.handle import SessionHandle
from engine.common.logging_context import LogThrottle
from engine.common.redaction import clip
from engine.frontend import convert, rowset
from engine.frontend.idl import TCLI, ThriftStruct
from engine.frontend.request import check_request
from engine.operation.fetch_buffer import FetchOrientation

log = logging.getLogger(__name__)

MAX_FETCH_ROWS = 1_000_000  # one FetchResults never asks the backend for more than this
_INFO_NAMES: dict[int, str] = dict(TCLI.TGetInfoType._VALUES_TO_NAMES)

F = TypeVar("F", bound=Callable[..., Any])


def rpc(response: Callable[..., ThriftStruct], **error_fields: object) -> Callable[[F], F]:
    """Answer every failure of the wrapped RPC with ``response(status=<error TStatus>, ...)``.

    ``error_fields`` fill the response's other required fields on failure. Before the RPC runs,
    the request is checked (:func:`check_request`); a malformed one is answered with an error and
    logged as one WARNING, rate-limited per connection, without a traceback. ERROR with a
    traceback is kept for faults of the engine itself.
    """

    def decorate(method: F) -> F:
        name = method.__name__

        @functools.wraps(method)
        def wrapper(self: ThriftHandler, req: ThriftStruct) -> ThriftStruct:
            try:
                if self.refusal is not None:
                    raise BusyError(self.refusal)
                check_request(req, name)
                return method(self, req)
            except MalformedRequestError as exc:
                self.log_malformed(exc)
                status = convert.error_status(exc)
            except EngineError as exc:
                log.info("%s failed: %s [%s/%s]", name, exc, exc.sqlstate, exc.vendor_code)
                status = convert.error_status(exc)
            except Exception as exc:
                log.error("%s failed unexpectedly", name, exc_info=True)
                status = convert.error_status(exc)
            try:
                return response(
                    status=status, **{k: v() if callable(v) else v for k, v in error_fields.items()}
                )
            except Exception:  # pragma: no cover - building a plain struct cannot fail
                log.error("%s: could not build the error reply", name, exc_info=True)
                return response(status=status)

        return wrapper  # type: ignore[return-value]

    return decorate


def _not_supported(what: str) -> UnsupportedError:
    return UnsupportedError(f"{what} is not supported by the Data Agent Engine")


class ThriftHandler:
    """``admit`` (NOSASL only) counts the connection towards the user of its first OpenSession
    and returns why it is refused, if it is; the connection then closes after the reply.
    ``refusal`` answers every RPC with that error (a connection over a limit)."""

    def __init__(
        self,
        backend: BackendService,
        user: str | None,
        peer: str = "",
        *,
        admit: Callable[[str], str | None] | None = None,
        refusal: str | None = None,
    ) -> None:
        self.backend = backend
        self.user = user  # SASL authcid; None in NOSASL mode
        self.peer = peer
        self.refusal = refusal
        self.close_requested = False  # the connection closes after the current reply
        self._admit = admit
        self._admitted = False
        self._malformed = LogThrottle()
        self._lock = threading.Lock()
        self._sessions: set[SessionHandle] = set()
        # Set by GetOperationStatus when its reply is settled: whether it still holds. The
        # connection then replays the encoded reply while it does (engine.frontend.replay).
        self.settled: Callable[[], bool] | None = None

    def log_malformed(self, error: Exception) -> None:
        held = self._malformed.allow()
        if held is not None:
            log.warning(
                "malformed request from %s: %s%s",
                self.peer,
                error,
                f" ({held} more since the last report)" if held else "",
            )

    def has_live_session(self) -> bool:
        """Whether this connection still holds an open session (forgetting the ones closed
        elsewhere, by the idle reaper for instance)."""
        with self._lock:
            handles = list(self._sessions)
        for handle in handles:
            try:
                self.backend.get_info(handle, self.user, "CLI_USER_NAME")  # raises once it is closed
                return True
            except EngineError:
                with self._lock:
                    self._sessions.discard(handle)
        return False

    def close_sessions(self) -> None:
        """Close the sessions this connection opened and did not close (the client went away);
        their running agent runs go on, detached, until attached again or timed out."""
        with self._lock:
            leftover = list(self._sessions)
            self._sessions.clear()
        for handle in leftover:
            try:
                self.backend.close_session(handle, self.user, detach=True)
                log.info("closed session %s left open by %s", handle, self.peer or "a client")
            except EngineError as exc:
                log.debug("session %s already gone: %s", handle, exc)
            except Exception:
                log.warning("closing session %s failed", handle, exc_info=True)

    # --- sessions ---------------------------------------------------------------------------
    @rpc(TCLI.TOpenSessionResp, configuration=dict)
    def OpenSession(self, req: ThriftStruct) -> ThriftStruct:
        user = self.user if self.user is not None else (req.username or "anonymous")
        if self._admit is not None and not self._admitted:
            refusal = self._admit(user)
            if refusal is not None:
                self.close_requested = True
                raise BusyError(refusal)
            self._admitted = True
        client = int(req.client_protocol if req.client_protocol is not None else 0)
        handle, protocol, configuration = self.backend.open_session(
            client, user, req.password, self.peer.rpartition(":")[0] or self.peer, req.configuration
        )
        with self._lock:
            self._sessions.add(handle)
        log.info(
            "session %s opened for %s from %s (client V%d, answering V%d)",
            handle,
            clip(user),
            self.peer,
            client + 1,
            protocol + 1,
        )
        return TCLI.TOpenSessionResp(
            status=convert.ok_status(),
            serverProtocolVersion=protocol,
            sessionHandle=convert.to_session_handle(handle),
            configuration=dict(configuration or {}),
        )

    @rpc(TCLI.TCloseSessionResp)
    def CloseSession(self, req: ThriftStruct) -> ThriftStruct:
        handle = convert.session_handle(req.sessionHandle)
        self.backend.close_session(handle, self.user)
        with self._lock:
            self._sessions.discard(handle)
        return TCLI.TCloseSessionResp(status=convert.ok_status())

    @rpc(TCLI.TGetInfoResp, infoValue=lambda: TCLI.TGetInfoValue(lenValue=0))
    def GetInfo(self, req: ThriftStruct) -> ThriftStruct:
        handle = convert.session_handle(req.sessionHandle)
        name = _INFO_NAMES.get(req.infoType)
        if name is None:
            raise UnsupportedError(f"unrecognized GetInfoType value: {req.infoType}")
        value = self.backend.get_info(handle, self.user, name)
        return TCLI.TGetInfoResp(status=convert.ok_status(), infoValue=convert.info_value(value))

    @rpc(TCLI.TSetClientInfoResp)
    def SetClientInfo(self, req: ThriftStruct) -> ThriftStruct:
        handle = convert.session_handle(req.sessionHandle)
        self.backend.get_info(handle, self.user, "CLI_USER_NAME")  # validates the handle and owner
        return TCLI.TSetClientInfoResp(status=convert.ok_status())

    # --- statements -------------------------------------------------------------------------
    @rpc(TCLI.TExecuteStatementResp)
    def ExecuteStatement(self, req: ThriftStruct) -> ThriftStruct:
        handle = convert.session_handle(req.sessionHandle)
        operation = self.backend.execute_statement(
            handle,
            self.user,
            req.statement or "",
            req.confOverlay,
            bool(req.runAsync),
            int(req.queryTimeout or 0),
        )
        return TCLI.TExecuteStatementResp(
            status=convert.ok_status(), operationHandle=convert.to_operation_handle(operation)
        )

    def _metadata(self, req: ThriftStruct, kind: str, response: Callable[..., ThriftStruct]) -> ThriftStruct:
        handle = convert.session_handle(req.sessionHandle)
        operation = self.backend.run_metadata(handle, self.user, kind, convert.metadata_arguments(req))
        return response(status=convert.ok_status(), operationHandle=convert.to_operation_handle(operation))

    @rpc(TCLI.TGetTypeInfoResp)
    def GetTypeInfo(self, req: ThriftStruct) -> ThriftStruct:
        return self._metadata(req, "GetTypeInfo", TCLI.TGetTypeInfoResp)

    @rpc(TCLI.TGetCatalogsResp)
    def GetCatalogs(self, req: ThriftStruct) -> ThriftStruct:
        return self._metadata(req, "GetCatalogs", TCLI.TGetCatalogsResp)

    @rpc(TCLI.TGetSchemasResp)
    def GetSchemas(self, req: ThriftStruct) -> ThriftStruct:
        return self._metadata(req, "GetSchemas", TCLI.TGetSchemasResp)

    @rpc(TCLI.TGetTablesResp)
    def GetTables(self, req: ThriftStruct) -> ThriftStruct:
        return self._metadata(req, "GetTables", TCLI.TGetTablesResp)

    @rpc(TCLI.TGetTableTypesResp)
    def GetTableTypes(self, req: ThriftStruct) -> ThriftStruct:
        return self._metadata(req, "GetTableTypes", TCLI.TGetTableTypesResp)

    @rpc(TCLI.TGetColumnsResp)
    def GetColumns(self, req: ThriftStruct) -> ThriftStruct:
        return self._metadata(req, "GetColumns", TCLI.TGetColumnsResp)

    @rpc(TCLI.TGetFunctionsResp)
    def GetFunctions(self, req: ThriftStruct) -> ThriftStruct:
        return self._metadata(req, "GetFunctions", TCLI.TGetFunctionsResp)

    @rpc(TCLI.TGetPrimaryKeysResp)
    def GetPrimaryKeys(self, req: ThriftStruct) -> ThriftStruct:
        return self._metadata(req, "GetPrimaryKeys", TCLI.TGetPrimaryKeysResp)

    @rpc(TCLI.TGetCrossReferenceResp)
    def GetCrossReference(self, req: ThriftStruct) -> ThriftStruct:
        return self._metadata(req, "GetCrossReference", TCLI.TGetCrossReferenceResp)

    # --- operations -------------------------------------------------------------------------
    @rpc(TCLI.TGetOperationStatusResp)
    def GetOperationStatus(self, req: ThriftStruct) -> ThriftStruct:
        handle = convert.operation_handle(req.operationHandle)
        status, holds = self.backend.settled_status(handle, self.user)
        response = convert.to_operation_status(status)
        self.settled = holds  # beeline/hive-jdbc poll once per row: a settled reply is replayed
        return response

    @rpc(TCLI.TCancelOperationResp)
    def CancelOperation(self, req: ThriftStruct) -> ThriftStruct:
        self.backend.cancel_operation(convert.operation_handle(req.operationHandle), self.user)
        return TCLI.TCancelOperationResp(status=convert.ok_status())

    @rpc(TCLI.TCloseOperationResp)
    def CloseOperation(self, req: ThriftStruct) -> ThriftStruct:
        handle = convert.operation_handle(req.operationHandle)
        self.backend.close_operation(handle, self.user)
        return TCLI.TCloseOperationResp(status=convert.ok_status())

    @rpc(TCLI.TGetResultSetMetadataResp)
    def GetResultSetMetadata(self, req: ThriftStruct) -> ThriftStruct:
        schema = self.backend.get_result_set_metadata(
            convert.operation_handle(req.operationHandle), self.user
        )
        return TCLI.TGetResultSetMetadataResp(
            status=convert.ok_status(), schema=convert.to_table_schema(schema)
        )

    @rpc(TCLI.TFetchResultsResp)
    def FetchResults(self, req: ThriftStruct) -> ThriftStruct:
        handle = convert.operation_handle(req.operationHandle)
        try:
            orientation = FetchOrientation(req.orientation if req.orientation is not None else 0)
        except ValueError:
            raise UnsupportedError(f"unknown fetch orientation {req.orientation}") from None
        fetch_type = int(req.fetchType or 0)
        if fetch_type not in (0, 1):
            raise UnsupportedError(f"unknown fetchType {fetch_type}; 0 fetches rows, 1 the operation log")
        max_rows = max(0, min(int(req.maxRows or 0), MAX_FETCH_ROWS))
        batch = self.backend.fetch_results(
            handle, self.user, orientation, max_rows, fetch_log=fetch_type == 1
        )
        if fetch_type != 1:
            self.backend.metrics.fetched_rows(batch.row_count)
        return TCLI.TFetchResultsResp(
            status=convert.ok_status(),
            hasMoreRows=bool(batch.has_more_rows),
            results=rowset.to_rowset(batch, batch.protocol),
        )

    def GetQueryId(self, req: ThriftStruct) -> ThriftStruct:
        # TGetQueryIdResp has no status field to carry an error: answer the operation id.
        try:
            return TCLI.TGetQueryIdResp(queryId=convert.operation_handle(req.operationHandle).id)
        except Exception:
            return TCLI.TGetQueryIdResp(queryId="")

    # --- not supported ----------------------------------------------------------------------
    @rpc(TCLI.TGetDelegationTokenResp)
    def GetDelegationToken(self, req: ThriftStruct) -> ThriftStruct:
        raise _not_supported("GetDelegationToken (delegation tokens)")

    @rpc(TCLI.TCancelDelegationTokenResp)
    def CancelDelegationToken(self, req: ThriftStruct) -> ThriftStruct:
        raise _not_supported("CancelDelegationToken (delegation tokens)")

    @rpc(TCLI.TRenewDelegationTokenResp)
    def RenewDelegationToken(self, req: ThriftStruct) -> ThriftStruct:
        raise _not_supported("RenewDelegationToken (delegation tokens)")
