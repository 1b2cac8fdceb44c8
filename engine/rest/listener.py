"""One ASGI app served by uvicorn on its own event loop, in a named thread, from a socket bound
before it serves (so the bound port is known, and port 0 works). The REST server and the
metrics-only server are both one of these."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

import uvicorn
from starlette.types import ASGIApp

from engine.common.net import listen

log = logging.getLogger(__name__)

START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
LISTEN_BACKLOG = 512


def bind(host: str, port: int) -> socket.socket:
    """A listening, non-blocking socket on (host, port); OSError when it cannot bind."""
    sock = listen(host, port, LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


class Listener:
    """``start(sock)`` serves ``app`` on ``sock`` in thread ``name`` and returns once uvicorn
    serves (or raises); ``stop()`` ends it within STOP_TIMEOUT, forcing open streams shut after
    that; both are safe to call more than once."""

    def __init__(self, app: ASGIApp, name: str, *, keep_alive: int = 5) -> None:
        self.app = app
        self.name = name
        self.keep_alive = keep_alive
        self.address: tuple[str, int] = ("", 0)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self, sock: socket.socket) -> tuple[str, int]:
        bound = sock.getsockname()
        self.address = (bound[0], bound[1])
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=self.keep_alive,
            server_header=False,
            ws="none",
        )
        server = uvicorn.Server(config)
        self._server = server

        def serve() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except Exception:
                log.exception("the HTTP server %s failed", self.name)
            finally:
                sock.close()

        self._thread = threading.Thread(target=serve, name=self.name, daemon=True)
        self._thread.start()
        waited = 0.0
        while not server.started and self._thread.is_alive() and waited < START_TIMEOUT:
            self._thread.join(0.01)
            waited += 0.01
        if not server.started:
            self.stop()
            raise OSError(
                f"the HTTP server {self.name} did not start on {self.url} within {START_TIMEOUT:g} s"
            )
        return self.address

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_TIMEOUT)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(STOP_TIMEOUT)
                if thread.is_alive():
                    log.warning("the HTTP server %s did not stop within %g s", self.name, 2 * STOP_TIMEOUT)
        self._thread = None
