"""The HiveServer2 binary Thrift server: an accept thread and a bounded set of connection threads.

``kyuubi.frontend.thrift.max.worker.threads`` connections are served at once, each by its own
thread ``thrift-conn-N``; further connections wait in the listen backlog until a slot frees.

The per-address connection limit is checked as a connection is accepted, before any handshake.
A connection over it gives its worker slot back at once and is refused by one of a few
``thrift-refuse-N`` threads (told why, then closed); when those are all busy it is closed
without a word. So refused connections never hold worker slots.
"""

from __future__ import annotations

import itertools
import logging
import socket
import ssl
import threading
import time

from engine.auth import build_authenticator
from engine.backend import BackendService
from engine.common.config import (
    AUTHENTICATION,
    BIND_HOST,
    BIND_PORT,
    CONNECTION_IDLE_TIMEOUT,
    LIMIT_CONNECTIONS_PER_IPADDRESS,
    LIMIT_CONNECTIONS_PER_USER,
    LIMIT_CONNECTIONS_PER_USER_IPADDRESS,
    LOGIN_TIMEOUT,
    MAX_CONTAINER_LENGTH,
    MAX_MESSAGE_SIZE,
    MAX_WORKER_THREADS,
    SESSION_CLOSE_ON_DISCONNECT,
    SSL_ENABLED,
    SSL_KEYSTORE_PATH,
    EngineConf,
)
from engine.common.errors import ConfigError
from engine.common.logging_context import LogThrottle
from engine.common.net import listen
from engine.frontend.connection import ACCELERATED, Connection, ConnectionSettings
from engine.frontend.limit import ConnectionLimiter, ConnectionLimits

log = logging.getLogger(__name__)

ACCEPT_POLL = 0.5  # seconds between checks of the stop flag while waiting for a slot or a client
# Connections the kernel queues before accept (capped by net.core.somaxconn). Hundreds of clients
# connecting at once while the accept thread waits for the GIL overflowed 128: the kernel then
# reset a few of them (bench/concurrency.py, 500 sessions).
LISTEN_BACKLOG = 1024
REFUSAL_THREADS = 4  # connections being told they are over a limit, at once
REAPER_INTERVAL = 30.0  # longest pause between two looks for idle connections
RESERVED_SHARE = 10  # unset per-address limit: 1/10 of the worker threads stay out of one address's reach


def build_ssl_context(conf: EngineConf) -> ssl.SSLContext | None:
    if not conf.get(SSL_ENABLED):
        return None
    path = conf.get(SSL_KEYSTORE_PATH)
    if not path:
        raise ConfigError(
            f"{SSL_ENABLED.key}=true needs {SSL_KEYSTORE_PATH.key} (a PEM with certificate and key)"
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(path)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"invalid value for {SSL_KEYSTORE_PATH.key}: {exc}") from None
    return context


def build_limits(conf: EngineConf) -> ConnectionLimits:
    """Kyuubi's limit keys; 0 is no limit. The per-address limit, when unset, keeps a tenth of
    the worker threads out of reach of any single address (from 10 threads on), so one client
    cannot take every slot; with fewer threads there is nothing to spare."""
    per_address = conf.get(LIMIT_CONNECTIONS_PER_IPADDRESS)
    if per_address is None:
        workers = conf.get(MAX_WORKER_THREADS)
        per_address = workers - workers // RESERVED_SHARE if workers >= RESERVED_SHARE else 0
    return ConnectionLimits(
        per_user=conf.get(LIMIT_CONNECTIONS_PER_USER) or 0,
        per_address=per_address,
        per_user_address=conf.get(LIMIT_CONNECTIONS_PER_USER_IPADDRESS) or 0,
    )


