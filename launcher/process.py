"""One engine child process: started detached with its output in a per-engine log file."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path

from engine.common.redaction import redact_text
from launcher.command import EngineCommand

log = logging.getLogger(__name__)

TAIL_BYTES = 8192


class EngineProcess:
    """Spawn ``python -m engine`` in its own session; notice at once when it exits."""

    def __init__(
        self, command: EngineCommand, log_path: Path, on_exit: threading.Event | None = None
    ) -> None:
        self.command = command
        self.log_path = log_path
        self.exited = on_exit or threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._secrets: list[str] = command.secret_values()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self._proc = subprocess.Popen(
                self.command.argv(),
                env=self.command.env(),
                stdin=subprocess.DEVNULL,
                stdout=fd,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the launcher and its terminal
                close_fds=True,
            )
        finally:
            os.close(fd)
        watcher = threading.Thread(target=self._watch, name=f"engine-exit-{self._proc.pid}", daemon=True)
        watcher.start()
        log.info("started engine pid %d, log %s", self._proc.pid, self.log_path)

    def _watch(self) -> None:
        proc = self._proc
        if proc is None:
            return
        proc.wait()
        self.exited.set()

    def terminate(self, timeout: float = 5.0) -> None:
        """SIGTERM the engine's process group, then SIGKILL after ``timeout``; reaps it."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                log.warning("engine pid %d ignored %s for %.0f s", proc.pid, sig.name, wait)

    def log_tail(self, lines: int = 20, extra_secrets: Iterable[str] = ()) -> str:
        """The end of the engine's log, redacted."""
        try:
            with open(self.log_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - TAIL_BYTES))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return redact_text(tail, [*self._secrets, *extra_secrets])


def find_local_engine(ref_id: str) -> int | None:
    """The pid of a local ``python -m engine`` launched with this refId (it is on argv, not secret)."""
    needle = f"kyuubi.engine.engineRef.id={ref_id}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if needle in argv and b"engine" in argv:
            return int(entry.name)
    return None
