"""A process that writes to a store until a test signals it (SIGKILL or SIGTERM).

    python -m tests.store.child URL MODE

Modes print one line per milestone on stdout:
- ``park``: a conversation, a run with 5 events and a pending approval, flushed; ``ready``.
- ``flushed``: 100 events flushed (``flushed 100``), then 400 more only queued (``queued 500``).
- ``stream``: events without end; every 50th prints ``<seq> <monotonic time> <events committed>``.
- ``term``: 3000 events queued behind a 30 s flush interval (``queued 3000``); SIGTERM closes
  the store the way the engine does at a clean stop.
"""

from __future__ import annotations

import signal
import sys
import time

from engine.store import RunStore
from engine.store.store import StoreOptions


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def main() -> None:
    url, mode = sys.argv[1], sys.argv[2]
    # SIGTERM is taken with sigtimedwait below, not by a handler: a handler that sets an Event can
    # deadlock on the Event's own lock. Blocked before any thread starts, so all inherit the mask.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    slow = mode in ("term", "flushed")
    store = RunStore.open(url, options=StoreOptions(flush_interval=30.0 if slow else 0.05))
    journal = store.start_run("run-1", "alice", "a question", conversation_id=None)
    if mode == "park":
        conversation = store.create_conversation("alice", "ds-0011223344556677", conversation_id="conv-1")
        journal = store.start_run("run-2", "alice", "another", conversation_id=conversation.id)
        for _ in range(5):
            journal.append("content_delta", "{}")
        store.request_approval(
            "run-2", "req-1", "run_mutation_query", '{"sql":"DELETE FROM t"}', "DESTRUCTIVE"
        )
        store.flush(10.0)
        say("ready")
    elif mode == "flushed":
        for _ in range(100):
            journal.append("content_delta", "{}")
        store.flush(10.0)
        say("flushed 100")
        for _ in range(400):
            journal.append("content_delta", "{}")
        say("queued 500")
    elif mode == "stream":
        while True:  # until SIGKILL
            seq = journal.append("content_delta", "{}")
            if seq % 50 == 0:
                say(f"{seq} {time.monotonic()} {store.stats().events_committed}")
            if seq % 10 == 0:
                time.sleep(0.01)  # about 1000 events a second, a fast run
    elif mode == "term":
        for _ in range(3000):
            journal.append("content_delta", "{}")
        say("queued 3000")
    signal.sigtimedwait({signal.SIGTERM}, 60.0)
    store.close()
    say("closed")


if __name__ == "__main__":
    main()
