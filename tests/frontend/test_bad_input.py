"""Bad input: each gets a clear error, or a closed connection for that client alone, while a
bystander connection opened beforehand keeps working."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from pyhive import hive

from engine.frontend.idl import TCLI
from tests.frontend.rawclient import BAD, COMPLETE, ERROR, OK, START, RawClient, read_sasl_frame, sasl_frame

SUCCESS = TCLI.TStatusCode.SUCCESS_STATUS
FAILED = TCLI.TStatusCode.ERROR_STATUS
SMALL = {"kyuubi.frontend.thrift.max.message.size": "4096", "kyuubi.frontend.thrift.login.timeout": "PT2S"}


def _closed_by_server(sock: socket.socket, timeout: float = 10.0) -> bool:
    """True when the server closed the connection (EOF or reset) within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


@pytest.fixture
def sasl_stack(hs2: Any) -> Any:
    return hs2(SMALL)


@pytest.fixture
def nosasl_stack(hs2: Any) -> Any:
    return hs2({**SMALL, "kyuubi.authentication": "NOSASL"})


@pytest.fixture
def bystander(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A PyHive connection to the stack under test, opened before the bad client arrives."""
    stack = request.getfixturevalue(request.param)
    auth = "NOSASL" if stack.server.mode == "NOSASL" else "NONE"
    connection = hive.connect(stack.host, stack.port, username="bystander", auth=auth)
    yield stack, connection
    connection.close()


def _still_serves(connection: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("SELECT 1")
    assert cursor.fetchall() == [(1,)]
    cursor.close()


def _connect(stack: Any) -> socket.socket:
    return socket.create_connection((stack.host, stack.port), timeout=10)


def _thrift_message(name: str, payload: bytes = b"\x00", seqid: int = 1) -> bytes:
    encoded = name.encode()
    return struct.pack(">iI", -2147418111, len(encoded)) + encoded + struct.pack(">i", seqid) + payload


# --- SASL transport ---------------------------------------------------------------------------
@pytest.mark.parametrize("bystander", ["sasl_stack"], indirect=True)
class TestSasl:
    def test_unknown_mechanism(self, bystander: Any) -> None:
        stack, connection = bystander
        with _connect(stack) as sock:
            sock.sendall(sasl_frame(START, b"GSSAPI"))
            status, message = read_sasl_frame(sock)
            assert status == BAD and b"GSSAPI" in message
            assert _closed_by_server(sock)
        _still_serves(connection)

    def test_response_before_start(self, bystander: Any) -> None:
        stack, connection = bystander
        with _connect(stack) as sock:
            sock.sendall(sasl_frame(OK, b"\0u\0p"))
            status, _ = read_sasl_frame(sock)
            assert status == ERROR
            assert _closed_by_server(sock)
        _still_serves(connection)

    def test_malformed_plain_response(self, bystander: Any) -> None:
        stack, connection = bystander
        with _connect(stack) as sock:
            sock.sendall(sasl_frame(START, b"PLAIN") + sasl_frame(COMPLETE, b"no separators here"))
            status, message = read_sasl_frame(sock)
            assert status == ERROR and b"PLAIN" in message
            assert _closed_by_server(sock)
        _still_serves(connection)

    def test_nosasl_client_on_sasl_server(self, bystander: Any) -> None:
        stack, connection = bystander
        with _connect(stack) as sock:
            sock.sendall(_thrift_message("OpenSession"))
            assert _closed_by_server(sock)
        _still_serves(connection)

    def test_oversized_handshake_frame(self, bystander: Any) -> None:
        stack, connection = bystander
        with _connect(stack) as sock:
            sock.sendall(struct.pack(">BI", START, 1 << 30) + b"PLAIN")
            assert _closed_by_server(sock)
        _still_serves(connection)

    def test_silent_client_hits_the_login_timeout(self, bystander: Any) -> None:
        stack, connection = bystander
        with _connect(stack) as sock:
            assert _closed_by_server(sock, timeout=15)
        _still_serves(connection)

    def _logged_in(self, stack: Any) -> socket.socket:
        sock = _connect(stack)
        sock.sendall(sasl_frame(START, b"PLAIN") + sasl_frame(OK, b"\0mallory\0pw"))
        assert read_sasl_frame(sock)[0] == COMPLETE
        return sock

    def test_oversized_data_frame(self, bystander: Any) -> None:
        stack, connection = bystander
        with self._logged_in(stack) as sock:
            sock.sendall(struct.pack(">I", 1 << 30) + b"\x80\x01\x00\x01")
            assert _closed_by_server(sock)
        _still_serves(connection)

    def test_truncated_data_frame(self, bystander: Any) -> None:
        stack, connection = bystander
        sock = self._logged_in(stack)
        sock.sendall(struct.pack(">I", 200) + _thrift_message("OpenSession")[:10])
        sock.close()  # the client dies mid-frame
        _still_serves(connection)

    def test_malformed_message_in_a_frame(self, bystander: Any) -> None:
        stack, connection = bystander
        with self._logged_in(stack) as sock:
            garbage = b"\x7f" * 64
            sock.sendall(struct.pack(">I", len(garbage)) + garbage)
            assert _closed_by_server(sock)
        _still_serves(connection)

    def test_string_longer_than_the_frame(self, bystander: Any) -> None:
        stack, connection = bystander
        with self._logged_in(stack) as sock:
            # ExecuteStatement-like message whose first field claims a 2 GB string
            body = _thrift_message("ExecuteStatement", b"\x0b\x00\x02" + struct.pack(">i", 0x7FFFFFF0))
            sock.sendall(struct.pack(">I", len(body)) + body)
            assert _closed_by_server(sock)
        _still_serves(connection)


# --- NOSASL transport -------------------------------------------------------------------------
@pytest.mark.parametrize("bystander", ["nosasl_stack"], indirect=True)
class TestNosasl:
    def test_garbage(self, bystander: Any) -> None:
        stack, connection = bystander
        with _connect(stack) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _closed_by_server(sock)
        _still_serves(connection)

    def test_sasl_client_on_nosasl_server(self, bystander: Any) -> None:
        stack, connection = bystander
        with _connect(stack) as sock:
            sock.sendall(sasl_frame(START, b"PLAIN") + sasl_frame(OK, b"\0u\0p"))
            assert _closed_by_server(sock)
        _still_serves(connection)

    def test_truncated_message(self, bystander: Any) -> None:
        stack, connection = bystander
        sock = _connect(stack)
        sock.sendall(_thrift_message("OpenSession")[:9])
        sock.close()
        _still_serves(connection)

    def test_oversized_message(self, bystander: Any) -> None:
        stack, connection = bystander
        with _connect(stack) as sock:
            # a legal struct with a string field far larger than the 4 KiB limit
            big = b"x" * 20000
            body = _thrift_message("ExecuteStatement", b"\x0b\x00\x02" + struct.pack(">i", len(big)))
            try:
                sock.sendall(body + big)
            except (ConnectionResetError, BrokenPipeError):
                pass
            assert _closed_by_server(sock)
        _still_serves(connection)

    def test_huge_claimed_string(self, bystander: Any) -> None:
        stack, connection = bystander
        with _connect(stack) as sock:
            sock.sendall(_thrift_message("ExecuteStatement", b"\x0b\x00\x02" + struct.pack(">i", 0x7FFFFFF0)))
            assert _closed_by_server(sock)
        _still_serves(connection)


# --- well-formed requests with bad arguments: a clear TStatus, connection kept ----------------
def _fake_session() -> Any:
    return TCLI.TSessionHandle(sessionId=TCLI.THandleIdentifier(guid=b"\x01" * 16, secret=b"\x02" * 16))


def _fake_operation() -> Any:
    return TCLI.TOperationHandle(
        operationId=TCLI.THandleIdentifier(guid=b"\x03" * 16, secret=b"\x04" * 16),
        operationType=TCLI.TOperationType.EXECUTE_STATEMENT,
        hasResultSet=True,
    )


def test_unknown_handles(raw: RawClient) -> None:
    client = raw
    statement = client.ExecuteStatement(
        TCLI.TExecuteStatementReq(sessionHandle=_fake_session(), statement="q")
    )
    assert statement.status.statusCode == FAILED and statement.status.errorMessage
    status = client.GetOperationStatus(TCLI.TGetOperationStatusReq(operationHandle=_fake_operation()))
    assert status.status.statusCode == FAILED
    fetched = client.fetch(_fake_operation())
    assert fetched.status.statusCode == FAILED and fetched.status.sqlState
    closed = client.CloseSession(TCLI.TCloseSessionReq(sessionHandle=_fake_session()))
    assert closed.status.statusCode == FAILED
    missing = client.ExecuteStatement(TCLI.TExecuteStatementReq(statement="no handle"))
    assert missing.status.statusCode == FAILED and "handle" in missing.status.errorMessage
    session = client.open_session(5).sessionHandle  # the connection still works
    assert client.execute(session, "fine") is not None


def test_fetch_on_a_closed_operation(raw: RawClient) -> None:
    client = raw
    session = client.open_session(5).sessionHandle
    operation = client.execute(session, "close me")
    assert (
        client.CloseOperation(TCLI.TCloseOperationReq(operationHandle=operation)).status.statusCode == SUCCESS
    )
    fetched = client.fetch(operation)
    assert fetched.status.statusCode == FAILED and fetched.status.errorMessage
    again = client.CloseOperation(TCLI.TCloseOperationReq(operationHandle=operation))
    assert again.status.statusCode == FAILED
    assert client.execute(session, "next") is not None


@pytest.mark.parametrize("orientation", [2, 3, 5, 42])
def test_unsupported_orientation(raw: RawClient, orientation: int) -> None:
    client = raw
    session = client.open_session(5).sessionHandle
    operation = client.execute(session, "orientation")
    fetched = client.fetch(operation, orientation=orientation)
    assert fetched.status.statusCode == FAILED
    assert fetched.status.sqlState == "0A000"
    assert client.fetch(operation).status.statusCode == SUCCESS


def test_unknown_fetch_type(raw: RawClient) -> None:
    client = raw
    session = client.open_session(5).sessionHandle
    operation = client.execute(session, "fetch type")
    fetched = client.fetch(operation, fetch_type=7)
    assert fetched.status.statusCode == FAILED and "fetchType" in fetched.status.errorMessage
