"""The REST server: uvicorn on its own event loop in the thread ``rest-server``.

It binds ``kyuubi.frontend.rest.bind.host`` (default: the Thrift bind host) and
``kyuubi.frontend.rest.bind.port`` (0: a free port) itself, so that the bound port is known before
it serves, and logs ``REST API listening on http://HOST:PORT``. When the port was left at its
default and another process holds it (a second engine on the host), a free port is picked instead.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Sequence
from pathlib import Path

from starlette.routing import BaseRoute

from engine.auth import AnyPasswordAuthenticator, build_authenticator
from engine.backend import BackendService
from engine.common.config import (
    BIND_HOST,
    REST_AUTH_CACHE_TTL,
    REST_BIND_HOST,
    REST_BIND_PORT,
    REST_LOGIN_MAX,
    REST_LOGIN_TIMEOUT,
    REST_MODELS,
    REST_SSE_PING,
    REST_WORKER_THREADS,
    REST_WORKER_WAIT,
    EngineConf,
)
from engine.rest.app import UI_DIR, build_app
from engine.rest.auth import BasicCache, LoginTable, RestAuth
from engine.rest.context import Readiness, RestContext
from engine.rest.listener import Listener, bind
from engine.rest.workers import Workers

log = logging.getLogger(__name__)

KEEP_ALIVE = 30  # seconds an idle keep-alive connection stays open (a client reusing one as the
# server closes it sees a reset; a longer wait makes that race rare for busy clients)


class RestServer:
    def __init__(
        self,
        conf: EngineConf,
        backend: BackendService,
        readiness: Readiness,
        *,
        extra_routes: Sequence[BaseRoute] = (),
        ui_dir: Path = UI_DIR,
    ) -> None:
        self.conf = conf
        # the Thrift frontend's authenticator; NOSASL has no password check, so the REST API
        # takes the user a client names, as NONE does (it still needs a user to own sessions)
        authenticator = build_authenticator(conf) or AnyPasswordAuthenticator()
        self.workers = Workers(conf.get(REST_WORKER_THREADS), conf.get(REST_WORKER_WAIT))
        auth = RestAuth(
            authenticator,
            self.workers,
            LoginTable(conf.get(REST_LOGIN_TIMEOUT), conf.get(REST_LOGIN_MAX)),
            BasicCache(conf.get(REST_AUTH_CACHE_TTL)),
        )
        self.context = RestContext(
            backend=backend,
            auth=auth,
            workers=self.workers,
            readiness=readiness,
            ping_interval=conf.get(REST_SSE_PING),
            models=conf.get(REST_MODELS),
        )
        self.app = build_app(self.context, extra_routes=extra_routes, ui_dir=ui_dir)
        self._listener = Listener(self.app, "rest-server", keep_alive=KEEP_ALIVE)

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.address

    @property
    def url(self) -> str:
        return self._listener.url

    def _listen(self) -> socket.socket:
        host = self.conf.get(REST_BIND_HOST) or self.conf.get(BIND_HOST)
        port = self.conf.get(REST_BIND_PORT)
        try:
            return bind(host, port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or self.conf.is_set(REST_BIND_PORT) or port == 0:
                raise
        sock = bind(host, 0)
        log.warning(
            "REST port %d is taken (another engine on this host?); serving on free port %d instead "
            "(set %s to choose one)",
            port,
            sock.getsockname()[1],
            REST_BIND_PORT.key,
        )
        return sock

    def start(self) -> tuple[str, int]:
        address = self._listener.start(self._listen())
        log.info("REST API listening on %s", self.url)
        return address

    def stop(self) -> None:
        self._listener.stop()
        self.workers.close()
