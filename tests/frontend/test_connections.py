"""Connections a hostile client cannot hold: one login deadline for the whole handshake, an idle
timeout for logged-in connections without a session, Kyuubi's connection limits with a refusal a
real client shows; and malformed requests answered clearly with one rate-limited WARNING."""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyhive import hive

from engine.frontend.idl import TCLI
from tests.frontend.rawclient import COMPLETE, OK, START, RawClient, read_sasl_frame, sasl_frame
from tests.support.hostile import STOP, message, recv_exact
from tests.support.passwords import write_password_file

FAILED = TCLI.TStatusCode.ERROR_STATUS


def _closed_within(sock: socket.socket, limit: float) -> float | None:
    """Seconds until the server closed ``sock`` (reading and dropping anything it sends)."""
    started = time.monotonic()
    sock.settimeout(limit)
    try:
        while sock.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    except TimeoutError:
        return None
    return time.monotonic() - started


def _drip(sock: socket.socket, data: bytes, interval: float, limit: float) -> float | None:
    """Send ``data`` a byte at a time; seconds until the server closed the connection."""
    started = time.monotonic()
    sock.settimeout(interval)
    for byte in data:
        if time.monotonic() - started > limit:
            return None
        try:
            sock.sendall(bytes([byte]))
            if not sock.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
    return None


# --- the login deadline ---------------------------------------------------------------------------
def test_a_slow_drip_handshake_is_cut_at_the_login_deadline(hs2: Any) -> None:
    stack = hs2({"kyuubi.frontend.thrift.login.timeout": "PT1S"})
    with socket.create_connection((stack.host, stack.port)) as sock:
        # a byte every 0.2 s would have kept a per-read timeout of 1 s happy forever
        cut = _drip(sock, sasl_frame(START, b"PLAIN" * 50), interval=0.2, limit=15)
    assert cut is not None and 0.8 < cut < 4.0, cut


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    key, cert, path = tmp_path / "key.pem", tmp_path / "cert.pem", tmp_path / "server.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    path.write_text(cert.read_text() + key.read_text())
    return path


def test_the_deadline_covers_tls_and_sasl_together(hs2: Any, pem: Path) -> None:
    """A TLS handshake done in time leaves only the rest of the deadline for SASL."""
    stack = hs2(
        {
            "kyuubi.frontend.thrift.binary.ssl.enabled": "true",
            "kyuubi.frontend.ssl.keystore.path": str(pem),
            "kyuubi.frontend.thrift.login.timeout": "PT1.5S",
        }
    )
    context = ssl.create_default_context(cafile=str(pem))
    context.check_hostname = False
    with socket.create_connection((stack.host, stack.port)) as raw:
        started = time.monotonic()
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            cut = _drip(sock, sasl_frame(START, b"PLAIN" * 50), interval=0.2, limit=15)
    assert cut is not None and time.monotonic() - started < 4.0


def test_a_prompt_login_is_not_disturbed(hs2: Any) -> None:
    stack = hs2({"kyuubi.frontend.thrift.login.timeout": "PT1S"})
    client = RawClient(stack.host, stack.port)
    try:
        time.sleep(1.5)  # well past the login deadline, after the login
        assert client.open_session(5).sessionHandle is not None
    finally:
        client.close()


# --- the idle timeout -----------------------------------------------------------------------------
IDLE = {"kyuubi.frontend.thrift.connection.idle.timeout": "PT0.5S"}


