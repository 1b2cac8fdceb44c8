"""``GET /metrics``: the Prometheus exposition, on the REST app or on a metrics-only server.

:func:`metrics_routes` gives the route the REST app mounts (``build_app(extra_routes=...)``).
When REST is off and ``kyuubi.metrics.enabled`` is true, the app starts a :class:`MetricsServer`
instead: uvicorn on its own named thread, on ``kyuubi.metrics.prometheus.port`` (0 picks a free
port) of the Thrift bind host, serving only ``/metrics``. Rendering reads counters only, so the
route runs on uvicorn's event loop without blocking it.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

log = logging.getLogger(__name__)

Exposition = Callable[[], tuple[bytes, str]]  # the metrics' text and its content type

PATH = "/metrics"
START_TIMEOUT = 10.0  # seconds the server may take to start serving
STOP_TIMEOUT = 5.0


def metrics_routes(exposition: Exposition) -> list[BaseRoute]:
    """The ``GET /metrics`` route over ``exposition``."""

    async def metrics(request: Request) -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    return [Route(PATH, metrics, methods=["GET"], name="metrics")]


class MetricsServer:
    """A metrics-only HTTP server: :meth:`start` binds (raising OSError when it cannot) and serves
    on thread ``metrics-http``; :meth:`stop` ends it. Anything but ``GET /metrics`` is a 404."""

    def __init__(self, exposition: Exposition, host: str, port: int) -> None:
        self._app = Starlette(routes=metrics_routes(exposition))
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.address: tuple[str, int] = ("", 0)

    @property
    def url(self) -> str:
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{PATH}"

    def start(self) -> tuple[str, int]:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        self.address = (self._host, sock.getsockname()[1])
        config = uvicorn.Config(
            self._app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=self._serve, args=(server, sock), name="metrics-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not server.started:
            self.stop()
            raise OSError(f"the metrics server did not start on {self.url} within {START_TIMEOUT:g} s")
        log.info("Metrics listening on %s", self.url)
        return self.address

    @staticmethod
    def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except Exception:
            log.error("the metrics server failed", exc_info=True)
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop serving (within STOP_TIMEOUT); safe to call more than once."""
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():
                log.warning("the metrics server did not stop within %g s", STOP_TIMEOUT)
        self._thread = None
