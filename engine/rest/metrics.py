"""``GET /metrics``: the Prometheus exposition, on the REST app or on a metrics-only server.

:func:`metrics_routes` gives the route the REST app mounts (``build_app(extra_routes=...)``).
When REST is off and ``kyuubi.metrics.enabled`` is true, the app starts a :class:`MetricsServer`
instead: uvicorn on its own named thread, on ``kyuubi.metrics.prometheus.port`` (0 picks a free
port) of the Thrift bind host, serving only ``/metrics``. Rendering reads counters only, so the
route runs on uvicorn's event loop without blocking it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from engine.rest.listener import Listener, bind

log = logging.getLogger(__name__)

Exposition = Callable[[], tuple[bytes, str]]  # the metrics' text and its content type

PATH = "/metrics"


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
        self._host = host
        self._port = port
        self._listener = Listener(Starlette(routes=metrics_routes(exposition)), "metrics-http")

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.address

    @property
    def url(self) -> str:
        return self._listener.url + PATH

    def start(self) -> tuple[str, int]:
        address = self._listener.start(bind(self._host, self._port))
        log.info("Metrics listening on %s", self.url)
        return address

    def stop(self) -> None:
        """Stop serving; safe to call more than once."""
        self._listener.stop()
