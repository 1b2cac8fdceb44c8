"""Session: one client session, its configuration overlay, its agent state and operations."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from engine.agent.approval import ApprovalBroker, ApprovalRegistry
from engine.agent.provider import AgentProvider, AgentSession
from engine.agent.settings import SettingsPolicy
from engine.common.config import (
    CATALOG_REFRESH,
    FETCH_COMPACT_THRESHOLD,
    FETCH_WAIT,
    EngineConf,
    strip_hive_prefix,
)
from engine.common.errors import InvalidHandleError
from engine.common.handle import SessionHandle
from engine.operation.context import OperationContext
from engine.operation.manager import OperationManager
from engine.operation.metadata import MetadataArguments, create_metadata_operation
from engine.operation.operation import Operation
from engine.session.conf_policy import SessionConfPolicy
from engine.tools.port import CatalogView, ReadSource

log = logging.getLogger(__name__)


class Session:
    def __init__(
        self,
        *,
        user: str,
        ip: str,
        protocol: int,
        engine_conf: EngineConf,
        configuration: dict[str, str],
        provider: AgentProvider,
        operations: OperationManager,
        workdir_root: Path,
        policy: SettingsPolicy,
        approvals: ApprovalRegistry | None = None,
        datasource: ReadSource | None = None,
        catalog: CatalogView | None = None,
    ) -> None:
        self.handle = SessionHandle()
        self.user = user
        self.ip = ip
        self.protocol = protocol
        self.engine_conf = engine_conf
        self.provider = provider
        self.operations = operations
        self.datasource = datasource
        self.catalog = catalog
        self.policy = policy
        self.created = time.time()
        self.last_access = time.monotonic()
        self._lock = threading.Lock()
        self._overlay: dict[str, str] = {}
        self._current_database = "default"
        # kyuubi.session.conf.restrict.list / .ignore.list, for every override a client sends
        self.conf_policy = SessionConfPolicy.from_conf(engine_conf)
        overrides = {key: value for key, value in configuration.items() if key != "use:database"}
        if "use:database" in configuration:
            self._current_database = configuration["use:database"] or "default"
        self._overlay.update(self.conf_policy.admit(overrides, "session configuration"))
        # Validate the session's agent settings now: a bad value fails OpenSession clearly.
        self.conf = self._checked(engine_conf.with_overlay(self._overlay, source="session"))
        workdir = workdir_root / self.handle.id
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.agent = AgentSession(
            session_id=self.handle.id,
            user=user,
            workdir=workdir,
            approvals=ApprovalBroker(self.handle.id, user, approvals),
        )
        self.provider.open_session(self.agent)

    @property
    def id(self) -> str:
        return self.handle.id

    def touch(self) -> None:
        self.last_access = time.monotonic()

    def response_configuration(self) -> dict[str, str]:
        return {"kyuubi.session.id": self.id, "use:database": self._current_database}

    # --- overlay -------------------------------------------------------------------------------
    def set_conf(self, key: str, value: str) -> None:
        admitted = self.conf_policy.admit({key: value}, "SET")
        if not admitted:
            return  # an ignored key: dropped without a word, as Kyuubi does
        with self._lock:
            candidate = dict(self._overlay)
            candidate.update(admitted)
            conf = self._checked(self.engine_conf.with_overlay(candidate, source="session"))
            self._overlay = candidate
            self.conf = conf
        self._refresh_catalog()

    def _checked(self, conf: EngineConf) -> EngineConf:
        self.policy.check(conf)
        return conf

    def _refresh_catalog(self) -> None:
        """Drop cached catalog metadata (a SET, or a confOverlay of catalog.refresh, asks for it)."""
        if self.catalog is not None:
            self.catalog.invalidate()

    def conf_items(self) -> dict[str, str]:
        with self._lock:
            return dict(self._overlay)

    def _set_database(self, name: str) -> None:
        with self._lock:
            self._current_database = name

    def _get_database(self) -> str:
        with self._lock:
            return self._current_database

    def _context(self) -> OperationContext:
        conf = self.conf
        return OperationContext(
            session_id=self.id,
            user=self.user,
            conf=conf,
            agent_session=self.agent,
            provider=self.provider,
            protocol=self.protocol,
            fetch_wait=conf.get(FETCH_WAIT),
            compact_threshold=conf.get(FETCH_COMPACT_THRESHOLD),
            datasource=self.datasource,
            catalog=self.catalog,
            set_session_conf=self.set_conf,
            session_conf_items=self.conf_items,
            set_current_database=self._set_database,
            current_database=self._get_database,
        )

    # --- operations ----------------------------------------------------------------------------
    def execute_statement(
        self, statement: str, conf_overlay: dict[str, str], run_async: bool, query_timeout: int
    ) -> Operation:
        self.touch()
        ctx = self._context()
        conf_overlay = self.conf_policy.admit(conf_overlay, "statement's confOverlay")
        statement_conf = (
            self._checked(ctx.conf.with_overlay(conf_overlay, source="statement"))
            if conf_overlay
            else ctx.conf
        )
        if any(strip_hive_prefix(key) == CATALOG_REFRESH.key for key in conf_overlay):
            self._refresh_catalog()
        operation = self.operations.new_statement_operation(
            ctx, statement, statement_conf, run_async=run_async, query_timeout=query_timeout
        )
        return self._start(operation)

    def run_metadata(self, kind: str, arguments: MetadataArguments) -> Operation:
        self.touch()
        operation = create_metadata_operation(self._context(), kind, arguments)
        return self._start(operation)

    def _start(self, operation: Operation) -> Operation:
        self.operations.start(operation)
        error = operation.error()
        if not operation.run_async and error is not None:
            # runAsync=false reports a failure on ExecuteStatement itself, as HiveServer2 does.
            self.operations.remove(operation.handle)
            operation.close()
            raise error
        return operation

    def has_running(self) -> bool:
        return self.agent.lock.locked()

    def close(self) -> None:
        for operation in self.operations.operations():
            if operation.ctx.session_id == self.id:
                try:
                    self.operations.remove(operation.handle)
                except InvalidHandleError:
                    continue  # closed concurrently by its client or the reaper
                operation.close()
        self.agent.approvals.close()
        try:
            self.provider.close_session(self.agent)
        except Exception:
            log.warning("provider failed to close session %s", self.id, exc_info=True)
        shutil.rmtree(self.agent.workdir, ignore_errors=True)
