"""Runs going on in this engine process: their events in memory, who watches them, their end.

Every agent run is a :class:`LiveRun` from the moment its operation is built until its final state
is committed to the run registry. The operation appends each event once: to the run's journal
(the store's writer batches it off the fetch path) and to the run's own list, from which anyone
following the run (``__attach:``, the REST API) reads without touching the store. A follower
that joins late replays that list from the first event, then waits on it.

**Watchers and the detached timeout.** A run is watched by its own operation while that
operation's session has a connection, and by every operation attached to it. When nobody watches
any more (the connection dropped without CloseOperation or CloseSession), a timer of
``run.detached.timeout`` is armed on the engine's deadline scheduler; a new watcher disarms it,
and if it fires the run is stopped with :attr:`CancelReason.CLIENT_GONE` (status ``stopped``).

The :class:`RunHub` keeps live runs behind one lock. A run leaves it once its end is committed
(or, when the store is down, as soon as a later check finds it committed), so that a follower
always finds its events either here or in the store.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from engine.common.cancel import CancelReason, CancelToken
from engine.common.deadline import DeadlineScheduler, Timer
from engine.common.metrics import Metrics, NoMetrics
from engine.common.record import EventRecord, RunRecord, RunStatus
from engine.common.redaction import redact_text
from engine.operation.limits import LimitSettings, UserLimits
from engine.operation.run_registry import MemoryJournal, RunJournal, RunRegistry

log = logging.getLogger(__name__)

RETIRE_CHECK = 1.0  # seconds between checks whether an uncommitted end reached the store

Stop = Callable[[CancelReason, str], None]


class LiveRun:
    """One run going on here. Thread-safe: the run's thread appends, any thread reads."""

    def __init__(
        self,
        run_id: str,
        owner: str,
        question: str,
        journal: RunJournal,
        *,
        conversation_id: str | None,
        model: str | None,
        stop: Stop,
    ) -> None:
        self.run_id = run_id
        self.owner = owner
        self.question = redact_text(question)
        self.conversation_id = conversation_id
        self.model = model
        self.journal = journal
        self.started = datetime.now(UTC)
        self._stop = stop
        self._cond = threading.Condition(threading.Lock())
        self._events: list[tuple[str, str, float]] = []  # seq - 1 -> (type, payload, epoch seconds)
        self._status = RunStatus.RUNNING
        self._error: str | None = None
        self._ended_at: datetime | None = None
        self._ended = False  # the end is recorded: followers finish once they have every event
        self._steps = 0
        self._prompt_tokens = 0
        self._completion_tokens = 0
        self._listeners: dict[int, Callable[[], None]] = {}
        self._next_listener = 0
        # watchers and the detached timer belong to the hub (under its lock)
        self.watchers = 0
        self.detached_timer: Timer | None = None

    # --- the run's side ----------------------------------------------------------------------
    def append(self, event_type: str, payload: str) -> int:
        """Record one event (journal and memory); returns its sequence number. Never blocks on I/O."""
        seq = self.journal.append(event_type, payload)
        with self._cond:
            self._events.append((event_type, payload, time.time()))
            if len(self._events) != seq:  # a journal numbers 1, 2, 3...: anything else is a bug
                log.error("run %s: event %d recorded as number %d", self.run_id, seq, len(self._events))
            self._cond.notify_all()
            listeners = list(self._listeners.values()) if self._listeners else ()
        for wake in listeners:
            _call(wake)
        return seq

    def progress(self, steps: int, prompt_tokens: int, completion_tokens: int) -> None:
        with self._cond:
            self._steps = max(self._steps, steps)
            self._prompt_tokens = max(self._prompt_tokens, prompt_tokens)
            self._completion_tokens = max(self._completion_tokens, completion_tokens)

    def finish(self, status: RunStatus, error: str | None, commit_timeout: float) -> bool:
        """Queue the run's end, wait for the barrier (up to ``commit_timeout``) and let followers
        finish. True when the end is committed."""
        with self._cond:
            steps, prompt, completion = self._steps, self._prompt_tokens, self._completion_tokens
        self.journal.finish(
            status, error=error, steps=steps, prompt_tokens=prompt, completion_tokens=completion
        )
        committed = self.journal.wait_committed(commit_timeout)
        if not committed:
            log.warning(
                "run %s: its end was not committed within %.1f s (the store is unreachable); "
                "the write stays queued and is retried",
                self.run_id,
                commit_timeout,
            )
        with self._cond:
            self._status, self._error = status, error
            self._ended_at = datetime.now(UTC)
            self._ended = True
            self._cond.notify_all()
            listeners = list(self._listeners.values())
        for wake in listeners:
            _call(wake)
        return committed

    def stop(self, reason: CancelReason, message: str) -> None:
        """Stop the run (its operation's cancel token): quick, safe from any thread."""
        self._stop(reason, message)

    # --- followers -----------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended

    @property
    def last_seq(self) -> int:
        with self._cond:
            return len(self._events)

    def read(self, after: int, limit: int) -> tuple[list[EventRecord], bool]:
        """Events with a sequence number above ``after`` (at most ``limit``), and whether the run
        has ended with nothing left after them."""
        with self._cond:
            chunk = self._events[max(0, after) : max(0, after) + max(0, limit)]
            done = self._ended and max(0, after) + len(chunk) >= len(self._events)
        events = [
            EventRecord(self.run_id, after + index + 1, kind, payload, datetime.fromtimestamp(at, UTC))
            for index, (kind, payload, at) in enumerate(chunk)
        ]
        return events, done

    def wait(self, after: int, timeout: float, cancel: CancelToken | None = None) -> bool:
        """Wait up to ``timeout`` for an event above ``after`` or the end (``cancel`` ends the wait
        at once); True when there is one."""
        unregister = cancel.on_cancel(self._notify) if cancel is not None else None
        try:
            with self._cond:
                return self._cond.wait_for(
                    lambda: (
                        self._ended or len(self._events) > after or (cancel is not None and cancel.cancelled)
                    ),
                    max(0.0, timeout),
                ) and (self._ended or len(self._events) > after)
        finally:
            if unregister is not None:
                unregister()

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def subscribe(self, wake: Callable[[], None]) -> Callable[[], None]:
        """Call ``wake`` (quick, from the run's thread) after every new event and at the end; for
        followers that do not hold a thread (the REST API's streams). Returns the unsubscriber."""
        with self._cond:
            key = self._next_listener
            self._next_listener += 1
            self._listeners[key] = wake

        def unsubscribe() -> None:
            with self._cond:
                self._listeners.pop(key, None)

        return unsubscribe

    def record(self) -> RunRecord:
        """What the run looks like now, in the store's shape (SHOW RUNS, the REST API)."""
        with self._cond:
            return RunRecord(
                id=self.run_id,
                conversation_id=self.conversation_id,
                owner=self.owner,
                question=self.question,
                status=self._status,
                started=self.started,
                ended=self._ended_at,
                error=self._error,
                steps=self._steps,
                prompt_tokens=self._prompt_tokens,
                completion_tokens=self._completion_tokens,
                model=self.model,
                last_seq=len(self._events),
            )


