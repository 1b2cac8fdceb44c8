"""EngineApp: wires configuration, the run registry, datasource, tools, agent provider, sessions and
the frontend.

Start-up order: the run registry opens first (it migrates its schema and turns the runs a previous
process left ``running`` into ``interrupted``, their pending approvals into ``expired``), then the
datasource, tools and provider, sessions, and last the Thrift server. Stopping goes the other way:
operations are cancelled (runs end ``interrupted`` and pass their store barrier), the server and
sessions stop, and the registry closes last, writing whatever is still queued.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from engine.agent.port import Toolbox
from engine.agent.provider import AgentProvider
from engine.agent.service import build_provider
from engine.agent.settings import SettingsPolicy
from engine.backend import BackendService
from engine.common.config import (
    DATASOURCE_CHECK,
    DATASOURCE_CHECK_INTERVAL,
    ENGINE_IDLE_TIMEOUT,
    FRONTEND_PROTOCOLS,
    HA_ADDRESSES,
    JVM_ONLY_KEYS,
    SHARE_LEVEL,
    STORE_ENABLED,
    WORK_DIR,
    EngineConf,
)
from engine.common.deadline import DeadlineScheduler, Timer
from engine.common.errors import ConfigError, DatasourceError
from engine.common.redaction import SecretRegistry
from engine.datasource import Datasource
from engine.datasource.catalog import Catalog
from engine.frontend.server import ThriftServer
from engine.health import DatasourceCheck
from engine.operation.manager import OperationManager
from engine.rest import RestServer
from engine.session.manager import SessionManager
from engine.store import RunStore
from engine.tools import DEFAULT_TOOL_NAMES, ToolRegistry

if TYPE_CHECKING:  # imported on demand: ECHO engines without ZooKeeper never load kazoo
    from engine.registration import EngineRegistration

log = logging.getLogger(__name__)


def secrets_of(conf: EngineConf) -> SecretRegistry:
    """Exact secret values to mask in every log line (see :meth:`EngineConf.secret_values`)."""
    return conf.secret_values()


class EngineApp:
    """One engine: ``start()`` binds and serves, ``wait()`` blocks until a stop is requested.

    ``provider`` and ``datasource`` may be handed in (tests, benchmarks); otherwise they are built
    from the configuration: the datasource (or the bundled demo), its catalog, the tool registry
    and the agent provider. The app owns the engine's one deadline scheduler and passes it to
    everything that imposes a timeout.
    """

    def __init__(
        self,
        conf: EngineConf,
        *,
        provider: AgentProvider | None = None,
        datasource: Datasource | None = None,
    ) -> None:
        self.conf = conf
        self._provider = provider
        self._datasource = datasource
        self._own_datasource = datasource is None
        self.scheduler = DeadlineScheduler("deadline-scheduler")
        self.operations: OperationManager | None = None
        self.tools: Toolbox | None = None
        self.catalog: Catalog | None = None
        self.sessions: SessionManager | None = None
        self.backend: BackendService | None = None
        self.server: ThriftServer | None = None
        self.rest: RestServer | None = None
        self.rest_host = ""
        self.rest_port = 0
        self.registration: EngineRegistration | None = None
        self.store: RunStore | None = None
        self.work_dir: Path | None = None
        self._own_work_dir = False
        self.health: DatasourceCheck | None = None
        self.host = ""
        self.port = 0
        self._stop_requested = threading.Event()
        self._stop_reason = ""
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._idle_lock = threading.Lock()
        self._idle_timer: Timer | None = None

    @property
    def datasource(self) -> Datasource | None:
        return self._datasource

    @property
    def provider(self) -> AgentProvider | None:
        return self._provider

    @property
    def ready(self) -> bool:
        """The engine serves and its datasource answers (what ``/readyz`` reports)."""
        return self.server is not None and self.health is not None and self.health.ready

    def readiness(self) -> dict[str, str]:
        """What ``/readyz`` checks: the datasource answers, the run registry's database is
        reachable (for writing). Each check's problem, or "" when it passes."""
        health, store = self.health, self.store
        datasource = (
            ""
            if health is not None and health.ready
            else ((health.problem if health is not None else "") or "the datasource has not answered yet")
        )
        checks = {"datasource": datasource}
        if store is not None:
            checks["store"] = "" if store.stats().reachable else "the run registry's database is unreachable"
        return checks

    def start(self) -> tuple[str, int]:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self.host, self.port

    def _start(self) -> None:
        conf = self.conf
        configured = conf.get(WORK_DIR)
        if configured:
            self.work_dir = Path(configured)
            self.work_dir.mkdir(parents=True, exist_ok=True)
        else:  # nothing outlives this engine, its run registry included
            self.work_dir = Path(tempfile.mkdtemp(prefix="data-agent-"))
            self._own_work_dir = True
        # first: recovery of what a previous process left running happens before anyone connects
        if conf.get(STORE_ENABLED):
            self.store = RunStore.from_conf(conf, self.work_dir)
        else:
            log.warning(
                "the run registry is disabled (%s=false): runs live in memory only", STORE_ENABLED.key
            )
        if self._datasource is None:
            self._datasource = Datasource.from_conf(conf, self.scheduler)
        datasource = self._datasource
        for key in (entry.key for entry in JVM_ONLY_KEYS):
            if conf.is_set(key):
                log.info("%s is a setting of Kyuubi's JVM engine and does not apply here; ignored", key)
        self._check_datasource(datasource)
        # One catalog (and one cache) serves metadata RPCs and the schema tools alike.
        self.catalog = Catalog(datasource, conf)
        known_tools: tuple[str, ...] = DEFAULT_TOOL_NAMES
        if self._provider is None:
            registry = ToolRegistry.default(
                datasource,
                self.catalog,
                conf,
                scheduler=self.scheduler,
                secrets=self.conf.secret_values().values(),
            )
            self.tools = registry
            known_tools = tuple(registry.names())
            self._provider = build_provider(conf, datasource, registry)
        policy = SettingsPolicy.from_conf(conf, known_tools)
        policy.check(conf)  # the engine's own settings obey the floor too
        operations = OperationManager(conf, self.scheduler, registry=self.store)
        self.operations = operations
        self.sessions = SessionManager(
            conf,
            self._provider,
            operations,
            datasource=datasource,
            catalog=self.catalog,
            policy=policy,
            work_dir=self.work_dir,
        )
        self.backend = BackendService(conf, self.sessions)
        protocols = {name.upper() for name in conf.get(FRONTEND_PROTOCOLS)}
        if "THRIFT_BINARY" not in protocols:
            raise ConfigError(
                f"{FRONTEND_PROTOCOLS.key} must include THRIFT_BINARY: the launcher, JDBC and the "
                "terminal client reach the engine through it"
            )
        self.server = ThriftServer(conf, self.backend)
        self.host, self.port = self.server.start()
        if "REST" in protocols:
            self.rest = RestServer(conf, self.backend, self.readiness)
            self.rest_host, self.rest_port = self.rest.start()
        log.info(
            "engine serving on %s:%d (provider %s, datasource %s)",
            self.host,
            self.port,
            self._provider.name,
            datasource.display_url,
        )
        if conf.get(SHARE_LEVEL) == "CONNECTION":
            self.sessions.on_session_closed(self._stop_when_last_session_closes)
        if conf.get(HA_ADDRESSES):
            from engine.registration import EngineRegistration

            self.registration = EngineRegistration(
                conf,
                self.host,
                self.port,
                request_stop=self.request_stop,
                session_count=self.sessions.session_count,
            )
            self.registration.start()
        self.sessions.on_session_closed(self._arm_idle_stop_when_idle)
        self._arm_idle_stop()

    def _check_datasource(self, datasource: Datasource) -> None:
        """Does the datasource answer? Not: fail the start (``datasource.check=fail``), or log an
        ERROR and serve, not ready, checking again in the background until it answers."""
        health = DatasourceCheck(datasource, self.conf.get(DATASOURCE_CHECK_INTERVAL))
        self.health = health
        if health.check_once():
            return
        if self.conf.get(DATASOURCE_CHECK) == "fail":
            raise DatasourceError(
                f"the datasource {datasource.display_url} does not answer: {health.problem} "
                f"({DATASOURCE_CHECK.key}=fail)"
            )
        log.error(
            "the datasource %s does not answer: %s; serving anyway, not ready, checking again every %g s "
            "(%s=fail stops the engine instead)",
            datasource.display_url,
            health.problem,
            self.conf.get(DATASOURCE_CHECK_INTERVAL),
            DATASOURCE_CHECK.key,
        )
        health.start_background()

    def _stop_when_last_session_closes(self, remaining: int) -> None:
        if remaining == 0:
            self.request_stop("CONNECTION share level: its session closed")

    # --- idle stop: a timer on the scheduler from the moment the engine has no session ----------
    def _arm_idle_stop_when_idle(self, remaining: int) -> None:
        if remaining == 0:
            self._arm_idle_stop()

    def _arm_idle_stop(self) -> None:
        """Stop after kyuubi.session.engine.idle.timeout without sessions: a timer armed when the
        engine starts and whenever its last session closes; it checks again when it fires."""
        sessions = self.sessions
        since = sessions.idle_since if sessions is not None else None
        if since is None or self._stop_requested.is_set():
            return
        timer = self.scheduler.call_at(since + self.conf.get(ENGINE_IDLE_TIMEOUT), self._idle_due)
        with self._idle_lock:
            previous, self._idle_timer = self._idle_timer, timer
        if previous is not None:
            previous.cancel()

    def _idle_due(self) -> None:  # on the scheduler thread: quick
        sessions = self.sessions
        if sessions is None or sessions.session_count() > 0:
            return  # a session opened meanwhile; its closing arms the timer again
        since = sessions.idle_since
        limit = self.conf.get(ENGINE_IDLE_TIMEOUT)
        if since is not None and time.monotonic() - since >= limit:
            self.request_stop(f"idle for {limit:g} s with no sessions")
        else:
            self._arm_idle_stop()  # idle again since a later close

    def request_stop(self, reason: str = "requested") -> None:
        """Ask the engine to stop; safe from any thread, signal handlers and ZooKeeper listeners."""
        if not self._stop_requested.is_set():
            self._stop_reason = reason
            log.info("engine stop requested: %s", reason)
            self._stop_requested.set()

    @property
    def stop_reason(self) -> str:
        return self._stop_reason

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested (checking every second); True when requested."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop_requested.wait(1.0):
            if deadline is not None and time.monotonic() >= deadline:
                return False
        return True

    def stop(self) -> None:
        with self._stop_lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        self._stop_requested.set()
        if self.health is not None:
            self.health.stop()
        if self.registration is not None:
            try:
                self.registration.stop()
            except Exception:
                log.warning("deregistration failed", exc_info=True)
        if self.operations is not None:
            # first: cancelling with SHUTDOWN releases every FetchResults waiting for rows, so the
            # connections' threads are free when the server closes them
            self.operations.stop()
        if self.rest is not None:  # its streams have ended with their runs
            self.rest.stop()
        if self.server is not None:
            self.server.stop()
        if self.sessions is not None:
            self.sessions.stop()
        if self._provider is not None:
            try:
                self._provider.close()
            except Exception:
                log.warning("provider close failed", exc_info=True)
        if self.tools is not None:
            self.tools.close()
        if self._own_datasource and self._datasource is not None:
            self._datasource.close()
        if self.store is not None:  # last: everything the runs queued is written
            if not self.store.close():
                log.error("the run store could not write everything before it closed")
        self.scheduler.close()
        if self._own_work_dir and self.work_dir is not None:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        log.info("engine stopped")
