"""The HiveServer2 binary Thrift server: an accept thread and a bounded set of connection threads.

``kyuubi.frontend.thrift.max.worker.threads`` connections are served at once, each by its own
thread ``thrift-conn-N``; further connections wait in the listen backlog until a slot frees.
"""

from __future__ import annotations

import itertools
import logging
import socket
import ssl
import threading
import time

from engine.backend import BackendService
from engine.common.config import (
    AUTHENTICATION,
    BIND_HOST,
    BIND_PORT,
    LOGIN_TIMEOUT,
    MAX_MESSAGE_SIZE,
    MAX_WORKER_THREADS,
    PASSWORD_FILE,
    SESSION_CLOSE_ON_DISCONNECT,
    SSL_ENABLED,
    SSL_KEYSTORE_PATH,
    EngineConf,
)
from engine.common.errors import ConfigError
from engine.frontend import sasl
from engine.frontend.connection import ACCELERATED, Connection

log = logging.getLogger(__name__)

ACCEPT_POLL = 0.5  # seconds between checks of the stop flag while waiting for a slot or a client
LISTEN_BACKLOG = 128


def build_authenticator(conf: EngineConf) -> sasl.Authenticator | None:
    mode = conf.get(AUTHENTICATION)
    if mode == "NOSASL":
        return None
    if mode == "CUSTOM":
        path = conf.get(PASSWORD_FILE)
        if not path:
            raise ConfigError(f"{AUTHENTICATION.key}=CUSTOM needs {PASSWORD_FILE.key}")
        try:
            return sasl.PasswordFileAuthenticator(path)
        except Exception as exc:
            raise ConfigError(f"invalid value for {PASSWORD_FILE.key}: {exc}") from None
    return sasl.Authenticator()


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


class ThriftServer:
    def __init__(self, conf: EngineConf, backend: BackendService) -> None:
        self.conf = conf
        self.backend = backend
        self.authenticator = build_authenticator(conf)
        self.ssl_context = build_ssl_context(conf)
        self.max_workers = conf.get(MAX_WORKER_THREADS)
        self.login_timeout = conf.get(LOGIN_TIMEOUT)
        self.max_message_size = conf.get(MAX_MESSAGE_SIZE)
        self.close_on_disconnect = conf.get(SESSION_CLOSE_ON_DISCONNECT)
        self._slots = threading.BoundedSemaphore(self.max_workers)
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._connections: dict[threading.Thread, Connection] = {}
        self._counter = itertools.count(1)
        self.address: tuple[str, int] = ("", 0)

    @property
    def mode(self) -> str:
        return self.conf.get(AUTHENTICATION)

    def start(self) -> tuple[str, int]:
        host, port = self.conf.get(BIND_HOST), self.conf.get(BIND_PORT)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(LISTEN_BACKLOG)
            listener.settimeout(ACCEPT_POLL)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        bound = listener.getsockname()
        self.address = (bound[0], bound[1])
        self._accept_thread = threading.Thread(target=self._accept_loop, name="thrift-accept", daemon=True)
        self._accept_thread.start()
        log.info(
            "HiveServer2 Thrift server listening on %s:%d (binary%s, %s%s, max %d connections)",
            self.address[0],
            self.address[1],
            "" if ACCELERATED else ", pure-Python codec",
            self.mode,
            ", TLS" if self.ssl_context else "",
            self.max_workers,
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
            self._spawn(sock, f"{address[0]}:{address[1]}")
        log.debug("accept loop stopped")

    def _spawn(self, sock: socket.socket, peer: str) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        connection = Connection(
            sock,
            peer,
            self.backend,
            authenticator=self.authenticator,
            login_timeout=self.login_timeout,
            max_message_size=self.max_message_size,
            ssl_context=self.ssl_context,
            close_sessions_on_disconnect=self.close_on_disconnect,
        )
        thread = threading.Thread(
            target=self._run, args=(connection,), name=f"thrift-conn-{next(self._counter)}", daemon=True
        )
        with self._lock:
            self._connections[thread] = connection
        try:
            thread.start()
        except RuntimeError:
            with self._lock:
                self._connections.pop(thread, None)
            sock.close()
            self._slots.release()
            log.error("could not start a thread for %s", peer, exc_info=True)

    def _run(self, connection: Connection) -> None:
        log.debug("connection from %s", connection.peer)
        try:
            connection.serve()
        except Exception:
            log.error("connection from %s failed", connection.peer, exc_info=True)
        finally:
            with self._lock:
                self._connections.pop(threading.current_thread(), None)
            self._slots.release()

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
