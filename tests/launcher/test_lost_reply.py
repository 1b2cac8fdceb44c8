"""A create whose reply is lost (connection dropped after the request reached ZooKeeper) must
not leave a duplicate node: the engine finds its own node by its refId-bearing name."""

from __future__ import annotations

import logging
import socket
import threading
import uuid
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient

from engine.common.config import EngineConf
from engine.registration import EngineRegistration
from tests.launcher.conftest import ZooKeeper


class ReplyDroppingProxy:
    """A TCP proxy to ZooKeeper that, once, closes the client connection right after forwarding
    a request containing ``marker`` to the server, so the server acts on it but the reply is lost."""

    def __init__(self, upstream: str, marker: bytes) -> None:
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._marker = marker
        self.dropped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.5)
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="zk-proxy-accept", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self._upstream, timeout=5)
            self._sockets += [client, server]
            threading.Thread(
                target=self._pump, args=(client, server, True), name="zk-proxy-up", daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(server, client, False), name="zk-proxy-down", daemon=True
            ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
                if upstream and self._marker in data and not self.dropped.is_set():
                    self.dropped.set()
                    break
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        for sock in self._sockets:
            sock.close()
        self._thread.join(timeout=5)


@pytest.fixture
def proxy(zookeeper: ZooKeeper) -> Iterator[ReplyDroppingProxy]:
    server = ReplyDroppingProxy(zookeeper.address, b"serverUri=")
    yield server
    server.close()


def test_create_retried_after_a_lost_reply_finds_its_own_node(
    proxy: ReplyDroppingProxy, namespace: str, zk: KazooClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="engine.registration")
    conf = EngineConf(
        {
            "kyuubi.ha.addresses": proxy.address,
            "kyuubi.ha.namespace": namespace,
            "kyuubi.ha.zookeeper.session.timeout": "PT10S",
            "kyuubi.session.user": "erin",
            "kyuubi.engine.engineRef.id": str(uuid.uuid4()),
        }
    )
    stops: list[str] = []
    registration = EngineRegistration(conf, "127.0.0.1", 10777, request_stop=stops.append)
    try:
        registration.start()
        assert proxy.dropped.is_set(), "the create's reply was really lost"
        assert "found own node" in caplog.text
        children = zk.get_children(registration.space)
        assert len(children) == 1, children
        assert f"{registration.space}/{children[0]}" == registration.node_path
        assert zk.exists(registration.node_path).ephemeralOwner == registration.client_id[0]
        assert stops == []
    finally:
        registration.stop()
    assert zk.get_children(registration.space) == []
