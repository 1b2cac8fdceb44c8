"""The real Java clients the tests drive: beeline and hive-jdbc 2.3.10 from ``bin/install-test-clients``
(``~/.cache/hs2-clients``, or ``$LAB``), which ``bin/setup`` and CI run, so their tests run (never
skip) wherever that directory exists."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

LAB = Path(os.environ.get("LAB", str(Path.home() / ".cache" / "hs2-clients")))
needs_lab = pytest.mark.skipif(not (LAB / "bin" / "env.sh").exists(), reason=f"{LAB} not installed")
PASSWORD = "x"


def jdbc_url(host: str, port: int, nosasl: bool = False) -> str:
    return f"jdbc:hive2://{host}:{port}/default" + (";auth=noSasl" if nosasl else "")


def event_rows(output: str) -> list[dict[str, Any]]:
    """The JSON event rows of beeline's table output."""
    rows = []
    for line in output.splitlines():
        cell = line.strip().strip("|").strip()
        if cell.startswith("{") and cell.endswith("}"):
            rows.append(json.loads(cell))
    return rows


def hive_jdbc_classpath() -> list[str]:
    """hive-jdbc 2.3.10 and everything it needs: every jar of the pyspark wheel in ``LAB``."""
    jars = sorted(LAB.glob("venv/lib/python*/site-packages/pyspark/jars/*.jar"))
    if not jars:
        raise FileNotFoundError(f"no pyspark jars under {LAB}: run bin/install-test-clients")
    return [str(jar) for jar in jars]


def _beeline_command(
    url: str, statement: str, user: str, options: tuple[str, ...]
) -> tuple[list[str], dict[str, str]]:
    # beeline takes the password on its command line, which is how real users run it; here it
    # travels to the subshell through the environment, never through our own argv
    script = (
        f'source {LAB}/bin/env.sh; exec beeline -u "$URL" -n "$BUSER" -p "$BPASS" {" ".join(options)} -e "$Q"'
    )
    env = {**os.environ, "URL": url, "BUSER": user, "BPASS": PASSWORD, "Q": statement}
    return ["bash", "-c", script], env


def beeline(
    url: str, statement: str, user: str = "u", options: tuple[str, ...] = (), timeout: float = 110
) -> subprocess.CompletedProcess[str]:
    """Run one statement through beeline with its default options (plus ``options``)."""
    argv, env = _beeline_command(url, statement, user, options)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


class StreamingBeeline:
    """A beeline process whose stderr (where it prints the operation log) is read line by line
    as it arrives, so a test can act on a line while the statement still runs."""

    def __init__(self, url: str, statement: str, user: str = "u") -> None:
        argv, env = _beeline_command(url, statement, user, ())
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self.stderr_lines: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stdout: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stderr, name="beeline-stderr", daemon=True),
            threading.Thread(target=self._read_stdout, name="beeline-stdout", daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line)
            self._lines.put(line)
        self._lines.put(None)

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        self._stdout.append(self.process.stdout.read())

    def wait_for_line(self, needle: str, timeout: float) -> str:
        """The first stderr line containing ``needle``; fails if the process ends or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"beeline printed no line with {needle!r}: {''.join(self.stderr_lines)}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(
                    f"beeline ended without a line with {needle!r}: {''.join(self.stderr_lines)}"
                )
            if needle in line:
                return line

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """(exit code, stdout, stderr) once the process ends."""
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code, "".join(self._stdout), "".join(self.stderr_lines)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        for reader in self._readers:
            reader.join(10)
