"""TCP proxies a test controls. :class:`ProxyServer` is the listener they share; :class:`TcpProxy` forwards 127.0.0.1:<port> to a real server until it is cut.

``cut()`` resets every open connection and closes each new one at once (the server looks
unreachable); ``restore()`` forwards again. Used to give a real PostgreSQL an outage.
"""

from __future__ import annotations

import itertools
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

_LINGER_RESET = struct.pack("ii", 1, 0)  # close with RST, like a dead peer


class ProxyServer:
    """Listens on 127.0.0.1 (port 0); for each client it connects to ``upstream`` and hands both
    sockets to :meth:`connected`. Subclasses decide what flows. ``close()`` stops everything."""

    def __init__(self, upstream: tuple[str, int], name: str) -> None:
        self._upstream = upstream
        self._name = name
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._names = itertools.count(1)
        self.start_thread(self._accept, "accept")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def start_thread(self, target: Callable[..., None], role: str, *args: object) -> None:
        thread = threading.Thread(
            target=target, args=args, name=f"{self._name}-{role}-{next(self._names)}", daemon=True
        )
        self._threads = [alive for alive in self._threads if alive.is_alive()] + [thread]
        thread.start()

    def refuse(self) -> bool:
        """Whether to reset a new client instead of connecting it."""
        return False

    def connected(self, client: socket.socket, upstream: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._closing.set()
        self._listener.close()
        for sock in self._sockets:
            _reset(sock)
        for thread in self._threads:
            thread.join(5.0)

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.refuse():
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5.0)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            self.connected(client, upstream)


class TcpProxy(ProxyServer):
    def __init__(self, target_host: str, target_port: int) -> None:
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._cut = False
        self.accepted = 0
        super().__init__((target_host, target_port), "tcp-proxy")

    # --- control -------------------------------------------------------------------------------
    def cut(self) -> None:
        with self._lock:
            self._cut = True
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def restore(self) -> None:
        with self._lock:
            self._cut = False

    def close(self) -> None:
        self.cut()
        super().close()

    # --- forwarding ----------------------------------------------------------------------------
    def refuse(self) -> bool:
        with self._lock:
            self.accepted += 1
            return self._cut

    def connected(self, client: socket.socket, upstream: socket.socket) -> None:
        with self._lock:
            self._pairs.append((client, upstream))
        self.start_thread(self._pump, "pump", client, upstream)

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            while not self._closing.is_set():
                try:
                    ready = selector.select(0.2)
                    for key, _ in ready:
                        source = key.fileobj
                        assert isinstance(source, socket.socket)
                        data = source.recv(65536)
                        if not data:
                            raise ConnectionError("closed")
                        peers[source].setblocking(True)
                        peers[source].sendall(data)
                        peers[source].setblocking(False)
                except (OSError, ValueError):
                    break
        for sock in peers:
            _reset(sock)


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def shut(sock: socket.socket) -> None:
    """Close ``sock`` after a FIN both ways (a peer that hangs up cleanly)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
