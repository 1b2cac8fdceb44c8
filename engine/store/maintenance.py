"""Keeping the store honest over time, in one named thread (``store-maintenance``):

- **instances**: every engine process writing to the store has a row with a heartbeat;
- **recovery**: runs left ``running`` by a process that is gone (its heartbeat is stale, or it ran
  on this host and its pid is dead, or it has no row) become ``interrupted``, keeping their
  events, and their ``pending`` approvals become ``expired``. This runs at open and on every
  pass, so engines can share one PostgreSQL store without touching each other's live runs;
- **retention**: runs that ended before ``now - retention`` are deleted with their events and
  approvals, a bounded number per pass; so are conversations without runs not updated since,
  and token counts of older days.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from engine.common.record import ApprovalStatus, RunStatus
from engine.store.problem import describe
from engine.store.schema import APPROVALS, CONVERSATIONS, EVENTS, INSTANCES, RUNS, TOKEN_USAGE

log = logging.getLogger(__name__)

INTERRUPTED_ERROR = "the engine running it stopped before it finished (restart or crash)"


def _now() -> datetime:
    return datetime.now(UTC)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


@dataclass(frozen=True)
class Recovered:
    runs: int
    approvals: int


class Maintenance:
    """Heartbeat, recovery and retention of one store, for one engine process."""

    def __init__(
        self,
        engine: Engine,
        instance_id: str,
        *,
        retention: float,
        heartbeat_interval: float = 5.0,
        retention_interval: float = 60.0,
        batch: int = 100,
        secrets: Iterable[str] = (),
    ) -> None:
        self._engine = engine
        self.instance_id = instance_id
        self._retention = timedelta(seconds=retention)
        self._heartbeat_interval = heartbeat_interval
        self._stale = timedelta(seconds=heartbeat_interval * 6)
        self._retention_interval = retention_interval
        self._batch = batch
        self._secrets = tuple(secrets)
        self._host = socket.gethostname()[:255]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    # --- lifecycle -------------------------------------------------------------------------------
    def register(self) -> None:
        with self._engine.begin() as connection:
            self._register(connection, _now())

    def _register(self, connection: Connection, now: datetime) -> None:
        connection.execute(
            sa.insert(INSTANCES).values(
                id=self.instance_id, host=self._host, pid=os.getpid(), started=now, heartbeat=now
            )
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="store-maintenance", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30.0)

    def retire(self) -> Recovered:
        """This process is leaving cleanly: whatever it still runs is interrupted, its row goes."""
        with self._engine.begin() as connection:
            recovered = self._interrupt(connection, RUNS.c.instance == self.instance_id, _now())
            connection.execute(sa.delete(INSTANCES).where(INSTANCES.c.id == self.instance_id))
        return recovered

    # --- one pass of each job ----------------------------------------------------------------------
    def heartbeat(self) -> None:
        """Show this process alive; re-register if another engine took it for gone (a long
        outage) and removed its row."""
        now = _now()
        with self._engine.begin() as connection:
            beat = sa.update(INSTANCES).where(INSTANCES.c.id == self.instance_id).values(heartbeat=now)
            if connection.execute(beat).rowcount == 0:
                self._register(connection, now)

    def recover(self) -> Recovered:
        """Interrupt the runs of engine processes that are gone."""
        now = _now()
        with self._engine.begin() as connection:
            gone = [
                row.id
                for row in connection.execute(sa.select(INSTANCES)).all()
                if row.id != self.instance_id
                and (
                    row.heartbeat < now - self._stale or (row.host == self._host and not _pid_alive(row.pid))
                )
            ]
            # one statement decides which runs are orphans, so an engine that registers meanwhile
            # (its row is committed before any of its runs) is never taken for gone
            unregistered = ~sa.exists().where(INSTANCES.c.id == RUNS.c.instance)
            orphans = sa.and_(
                RUNS.c.instance != self.instance_id, sa.or_(RUNS.c.instance.in_(gone), unregistered)
            )
            recovered = self._interrupt(connection, orphans, now)
            if gone:
                connection.execute(sa.delete(INSTANCES).where(INSTANCES.c.id.in_(gone)))
        if recovered.runs or recovered.approvals:
            log.info(
                "run store: %d runs of engines that are gone became interrupted, %d pending approvals expired",
                recovered.runs,
                recovered.approvals,
            )
        return recovered

    def sweep(self, now: datetime | None = None) -> int:
        """Delete at most one batch of runs older than the retention (and what hangs off them)."""
        cutoff = (now or _now()) - self._retention
        with self._engine.begin() as connection:
            ids = list(
                connection.execute(
                    sa.select(RUNS.c.id)
                    .where(RUNS.c.ended < cutoff)
                    .order_by(RUNS.c.ended)
                    .limit(self._batch)
                ).scalars()
            )
            if ids:
                connection.execute(sa.delete(EVENTS).where(EVENTS.c.run_id.in_(ids)))
                connection.execute(sa.delete(APPROVALS).where(APPROVALS.c.run_id.in_(ids)))
                connection.execute(sa.delete(RUNS).where(RUNS.c.id.in_(ids)))
            has_runs = sa.exists().where(RUNS.c.conversation_id == CONVERSATIONS.c.id)
            idle = list(
                connection.execute(
                    sa.select(CONVERSATIONS.c.id)
                    .where(CONVERSATIONS.c.updated < cutoff, ~has_runs)
                    .limit(self._batch)
                ).scalars()
            )
            if idle:
                connection.execute(sa.delete(CONVERSATIONS).where(CONVERSATIONS.c.id.in_(idle)))
            connection.execute(sa.delete(TOKEN_USAGE).where(TOKEN_USAGE.c.day < cutoff.date()))
        if ids or idle:
            log.info("run store retention: deleted %d runs and %d conversations", len(ids), len(idle))
        return len(ids)

    # --- the thread --------------------------------------------------------------------------------
    def _run(self) -> None:
        next_sweep = 0.0
        elapsed = 0.0
        while not self._stop.wait(self._heartbeat_interval if elapsed else 0.0):
            elapsed += self._heartbeat_interval
            try:
                self.heartbeat()
                self.recover()
                if elapsed >= next_sweep:
                    full = self.sweep() >= self._batch
                    # a full batch means more is due: come back at the next heartbeat
                    next_sweep = elapsed + (0.0 if full else self._retention_interval)
            except Exception as exc:
                if not self._failing:
                    log.warning("run store maintenance failed (%s); retrying", describe(exc, self._secrets))
                self._failing = True
                continue
            if self._failing:
                log.info("run store maintenance works again")
            self._failing = False

    # --- helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _interrupt(connection: Connection, which: sa.ColumnElement[bool], now: datetime) -> Recovered:
        """Interrupt the running runs ``which`` selects, expiring their pending approvals first."""
        running = sa.and_(which, RUNS.c.status == RunStatus.RUNNING.value)
        runs = sa.select(RUNS.c.id).where(running)
        approvals = connection.execute(
            sa.update(APPROVALS)
            .where(APPROVALS.c.status == ApprovalStatus.PENDING.value, APPROVALS.c.run_id.in_(runs))
            .values(status=ApprovalStatus.EXPIRED.value, decided=now)
        ).rowcount
        interrupted = connection.execute(
            sa.update(RUNS)
            .where(running)
            .values(status=RunStatus.INTERRUPTED.value, ended=now, error=INTERRUPTED_ERROR)
        ).rowcount
        return Recovered(interrupted or 0, approvals or 0)