def _call(wake: Callable[[], None]) -> None:
    try:
        wake()
    except Exception:
        log.warning("a run follower's wake-up failed", exc_info=True)


class RunHub:
    """Every live run of the engine, by id, behind one lock; watchers and the detached timeout.
    The hub also asks the per-user ``limits`` before a run begins and records runs in ``metrics``."""

    def __init__(
        self,
        scheduler: DeadlineScheduler,
        registry: RunRegistry | None = None,
        *,
        detached_timeout: float = 600.0,
        commit_timeout: float = 10.0,
        limits: UserLimits | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.registry = registry
        self.metrics: Metrics = metrics or NoMetrics()
        self.limits = limits or UserLimits(LimitSettings(), ledger=registry, metrics=self.metrics)
        self.detached_timeout = detached_timeout
        self.commit_timeout = commit_timeout
        self._lock = threading.Lock()
        self._runs: dict[str, LiveRun] = {}

    def begin(
        self,
        run_id: str,
        owner: str,
        question: str,
        *,
        conversation_id: str | None,
        model: str | None,
        stop: Stop,
    ) -> LiveRun:
        """Start a run (queued to the registry), watched by its own operation. Raises
        RateLimitedError when one of ``owner``'s limits refuses it."""
        self.limits.begin_run(owner)
        journal: RunJournal
        try:
            if self.registry is not None:
                journal = self.registry.start_run(
                    run_id, owner, question, conversation_id=conversation_id, model=model
                )
            else:
                journal = MemoryJournal(run_id)
        except BaseException:
            self.limits.end_run(owner)
            raise
        self.metrics.run_started(owner)
        run = LiveRun(
            run_id, owner, question, journal, conversation_id=conversation_id, model=model, stop=stop
        )
        with self._lock:
            self._runs[run_id] = run
            run.watchers = 1
        return run

    def get(self, run_id: str) -> LiveRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def runs(self, owner: str | None = None) -> list[LiveRun]:
        """Live runs, of ``owner`` or of everyone."""
        with self._lock:
            return [run for run in self._runs.values() if owner is None or run.owner == owner]

    # --- watchers ------------------------------------------------------------------------------
    def watch(self, run: LiveRun) -> None:
        """Someone follows ``run`` (its operation's session is connected, or an attach): it is not
        detached any more."""
        with self._lock:
            run.watchers += 1
            timer, run.detached_timer = run.detached_timer, None
        if timer is not None:
            timer.cancel()
            log.info("run %s is attached again", run.run_id)

    def unwatch(self, run: LiveRun) -> None:
        """A watcher left without stopping the run; the last one arms the detached timeout."""
        with self._lock:
            run.watchers = max(0, run.watchers - 1)
            arm = run.watchers == 0 and not run.ended and run.detached_timer is None
        if not arm:
            return
        timeout = self.detached_timeout
        log.info("run %s is detached; it goes on for up to %g s unless someone attaches", run.run_id, timeout)
        timer = self.scheduler.call_later(timeout, lambda: self._detached_too_long(run))
        with self._lock:
            keep = run.watchers == 0 and run.detached_timer is None
            if keep:
                run.detached_timer = timer
        if not keep:
            timer.cancel()  # someone attached meanwhile

    def _detached_too_long(self, run: LiveRun) -> None:  # on the scheduler thread: quick
        with self._lock:
            if run.watchers > 0 or run.detached_timer is None:
                return
            run.detached_timer = None
        run.stop(
            CancelReason.CLIENT_GONE,
            f"the run was stopped after {self.detached_timeout:g} s detached from any client "
            "(kyuubi.engine.data.agent.run.detached.timeout)",
        )

    # --- the end -------------------------------------------------------------------------------
    def spend(self, run: LiveRun, prompt: int, completion: int) -> None:
        """The tokens ``run`` spent (before its :meth:`end`, so that its barrier covers them)."""
        self.limits.spend(run.owner, prompt, completion)

    def end(self, run: LiveRun, status: RunStatus, error: str | None) -> bool:
        """Record the run's end (once per run), pass the barrier, and retire it once committed."""
        with self._lock:
            timer, run.detached_timer = run.detached_timer, None
        if timer is not None:
            timer.cancel()
        self.limits.end_run(run.owner)
        self.metrics.run_ended(status.value, run.owner)
        committed = run.finish(status, error, self.commit_timeout)
        if committed:
            self._retire(run)
        else:
            self.scheduler.call_later(RETIRE_CHECK, lambda: self._retire_when_committed(run))
        return committed

    def _retire_when_committed(self, run: LiveRun) -> None:  # on the scheduler thread: quick
        if run.journal.wait_committed(0.0):
            self._retire(run)
        elif not self.scheduler.closed:
            self.scheduler.call_later(RETIRE_CHECK, lambda: self._retire_when_committed(run))

    def _retire(self, run: LiveRun) -> None:
        with self._lock:
            if self._runs.get(run.run_id) is run:
                del self._runs[run.run_id]
