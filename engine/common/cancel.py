"""Cooperative cancellation shared by operations, the agent loop, tools and the datasource.

A :class:`CancelToken` is cancelled once, for a :class:`CancelReason`. Code that blocks registers a
callback (the datasource registers "interrupt the running SQL statement") that runs when the token
is cancelled; blocking waits wait on an event with their own timeout and are woken by such a
callback. Checkpoints call :meth:`CancelToken.raise_if_cancelled`, which raises
:class:`OperationTimeoutError` for ``TIMEOUT`` and :class:`OperationCanceledError` otherwise: the
reason decides, never the text.

A token given a deadline arms a timer on the engine's :class:`DeadlineScheduler`; the timer cancels
it with ``TIMEOUT`` and the message its owner chose (which names the key that fired, such as
``query.timeout``). A child token is cancelled with its parent, for the parent's reason and with
the parent's message, and its deadline is the earlier of its own and its parent's: when the parent's
comes first the child arms nothing and simply inherits the parent's timeout.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable
from types import TracebackType

from engine.common.deadline import DeadlineScheduler, Timer
from engine.common.errors import EngineError, OperationCanceledError, OperationTimeoutError

log = logging.getLogger(__name__)


class CancelReason(enum.Enum):
    USER = "user"  # CancelOperation, CloseOperation, CloseSession
    TIMEOUT = "timeout"  # a deadline passed (run.timeout, tool.call.timeout, query.timeout, ...)
    SHUTDOWN = "shutdown"  # the engine is stopping
    CLIENT_GONE = "client_gone"  # the connection that owned the work dropped


DEFAULT_MESSAGES = {
    CancelReason.USER: "the operation was cancelled",
    CancelReason.TIMEOUT: "the deadline passed",
    CancelReason.SHUTDOWN: "the engine is shutting down",
    CancelReason.CLIENT_GONE: "the client connection was lost",
}


class CancelToken:
    """A thread-safe, one-shot cancellation with a reason, callbacks and an optional deadline.

    ``deadline`` is a value of the scheduler's clock (``time.monotonic``); it needs ``scheduler``,
    which fires it. ``timeout_message`` is the text of the error a timeout raises.
    """

    def __init__(
        self,
        scheduler: DeadlineScheduler | None = None,
        *,
        deadline: float | None = None,
        timeout_message: str | None = None,
    ) -> None:
        self._scheduler = scheduler
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next_id = 0
        self._reason: CancelReason | None = None
        self._message = ""
        self._deadline: float | None = None
        self._timeout_message = DEFAULT_MESSAGES[CancelReason.TIMEOUT]
        self._timer: Timer | None = None
        self._unlink: Callable[[], None] | None = None
        if deadline is not None:
            self.arm(deadline, timeout_message)

    # --- state (each a single reference, read without the lock; writes happen under it) --------
    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> CancelReason | None:
        """Why the token was cancelled; None while it is not."""
        return self._reason

    @property
    def message(self) -> str:
        """The human text of the cancellation ("" while not cancelled)."""
        return self._message

    @property
    def deadline(self) -> float | None:
        """When the token times out (own or inherited), as a value of the scheduler's clock."""
        return self._deadline

    @property
    def timeout_message(self) -> str:
        """The message the token will carry if its deadline fires (names the key that owns it)."""
        return self._timeout_message

    @property
    def scheduler(self) -> DeadlineScheduler | None:
        return self._scheduler

    def remaining(self) -> float | None:
        """Seconds until the deadline (never negative), or None without a deadline."""
        with self._lock:
            deadline, scheduler = self._deadline, self._scheduler
        if deadline is None or scheduler is None:
            return None
        return max(0.0, deadline - scheduler.clock())

    # --- deadline ------------------------------------------------------------------------------
    def arm(
        self, deadline: float, message: str | None = None, *, scheduler: DeadlineScheduler | None = None
    ) -> None:
        """Time the token out at ``deadline`` with ``message`` (unless it already has an earlier one).

        A token made without a scheduler adopts ``scheduler`` here (an operation's token exists
        before the manager that owns the clock starts it).
        """
        with self._lock:
            if self._scheduler is None:
                self._scheduler = scheduler
            scheduler = self._scheduler
            if scheduler is None:
                raise ValueError("a CancelToken needs a DeadlineScheduler to have a deadline")
            if self._event.is_set() or (self._deadline is not None and self._deadline <= deadline):
                return
            previous = self._timer
            self._deadline = deadline
            self._timeout_message = message or DEFAULT_MESSAGES[CancelReason.TIMEOUT]
        if previous is not None:
            previous.cancel()
        timer = scheduler.call_at(deadline, self._expire)
        with self._lock:
            keep = self._deadline == deadline and not self._event.is_set()
            if keep:
                self._timer = timer
        if not keep:
            timer.cancel()  # cancelled meanwhile, or a concurrent arm() chose an earlier deadline

    def _expire(self) -> None:
        self.cancel(CancelReason.TIMEOUT, self.timeout_message)

    # --- cancelling ----------------------------------------------------------------------------
    def cancel(self, reason: CancelReason = CancelReason.USER, message: str | None = None) -> None:
        """Cancel for ``reason``; only the first call counts. Runs the callbacks on this thread."""
        with self._lock:
            if self._event.is_set():
                return
            self._reason = reason
            self._message = message or DEFAULT_MESSAGES[reason]
            self._event.set()
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a failing cancel hook must not stop the others
                log.warning("cancel callback failed", exc_info=True)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register ``callback``; returns a function that unregisters it. Runs at once if cancelled.

        Callbacks run on the cancelling thread (the scheduler's for a timeout): keep them quick.
        """
        with self._lock:
            if not self._event.is_set():
                key = self._next_id
                self._next_id += 1
                self._callbacks[key] = callback

                def unregister() -> None:
                    with self._lock:
                        self._callbacks.pop(key, None)

                return unregister
        callback()
        return lambda: None

    def error(self) -> EngineError:
        """The error this cancellation means: a timeout for ``TIMEOUT``, a cancel otherwise."""
        with self._lock:
            reason, message = self._reason, self._message
        if reason is CancelReason.TIMEOUT:
            return OperationTimeoutError(message)
        return OperationCanceledError(message or DEFAULT_MESSAGES[CancelReason.USER])

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise self.error()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; True as soon as the token is cancelled (a deadline too)."""
        return self._event.wait(max(0.0, timeout))

    # --- children ------------------------------------------------------------------------------
    def child(
        self,
        timeout: float | None = None,
        *,
        message: str | None = None,
        scheduler: DeadlineScheduler | None = None,
    ) -> CancelToken:
        """A token cancelled with this one (same reason and message), timing out after ``timeout``
        seconds with ``message`` unless this token's deadline comes first. Release it (or use it as a
        context manager) when its work is done, so that the parent forgets it."""
        with self._lock:
            inherited, inherited_message = self._deadline, self._timeout_message
            clock_owner = scheduler or self._scheduler
        token = CancelToken(clock_owner)
        own = None
        if timeout is not None:
            if clock_owner is None:
                raise ValueError("a child token with a timeout needs a DeadlineScheduler")
            own = clock_owner.clock() + max(0.0, timeout)
        if own is not None and (inherited is None or own < inherited):
            token.arm(own, message)
        elif inherited is not None:
            with token._lock:  # the parent fires first and its cancellation reaches the child
                token._deadline, token._timeout_message = inherited, inherited_message
        token._unlink = self.on_cancel(lambda: token.cancel(*self._cancellation()))
        return token

    def _cancellation(self) -> tuple[CancelReason, str]:
        with self._lock:
            return self._reason or CancelReason.USER, self._message

    def release(self) -> None:
        """Detach a child token from its parent and disarm its timer (its work is done)."""
        with self._lock:
            unlink, self._unlink = self._unlink, None
            timer, self._timer = self._timer, None
        if unlink is not None:
            unlink()
        if timer is not None:
            timer.cancel()

    def __enter__(self) -> CancelToken:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        reason = self.reason
        return f"CancelToken({'cancelled: ' + reason.value if reason else 'active'})"
