"""The REST server: uvicorn on its own event loop in the thread ``rest-server``.

It binds ``kyuubi.frontend.rest.bind.host`` (default: the Thrift bind host) and
``kyuubi.frontend.rest.bind.port`` (0: a free port) itself, so that the bound port is known before
it serves, and logs ``REST API listening on http://HOST:PORT``. When the port was left at its
default and another process holds it (a second engine on the host), a free port is picked instead.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
from collections.abc import Sequence
from pathlib import Path

import uvicorn
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
from engine.rest.workers import Workers

log = logging.getLogger(__name__)

START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
LISTEN_BACKLOG = 512
KEEP_ALIVE = 30  # seconds an idle keep-alive connection stays open (a client reusing one as the
# server closes it sees a reset; a longer wait makes that race rare for busy clients)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


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
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.address: tuple[str, int] = ("", 0)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def _listen(self) -> socket.socket:
        host = self.conf.get(REST_BIND_HOST) or self.conf.get(BIND_HOST)
        port = self.conf.get(REST_BIND_PORT)
        try:
            return _bind(host, port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or self.conf.is_set(REST_BIND_PORT) or port == 0:
                raise
        sock = _bind(host, 0)
        log.warning(
            "REST port %d is taken (another engine on this host?); serving on free port %d instead "
            "(set %s to choose one)",
            port,
            sock.getsockname()[1],
            REST_BIND_PORT.key,
        )
        return sock

    def start(self) -> tuple[str, int]:
        sock = self._listen()
        bound = sock.getsockname()
        self.address = (bound[0], bound[1])
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=KEEP_ALIVE,
            server_header=False,
            ws="none",
        )
        server = uvicorn.Server(config)
        self._server = server

        def serve() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except Exception:
                log.exception("the REST server failed")
            finally:
                sock.close()

        self._thread = threading.Thread(target=serve, name="rest-server", daemon=True)
        self._thread.start()
        waited = 0.0
        while not server.started and self._thread.is_alive() and waited < START_TIMEOUT:
            self._thread.join(0.01)
            waited += 0.01
        if not server.started:
            self.stop()
            raise RuntimeError(f"the REST server did not start within {START_TIMEOUT:g} s")
        log.info("REST API listening on %s", self.url)
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
        self.workers.close()
