"""A raw TCLIService client for tests: a thriftpy2 TClient over NOSASL or a hand-made SASL
PLAIN handshake (after which data frames are plain length-prefixed frames)."""

from __future__ import annotations

import socket
import struct
from typing import Any

from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.thrift import TClient
from thriftpy2.transport import TBufferedTransport, TFramedTransport, TSocket

from engine.frontend.idl import TCLI

START, OK, BAD, ERROR, COMPLETE = 1, 2, 3, 4, 5


def sasl_frame(status: int, payload: bytes) -> bytes:
    return struct.pack(">BI", status, len(payload)) + payload


def read_sasl_frame(sock: socket.socket) -> tuple[int, bytes]:
    header = recv_exact(sock, 5)
    status, length = struct.unpack(">BI", header)
    return status, recv_exact(sock, length)


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed by the server")
        data += chunk
    return data


def plain_login(
    sock: socket.socket, user: str, password: str, status: int = OK, authzid: str = ""
) -> tuple[int, bytes]:
    sock.sendall(sasl_frame(START, b"PLAIN"))
    sock.sendall(sasl_frame(status, f"{authzid}\0{user}\0{password}".encode()))
    return read_sasl_frame(sock)


class RawClient:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        sasl: bool = True,
        user: str = "raw",
        password: str = "x",
        status: int = OK,
        timeout: float = 30.0,
    ) -> None:
        self.tsocket = TSocket(
            host, port, socket_timeout=int(timeout * 1000), connect_timeout=int(timeout * 1000)
        )
        self.tsocket.open()
        if sasl:
            reply, message = plain_login(self.tsocket.sock, user, password, status)
            if reply != COMPLETE:
                self.tsocket.close()
                raise ConnectionError(f"SASL refused ({reply}): {message.decode()}")
            self.transport: Any = TFramedTransport(self.tsocket)
        else:
            self.transport = TBufferedTransport(self.tsocket)
        self.client: Any = TClient(TCLI.TCLIService, TBinaryProtocol(self.transport))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def open_session(
        self, version: int = 5, username: str | None = None, configuration: dict | None = None
    ) -> Any:
        response = self.client.OpenSession(
            TCLI.TOpenSessionReq(client_protocol=version, username=username, configuration=configuration)
        )
        assert response.status.statusCode == TCLI.TStatusCode.SUCCESS_STATUS, response.status
        return response

    def execute(self, session: Any, statement: str, run_async: bool = False) -> Any:
        response = self.client.ExecuteStatement(
            TCLI.TExecuteStatementReq(sessionHandle=session, statement=statement, runAsync=run_async)
        )
        assert response.status.statusCode == TCLI.TStatusCode.SUCCESS_STATUS, response.status
        return response.operationHandle

    def fetch(self, operation: Any, max_rows: int = 1000, orientation: int = 0, fetch_type: int = 0) -> Any:
        return self.client.FetchResults(
            TCLI.TFetchResultsReq(
                operationHandle=operation, orientation=orientation, maxRows=max_rows, fetchType=fetch_type
            )
        )

    def close(self) -> None:
        self.transport.close()


def column_strings(rowset: Any) -> list[str | None]:
    """Values of a one-column string rowset, either layout, NULLs as None."""
    if rowset.columns:
        column = rowset.columns[0].stringVal
        values: list[str | None] = list(column.values)
        for index in range(len(values)):
            if (
                column.nulls
                and index // 8 < len(column.nulls)
                and column.nulls[index // 8] & (1 << (index % 8))
            ):
                values[index] = None
        return values
    return [row.colVals[0].stringVal.value for row in rowset.rows]
