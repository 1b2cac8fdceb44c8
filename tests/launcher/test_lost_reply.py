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
from tests.support.tcp_proxy import ProxyServer, shut


class ReplyDroppingProxy(ProxyServer):
    """A TCP proxy to ZooKeeper that, once, forwards a request containing ``marker`` and then
    swallows the server's reply carrying it (a create's reply names the node it made) and closes
    the connection: the server has acted on the request, and the client never hears of it.
    (Closing right after forwarding the request raced with the server: under load it could drop
    the connection before acting on it.)"""

    def __init__(self, upstream: str, marker: bytes) -> None:
        host, port = upstream.rsplit(":", 1)
        self._marker = marker
        self._sent = threading.Event()  # the marked request went to the server
        self.dropped = threading.Event()  # its reply was swallowed and the connection closed
        super().__init__((host, int(port)), "zk-proxy")

    def connected(self, client: socket.socket, upstream: socket.socket) -> None:
        self.start_thread(self._pump, "up", client, upstream, True)
        self.start_thread(self._pump, "down", upstream, client, False)

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if (
                    not upstream
                    and self._sent.is_set()
                    and self._marker in data
                    and not self.dropped.is_set()
                ):
                    self.dropped.set()
                    break
                if upstream and self._marker in data:
                    self._sent.set()  # before it goes: the reply may come back at once
                sink.sendall(data)
        except OSError:
            pass
        shut(source)
        shut(sink)


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
