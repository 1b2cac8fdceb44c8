"""Get or create the engine of (share level, user, datasource), the way Kyuubi's EngineRef does.

1. Look for a live engine node in the engine space.
2. If there is none, take the creation lock (kazoo, with a timeout), look again, and launch.
3. Wait for the node carrying our refId with a children watch, up to
   ``kyuubi.session.engine.initialize.timeout``. A child that exits early fails the launch at
   once with the (redacted) tail of its log. On any failure the child is killed and any node it
   registered is removed.

At share level CONNECTION every launch gets its own engine (space keyed by refId, no lock).
"""

from __future__ import annotations

import getpass
import grp
import logging
import pwd
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, LockTimeout

from engine.common.config import (
    BIND_PORT,
    ENGINE_ID,
    ENGINE_INIT_TIMEOUT,
    ENGINE_LOCK_TIMEOUT,
    ENGINE_REF_ID,
    HA_NAMESPACE,
    JDBC_URL,
    REDACTION_REGEX,
    SESSION_USER,
    SHARE_LEVEL,
    WORK_DIR,
    EngineConf,
)
from engine.common.znode import check_element, engine_space, subdomain
from launcher.command import EngineCommand
from launcher.discovery import EngineDiscovery, EngineNode
from launcher.errors import (
    EngineStartError,
    EngineStartTimeoutError,
    LockTimeoutError,
    ZooKeeperUnavailableError,
)
from launcher.process import EngineProcess

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 1.0


@dataclass(frozen=True)
class LaunchResult:
    engine: EngineNode
    reused: bool
    command: str = ""  # redacted
    pid: int | None = None
    log_path: Path | None = None

    @property
    def jdbc_url(self) -> str:
        return f"jdbc:hive2://{self.engine.address}/default"

    def discovery_url(self, zookeeper: str) -> str:
        """The URL through which hive-jdbc (beeline) finds this engine in ZooKeeper, whichever
        engine of the space serves it then."""
        return discovery_url(zookeeper, self.engine.path.rsplit("/", 1)[0])


def discovery_url(zookeeper: str, space: str) -> str:
    return (
        f"jdbc:hive2://{zookeeper}/default;serviceDiscoveryMode=zooKeeper;"
        f"zooKeeperNamespace={space.lstrip('/')}"
    )


def routing_user(conf: EngineConf, user: str | None) -> str:
    """The user element of the engine space (Kyuubi: SERVER -> the server's user, GROUP -> the
    user's primary group, otherwise the session user)."""
    level = conf.get(SHARE_LEVEL)
    me = getpass.getuser()
    name = user or conf.get(SESSION_USER) or me
    if level == "SERVER":
        name = me
    elif level == "GROUP":
        try:
            name = grp.getgrgid(pwd.getpwnam(name).pw_gid).gr_name
        except KeyError:
            pass  # no such OS user: its own group, as Kyuubi's fallback does
    return check_element("user", str(name))


def engine_log_dir(conf: EngineConf, user: str, leaf: str) -> Path:
    base = conf.get(WORK_DIR)
    root = Path(base) / "engines" if base else Path.home() / ".cache" / "data-agent" / "engines"
    return root / user / leaf


