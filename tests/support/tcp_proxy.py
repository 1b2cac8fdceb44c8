"""A TCP proxy a test controls: forwards 127.0.0.1:<port> to a real server until it is cut.

``cut()`` resets every open connection and closes each new one at once (the server looks
unreachable); ``restore()`` forwards again. Used to give a real PostgreSQL an outage.
"""

from __future__ import annotations

import itertools
import selectors
import socket
import struct
import threading
from types import TracebackType

_LINGER_RESET = struct.pack("ii", 1, 0)  # close with RST, like a dead peer


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._cut = False
        self._closed = threading.Event()
        self._names = itertools.count(1)
        self._threads: list[threading.Thread] = []
        self.accepted = 0
        acceptor = threading.Thread(target=self._accept, name="tcp-proxy-accept", daemon=True)
        acceptor.start()
        self._threads.append(acceptor)

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

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
        self._closed.set()
        self.cut()
        self._listener.close()
        for thread in self._threads:
            thread.join(5.0)

    # --- forwarding ----------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                cut = self._cut
                self.accepted += 1
            if cut:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=5.0)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            pump = threading.Thread(
                target=self._pump, args=(client, upstream), name=f"tcp-proxy-{next(self._names)}", daemon=True
            )
            pump.start()
            self._threads = [thread for thread in self._threads if thread.is_alive()] + [pump]

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            while not self._closed.is_set():
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
