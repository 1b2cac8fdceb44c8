"""RunJournal: the write side of one run, as its operation uses it.

Events get consecutive sequence numbers from 1 (the ``id`` of an SSE event, the position after
which an ``__attach:`` or ``Last-Event-ID`` resumes). Appending never blocks. :meth:`finish`
queues the final status ahead of everything else waiting; :meth:`wait_committed` is the barrier
an operation passes before it reports a terminal state.
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import UTC, datetime

from sqlalchemy.engine import Connection

from engine.common.record import RunStatus
from engine.common.redaction import redact_text
from engine.store.statements import END_RUN, bind
from engine.store.writer import StoreWriter


class RunJournal:
    """Queue the events and the end of one run into the store's writer."""

    def __init__(self, writer: StoreWriter, run_id: str, start_ticket: int) -> None:
        self._writer = writer
        self.run_id = run_id
        self._seq = itertools.count(1)
        self._last_seq = 0
        self._ticket = start_ticket  # the latest write of this run that a barrier waits for
        self._lock = threading.Lock()
        self._finished = False

    @property
    def last_seq(self) -> int:
        """The sequence number of the latest appended event (0: none yet)."""
        return self._last_seq

    @property
    def finished(self) -> bool:
        return self._finished

    def append(self, event_type: str, payload: str) -> int:
        """Queue one event (``payload``: the compact JSON of its ``reply`` row); returns its
        sequence number. Never blocks; if the store's queue is full the event is dropped from the
        store (the run becomes ``incomplete``), never from the caller's own stream."""
        seq = next(self._seq)
        self._last_seq = seq
        self._writer.append_event(self.run_id, seq, event_type, payload, time.time())
        return seq

    def finish(
        self,
        status: RunStatus,
        *,
        error: str | None = None,
        steps: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        """Queue the run's final state (once; later calls are ignored) and flush it at once."""
        if not status.terminal:
            raise ValueError(f"a run finishes with a terminal status, not {status.value}")
        with self._lock:
            if self._finished:
                return
            self._finished = True
        ended = datetime.now(UTC)
        values = {
            "status": status.value,
            "error": redact_text(error).replace("\x00", "\ufffd") if error else None,
            "ended": ended,
            "steps": steps,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
        }
        run_id = self.run_id
        params = {"p_run_id": run_id, **bind(values)}

        def apply(connection: Connection) -> None:
            connection.execute(END_RUN, params)

        self._ticket = self._writer.submit(apply, label=f"end of run {run_id}", urgent=True)

    def wait_committed(self, timeout: float) -> bool:
        """The barrier: wait until every event appended so far and the final status (when
        :meth:`finish` was called) are committed. Returns False after ``timeout``: the writes
        stay queued and are retried while the engine runs (and written at a clean close if the
        store is back by then); the caller goes on, the run's stored state lags behind."""
        if not self._finished:
            return self._writer.flush(timeout)
        return self._writer.wait(self._ticket, timeout)
