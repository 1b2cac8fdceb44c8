"""One HiveServer2 connection, opened with PyHive over SASL PLAIN or NOSASL.

PyHive opens the session (OpenSession V6, then ``USE db``); statements run through its Thrift
client so that a running operation can be followed as it streams: execute asynchronously, read
the result schema, fetch while the operation runs (an empty batch is not the end: the operation
status says when it is), cancel, close. The password lives only in the SASL callback.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyhive import hive
from TCLIService import ttypes
from thrift.transport import TSocket, TTransport

log = logging.getLogger(__name__)

STATE_NAMES = {
    value: name.removesuffix("_STATE") for value, name in ttypes.TOperationState._VALUES_TO_NAMES.items()
}
TERMINAL_STATES = frozenset({"FINISHED", "CANCELED", "CLOSED", "ERROR", "UKNOWN", "TIMEDOUT"})


class ConnectError(Exception):
    """The server could not be reached or refused the session."""


class ServerError(Exception):
    """The server answered an RPC with an error status."""

    def __init__(self, message: str, sqlstate: str = "") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class ConnectionLostError(Exception):
    """The connection broke in the middle of an RPC."""


@dataclass(frozen=True)
class Credentials:
    user: str
    password: str | None = field(default=None, repr=False)
    nosasl: bool = False


@dataclass(frozen=True)
class OperationStatus:
    state: str
    error: str = ""
    sqlstate: str = ""

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # Hive type name, e.g. STRING


class Hs2Connection:
    """A HiveServer2 session. Not thread-safe: one thread at a time uses it (``abort`` aside)."""

    def __init__(
        self,
        host: str,
        port: int,
        credentials: Credentials,
        *,
        database: str = "default",
        configuration: dict[str, str] | None = None,
        connect_timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.user = host, port, credentials.user
        self._socket = TSocket.TSocket(host, port)
        self._socket.setTimeout(connect_timeout * 1000)
        transport: Any = self._socket
        if credentials.nosasl:
            transport = TTransport.TBufferedTransport(self._socket)
        else:
            import thrift_sasl

            password = credentials.password or "x"  # PLAIN needs one; NONE servers take any
            transport = thrift_sasl.TSaslClientTransport(
                lambda: hive.get_installed_sasl(
                    host=host, sasl_auth="PLAIN", username=credentials.user, password=password
                ),
                "PLAIN",
                self._socket,
            )
        try:
            self._conn = hive.Connection(
                thrift_transport=transport,
                username=credentials.user,
                database=database,
                configuration=configuration or {},
            )
        except TTransport.TTransportException as exc:
            raise ConnectError(f"cannot connect to {host}:{port}: {_transport_reason(exc)}") from None
        except hive.OperationalError as exc:
            raise ConnectError(f"{host}:{port} refused the session: {_status_message(exc)}") from None
        except (OSError, EOFError) as exc:
            raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from None
        except AssertionError as exc:  # PyHive asserts the protocol version it was answered
            raise ConnectError(f"{host}:{port} is not a compatible HiveServer2 ({exc})") from None
        self._socket.setTimeout(None)  # a fetch long-polls while a run goes on; Ctrl-C is the limit
        self._client = self._conn.client

    # --- operations ----------------------------------------------------------------------------
    def execute(
        self, statement: str, *, run_async: bool = True, conf_overlay: dict[str, str] | None = None
    ) -> ttypes.TOperationHandle:
        """Start a statement; returns its operation handle."""
        request = ttypes.TExecuteStatementReq(
            sessionHandle=self._conn.sessionHandle,
            statement=statement,
            confOverlay=conf_overlay or {},
            runAsync=run_async,
        )
        response = self._call(self._client.ExecuteStatement, request)
        return response.operationHandle

    def status(self, handle: ttypes.TOperationHandle) -> OperationStatus:
        request = ttypes.TGetOperationStatusReq(operationHandle=handle, getProgressUpdate=False)
        response = self._call(self._client.GetOperationStatus, request)
        return OperationStatus(
            STATE_NAMES.get(response.operationState, "UKNOWN"),
            response.errorMessage or "",
            response.sqlState or "",
        )

    def schema(self, handle: ttypes.TOperationHandle) -> list[Column]:
        request = ttypes.TGetResultSetMetadataReq(operationHandle=handle)
        response = self._call(self._client.GetResultSetMetadata, request)
        columns = []
        for column in response.schema.columns if response.schema else []:
            entry = column.typeDesc.types[0].primitiveEntry if column.typeDesc else None
            type_name = ttypes.TTypeId._VALUES_TO_NAMES.get(entry.type, "STRING") if entry else "STRING"
            columns.append(Column(column.columnName, type_name.removesuffix("_TYPE")))
        return columns

    def fetch(self, handle: ttypes.TOperationHandle, max_rows: int = 1000) -> list[tuple[Any, ...]]:
        """The next rows; may be empty while the operation runs."""
        request = ttypes.TFetchResultsReq(
            operationHandle=handle,
            orientation=ttypes.TFetchOrientation.FETCH_NEXT,
            maxRows=max_rows,
            fetchType=0,
        )
        response = self._call(self._client.FetchResults, request)
        results = response.results
        if results is None or not results.columns:
            return []
        return list(zip(*(column_values(column) for column in results.columns), strict=False))

    def cancel(self, handle: ttypes.TOperationHandle) -> None:
        self._call(self._client.CancelOperation, ttypes.TCancelOperationReq(operationHandle=handle))

    def close_operation(self, handle: ttypes.TOperationHandle) -> None:
        self._call(self._client.CloseOperation, ttypes.TCloseOperationReq(operationHandle=handle))

    def query(self, statement: str) -> tuple[list[Column], list[tuple[Any, ...]]]:
        """Run a statement synchronously and read its whole result (control statements)."""
        handle = self.execute(statement, run_async=False)
        try:
            if not handle.hasResultSet:
                return [], []
            columns = self.schema(handle)
            rows: list[tuple[Any, ...]] = []
            while True:
                batch = self.fetch(handle, 1000)
                if not batch:
                    return columns, rows
                rows.extend(batch)
        finally:
            self.close_operation(handle)

    # --- lifetime ------------------------------------------------------------------------------
    def abort(self) -> None:
        """Break the socket so that an RPC blocked in another thread returns at once."""
        handle = self._socket.handle
        if handle is not None:
            try:
                handle.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:
            log.debug("closing the session failed", exc_info=True)
            try:
                self._socket.close()
            except OSError:
                pass

    def _call(self, method: Any, request: Any) -> Any:
        try:
            response = method(request)
        except TTransport.TTransportException as exc:
            raise ConnectionLostError(
                f"the connection to the server broke: {_transport_reason(exc)}"
            ) from None
        except (OSError, EOFError) as exc:
            raise ConnectionLostError(f"the connection to the server broke: {exc}") from None
        status = response.status
        if status is not None and status.statusCode not in (
            ttypes.TStatusCode.SUCCESS_STATUS,
            ttypes.TStatusCode.SUCCESS_WITH_INFO_STATUS,
        ):
            raise ServerError(status.errorMessage or "the server reported an error", status.sqlState or "")
        return response


def column_values(column: ttypes.TColumn) -> list[Any]:
    """The values of one TColumn, with None where its null bitmap says so."""
    for attr in ("stringVal", "i64Val", "i32Val", "i16Val", "byteVal", "doubleVal", "boolVal", "binaryVal"):
        wrapper = getattr(column, attr, None)
        if wrapper is None:
            continue
        values: list[Any] = list(wrapper.values)
        nulls: bytes = wrapper.nulls or b""
        for index, byte in enumerate(nulls):
            for bit in range(8):
                position = index * 8 + bit
                if byte & (1 << bit) and position < len(values):
                    values[position] = None
        return values
    return []


def _transport_reason(exc: Exception) -> str:
    message = str(exc) or type(exc).__name__
    inner = getattr(exc, "inner", None)
    if inner is not None and str(inner):
        message += f" ({inner})"
    return message


def _status_message(exc: Exception) -> str:
    response: Sequence[Any] = exc.args
    status = getattr(response[0], "status", None) if response else None
    return getattr(status, "errorMessage", None) or str(exc)
