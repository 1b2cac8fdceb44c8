"""A process frozen past its session timeout, deterministically, in-process.

When ZooKeeper expires a session it deletes the session's ephemeral node, sends the watch
notification on the still-open connection, and then closes it. A process frozen meanwhile (SIGSTOP)
finds both in its socket buffer on resume and reads the notification first, while kazoo still says
CONNECTED. The engine must take that deletion for the session's and re-register when LOST follows,
not stop as if an operator had deleted its node.

The server does not always send that notification: its connection expirer may close an idle
connection before its session expirer deletes the node (the order the old code happened to survive).
``FreezingProxy`` plays the frozen process's side of the socket and, when the server sent no
notification, delivers the one it would have sent, so the order that matters is the same every run.
"""

from __future__ import annotations

import socket
import struct
import threading
import uuid
from collections.abc import Iterator

import pytest
from kazoo.client import KazooClient

from engine.common.config import EngineConf
from engine.common.znode import NodeName
from engine.registration import EngineRegistration
from tests.launcher.conftest import StopRecorder, ZooKeeper, wait_children, wait_until
from tests.support.tcp_proxy import ProxyServer, shut

PING_XID = -2
NOTIFICATION_XID = -1
NODE_DELETED, SYNC_CONNECTED = 2, 3  # WatcherEvent type and state


def _read_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> bytes | None:
    """One length-prefixed ZooKeeper packet (prefix included), or None at end of stream."""
    prefix = _read_exact(sock, 4)
    if prefix is None:
        return None
    body = _read_exact(sock, struct.unpack(">i", prefix)[0])
    return None if body is None else prefix + body


def _deleted_notification(path: str) -> bytes:
    """The packet a server sends for a NodeDeleted watch: ReplyHeader(-1, -1, 0) + WatcherEvent."""
    raw = path.encode()
    body = struct.pack(
        f">iqiiii{len(raw)}s", NOTIFICATION_XID, -1, 0, NODE_DELETED, SYNC_CONNECTED, len(raw), raw
    )
    return struct.pack(">i", len(body)) + body


def _xid(frame: bytes) -> int:
    return int(struct.unpack(">i", frame[4:8])[0])


class FreezingProxy(ProxyServer):
    """A TCP proxy to ZooKeeper that can play a client process frozen with SIGSTOP.

    ``freeze()``: the server hears nothing more from the client, so it expires the session; the
    proxy answers the client's pings itself (kazoo, unlike a stopped process, keeps running and
    would otherwise notice) and holds back whatever the server sends, as a stopped process's socket
    buffer does. ``expired`` is set when the server closes the connection.

    ``thaw(deleted)``: the held packets reach the client at once, as they reach a resumed
    process, led by a NodeDeleted notification for ``deleted`` if the server sent none; the
    connection is closed when the client next speaks (or after ``eof_after`` seconds): the moment
    a resumed kazoo finds the socket closed. Connections made after the thaw are plain.

    A request (not a ping) from the client while frozen ends the connection: a frozen process
    sends none, so the simulation is over (this only happens when a test fails and cleans up).
    """

    def __init__(self, upstream: str, eof_after: float = 3.0) -> None:
        host, port = upstream.rsplit(":", 1)
        self._eof_after = eof_after
        self._frozen = threading.Event()
        self._thawed = threading.Event()
        self.expired = threading.Event()
        self.held: list[bytes] = []
        self.notification_added = False
        super().__init__((host, int(port)), "zk-freeze")

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self, deleted: str | None = None) -> None:
        if deleted is not None and not any(_xid(frame) == NOTIFICATION_XID for frame in self.held):
            self.held.insert(0, _deleted_notification(deleted))
            self.notification_added = True
        self._frozen.clear()
        self._thawed.set()

    def close(self) -> None:
        self._thawed.set()
        super().close()

    def connected(self, client: socket.socket, upstream: socket.socket) -> None:
        dead = threading.Event()  # the server closed this connection while the client was frozen
        spoke = threading.Event()  # the client sent something after the thaw
        send_lock = threading.Lock()
        self.start_thread(self._up, "up", client, upstream, dead, spoke, send_lock)
        self.start_thread(self._down, "down", upstream, client, dead, spoke, send_lock)

    def _up(
        self,
        client: socket.socket,
        server: socket.socket,
        dead: threading.Event,
        spoke: threading.Event,
        send_lock: threading.Lock,
    ) -> None:
        try:
            while (frame := _read_frame(client)) is not None:
                if dead.is_set() and not self._frozen.is_set():
                    return  # the resumed client speaks on a connection the server has closed
                if not self._frozen.is_set():
                    server.sendall(frame)
                elif _xid(frame) == PING_XID:  # answer for the frozen side: xid, zxid 0, no error
                    with send_lock:
                        client.sendall(struct.pack(">iiqi", 16, PING_XID, 0, 0))
                else:
                    return
        except OSError:
            pass
        finally:
            spoke.set()

    def _down(
        self,
        server: socket.socket,
        client: socket.socket,
        dead: threading.Event,
        spoke: threading.Event,
        send_lock: threading.Lock,
    ) -> None:
        try:
            while (frame := _read_frame(server)) is not None:
                with send_lock:
                    if self._frozen.is_set():
                        self.held.append(frame)
                    else:
                        client.sendall(frame)
            if self._frozen.is_set():
                dead.set()
                self.expired.set()
                while not self._thawed.wait(0.5):
                    if self._closing.is_set():
                        return
                with send_lock:
                    for frame in self.held:
                        client.sendall(frame)
                spoke.wait(self._eof_after)
        except OSError:
            pass
        finally:
            shut(client)
            shut(server)


@pytest.fixture
def proxy(zookeeper: ZooKeeper) -> Iterator[FreezingProxy]:
    server = FreezingProxy(zookeeper.address)
    yield server
    server.close()


def test_frozen_past_the_session_reregisters_although_the_deletion_is_read_first(
    proxy: FreezingProxy, namespace: str, zk: KazooClient
) -> None:
    conf = EngineConf(
        {
            "kyuubi.ha.addresses": proxy.address,
            "kyuubi.ha.namespace": namespace,
            "kyuubi.ha.zookeeper.session.timeout": "PT4S",
            "kyuubi.engine.data.agent.ha.lost.grace": "PT20S",
            "kyuubi.session.user": "gina",
            "kyuubi.engine.engineRef.id": str(uuid.uuid4()),
        }
    )
    stopper = StopRecorder()
    registration = EngineRegistration(conf, "127.0.0.1", 10888, request_stop=stopper)
    try:
        registration.start()
        first, first_session = registration.node_path, registration.client_id
        assert first is not None and first_session is not None
        space = registration.space

        proxy.freeze()
        assert proxy.expired.wait(30), "the server never expired the frozen session"
        assert wait_children(zk, space, lambda children: children == [], 10) == []
        proxy.thaw(deleted=first)

        [child] = wait_children(zk, space, lambda children: len(children) == 1, 30)
        wait_until(lambda: registration.node_path == f"{space}/{child}", 10, "the new node path")
        assert NodeName.parse(child).ref_id == registration.ref_id
        assert registration.node_path != first
        assert (
            zk.exists(registration.node_path).ephemeralOwner == registration.client_id[0] != first_session[0]
        )
        assert not stopper.called.is_set(), stopper.reasons
    finally:
        proxy.thaw()
        registration.stop()
    assert zk.get_children(space) == []
