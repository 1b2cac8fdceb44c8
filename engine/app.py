"""EngineApp: wires configuration, datasource, tools, agent provider, sessions and the frontend."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from engine.agent.provider import AgentProvider
from engine.backend import BackendService
from engine.common.config import (
    ENGINE_IDLE_TIMEOUT,
    HA_ADDRESSES,
    JDBC_URL,
    OPENAI_API_KEY,
    SHARE_LEVEL,
    EngineConf,
)
from engine.common.redaction import SecretRegistry
from engine.operation.manager import OperationManager
from engine.session.manager import SessionManager

log = logging.getLogger(__name__)


def secrets_of(conf: EngineConf) -> SecretRegistry:
    """Exact secret values to mask in every log line: the API key, the JDBC URL and its password."""
    secrets = SecretRegistry()
    secrets.add(conf.get(OPENAI_API_KEY))
    url = conf.get(JDBC_URL)
    if url:
        secrets.add(url)
        import re

        for match in re.finditer(r"(?i)(?:password|pwd)=([^&;]+)|://[^/:@]*:([^@/]+)@", url):
            secrets.add(match.group(1) or match.group(2))
    return secrets


class EngineApp:
    """One engine: ``start()`` binds and serves, ``wait()`` blocks until a stop is requested."""

    def __init__(
        self,
        conf: EngineConf,
        *,
        provider: AgentProvider | None = None,
        datasource: Any = None,
    ) -> None:
        self.conf = conf
        self._provider = provider
        self._datasource = datasource
        self._own_datasource = datasource is None
        self.tools: Any = None
        self.catalog: Any = None
        self.sessions: SessionManager | None = None
        self.backend: BackendService | None = None
        self.server: Any = None
        self.registration: Any = None
        self.host = ""
        self.port = 0
        self._stop_requested = threading.Event()
        self._stop_reason = ""
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._idle_thread: threading.Thread | None = None

    @property
    def datasource(self) -> Any:
        return self._datasource

    @property
    def provider(self) -> AgentProvider | None:
        return self._provider

    def start(self) -> tuple[str, int]:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self.host, self.port

    def _start(self) -> None:
        conf = self.conf
        if self._datasource is None:
            from engine.datasource import Datasource

            self._datasource = Datasource.from_conf(conf)
        self.catalog = self._build_catalog()
        if self._provider is None:
            from engine.agent.service import build_provider
            from engine.tools import ToolRegistry

            # One catalog (and one cache) serves metadata RPCs and the schema tools alike.
            self.tools = ToolRegistry.default(self._datasource, conf, catalog=self.catalog)
            self._provider = build_provider(conf, self._datasource, self.tools)
        operations = OperationManager(conf)
        self.sessions = SessionManager(
            conf, self._provider, operations, datasource=self._datasource, catalog=self.catalog
        )
        self.backend = BackendService(conf, self.sessions)
        from engine.frontend.server import ThriftServer

        self.server = ThriftServer(conf, self.backend)
        self.host, self.port = self.server.start()
        log.info(
            "engine serving on %s:%d (provider %s, datasource %s)",
            self.host,
            self.port,
            getattr(self._provider, "name", type(self._provider).__name__),
            getattr(self._datasource, "display_url", "-"),
        )
        if conf.get(SHARE_LEVEL) == "CONNECTION":
            self.sessions.on_session_closed(self._stop_when_last_session_closes)
        # --- registration (owned by launcher engineer) ---
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
        # --- end registration ---
        self._idle_thread = threading.Thread(target=self._watch_idle, name="engine-idle-monitor", daemon=True)
        self._idle_thread.start()

    def _stop_when_last_session_closes(self, remaining: int) -> None:
        if remaining == 0:
            self.request_stop("CONNECTION share level: its session closed")

    def _build_catalog(self) -> Any:
        try:
            from engine.datasource.catalog import Catalog
        except ImportError:
            return None
        return Catalog(self._datasource, self.conf)

    def _watch_idle(self) -> None:
        limit = float(self.conf.get(ENGINE_IDLE_TIMEOUT))
        while not self._stop_requested.wait(min(1.0, limit / 4)):
            sessions = self.sessions
            if sessions is None:
                continue
            since = sessions.idle_since
            if since is not None and sessions.session_count() == 0 and time.monotonic() - since >= limit:
                self.request_stop(f"idle for {limit:g} s with no sessions")

    def request_stop(self, reason: str = "requested") -> None:
        """Ask the engine to stop; safe from any thread, signal handlers and ZooKeeper listeners."""
        if not self._stop_requested.is_set():
            self._stop_reason = reason
            log.info("engine stop requested: %s", reason)
            self._stop_requested.set()

    @property
    def stop_reason(self) -> str:
        return self._stop_reason

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
        if self.registration is not None:
            try:
                self.registration.stop()
            except Exception:
                log.warning("deregistration failed", exc_info=True)
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
        log.info("engine stopped")