def test_a_logged_in_connection_without_a_session_is_closed_when_idle(
    hs2: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stack = hs2(IDLE)
    with socket.create_connection((stack.host, stack.port)) as sock:
        sock.sendall(sasl_frame(START, b"PLAIN") + sasl_frame(OK, b"\0idler\0pw"))
        assert read_sasl_frame(sock)[0] == COMPLETE
        closed = _closed_within(sock, 10)
    assert closed is not None and 0.3 < closed < 5, closed
    assert any("no open session and idle" in r.getMessage() for r in caplog.records)


def test_a_connection_that_holds_a_session_is_never_cut(hs2: Any) -> None:
    stack = hs2(IDLE)
    for auth in ("NONE",):
        connection = hive.connect(stack.host, stack.port, username="keeper", auth=auth)
        try:
            time.sleep(2.0)  # four idle timeouts
            cursor = connection.cursor()
            cursor.execute("SELECT 1")
            assert cursor.fetchall() == [(1,)]
        finally:
            connection.close()


def test_closing_the_last_session_makes_the_connection_idle_again(hs2: Any) -> None:
    stack = hs2(IDLE)
    client = RawClient(stack.host, stack.port)
    try:
        session = client.open_session(5).sessionHandle
        time.sleep(1.2)
        client.CloseSession(TCLI.TCloseSessionReq(sessionHandle=session))  # still connected
        closed = _closed_within(client.tsocket.sock, 10)
        assert closed is not None and closed < 5
    finally:
        client.close()


def test_a_nosasl_connection_that_never_opens_a_session_is_closed(hs2: Any) -> None:
    stack = hs2({**IDLE, "kyuubi.authentication": "NOSASL"})
    with socket.create_connection((stack.host, stack.port)) as sock:
        sock.sendall(message("OpenSession", b"")[:10])  # half a request, then nothing
        closed = _closed_within(sock, 10)
    assert closed is not None and closed < 5


# --- connection limits ----------------------------------------------------------------------------
def _connect(stack: Any, auth: str, user: str) -> Any:
    return hive.connect(stack.host, stack.port, username=user, auth=auth)


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (polling) until the server has noticed what the client did, e.g. a close."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "the server did not catch up"
        pause.wait(0.02)


def _connections(stack: Any) -> int:
    return stack.server.connection_count()


def _refused(connect: Callable[[], Any]) -> str:
    with pytest.raises(Exception) as raised:
        connect().close()
    return str(raised.value)


@pytest.mark.parametrize("auth", ["NONE", "NOSASL"])
def test_the_per_user_limit(hs2: Any, auth: str) -> None:
    stack = hs2({"kyuubi.server.limit.connections.per.user": "2", "kyuubi.authentication": auth})
    first, second = _connect(stack, auth, "alice"), _connect(stack, auth, "alice")
    try:
        message = _refused(lambda: _connect(stack, auth, "alice"))
        assert "Connection limit per user reached (user: alice limit: 2)" in message
        _connect(stack, auth, "bob").close()  # other users are not affected
    finally:
        first.close()
    _wait_for(lambda: _connections(stack) == 1)
    third = _connect(stack, auth, "alice")  # a slot of alice's was freed
    third.close()
    second.close()


@pytest.mark.parametrize("auth", ["NONE", "NOSASL"])
def test_the_per_address_limit_is_checked_before_the_handshake(hs2: Any, auth: str) -> None:
    stack = hs2({"kyuubi.server.limit.connections.per.ipaddress": "2", "kyuubi.authentication": auth})
    held = [_connect(stack, auth, "carol"), _connect(stack, auth, "dave")]
    try:
        message = _refused(lambda: _connect(stack, auth, "erin"))
        assert "Connection limit per ipaddress reached (ipaddress: 127.0.0.1 limit: 2)" in message
    finally:
        for connection in held:
            connection.close()
    _wait_for(lambda: _connections(stack) == 0)
    _connect(stack, auth, "erin").close()


def test_a_client_from_another_address_is_not_affected(hs2: Any) -> None:
    stack = hs2({"kyuubi.server.limit.connections.per.ipaddress": "1"})
    held = _connect(stack, "NONE", "local")
    try:
        with socket.socket() as sock:
            sock.bind(("127.0.0.2", 0))
            sock.settimeout(10)
            sock.connect((stack.host, stack.port))
            sock.sendall(sasl_frame(START, b"PLAIN") + sasl_frame(OK, b"\0other\0pw"))
            assert read_sasl_frame(sock)[0] == COMPLETE
    finally:
        held.close()


def test_the_per_user_and_address_limit(hs2: Any) -> None:
    stack = hs2({"kyuubi.server.limit.connections.per.user.ipaddress": "1"})
    held = _connect(stack, "NONE", "frank")
    try:
        message = _refused(lambda: _connect(stack, "NONE", "frank"))
        assert (
            "Connection limit per user and ipaddress reached (user: frank ipaddress: 127.0.0.1 limit: 1)"
            in message
        )
        _connect(stack, "NONE", "grace").close()
    finally:
        held.close()


def test_the_user_limit_is_checked_before_the_password(hs2: Any, tmp_path: Path) -> None:
    """A user at the limit is refused without a password check: a wrong password gets the limit
    message, not an authentication failure."""
    passwords = write_password_file(tmp_path / "passwords", {"heidi": "right"})
    stack = hs2(
        {
            "kyuubi.authentication": "CUSTOM",
            "kyuubi.authentication.password.file": str(passwords),
            "kyuubi.server.limit.connections.per.user": "1",
        }
    )
    held = hive.connect(stack.host, stack.port, username="heidi", auth="CUSTOM", password="right")
    try:
        message = _refused(
            lambda: hive.connect(stack.host, stack.port, username="heidi", auth="CUSTOM", password="wrong")
        )
        assert "Connection limit per user reached" in message
    finally:
        held.close()


def test_limits_are_off_by_default_except_the_per_address_reserve(hs2: Any) -> None:
    stack = hs2({"kyuubi.frontend.thrift.max.worker.threads": "20"})
    limits = stack.server.limiter.limits
    assert (limits.per_user, limits.per_user_address, limits.per_address) == (0, 0, 18)
    assert hs2({"kyuubi.frontend.thrift.max.worker.threads": "5"}).server.limiter.limits.per_address == 0
    assert hs2({"kyuubi.server.limit.connections.per.ipaddress": "0"}).server.limiter.limits.per_address == 0


# --- malformed requests ---------------------------------------------------------------------------
def test_invalid_utf8_is_named_and_the_connection_keeps_working(hs2: Any) -> None:
    stack = hs2()
    client = RawClient(stack.host, stack.port)
    try:
        session = client.open_session(5).sessionHandle
        response = client.ExecuteStatement(
            TCLI.TExecuteStatementReq(sessionHandle=session, statement=b"select \xff\xfe")
        )
        assert response.status.statusCode == FAILED
        assert response.status.errorMessage == (
            "ExecuteStatement: field TExecuteStatementReq.statement is not valid UTF-8"
        )
        overlay = client.ExecuteStatement(
            TCLI.TExecuteStatementReq(sessionHandle=session, statement="q", confOverlay={"k": b"\xc3"})
        )
        assert "TExecuteStatementReq.confOverlay[k]" in overlay.status.errorMessage
        assert client.execute(session, "still fine") is not None
    finally:
        client.close()


def test_invalid_utf8_user_in_nosasl_open_session(hs2: Any) -> None:
    stack = hs2({"kyuubi.authentication": "NOSASL"})
    client = RawClient(stack.host, stack.port, sasl=False)
    try:
        response = client.OpenSession(TCLI.TOpenSessionReq(client_protocol=5, username=b"\xffroot"))
        assert response.status.statusCode == FAILED
        assert "TOpenSessionReq.username is not valid UTF-8" in response.status.errorMessage
        assert response.configuration == {}
    finally:
        client.close()


@pytest.mark.parametrize("auth", ["NONE", "NOSASL"])
def test_requests_without_a_struct_are_answered_with_one_warning(
    hs2: Any, caplog: pytest.LogCaptureFixture, auth: str
) -> None:
    stack = hs2({"kyuubi.authentication": auth})
    caplog.set_level(logging.INFO, logger="engine")
    sasl = auth == "NONE"
    client = RawClient(stack.host, stack.port, sasl=sasl)
    sock = client.tsocket.sock
    try:
        payload = message("ExecuteStatement", bytes([STOP]))
        for _ in range(211):
            sock.sendall(((len(payload)).to_bytes(4, "big") + payload) if sasl else payload)
        answered = 0
        buffered = b""
        while answered < 211:
            if sasl:
                length = int.from_bytes(recv_exact(sock, 4), "big")
                reply = recv_exact(sock, length)
            else:
                buffered += sock.recv(65536)
                answered = buffered.count(b"carries no request struct")
                continue
            assert b"ExecuteStatement carries no request struct" in reply
            answered += 1
        session = client.open_session(5).sessionHandle  # the connection still works
        assert session is not None
    finally:
        client.close()
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "malformed request" in r.getMessage()
    ]
    assert 1 <= len(warnings) <= 2, [r.getMessage() for r in warnings]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_unknown_methods_do_not_flood_the_log(hs2: Any, caplog: pytest.LogCaptureFixture) -> None:
    stack = hs2({"kyuubi.authentication": "NOSASL"})
    with socket.create_connection((stack.host, stack.port)) as sock:
        for number in range(100):
            sock.sendall(message(f"NoSuchMethod{number}", bytes([STOP])))
        received = b""
        sock.settimeout(10)
        while received.count(b"NoSuchMethod") < 100:
            received += sock.recv(65536)
    lines = [r for r in caplog.records if "unknown method" in r.getMessage()]
    assert len(lines) <= 10


