"""``data-agent-launcher``: find or start the engine for a datasource, list engines, stop one.

Secrets (the LLM API key, a JDBC URL with a password) belong in the environment:
KYUUBI_ENGINE_DATA_AGENT_JDBC_URL and KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY. They reach the
engine through its environment, never its command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from typing import TextIO

from kazoo.exceptions import KazooException

from engine.common.config import (
    HA_ADDRESSES,
    HA_NAMESPACE,
    JDBC_URL,
    LOG_LEVEL,
    SESSION_USER,
    SHARE_LEVEL,
    EngineConf,
)
from engine.common.errors import ConfigError, EngineError
from engine.common.logging_context import configure_logging
from engine.common.redaction import redact_text
from engine.zookeeper import close_client
from launcher import errors
from launcher.discovery import EngineDiscovery, EngineNode
from launcher.launch import EngineLauncher, routing_user
from launcher.process import find_local_engine
from launcher.zk import open_client

log = logging.getLogger("launcher")

EXIT_CODES = """exit codes:
  0  success                       4  timed out waiting for the creation lock
  1  unexpected internal error     5  the engine failed to start (log tail shown)
  2  bad arguments or config       6  the engine did not register in time
  3  ZooKeeper unreachable         7  stop: no such engine / it did not stop in time"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="data-agent-launcher",
        description="Find or start the Data Agent engine for a datasource, list engines, stop one.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a configuration value"
    )
    common.add_argument("--conf-file", metavar="FILE", help="a file of key=value lines")
    common.add_argument("--user", help=f"the user to act for (default: {SESSION_USER.key}, else the OS user)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "launch",
        parents=[common],
        help="get or create the engine; print host:port, its JDBC URL and its ZooKeeper discovery URL",
    )
    lister = sub.add_parser("list", parents=[common], help="the engines registered under the namespace")
    lister.add_argument("--all-users", action="store_true", help="ignore --user")
    stop = sub.add_parser("stop", parents=[common], help="ask an engine to shut down gracefully")
    stop.add_argument(
        "--ref-id", help="the engine with this refId (default: the engine of --user and the datasource)"
    )
    stop.add_argument(
        "--engine-id",
        help="the engine of --user with this engine id (see `list`); needed only when the user has "
        "several engines and no datasource URL is given",
    )
    stop.add_argument("--address", help="the engine registered at this host:port")
    stop.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to wait for it to stop (default 30)"
    )
    return parser


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        conf = EngineConf.load(args.conf, args.conf_file)
    except ConfigError as exc:
        sys.stderr.write(f"data-agent-launcher: {redact_text(str(exc))}\n")
        return errors.EXIT_CONFIG
    configure_logging(conf.get(LOG_LEVEL), conf.secret_values())
    logging.getLogger("kazoo").setLevel(logging.ERROR)  # its retries are noise; we report the outcome
    try:
        client = open_client(conf)
        try:
            if args.command == "launch":
                return _launch(conf, client, args, out)
            if args.command == "list":
                return _list(conf, client, args, out)
            return _stop(conf, client, args, out)
        finally:
            close_client(client)
    except errors.LauncherError as exc:
        log.error("%s", exc)
        return exc.exit_code
    except ConfigError as exc:
        log.error("%s", exc)
        return errors.EXIT_CONFIG
    except EngineError as exc:
        log.error("%s", exc)
        return errors.EXIT_INTERNAL
    except KazooException as exc:
        log.error("ZooKeeper request failed: %s", type(exc).__name__)
        return errors.EXIT_ZOOKEEPER


def _launch(conf: EngineConf, client: object, args: argparse.Namespace, out: TextIO) -> int:
    launcher = EngineLauncher(conf, client, args.user)  # type: ignore[arg-type]
    outcome = launcher.get_or_create()
    if outcome.reused:
        log.info("reusing engine %s at %s", outcome.engine.node.engine_id, outcome.engine.address)
    else:
        log.info("started engine pid %s, log %s", outcome.pid, outcome.log_path)
    out.write(
        f"{outcome.engine.address}\n{outcome.jdbc_url}\n{outcome.discovery_url(conf.get(HA_ADDRESSES) or '')}\n"
    )
    out.flush()
    return errors.EXIT_OK