class ThriftServer:
    def __init__(self, conf: EngineConf, backend: BackendService) -> None:
        self.conf = conf
        self.backend = backend
        self.max_workers: int = conf.get(MAX_WORKER_THREADS)
        self.settings = ConnectionSettings(
            authenticator=build_authenticator(conf),
            login_timeout=conf.get(LOGIN_TIMEOUT),
            idle_timeout=conf.get(CONNECTION_IDLE_TIMEOUT),
            max_message_size=conf.get(MAX_MESSAGE_SIZE),
            max_container_length=conf.get(MAX_CONTAINER_LENGTH),
            ssl_context=build_ssl_context(conf),
            close_sessions_on_disconnect=conf.get(SESSION_CLOSE_ON_DISCONNECT),
        )
        self.limiter = ConnectionLimiter(build_limits(conf))
        self._slots = threading.BoundedSemaphore(self.max_workers)
        self._refusal_slots = threading.BoundedSemaphore(REFUSAL_THREADS)
        self._unanswered_refusals = LogThrottle()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._reaper_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, Connection] = {}
        self._counter = itertools.count(1)
        self._refusal_counter = itertools.count(1)
        self.address: tuple[str, int] = ("", 0)

    @property
    def mode(self) -> str:
        return self.conf.get(AUTHENTICATION)

    def start(self) -> tuple[str, int]:
        host, port = self.conf.get(BIND_HOST), self.conf.get(BIND_PORT)
        listener = listen(host, port, LISTEN_BACKLOG)
        listener.settimeout(ACCEPT_POLL)
        self._listener = listener
        bound = listener.getsockname()
        self.address = (bound[0], bound[1])
        self._accept_thread = threading.Thread(target=self._accept_loop, name="thrift-accept", daemon=True)
        self._accept_thread.start()
        if self.settings.idle_timeout > 0:
            self._reaper_thread = threading.Thread(
                target=self._reap_idle, name="thrift-idle-reaper", daemon=True
            )
            self._reaper_thread.start()
        limits = self.limiter.limits
        log.info(
            "HiveServer2 Thrift server listening on %s:%d (binary%s, %s%s, max %d connections, "
            "%s per address, %s per user)",
            self.address[0],
            self.address[1],
            "" if ACCELERATED else ", pure-Python codec",
            self.mode,
            ", TLS" if self.settings.ssl_context else "",
            self.max_workers,
            limits.per_address or "any",
            limits.per_user or "any",
        )
        return self.address

    def connection_count(self) -> int:
        with self._lock:
            return len(self._connections)

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            if not self._slots.acquire(timeout=ACCEPT_POLL):
                continue
            try:
                sock, address = listener.accept()
            except TimeoutError:
                self._slots.release()
                continue
            except OSError as exc:
                self._slots.release()
                if self._stopping.is_set():
                    break
                log.warning("accept failed: %s", exc)
                continue
            if self._stopping.is_set():
                sock.close()
                self._slots.release()
                break
            peer = f"{address[0]}:{address[1]}"
            refusal = self.limiter.admit_address(address[0])
            if refusal is None:
                self._spawn(sock, peer)
            else:
                self._slots.release()  # a refused connection never holds a worker slot
                self._refuse(sock, peer, refusal)
        log.debug("accept loop stopped")

    def _spawn(self, sock: socket.socket, peer: str, refusal: str | None = None) -> None:
        """Serve the connection on its own thread: a worker (its slot is already taken) or, with a
        ``refusal``, a refusal thread (one of REFUSAL_THREADS, taken here)."""
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        connection = Connection(sock, peer, self.backend, self.settings, self.limiter, refusal=refusal)
        if refusal is None:
            name = f"thrift-conn-{next(self._counter)}"
        else:
            name = f"thrift-refuse-{next(self._refusal_counter)}"
        thread = threading.Thread(target=self._run, args=(connection,), name=name, daemon=True)
        with self._lock:
            self._connections[thread] = connection
        try:
            thread.start()
        except RuntimeError:
            with self._lock:
                self._connections.pop(thread, None)
            sock.close()
            self._release(connection)
            log.error("could not start a thread for %s", peer, exc_info=True)

    def _refuse(self, sock: socket.socket, peer: str, refusal: str) -> None:
        if not self._refusal_slots.acquire(blocking=False):
            held = self._unanswered_refusals.allow()
            if held is not None:
                log.warning(
                    "connection from %s closed unanswered: %s (every refusal thread is busy%s)",
                    peer,
                    refusal,
                    f"; {held} more since the last report" if held else "",
                )
            sock.close()
            return
        log.warning("connection from %s refused: %s", peer, refusal)
        self._spawn(sock, peer, refusal)

    def _release(self, connection: Connection) -> None:
        if connection.refusal is None:
            self.limiter.release_address(connection.address)
            self._slots.release()
        else:
            self._refusal_slots.release()

    def _reap_idle(self) -> None:
        """Close connections that hold no session and have been quiet for the idle timeout."""
        idle = self.settings.idle_timeout
        interval = min(max(idle / 4, 0.05), REAPER_INTERVAL)
        while not self._stopping.wait(interval):
            now = time.monotonic()
            with self._lock:
                connections = list(self._connections.values())
            for connection in connections:
                try:
                    connection.cut_if_idle(now)
                except Exception:
                    log.error("idle check of the connection from %s failed", connection.peer, exc_info=True)

    def _run(self, connection: Connection) -> None:
        log.debug("connection from %s", connection.peer)
        metrics = self.backend.metrics if connection.refusal is None else None
        if metrics is not None:
            metrics.thrift_connection_opened()
        try:
            connection.serve()
        except Exception:
            log.error("connection from %s failed", connection.peer, exc_info=True)
        finally:
            with self._lock:
                self._connections.pop(threading.current_thread(), None)
            self._release(connection)
            if metrics is not None:
                metrics.thrift_connection_closed()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and join the threads (within ``timeout``)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        deadline = time.monotonic() + timeout
        if self._listener is not None:
            try:
                self._listener.close()
            except OSError:
                pass
        if self._accept_thread is not None:
            self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        if self._reaper_thread is not None:
            self._reaper_thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            connections = list(self._connections.items())
        for _, connection in connections:
            connection.shutdown()
        for thread, _ in connections:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread, _ in connections if thread.is_alive()]
        if alive:
            log.warning("Thrift server stopped with %d connection threads still busy: %s", len(alive), alive)
        else:
            log.info("Thrift server on %s:%d stopped", *self.address)
