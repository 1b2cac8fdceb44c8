"""The terminal client's two figures. Prints them; asserts nothing.

1. Start-up: from ``bin/data-agent ... -e`` being invoked to its OpenSession reaching the engine
   (a TCP proxy in front of the engine timestamps the first bytes of the OpenSession call),
   median over ``--runs``. Target <= 0.5 s.
2. Screen delay: the scripted LLM streams text chunks, each with a marker, ``--gap`` apart; the
   client runs on a pseudo-terminal (so it renders with rich, as for a person) and the time each
   marker first shows in its output is compared with the time its chunk left the LLM. Two runs:
   - paragraphs of >= 2048 characters, which the engine's delta coalescer appends as rows at
     once: LLM -> engine -> row appended -> FetchResults -> rendered, i.e. "row appended -> on
     screen" plus the LLM hop (target p50 <= 50 ms);
   - short chunks, which the engine holds up to 50 ms to coalesce: what a person sees.

The engine runs in its own process; the client in another; the fake LLM and the proxy here.

    .venv/bin/python bench/client.py [--runs 10] [--chunks 40] [--gap 0.15]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.procs import EngineProcess, child_env  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer, Reply  # noqa: E402


class OpenSessionProxy:
    """Forwards 127.0.0.1:<port> to the engine; records when each connection's OpenSession call
    passes (the method name in the client's first Thrift message)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open_times: list[float] = []
        self.seen = threading.Event()
        threading.Thread(target=self._accept, name="bench-proxy", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for name, pair in (("up", (client, upstream, True)), ("down", (upstream, client, False))):
                threading.Thread(
                    target=self._pump, args=pair, name=f"bench-proxy-{name}", daemon=True
                ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        recorded = False
        tail = b""
        try:
            while data := source.recv(65536):
                if from_client and not recorded and b"OpenSession" in tail + data:
                    self.open_times.append(time.monotonic())
                    recorded = True
                    self.seen.set()
                tail = data[-16:]
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (sink, source):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.server.close()


def startup(port: int, runs: int) -> list[float]:
    proxy = OpenSessionProxy(port)
    delays = []
    try:
        for _ in range(runs):
            proxy.seen.clear()
            count = len(proxy.open_times)
            invoked = time.monotonic()
            proc = subprocess.run(
                [str(ROOT / "bin" / "data-agent"), f"127.0.0.1:{proxy.port}", "-e", "\\sql SELECT 1"],
                env=child_env({}),
                capture_output=True,
                text=True,
                timeout=60,
            )
            if proc.returncode != 0 or len(proxy.open_times) <= count:
                raise SystemExit(f"data-agent failed: {proc.stderr}")
            delays.append(proxy.open_times[count] - invoked)
    finally:
        proxy.close()
    return delays


PARAGRAPH = " ".join(["lorem ipsum dolor sit amet"] * 80)  # 2159 characters: past the coalescer's 2048


def screen_delay(port: int, llm: FakeOpenAIServer, chunks: int, gap: float, long: bool) -> list[float]:
    markers = [f"Q{index:03d}Q" for index in range(chunks)]
    texts = [f"{marker} {PARAGRAPH}\n\n" if long else f"{marker} " for marker in markers]
    llm.add(Reply(text=texts, delay=gap))
    llm.sent_text.clear()
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 220, 0, 0))
    proc = subprocess.Popen(
        [str(ROOT / "bin" / "data-agent"), f"127.0.0.1:{port}", "-e", "stream please"],
        env=child_env({"TERM": "xterm-256color", "HOME": tempfile.mkdtemp(prefix="bench-home-")}),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        close_fds=True,
    )
    os.close(slave)
    seen: dict[str, float] = {}
    text = ""
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break  # the client exited and the pty closed
        if not data:
            break
        now = time.monotonic()
        text = (text + data.decode("utf-8", "replace"))[-4096:]
        for marker in markers:
            if marker not in seen and marker in text:
                seen[marker] = now
    proc.wait(30)
    os.close(master)
    sent = {content.split()[0]: at for at, content in llm.sent_text if content.strip()}
    return [seen[m] - sent[m] for m in markers if m in seen and m in sent]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--gap", type=float, default=0.15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeOpenAIServer() as llm:
        db = Path(tmp) / "bench.db"
        sqlite3.connect(db).execute("CREATE TABLE t (a INTEGER)").connection.close()
        engine = EngineProcess(
            Path(tmp) / "work", llm.url, {}, {"KYUUBI_ENGINE_DATA_AGENT_JDBC_URL": f"jdbc:sqlite:{db}"}
        )
        port = engine.port
        try:
            startup(port, 1)  # warm the file cache once
            delays = startup(port, args.runs)
            print(
                f"data-agent -e invoked -> OpenSession at the engine over {len(delays)} runs: "
                f"median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms "
                "(target <= 500 ms)"
            )
            for long, label in (
                (True, "rows appended at once (2 KB paragraphs)"),
                (False, "short chunks, coalesced by the engine up to 50 ms"),
            ):
                screen = sorted(screen_delay(port, llm, args.chunks, args.gap, long))
                if not screen:
                    print(f"{label}: no marker was seen")
                    return 1
                p90 = screen[min(len(screen) - 1, int(len(screen) * 0.9))]
                print(
                    f"LLM chunk sent -> its text on the terminal, {label}, {len(screen)} chunks: "
                    f"p50 {statistics.median(screen) * 1000:.1f} ms, p90 {p90 * 1000:.1f} ms, "
                    f"max {screen[-1] * 1000:.1f} ms" + (" (target p50 <= 50 ms)" if long else "")
                )
        finally:
            engine.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