def _list(conf: EngineConf, client: object, args: argparse.Namespace, out: TextIO) -> int:
    engines = EngineDiscovery(client).walk(conf.get(HA_NAMESPACE))  # type: ignore[arg-type]
    if args.user and not args.all_users:
        engines = [(level, engine) for level, engine in engines if engine.path.split("/")[2] == args.user]
    rows = [("SHARE_LEVEL", "USER", "SUBDOMAIN", "ADDRESS", "ENGINE_ID", "REF_ID", "SEQUENCE")]
    for level, engine in engines:
        parts = engine.path.split("/")
        rows.append(
            (
                level,
                parts[2],
                parts[3],
                engine.address,
                engine.node.engine_id or "-",
                engine.node.ref_id or "-",
                str(engine.node.sequence),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() + "\n"
        )
    return errors.EXIT_OK


def _stop(conf: EngineConf, client: object, args: argparse.Namespace, out: TextIO) -> int:
    discovery = EngineDiscovery(client)  # type: ignore[arg-type]
    if args.ref_id or args.address:
        candidates = [engine for _, engine in discovery.walk(conf.get(HA_NAMESPACE))]
        targets = [
            e
            for e in candidates
            if (not args.ref_id or e.node.ref_id == args.ref_id)
            and (not args.address or e.address == args.address)
        ]
    elif conf.get(JDBC_URL) and not args.engine_id:
        launcher = EngineLauncher(conf, client, args.user)  # type: ignore[arg-type]
        targets = discovery.engines(launcher.space)
    else:
        targets = _users_engine(conf, discovery, args)
    if not targets:
        raise errors.EngineNotFoundError("no registered engine matches; see `data-agent-launcher list`")
    deadline = time.monotonic() + args.timeout
    for engine in targets:
        _stop_one(discovery, engine, deadline)
        out.write(f"stopped {engine.address} {engine.node.engine_id or '-'}\n")
    return errors.EXIT_OK


def _users_engine(conf: EngineConf, discovery: EngineDiscovery, args: argparse.Namespace) -> list[EngineNode]:
    """``stop --user U [--engine-id ID]`` without the (secret) datasource URL: the user's engines
    at the share level, narrowed to the one with that engine id; several is an error that lists
    them, so the operator can pick one."""
    level = conf.get(SHARE_LEVEL)
    user = routing_user(conf, args.user)
    engines = [
        engine
        for _, engine in discovery.walk(conf.get(HA_NAMESPACE), (level,))
        if engine.path.split("/")[2] == user
    ]
    if args.engine_id:
        engines = [engine for engine in engines if engine.node.engine_id == args.engine_id]
    if len(engines) > 1:
        listed = "\n".join(
            f"  --engine-id {engine.node.engine_id or '-'}  ({engine.address}, {engine.path.split('/')[3]})"
            for engine in engines
        )
        raise errors.AmbiguousEngineError(
            f"{user} has {len(engines)} {level} engines; name one with --engine-id:\n{listed}"
        )
    return engines


def _stop_one(discovery: EngineDiscovery, engine: EngineNode, deadline: float) -> None:
    """Delete the node (the engine watches it and shuts down gracefully), confirm it is gone, and
    wait until the engine stops accepting connections; a local engine that is still up halfway
    to the deadline also gets SIGTERM."""
    log.info("asking %s to stop (deleting %s)", engine.address, engine.path)
    discovery.delete(engine.path)
    if discovery.exists(engine.path):
        raise errors.EngineNotFoundError(f"{engine.path} is still registered after its deletion")
    pause = threading.Event()
    nudge_at = time.monotonic() + max(0.0, deadline - time.monotonic()) / 2
    nudged = False
    while _accepts(engine.node.host, engine.node.port):
        now = time.monotonic()
        if now >= deadline:
            raise errors.EngineNotFoundError(
                f"the node of {engine.address} is gone but the engine still accepts connections"
            )
        if not nudged and now >= nudge_at and engine.node.ref_id:
            nudged = True
            pid = find_local_engine(engine.node.ref_id)
            if pid is not None:
                log.warning("engine %s is still up; sending SIGTERM to local pid %d", engine.address, pid)
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        pause.wait(0.1)


def _accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False
