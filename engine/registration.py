"""Publish a running engine in ZooKeeper so launchers and Hive-JDBC-style clients find it.

The engine space is persistent; the engine's node is ephemeral and sequential, named
``serverUri=host:port;version=V;kyuubi.engine.id=ID;refId=ID;sequence=N`` with data ``host:port``
(see :mod:`engine.common.znode`). The node name carries the launch's unique refId, so a create
retried after a lost reply finds its own node instead of leaving a duplicate.

Connection handling (the kazoo listener only queues; one named thread acts):

- SUSPENDED: keep serving; kazoo reconnects with a capped back-off (``max_delay=1``), which keeps
  the session across a short server outage. Unreachable for longer than the session timeout plus
  the grace period (Curator would have called the session lost by then): stop.
- CONNECTED again in the same session: re-arm the watch; if the node is gone someone deleted it,
  so stop.
- LOST (session expired): wait for kazoo's new session, then, under the creation lock, look for
  another owner (a replacement engine a launcher started while this one was frozen). If there is
  one, stop instead of becoming a second owner; otherwise re-register. If that cannot be done
  within ``kyuubi.engine.data.agent.ha.lost.grace``, stop.
- Node deleted (``launcher stop``, an operator): stop, but only once the server has confirmed it
  in the session that owns the node. An expired session deletes the node too, and the server sends
  that watch notification just before it closes the connection: a process frozen past its session
  timeout reads the notification on resume *before* kazoo notices the closed socket, so at that
  moment the client still says CONNECTED. That deletion is the session's, not an operator's; the
  LOST that follows re-registers.

Stopping is the caller's job: this class calls ``request_stop(reason)`` once, and the caller
calls :meth:`EngineRegistration.stop`, which deletes the node and closes the session.
"""

from __future__ import annotations

import getpass
import logging
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import ConnectionLoss, KazooException, NodeExistsError, NoNodeError, SessionExpiredError
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import EventType, WatchedEvent

from engine.common.config import (
    ENGINE_ID,
    ENGINE_REF_ID,
    HA_ADDRESSES,
    HA_CONNECTION_TIMEOUT,
    HA_LOST_GRACE,
    HA_NAMESPACE,
    HA_SESSION_TIMEOUT,
    JDBC_URL,
    SESSION_USER,
    SHARE_LEVEL,
    EngineConf,
)
from engine.common.errors import EngineError
from engine.common.znode import NodeName, engine_space
from engine.zookeeper import build_client

log = logging.getLogger(__name__)

OP_TIMEOUT = 5.0  # one ZooKeeper request (kazoo requests have no timeout of their own)
STOP_TIMEOUT = 3.0


class RegistrationError(EngineError):
    """The engine cannot register in ZooKeeper (unreachable, refused, timed out)."""

    sqlstate = "08001"  # unable to establish connection
    vendor_code = 10020


def advertised_host(bind_host: str) -> str:
    """The address clients should dial: the bind host, or this machine's name for a wildcard."""
    if bind_host in ("", "0.0.0.0", "::"):
        return socket.getfqdn()
    return bind_host


