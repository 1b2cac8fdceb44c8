"""A throwaway standalone ZooKeeper for tests and benchmarks, from Debian's ``zookeeper`` package.

``start_zookeeper()`` writes a ``zoo.cfg`` for a free loopback port into a directory (a new
temporary one unless given), runs ``QuorumPeerMain`` from ``/usr/share/java/zookeeper.jar`` in
its own process group, and returns once the server answers ``ruok`` with ``imok`` and ``srvr``
with its mode. ``stop()`` ends only that process; ``start()`` brings it back on the same port and
data directory (sessions survive a short outage); ``close()`` also removes a directory it made.
``bin/setup`` and ``.ci/run`` install the package (and Java).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

ZK_JAR = Path(os.environ.get("ZK_JAR", "/usr/share/java/zookeeper.jar"))
SLF4J_SIMPLE = Path("/usr/share/java/slf4j-simple.jar")  # logs to zk.log instead of nowhere
START_TIMEOUT = 60.0


class ZooKeeperError(RuntimeError):
    """ZooKeeper is not installed, or did not start."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def four_letter(port: int, word: str, timeout: float = 1.0) -> str:
    """Send a four-letter word to 127.0.0.1:port; the answer, or "" when nobody answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(word.encode("ascii"))
            chunks = []
            while True:
                data = sock.recv(4096)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks).decode("utf-8", "replace")
    except OSError:
        return ""


class ZooKeeper:
    def __init__(self, directory: Path, port: int, owns_directory: bool) -> None:
        self.directory = directory
        self.port = port
        self._owns_directory = owns_directory
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise ZooKeeperError("ZooKeeper is not running")
        return self._process.pid

    def _write_config(self) -> Path:
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.directory / "zoo.cfg"
        config.write_text(
            "\n".join(
                [
                    "tickTime=2000",
                    "initLimit=10",
                    "syncLimit=5",
                    f"dataDir={data}",
                    f"clientPort={self.port}",
                    "clientPortAddress=127.0.0.1",
                    "maxClientCnxns=0",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=ruok,stat,srvr,mntr",
                    "",
                ]
            )
        )
        return config

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start (or restart) the server on this port and directory; wait until it serves."""
        if self._process is not None and self._process.poll() is None:
            return
        java = shutil.which("java")
        if java is None or not ZK_JAR.exists():
            raise ZooKeeperError(
                f"ZooKeeper needs Java and {ZK_JAR}: run bin/setup (apt-get install zookeeper "
                "openjdk-17-jre-headless)"
            )
        classpath = str(ZK_JAR) + (f":{SLF4J_SIMPLE}" if SLF4J_SIMPLE.exists() else "")
        config = self._write_config()
        log_file = (self.directory / "zk.log").open("ab")
        try:
            self._process = subprocess.Popen(
                [
                    java,
                    "-Xms32m",
                    "-Xmx256m",
                    "-XX:+UseSerialGC",
                    f"-Dzookeeper.log.dir={self.directory}",
                    "-Djava.awt.headless=true",
                    "-cp",
                    classpath,
                    "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                    str(config),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log_file.close()
        deadline = time.monotonic() + timeout
        pause = threading.Event()  # no event exists for "the port now serves": poll with a deadline
        while True:
            if self._process.poll() is not None:
                raise ZooKeeperError(f"ZooKeeper exited during start-up:\n{self.log_tail()}")
            if four_letter(self.port, "ruok") == "imok" and "Mode: " in four_letter(self.port, "srvr"):
                return
            if time.monotonic() >= deadline:
                self.stop()
                raise ZooKeeperError(
                    f"ZooKeeper did not answer imok within {timeout:g} s:\n{self.log_tail()}"
                )
            pause.wait(0.1)

    def stop(self) -> None:
        """Stop the server process (SIGTERM, then SIGKILL after 10 s); the data stays."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        try:
            process.send_signal(signal.SIGCONT)  # in case a test left it stopped
            process.terminate()
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def close(self) -> None:
        self.stop()
        if self._owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.directory / "zk.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no zk.log)"


def start_zookeeper(directory: str | os.PathLike[str] | None = None) -> ZooKeeper:
    """A new server on a free loopback port, serving when this returns; raises ZooKeeperError."""
    owns = directory is None
    path = Path(tempfile.mkdtemp(prefix="zk-")) if directory is None else Path(directory)
    server = ZooKeeper(path, free_port(), owns)
    try:
        server.start()
    except BaseException:
        server.close()
        raise
    return server