class EngineLauncher:
    def __init__(
        self, conf: EngineConf, client: KazooClient, user: str | None = None, python: str | None = None
    ):
        self.conf = conf
        self.user = routing_user(conf, user)
        self.level = conf.get(SHARE_LEVEL)
        self.ref_id = str(uuid.uuid4())
        self.url = conf.get(JDBC_URL)
        namespace = conf.get(HA_NAMESPACE)
        self.space = engine_space(namespace, self.level, self.user, self.url, self.ref_id)
        self.lock_path = engine_space(namespace, self.level, self.user, self.url, self.ref_id, lock=True)
        self._client = client
        self._discovery = EngineDiscovery(client)
        self._python = python or sys.executable

    def get_or_create(self) -> LaunchResult:
        if self.level == "CONNECTION":
            return self._create()
        found = self._live()
        if found is not None:
            return LaunchResult(found, reused=True)
        timeout = self.conf.get(ENGINE_LOCK_TIMEOUT)
        lock = self._client.Lock(self.lock_path, identifier=self.ref_id)
        started = time.monotonic()
        try:
            lock.acquire(timeout=timeout)
        except LockTimeout:
            raise LockTimeoutError(
                f"timed out after {timeout:g} s waiting for the engine creation lock {self.lock_path} "
                f"(another launcher may be starting this engine; {ENGINE_LOCK_TIMEOUT.key})"
            ) from None
        except KazooException as exc:
            raise ZooKeeperUnavailableError(
                f"cannot take the lock {self.lock_path}: {type(exc).__name__}"
            ) from None
        log.info("took the creation lock %s in %.0f ms", self.lock_path, (time.monotonic() - started) * 1000)
        try:
            found = self._live()
            if found is not None:
                return LaunchResult(found, reused=True)
            return self._create()
        finally:
            try:
                lock.release()
            except KazooException:
                log.warning("could not release %s; it goes with our session", self.lock_path)

    def _live(self) -> EngineNode | None:
        """The newest live engine; a node whose address refuses connections is stale and removed."""
        while True:
            found = self._discovery.live_engine(self.space)
            if found is None or _accepts(found.node.host, found.node.port):
                if found is not None:
                    log.info("found engine %s at %s", found.path, found.address)
                return found
            log.warning(
                "engine node %s points at %s, which refuses connections; removing it",
                found.path,
                found.address,
            )
            self._discovery.delete(found.path)

    def _create(self) -> LaunchResult:
        raw = self.conf.raw()
        raw[ENGINE_REF_ID.key] = self.ref_id
        raw[ENGINE_ID.key] = f"data-agent-{self.ref_id[:8]}"
        raw[SESSION_USER.key] = self.user
        raw[SHARE_LEVEL.key] = self.level
        raw.setdefault(BIND_PORT.key, "0")  # one port per engine unless the user chose one
        command = EngineCommand(raw, python=self._python, redaction_regex=self.conf.get(REDACTION_REGEX))
        leaf = self.ref_id if self.level == "CONNECTION" else subdomain(self.url)
        log_path = engine_log_dir(self.conf, self.user, leaf) / f"engine-{self.ref_id}.log"
        process = EngineProcess(command, log_path)
        log.info("launching engine: %s", command.redacted())
        started = time.monotonic()
        process.start()
        timeout = self.conf.get(ENGINE_INIT_TIMEOUT)
        try:
            engine = self._discovery.wait_for_ref(
                self.space,
                self.ref_id,
                started + timeout,
                process.exited,
                lambda: process.returncode is not None,
            )
        except BaseException:
            self._abandon(process)
            raise
        if engine is not None:
            log.info(
                "engine %s registered at %s in %.0f ms",
                self.ref_id,
                engine.address,
                (time.monotonic() - started) * 1000,
            )
            return LaunchResult(
                engine, reused=False, command=command.redacted(), pid=process.pid, log_path=log_path
            )
        code = process.returncode
        self._abandon(process)
        tail = process.log_tail()
        if code is not None:
            raise EngineStartError(
                f"the engine exited with code {code} before it registered; log {log_path}; last lines:\n{tail}"
            )
        raise EngineStartTimeoutError(
            f"the engine did not register within {timeout:g} s ({ENGINE_INIT_TIMEOUT.key}); it was stopped; "
            f"log {log_path}; last lines:\n{tail}"
        )

    def _abandon(self, process: EngineProcess) -> None:
        """Kill a failed child and remove any node it managed to register."""
        process.terminate()
        try:
            for engine in self._discovery.engines(self.space):
                if engine.node.ref_id == self.ref_id:
                    self._discovery.delete(engine.path)
        except (KazooException, ZooKeeperUnavailableError):
            log.warning("could not check %s for a node of the failed engine", self.space)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
            return True
    except ConnectionRefusedError:
        return False
    except OSError:
        return True  # unreachable from here is not proof of death; let the client decide