def test_the_limiter_counts_back_to_zero() -> None:
    from engine.frontend.limit import ConnectionLimiter, ConnectionLimits

    limiter = ConnectionLimiter(ConnectionLimits(per_user=2, per_address=3, per_user_address=1))
    assert limiter.admit_address("10.0.0.1") is None
    assert limiter.admit_user("ivy", "10.0.0.1") is None
    assert "per user and ipaddress" in (limiter.admit_user("ivy", "10.0.0.1") or "")
    assert limiter.admit_user("ivy", "10.0.0.2") is None
    assert "per user reached" in (limiter.check_user("ivy", "10.0.0.3") or "")
    long_name = limiter.check_user("x" * 70000, "10.0.0.1")
    assert long_name is None
    limiter.release_user("ivy", "10.0.0.1")
    limiter.release_user("ivy", "10.0.0.2")
    limiter.release_address("10.0.0.1")
    assert limiter.counts() == (0, 0)


def test_a_request_split_across_sasl_frames_is_served(hs2: Any) -> None:
    """Thrift over SASL may split one message over several frames; the whole message is put
    back together before it is checked and decoded."""
    from thriftpy2.protocol import TBinaryProtocol
    from thriftpy2.transport import TMemoryBuffer

    from tests.support.hostile import data_frame, encode_call

    stack = hs2()
    client = RawClient(stack.host, stack.port)
    sock = client.tsocket.sock
    try:
        payload = encode_call("OpenSession", TCLI.TOpenSessionReq(client_protocol=5, username="split"))
        pieces = [payload[:7], payload[7:20], payload[20:]]
        sock.sendall(b"".join(data_frame(piece) for piece in pieces))
        length = int.from_bytes(recv_exact(sock, 4), "big")
        protocol = TBinaryProtocol(TMemoryBuffer(recv_exact(sock, length)))
        protocol.read_message_begin()
        result = TCLI.TCLIService.OpenSession_result()
        result.read(protocol)
        assert result.success.status.statusCode == TCLI.TStatusCode.SUCCESS_STATUS
        assert client.open_session(5).sessionHandle is not None  # and the stream stays in step
    finally:
        client.close()