class EngineRegistration:
    """The engine's ephemeral node, kept in step with the ZooKeeper session."""

    def __init__(
        self,
        conf: EngineConf,
        host: str,
        port: int,
        request_stop: Callable[[str], None],
        session_count: Callable[[], int] = lambda: 0,
    ) -> None:
        self._conf = conf
        self._addresses = conf.get(HA_ADDRESSES) or ""
        if not self._addresses:
            raise RegistrationError(f"{HA_ADDRESSES.key} is not set; nothing to register with")
        self._session_timeout = conf.get(HA_SESSION_TIMEOUT)
        self._connect_timeout = conf.get(HA_CONNECTION_TIMEOUT)
        self._grace = conf.get(HA_LOST_GRACE)
        self.ref_id = conf.get(ENGINE_REF_ID) or str(uuid.uuid4())
        self.engine_id = conf.get(ENGINE_ID) or f"data-agent-{uuid.uuid4().hex[:12]}"
        level = conf.get(SHARE_LEVEL)
        user = conf.get(SESSION_USER) or getpass.getuser()
        namespace = conf.get(HA_NAMESPACE)
        url = conf.get(JDBC_URL)
        self.space = engine_space(namespace, level, user, url, self.ref_id)
        self._lock_path = engine_space(namespace, level, user, url, self.ref_id, lock=True)
        self.address = f"{advertised_host(host)}:{port}"
        node = NodeName(advertised_host(host), port, engine_id=self.engine_id, ref_id=self.ref_id)
        self._prefix = node.prefix()
        self._request_stop = request_stop
        self._session_count = session_count
        self._client: KazooClient | None = None
        self._path: str | None = None
        self._owner: int | None = None  # the session id owning self._path
        self._lock_attempt: Any = None  # the creation lock being acquired, so stop() can cancel it
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._stop_requested = False
        self._worker: threading.Thread | None = None
        self._state_lock = threading.Lock()

    # --- public ---------------------------------------------------------------------------
    @property
    def node_path(self) -> str | None:
        with self._state_lock:
            return self._path

    @property
    def client_id(self) -> tuple[int, bytes] | None:
        """(session id, password) of the current ZooKeeper session."""
        return self._client.client_id if self._client is not None else None

    def start(self) -> None:
        """Connect, create the namespace and the node, and start watching. Raises RegistrationError."""
        client = build_client(self._conf, purpose="engine registration")
        client.add_listener(self._on_state)
        started = time.monotonic()
        try:
            client.start(timeout=self._connect_timeout)
        except KazooTimeoutError:
            client.close()
            raise RegistrationError(
                f"cannot reach ZooKeeper at {self._addresses} within {self._connect_timeout:g} s "
                f"({HA_ADDRESSES.key}, {HA_CONNECTION_TIMEOUT.key})"
            ) from None
        self._client = client
        self._connected.set()
        try:
            client.ensure_path(self.space)
            path, owner = self._create_node(time.monotonic() + self._connect_timeout)
        except (KazooException, KazooTimeoutError) as exc:
            self._close_client()
            raise RegistrationError(
                f"cannot register the engine under {self.space}: {type(exc).__name__}"
            ) from None
        with self._state_lock:
            self._path, self._owner = path, owner
        self._arm_watch(path)
        self._worker = threading.Thread(target=self._run, name="zk-registration", daemon=True)
        self._worker.start()
        log.info("registered %s as %s in %.0f ms", self.address, path, (time.monotonic() - started) * 1000)

    def stop(self) -> None:
        """Deregister (delete the node) and close the session. Idempotent, bounded in time."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._events.put(("stop", None))
        with self._state_lock:
            path, self._path, self._owner = self._path, None, None
            lock = self._lock_attempt
        if lock is not None:
            lock.cancel()  # a re-registration waiting for the creation lock gives up now
        client = self._client
        if client is not None and path is not None and self._connected.is_set():
            try:
                client.delete_async(path).get(timeout=STOP_TIMEOUT)
                log.info("deregistered %s", path)
            except NoNodeError:
                pass
            except (KazooException, KazooTimeoutError) as exc:
                log.warning(
                    "could not delete %s (%s); closing the session removes it", path, type(exc).__name__
                )
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=STOP_TIMEOUT)
        self._close_client()

    # --- kazoo callbacks: never block -------------------------------------------------------
    def _on_state(self, state: str) -> None:
        if state == KazooState.CONNECTED:
            self._connected.set()
        else:
            self._connected.clear()
        self._events.put(("state", state))

    def _on_node_event(self, event: WatchedEvent) -> None:
        self._events.put(("node", event))

    # --- worker -----------------------------------------------------------------------------
    def _run(self) -> None:
        lost = False
        suspended_since: float | None = None
        # Like Curator: disconnected for a whole session timeout counts as lost; the grace follows.
        give_up_after = self._session_timeout + self._grace
        while not self._stopping.is_set():
            try:
                kind, value = self._events.get(timeout=1.0)
            except queue.Empty:
                if suspended_since is not None and time.monotonic() - suspended_since > give_up_after:
                    self._stop_once(f"ZooKeeper unreachable for more than {give_up_after:g} s")
                continue
            if kind == "stop" or self._stopping.is_set():
                return
            try:
                if kind == "state" and value == KazooState.SUSPENDED:
                    suspended_since = suspended_since or time.monotonic()
                    log.warning(
                        "ZooKeeper connection suspended; still serving (%d sessions)", self._session_count()
                    )
                elif kind == "state" and value == KazooState.LOST:
                    lost = True
                    try:
                        self._recover()
                    finally:
                        lost, suspended_since = False, None
                elif kind == "state" and value == KazooState.CONNECTED and suspended_since and not lost:
                    suspended_since = None
                    self._check_after_reconnect()
                elif kind == "node" and value.type == EventType.DELETED:
                    self._on_deleted(value.path)
                elif kind == "node" and value.type != EventType.NONE:
                    self._arm_watch(value.path)
            except Exception:  # the worker must survive anything kazoo throws at it
                log.exception("registration worker error")

    def _check_after_reconnect(self) -> None:
        path = self.node_path
        if path is None:
            return
        log.info("ZooKeeper connection resumed with the same session")
        if not self._arm_watch(path):
            self._on_deleted(path)

    def _on_deleted(self, path: str | None) -> None:
        if self._stopping.is_set() or path is None or path != self.node_path:
            return
        if not self._deleted_in_own_session(path):
            log.info(
                "engine node %s went with its ZooKeeper session; the session handling re-registers", path
            )
            return
        log.warning("engine node %s was deleted; stopping (%d sessions open)", path, self._session_count())
        with self._state_lock:
            self._path, self._owner = None, None
        self._stop_once("engine node deleted from ZooKeeper")

    def _deleted_in_own_session(self, path: str) -> bool:
        """True only if the server, answering in the session that owns ``path``, says it is gone.

        A watch notification alone proves nothing: when the server expires a session it deletes the
        session's ephemeral node, fires the watch on the still-open connection and only then closes
        it. A process frozen meanwhile reads both on resume, the notification first, while kazoo
        still reports CONNECTED. Asking again settles it: in an expired session the request fails
        (ConnectionLoss, then SessionExpired) and LOST follows; a connection that merely dropped
        and comes back in the same session gets ``_check_after_reconnect``.
        """
        client = self._client
        with self._state_lock:
            owner = self._owner if self._path == path else None
        if client is None or owner is None:
            return False
        try:
            stat = client.exists_async(path, watch=self._on_node_event).get(timeout=OP_TIMEOUT)
        except (KazooException, KazooTimeoutError) as exc:
            log.info("could not confirm the deletion of %s (%s)", path, type(exc).__name__)
            return False
        session = client.client_id  # read after the reply: sessions only ever move forward
        return stat is None and session is not None and session[0] == owner

    def _recover(self) -> None:
        """The session expired: re-register under a new session, or stop within the grace period."""
        with self._state_lock:
            old, self._path, self._owner = self._path, None, None
        deadline = time.monotonic() + self._grace
        log.warning("ZooKeeper session lost (node %s gone); re-registering within %.0f s", old, self._grace)
        client = self._client
        assert client is not None
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._stop_once(f"ZooKeeper session lost and not regained within {self._grace:g} s")
                return
            if not self._connected.wait(timeout=min(remaining, 0.5)):
                continue
            try:
                outcome = self._reregister(client, deadline)
            except Exception as exc:  # anything: retry until the deadline, then stop; never half-registered
                if self._stopping.is_set():
                    return
                log.warning("re-registration attempt failed (%s); retrying", type(exc).__name__)
                self._stopping.wait(0.2)
                continue
            if outcome is not None:
                self._stop_once(outcome)
            return

    def _reregister(self, client: KazooClient, deadline: float) -> str | None:
        """Under the creation lock: stop if another engine owns the space, else register again.

        Returns a stop reason, or None after a successful re-registration.
        """
        lock = client.Lock(self._lock_path, identifier=self.ref_id)
        with self._state_lock:
            self._lock_attempt = lock
        if self._stopping.is_set():
            lock.cancel()  # stop() ran before the lock was published: acquire raises CancelledError
        try:
            acquired = lock.acquire(timeout=max(0.1, deadline - time.monotonic()))
        finally:
            with self._state_lock:
                self._lock_attempt = None
        if not acquired:
            raise KazooTimeoutError("creation lock")
        try:
            children = client.get_children_async(self.space).get(timeout=OP_TIMEOUT)
            session_id = client.client_id[0] if client.client_id else None
            mine: str | None = None  # a node this session already made (an attempt that failed later)
            for child in children:
                try:
                    node = NodeName.parse(child)
                except ValueError:
                    continue  # not an engine node
                if node.ref_id != self.ref_id:
                    return (
                        f"another engine ({node.address}, refId={node.ref_id}) registered while this "
                        "engine's ZooKeeper session was lost; stopping instead of becoming a second owner"
                    )
                # Our own node from an earlier session: never keep two.
                stat = client.exists_async(f"{self.space}/{child}").get(timeout=OP_TIMEOUT)
                if stat is not None and stat.ephemeralOwner != session_id:
                    client.delete_async(f"{self.space}/{child}").get(timeout=OP_TIMEOUT)
                elif stat is not None and session_id is not None:
                    mine = f"{self.space}/{child}"
            path, owner = (mine, int(session_id)) if mine and session_id else self._create_node(deadline)
            with self._state_lock:
                self._path, self._owner = path, owner
        finally:
            try:
                lock.release()
            except KazooException:
                log.debug("lock release failed; the lock node is ephemeral", exc_info=True)
        self._arm_watch(path)
        log.info("re-registered %s as %s", self.address, path)
        return None

    # --- helpers ----------------------------------------------------------------------------
    def _create_node(self, deadline: float) -> tuple[str, int]:
        """Create our ephemeral sequential node; after a lost reply, find it instead of duplicating.

        Returns the node's path and the id of the session that owns it.
        """
        client = self._client
        assert client is not None
        full = f"{self.space}/{self._prefix}"
        while True:
            try:
                path, stat = client.create_async(
                    full,
                    self.address.encode(),
                    ephemeral=True,
                    sequence=True,
                    makepath=True,
                    include_data=True,
                ).get(timeout=OP_TIMEOUT)
                return str(path), int(stat.ephemeralOwner)
            except (ConnectionLoss, KazooTimeoutError):
                if time.monotonic() >= deadline or self._stopping.is_set():
                    raise
                if not self._connected.wait(timeout=max(0.0, min(1.0, deadline - time.monotonic()))):
                    continue
                own = self._find_own_node(client)
                if own is not None:
                    log.info("found own node %s after a lost create reply", own[0])
                    return own
            except NodeExistsError:  # impossible for a sequential create; be explicit anyway
                raise

    def _find_own_node(self, client: KazooClient) -> tuple[str, int] | None:
        session_id = client.client_id[0] if client.client_id else None
        for child in client.get_children_async(self.space).get(timeout=OP_TIMEOUT):
            if child.startswith(self._prefix):
                stat = client.exists_async(f"{self.space}/{child}").get(timeout=OP_TIMEOUT)
                if stat is not None and stat.ephemeralOwner == session_id:
                    return f"{self.space}/{child}", int(stat.ephemeralOwner)
        return None

    def _arm_watch(self, path: str) -> bool:
        """Watch our node; False if it does not exist."""
        client = self._client
        if client is None:
            return False
        try:
            return client.exists_async(path, watch=self._on_node_event).get(timeout=OP_TIMEOUT) is not None
        except (SessionExpiredError, ConnectionLoss, KazooTimeoutError):
            return True  # the state listener handles the connection; do not guess

    def _stop_once(self, reason: str) -> None:
        if self._stop_requested:
            return
        self._stop_requested = True
        log.warning("requesting engine stop: %s", reason)
        try:
            self._request_stop(reason)
        except Exception:
            log.exception("request_stop failed")

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.stop()
            client.close()
        except Exception:
            log.debug("closing the ZooKeeper client failed", exc_info=True)
