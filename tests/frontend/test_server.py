"""Server behaviour: bounded connection threads, named threads, idle connections kept, port 0,
stop, sessions closed with their connection, TLS, configuration errors."""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from pyhive import hive
from thrift.transport.TTransport import TTransportException

from engine.common.errors import ConfigError
from engine.frontend.idl import TCLI
from tests.frontend.rawclient import COMPLETE, OK, START, RawClient, read_sasl_frame, sasl_frame
from tests.support.passwords import write_password_file


def test_port_zero_and_bound_address_logged(hs2: Any, caplog: pytest.LogCaptureFixture) -> None:
    stack = hs2()
    assert stack.port > 0 and stack.host == "127.0.0.1"
    assert any(f"listening on 127.0.0.1:{stack.port}" in r.getMessage() for r in caplog.records)


def test_connection_threads_are_named_and_bounded(hs2: Any) -> None:
    stack = hs2({"kyuubi.frontend.thrift.max.worker.threads": "1"})
    first = hive.connect(stack.host, stack.port, username="one")
    names = {thread.name for thread in threading.enumerate()}
    assert any(name.startswith("thrift-conn-") for name in names)
    assert stack.server.connection_count() == 1
    # A second client is accepted by the kernel but not served while the only slot is taken.
    waiting = socket.create_connection((stack.host, stack.port), timeout=10)
    waiting.sendall(sasl_frame(START, b"PLAIN") + sasl_frame(OK, b"\0two\0pw"))
    waiting.settimeout(0.5)
    with pytest.raises(TimeoutError):
        waiting.recv(5)
    first.close()  # frees the slot: the waiting client is served now
    waiting.settimeout(10)
    assert read_sasl_frame(waiting)[0] == COMPLETE
    waiting.close()


def test_idle_connection_is_not_cut(hs2: Any) -> None:
    stack = hs2({"kyuubi.frontend.thrift.login.timeout": "PT0.2S"})
    connection = hive.connect(stack.host, stack.port, username="idle")
    threading.Event().wait(0.8)  # idle for four login timeouts
    cursor = connection.cursor()
    cursor.execute("SELECT 1")
    assert cursor.fetchall() == [(1,)]
    connection.close()


def test_sessions_close_with_their_connection(hs2: Any) -> None:
    stack = hs2()
    client = RawClient(stack.host, stack.port)
    session = client.open_session(9).sessionHandle
    assert stack.backend.sessions.session_count() == 1
    client.close()
    # the connection thread closes the session as it exits; wait for the thread, not for time
    for thread in [t for t in threading.enumerate() if t.name.startswith("thrift-conn-")]:
        thread.join(10)
    assert stack.backend.sessions.session_count() == 0
    other = RawClient(stack.host, stack.port)
    try:
        reply = other.ExecuteStatement(TCLI.TExecuteStatementReq(sessionHandle=session, statement="x"))
        assert reply.status.statusCode == TCLI.TStatusCode.ERROR_STATUS
    finally:
        other.close()


def test_stop_closes_connections_and_joins_threads(hs2: Any) -> None:
    stack = hs2()
    connection = hive.connect(stack.host, stack.port, username="stopper")
    stack.server.stop(timeout=5)
    assert stack.server.connection_count() == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("thrift-conn-") and t.is_alive()]
    with pytest.raises((TTransportException, OSError)):
        connection.cursor().execute("SELECT 1")
    with pytest.raises(OSError):
        socket.create_connection((stack.host, stack.port), timeout=2).recv(1)


def test_custom_without_password_file_is_a_config_error(hs2: Any) -> None:
    with pytest.raises(ConfigError, match=r"password\.file"):
        hs2({"kyuubi.authentication": "CUSTOM"})


def test_unknown_sasl_user_refused_is_logged_without_password(
    hs2: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_password_file(tmp_path / "pw", {"alice": "not-this-one"})
    stack = hs2({"kyuubi.authentication": "CUSTOM", "kyuubi.authentication.password.file": str(path)})
    with pytest.raises(ConnectionError):
        RawClient(stack.host, stack.port, user="alice", password="hunter2-secret")
    _join_connection_threads()  # the server logs the refusal after it has sent its reply
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "refused" in text and "hunter2-secret" not in text


def _drained_to_eof(sock: socket.socket) -> bool:
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        pass
    except TimeoutError:
        return False
    return True


@pytest.fixture
def pem(tmp_path: Path) -> Path:
    path = tmp_path / "server.pem"
    key = tmp_path / "key.pem"
    cert = tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    path.write_text(cert.read_text() + key.read_text())
    return path


def test_tls(hs2: Any, pem: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    stack = hs2(
        {"kyuubi.frontend.thrift.binary.ssl.enabled": "true", "kyuubi.frontend.ssl.keystore.path": str(pem)}
    )
    # a plain-text client on the TLS port is closed without disturbing the server
    with socket.create_connection((stack.host, stack.port), timeout=10) as plain:
        plain.sendall(sasl_frame(START, b"PLAIN"))
        assert _drained_to_eof(plain)
    context = ssl.create_default_context(cafile=str(pem))
    context.check_hostname = False
    raw = socket.create_connection((stack.host, stack.port), timeout=10)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
        sock.sendall(sasl_frame(START, b"PLAIN") + sasl_frame(OK, b"\0tls-user\0pw"))
        assert read_sasl_frame(sock)[0] == COMPLETE
    assert any("TLS" in record.getMessage() for record in caplog.records)


def _join_connection_threads() -> None:
    for thread in [t for t in threading.enumerate() if t.name.startswith("thrift-conn-")]:
        thread.join(10)


def test_sessions_can_outlive_their_connection(hs2: Any) -> None:
    stack = hs2({"kyuubi.session.close.on.disconnect": "false"})
    first = RawClient(stack.host, stack.port)
    session = first.open_session(9).sessionHandle
    first.close()
    _join_connection_threads()
    assert stack.backend.sessions.session_count() == 1
    second = RawClient(stack.host, stack.port)
    try:
        operation = second.execute(session, "still my session")
        assert operation.hasResultSet
    finally:
        second.close()


def test_fetch_an_operation_from_another_connection(hs2: Any) -> None:
    stack = hs2({"kyuubi.session.close.on.disconnect": "false"})
    first = RawClient(stack.host, stack.port)
    session = first.open_session(9).sessionHandle
    operation = first.execute(session, "fetch me elsewhere")
    first.close()
    _join_connection_threads()
    second = RawClient(stack.host, stack.port)
    try:
        fetched = second.fetch(operation, 100)
        assert fetched.status.statusCode == TCLI.TStatusCode.SUCCESS_STATUS, fetched.status
        assert fetched.results.columns
    finally:
        second.close()


def test_more_clients_than_slots_all_get_served(hs2: Any) -> None:
    """12 clients, 3 connection threads: the rest wait in the backlog and are served in turn."""
    stack = hs2({"kyuubi.frontend.thrift.max.worker.threads": "3"})
    results: dict[int, list[Any]] = {}
    errors: list[BaseException] = []

    def client(number: int) -> None:
        try:
            with hive.connect(stack.host, stack.port, username=f"user{number}") as connection:
                cursor = connection.cursor()
                cursor.execute(f"question number {number}")
                results[number] = cursor.fetchall()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,), name=f"test-client-{n}") for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert sorted(results) == list(range(12))
    for number, rows in results.items():
        assert f"question number {number}" in "".join(row[0] for row in rows)
