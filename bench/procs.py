"""Processes that benchmarks measure across: the engine (``python -m engine``) and a scripted LLM,
each in its own process, with the clients elsewhere. CLOCK_MONOTONIC is shared by the processes of
one host, so a time stamped in one process can be compared with one taken in another.

- :class:`EngineProcess` starts an engine on a free port with the given configuration and reads its
  resident memory and thread count from ``/proc``;
- :class:`LlmProcess` runs a benchmark script's own ``--serve-llm`` mode (a
  ``tests.fakes.openai_server.FakeOpenAIServer``) that prints its URL, and whatever the script
  prints when its stdin closes (the send times of marked chunks, as JSON);
- :func:`percentiles` gives p50 and p99.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = Path(os.environ.get("LAB", str(Path.home() / ".cache" / "hs2-clients")))  # bin/install-test-clients
AGENT = "kyuubi.engine.data.agent."
API_KEY = "sk-bench-0123456789abcdefghij"
MARK = re.compile(r"<<(\d+)>>")  # a marked chunk's number, in the LLM's text and in the rows
_THRIFT = re.compile(r"engine serving on ([\d.]+):(\d+)")
_REST = re.compile(r"REST API listening on (http://[\d.]+:\d+)")


def child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KYUUBI_", "OPENAI_", "DATA_AGENT_"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def percentiles(values: list[float]) -> tuple[float, float]:
    """(p50, p99) of ``values`` (nearest rank)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan"), float("nan")
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered), p99


def cpu_seconds(pid: int) -> float:
    """User + system CPU time process ``pid`` has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sts_available() -> bool:
    """Whether ``bin/install-test-clients`` put Spark Thrift Server's scripts in ``LAB``."""
    return (LAB / "bin" / "start-sts.sh").exists()


def start_sts(port: int, auth: str = "NONE") -> int:
    """Start Spark Thrift Server (the performance peer) on ``port``; its pid once it serves."""
    started = subprocess.run(
        [str(LAB / "bin" / "start-sts.sh"), str(port), auth], capture_output=True, text=True, timeout=180
    )
    if started.returncode != 0:
        raise RuntimeError(f"Spark Thrift Server did not start: {started.stderr.strip()}")
    return int(started.stdout.split()[-1])


def stop_sts(port: int) -> None:
    subprocess.run([str(LAB / "bin" / "stop-sts.sh"), str(port)], capture_output=True, timeout=60)


def serve_marked_llm(chunks: int, gap: float, suffix: str, usage: tuple[int, int]) -> None:
    """A benchmark's ``--serve-llm`` child mode: every request streams ``chunks`` chunks ``gap``
    apart, each ``<<n>>`` (n counting up across requests) then ``suffix``. Prints the URL, then,
    when stdin closes, the send time of every marker as JSON (:meth:`LlmProcess.finish`)."""
    import itertools

    from tests.fakes.openai_server import FakeOpenAIServer, Reply

    counter = itertools.count(1)
    lock = threading.Lock()

    def respond(body: dict[str, object]) -> Reply:
        with lock:
            marks = [next(counter) for _ in range(chunks)]
        return Reply(text=[f"<<{mark}>>{suffix}" for mark in marks], delay=gap, usage=usage)

    with FakeOpenAIServer(responder=respond, record=True) as llm:
        print(llm.url, flush=True)
        sys.stdin.read()
        sent = {}
        for at, content in llm.sent_text:
            match = MARK.search(content)
            if match:
                sent[match.group(1)] = at
        print(json.dumps(sent), flush=True)


class LlmProcess:
    """``script --serve-llm *args``: its first stdout line is the LLM's base URL."""

    def __init__(self, script: str, *args: str) -> None:
        argv = [sys.executable, script, "--serve-llm", *args]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=child_env({}), cwd=ROOT
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url:
            raise SystemExit("the scripted LLM did not start")

    def finish(self) -> object:
        """Close its stdin; the JSON it prints last (None if it printed nothing)."""
        out, _ = self.proc.communicate(timeout=120)
        lines = out.strip().splitlines()
        return json.loads(lines[-1]) if lines else None


class EngineProcess:
    """``python -m engine`` with ``conf``; ``port`` is its Thrift port once it serves."""

    def __init__(
        self, work: Path, llm_url: str, conf: dict[str, str], env: dict[str, str] | None = None
    ) -> None:
        values = {
            "kyuubi.frontend.thrift.binary.bind.host": "127.0.0.1",
            "kyuubi.frontend.thrift.binary.bind.port": "0",
            AGENT + "work.dir": str(work),
            AGENT + "provider": "OPENAI_COMPATIBLE",
            AGENT + "openai.endpoint": llm_url,
            AGENT + "model": "bench-model",
            **conf,
        }
        argv = [sys.executable, "-m", "engine"] + [
            x for k, v in values.items() for x in ("--conf", f"{k}={v}")
        ]
        environ = child_env({"KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY": API_KEY, **(env or {})})
        self.proc = subprocess.Popen(
            argv, env=environ, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        assert self.proc.stderr is not None
        self.rest_url = ""
        for line in self.proc.stderr:
            rest = _REST.search(line)
            if rest:
                self.rest_url = rest.group(1)
            thrift = _THRIFT.search(line)
            if thrift:
                self.port = int(thrift.group(2))
                break
        else:
            raise SystemExit("the engine did not start")
        self.errors: list[str] = []  # ERROR lines of its log
        threading.Thread(target=self._drain, name="bench-engine-stderr", daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if " ERROR " in line or "Traceback" in line:
                self.errors.append(line.rstrip())

    def status(self) -> tuple[float, int]:
        """(resident MiB, threads) of the engine process now."""
        rss, threads = 0.0, 0
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
        return rss, threads

    def cpu_seconds(self) -> float:
        """User + system CPU time the engine process has used so far."""
        return cpu_seconds(self.proc.pid)

    def rss_mib(self) -> float:
        return self.status()[0]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


class Profiler:
    """py-spy sampling the thread holding the GIL of a process (``--profile`` of the benches) until :meth:`stop`; collapsed stacks
    to ``path``. py-spy is a developer's tool: ``.venv/bin/pip install py-spy``."""

    def __init__(self, pid: int, path: Path, rate: int = 1000) -> None:
        self.path = path
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        argv = [
            spy,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",
            "--gil",
        ]
        self.proc = subprocess.Popen(
            [*argv, "--output", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(1.0)  # it attaches

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output and exits
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def summarize(self, top: int = 25) -> None:
        if self.path.exists():
            summarize_profile(self.path, top)


def summarize_profile(path: Path, top: int = 25) -> None:
    """Self and total samples per function from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [frame.split(" (")[0] + " (" + frame.split(" (")[-1] for frame in stack.split(";")]
        if "wait (threading.py" in stack.split(";")[-1] or "select" in frames[-1]:
            continue  # idle threads
        samples += n
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    print(f"py-spy: {samples} busy samples in the engine (idle waits left out)")
    print("  most total samples (inclusive):")
    for frame, n in total.most_common(top):
        print(f"    {100 * n / max(samples, 1):5.1f}%  {frame}")
    print("  most own samples:")
    for frame, n in own.most_common(top):
        print(f"    {100 * n / max(samples, 1):5.1f}%  {frame}")
