"""Session: one client session, its configuration overlay, its conversation and operations.

A session closes on CloseSession, by the idle reaper, when the engine stops, or when its client's
connection drops (``kyuubi.session.close.on.disconnect``, the default). The first three stop its
running statement. A dropped connection instead **detaches** a running agent run: the session's
handle is gone and its other operations are closed at once, but the run goes on (until it ends or
``run.detached.timeout`` stops it) and keeps what it needs of the session until then: the
conversation's memory and run slot, the approvals it parked (answerable from any session of the
user) and its directory of offloaded tool output. When the run ends, the rest is released as
CloseSession would.
"""

from __future__ import annotations

import functools
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from engine.agent.approval import ApprovalBroker, ApprovalRegistry
from engine.agent.provider import AgentProvider, AgentSession
from engine.agent.settings import SettingsPolicy
from engine.common.config import (
    CATALOG_REFRESH,
    CONVERSATION_ID,
    FETCH_COMPACT_THRESHOLD,
    FETCH_WAIT,
    EngineConf,
    strip_hive_prefix,
)
from engine.common.errors import ConfigError, InvalidHandleError
from engine.common.handle import SessionHandle
from engine.operation.context import OperationContext
from engine.operation.manager import OperationManager
from engine.operation.metadata import MetadataArguments, create_metadata_operation
from engine.operation.operation import Operation
from engine.session.conf_policy import SessionConfPolicy
from engine.session.conversation import Conversation, ConversationTable
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
        conversations: ConversationTable,
        approvals: ApprovalRegistry | None = None,
        datasource: ReadSource | None = None,
        catalog: CatalogView | None = None,
        on_released: Callable[[Session], None] = lambda session: None,
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
        conversation_id: str | None = None
        overrides: dict[str, str] = {}
        for key, value in configuration.items():
            if key == "use:database":
                self._current_database = value or "default"
                continue
            if strip_hive_prefix(key) == CONVERSATION_ID.key:
                conversation_id = value.strip() or None
                continue
            overrides[key] = value
        self._overlay.update(self.conf_policy.admit(overrides, "session configuration"))
        # Validate the session's agent settings now: a bad value fails OpenSession clearly.
        self.conf = self._checked(engine_conf.with_overlay(self._overlay, source="session"))
        self.conversations = conversations
        self.conversation: Conversation = conversations.open(user, conversation_id)
        self._on_released = on_released
        self._detached_runs = 0  # detached runs still going (see close)
        self._closing = False
        self._released = False
        try:
            workdir = workdir_root / self.handle.id
            workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.agent = AgentSession(
                session_id=self.handle.id,
                user=user,
                workdir=workdir,
                approvals=ApprovalBroker(self.handle.id, user, approvals),
                memory=self.conversation.memory,
                lock=self.conversation.lock,
            )
            self.provider.open_session(self.agent)
        except BaseException:
            conversations.release(self.conversation)
            raise

    @property
    def id(self) -> str:
        return self.handle.id

    def touch(self) -> None:
        self.last_access = time.monotonic()

    @property
    def conversation_id(self) -> str:
        return self.conversation.id

    def response_configuration(self) -> dict[str, str]:
        return {
            "kyuubi.session.id": self.id,
            "use:database": self._current_database,
            CONVERSATION_ID.key: self.conversation.id,
        }

    # --- overlay -------------------------------------------------------------------------------
    def set_conf(self, key: str, value: str) -> None:
        key = strip_hive_prefix(key)
        if key == CONVERSATION_ID.key:
            raise ConfigError(
                f"{key} is chosen when a session opens (OpenSession configuration); open a new "
                "session to continue another conversation"
            )
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
            return {**self._overlay, CONVERSATION_ID.key: self.conversation.id}

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
            runs=self.operations.runs,
            conversation_id=self.conversation.id,
            record_conversation=lambda: self.conversations.record(self.conversation),
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

    def close(self, *, detach: bool = False) -> bool:
        """Close every operation of the session and release its agent state. With ``detach`` (its
        connection dropped), a running agent run goes on instead and the agent state is released
        when it ends. True when everything is released now."""
        for operation in self.operations.operations():
            if operation.ctx.session_id != self.id:
                continue
            if detach:
                with self._lock:
                    self._detached_runs += 1
                if operation.detach(functools.partial(self._detached_run_ended, operation)):
                    log.info("session %s closed with run operation %s detached", self.id, operation.id)
                    continue
                with self._lock:
                    self._detached_runs -= 1
            try:
                self.operations.remove(operation.handle)
            except InvalidHandleError:
                continue  # closed concurrently by its client or the reaper
            operation.close()
        with self._lock:
            self._closing = True
            done = self._detached_runs == 0
        if done:
            self.release()
        return done

    def _detached_run_ended(self, operation: Operation) -> None:
        """A detached run ended (on its thread): close its operation, and release the session's
        agent state after the last one."""
        try:
            self.operations.remove(operation.handle)
        except InvalidHandleError:
            pass
        operation.close()
        with self._lock:
            self._detached_runs -= 1
            last = self._closing and self._detached_runs == 0
        if last:
            self.release()

    def release(self) -> None:
        """Release the agent state: parked approvals denied, the conversation let go (its memory
        cleared when no other session holds it), the tool output directory removed. Once."""
        with self._lock:
            if self._released:
                return
            self._released = True
        self.agent.approvals.close()
        if self.conversations.release(self.conversation):
            try:
                self.provider.close_session(self.agent)
            except Exception:
                log.warning("provider failed to close session %s", self.id, exc_info=True)
        shutil.rmtree(self.agent.workdir, ignore_errors=True)
        try:
            self._on_released(self)
        except Exception:
            log.warning("session %s: release listener failed", self.id, exc_info=True)
