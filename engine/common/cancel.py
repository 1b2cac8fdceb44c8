"""Cooperative cancellation shared by operations, the agent loop, tools and the datasource.

A :class:`CancelToken` is set once. Code that blocks registers a callback (for example, the
datasource registers "cancel the running SQL statement") that runs when the token is cancelled,
and long loops call :meth:`CancelToken.raise_if_cancelled` or wait on it with a timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from engine.common.errors import OperationCanceledError, OperationTimeoutError

log = logging.getLogger(__name__)


class CancelToken:
    """A thread-safe, one-shot cancellation flag with callbacks and an optional deadline."""

    def __init__(self, deadline: float | None = None) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next_id = 0
        self._reason = ""
        self.deadline = deadline  # time.monotonic() value, or None

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> str:
        return self._reason

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._reason = reason
            self._event.set()
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        for callback in callbacks:
            try:
                callback()
            except Exception:  # a failing cancel hook must not stop the others
                log.warning("cancel callback failed", exc_info=True)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Register ``callback``; returns a function that unregisters it. Runs at once if cancelled."""
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

    def remaining(self) -> float | None:
        """Seconds until the deadline (never negative), or None without a deadline."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise OperationCanceledError(f"operation {self._reason}")
        if self.expired():
            raise OperationTimeoutError("the run passed its deadline")

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds (capped by the deadline); True if cancelled meanwhile."""
        remaining = self.remaining()
        if remaining is not None:
            timeout = min(timeout, remaining)
        return self._event.wait(max(0.0, timeout))

    def child(self, timeout: float | None = None) -> CancelToken:
        """A token cancelled with this one, with a deadline no later than this one's."""
        deadline = self.deadline
        if timeout is not None:
            own = time.monotonic() + timeout
            deadline = own if deadline is None else min(deadline, own)
        token = CancelToken(deadline)
        token._unlink = self.on_cancel(lambda: token.cancel(self._reason))  # type: ignore[attr-defined]
        return token

    def release(self) -> None:
        """Detach a child token from its parent (call when the child's work is done)."""
        unlink = getattr(self, "_unlink", None)
        if unlink is not None:
            unlink()
