"""The listening sockets of the engine's servers (Thrift, REST, metrics)."""

from __future__ import annotations

import socket


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """A socket listening on (host, port), IPv6 when ``host`` has a colon, with SO_REUSEADDR
    (a restarted engine rebinds at once); the caller sets its blocking mode. OSError when it
    cannot bind (the socket is closed then)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock
