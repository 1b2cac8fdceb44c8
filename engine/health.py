"""Is the engine ready? At start it checks that its datasource answers; when it does not, the
engine logs an ERROR, serves anyway (not ready) and checks again in the background until it
answers. ``ready`` is what a ``/readyz`` endpoint reports."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from engine.common.errors import EngineError
from engine.common.redaction import redact_text

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 10.0  # one probe of the datasource


class Probe(Protocol):
    """What the check needs of a datasource: a probe that raises when it does not answer."""

    display_url: str

    def check(self, timeout: float = ...) -> None: ...


class DatasourceCheck:
    def __init__(self, datasource: Probe, interval: float, timeout: float = CHECK_TIMEOUT) -> None:
        self._datasource = datasource
        self._interval = interval
        self._timeout = timeout
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.problem = ""

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def check_once(self) -> bool:
        """Probe the datasource now; True (and ready) when it answered."""
        try:
            self._datasource.check(timeout=self._timeout)
        except EngineError as exc:
            self.problem = exc.message
            return False
        except Exception as exc:  # a driver error that escaped the datasource's own mapping
            self.problem = redact_text(f"{type(exc).__name__}: {exc}")
            return False
        self.problem = ""
        self._ready.set()
        return True

    def start_background(self) -> None:
        """Check again every ``interval`` until the datasource answers or :meth:`stop`."""
        self._thread = threading.Thread(target=self._recheck, name="datasource-check", daemon=True)
        self._thread.start()

    def _recheck(self) -> None:
        while not self._stopping.wait(self._interval):
            if self.check_once():
                log.info("the datasource %s answers now; the engine is ready", self._datasource.display_url)
                return

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=self._timeout + 1.0)
