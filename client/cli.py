"""``data-agent``: ask a Data Agent Engine questions from a terminal or a script.

    data-agent [TARGET] [-n USER] [--password-file F | --password-prompt] [--nosasl]
    data-agent [TARGET] -e "question" [--format text|jsonl] [--approve ask|all|none]

TARGET is ``host:port`` (default ``$DATA_AGENT_URL`` or 127.0.0.1:10009), a
``jdbc:hive2://host:port/db;auth=noSasl`` URL, or a ZooKeeper discovery URL
``jdbc:hive2://zk:2181/;serviceDiscoveryMode=zooKeeper;zooKeeperNamespace=...``. The password
comes from --password-file, --password-prompt or DATA_AGENT_PASSWORD, never from the command line.

Exit codes: 0 answered; 1 the question failed; 2 bad arguments; 3 cannot connect; 130 cancelled.

Start-up is kept short (the session is opened before rich or prompt_toolkit are imported).
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONNECT, EXIT_CANCELLED = 0, 1, 2, 3, 130
PASSWORD_ENV = "DATA_AGENT_PASSWORD"
URL_ENV = "DATA_AGENT_URL"
DEFAULT_TARGET = "127.0.0.1:10009"


class UsageError(Exception):
    pass


class _NoPasswordOnArgv(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *_args: Any, **_kwargs: Any) -> None:
        parser.error(  # never echo what followed the flag
            f"a password is never taken from the command line: use --password-file, "
            f"--password-prompt or {PASSWORD_ENV}"
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="data-agent",
        description="Ask a Data Agent Engine questions (HiveServer2 protocol).",
        epilog="Exit codes: 0 answered; 1 the question failed; 2 bad arguments; 3 cannot connect; "
        "130 cancelled.",
    )
    parser.add_argument(
        "target", nargs="?", help=f"host:port or jdbc:hive2:// URL (default {DEFAULT_TARGET})"
    )
    parser.add_argument(
        "-e", "--execute", metavar="QUESTION", help="ask one question, print the answer, exit"
    )
    parser.add_argument("-n", "--user", help="user name (default: the URL's user=, else the OS user)")
    parser.add_argument(
        "--password-file", metavar="FILE", help="read the password from the first line of FILE"
    )
    parser.add_argument(
        "-W", "--password-prompt", action="store_true", help="ask for the password before connecting"
    )
    parser.add_argument("-p", "--password", nargs="?", action=_NoPasswordOnArgv, help=argparse.SUPPRESS)
    parser.add_argument("--nosasl", action="store_true", help="raw binary Thrift (like ;auth=noSasl)")
    parser.add_argument("-d", "--database", help="database to USE (default: the URL's, else default)")
    parser.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a session setting sent with OpenSession (repeatable)",
    )
    parser.add_argument("--mode", choices=("events", "answer", "table"), help="result mode of the session")
    parser.add_argument(
        "--format",
        choices=("text", "jsonl"),
        default="text",
        help="with -e: the answer (Markdown on a terminal, plain text otherwise) or every row as JSON",
    )
    parser.add_argument(
        "--approve",
        choices=("ask", "all", "none"),
        default="ask",
        help="parked tool calls: ask on a terminal (denied as non-interactive without one), "
        "approve all, or deny all",
    )
    parser.add_argument(
        "--history-file", metavar="FILE", help="REPL history (default ~/.local/state/data-agent/history)"
    )
    parser.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--debug", action="store_true", help="log the client's own steps to stderr")
    return parser


def read_password(args: argparse.Namespace, environ: dict[str, str] | os._Environ[str]) -> str | None:
    if args.password_file:
        path = Path(args.password_file)
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot read the password file {path}: {exc.strerror or exc}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            sys.stderr.write(f"data-agent: warning: {path} is readable by others (chmod 600 it)\n")
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise UsageError(f"the password file {path} is empty")
        return lines[0]
    if args.password_prompt:
        if not sys.stdin.isatty():
            raise UsageError(f"--password-prompt needs a terminal; use --password-file or {PASSWORD_ENV}")
        return getpass.getpass("password: ")
    return environ.get(PASSWORD_ENV) or None


def session_configuration(args: argparse.Namespace, base: dict[str, str]) -> dict[str, str]:
    configuration = dict(base)
    for pair in args.conf:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--conf expects KEY=VALUE, got {pair!r}")
        configuration[key.strip()] = value.strip()
    if args.mode:
        from client.command import RESULT_MODE_KEY

        configuration[RESULT_MODE_KEY] = args.mode
    return configuration


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    root = logging.getLogger()
    if args.debug:
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    else:
        root.addHandler(logging.NullHandler())  # the thrift library logs failures we report ourselves
    try:
        return _main(args)
    except UsageError as exc:
        sys.stderr.write(f"data-agent: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("data-agent: interrupted\n")
        return EXIT_CANCELLED


def _main(args: argparse.Namespace) -> int:
    from client.connection import ConnectError, Credentials, Hs2Connection
    from client.url import TargetError, parse_target

    try:
        target = parse_target(args.target or os.environ.get(URL_ENV) or DEFAULT_TARGET)
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    user = args.user or target.user or getpass.getuser()
    nosasl = args.nosasl or target.nosasl
    credentials = Credentials(user, None if nosasl else read_password(args, os.environ), nosasl)
    configuration = session_configuration(args, target.configuration)
    database = args.database or target.database
    host, port = target.host, target.port
    if target.discovery:
        from client.discovery import DiscoveryError, discover

        try:
            host, port = discover(target.zk_quorum, target.zk_namespace, args.connect_timeout)
        except DiscoveryError as exc:
            sys.stderr.write(f"data-agent: {exc}\n")
            return EXIT_CONNECT

    def connect() -> Hs2Connection:
        return Hs2Connection(
            host,
            port,
            credentials,
            database=database,
            configuration=configuration,
            connect_timeout=args.connect_timeout,
        )

    from client.run import StatementRunner

    try:
        runner = StatementRunner(connect)
    except ConnectError as exc:
        sys.stderr.write(f"data-agent: {exc}\n")
        return EXIT_CONNECT
    try:
        if args.execute is not None:
            return _one_shot(runner, args)
        if not sys.stdin.isatty():
            return _script(runner, args)
        from rich.console import Console

        from client.repl import default_history_path, run_repl

        history = Path(args.history_file).expanduser() if args.history_file else default_history_path()
        banner = (
            f"connected to {host}:{port} as {user}"
            + (f" via {target.describe()}" if target.discovery else "")
            + " · \\help for commands, Ctrl-D to quit"
        )
        return run_repl(runner, Console(highlight=False), history, banner)
    except ConnectError as exc:  # a reconnect after a lost connection failed
        sys.stderr.write(f"data-agent: {exc}\n")
        return EXIT_CONNECT
    finally:
        runner.close()


def _approver(args: argparse.Namespace, terminal_prompt: bool) -> Any:
    from client.approval import NON_INTERACTIVE, AskApprover, FixedApprover

    if args.approve == "all":
        return FixedApprover(True)
    if args.approve == "none":
        return FixedApprover(False, "denied by --approve=none")
    if not sys.stdin.isatty():
        return FixedApprover(False, NON_INTERACTIVE)
    if terminal_prompt:
        from prompt_toolkit import PromptSession

        session: Any = PromptSession()
        return AskApprover(lambda text: session.prompt(text))

    def ask(text: str) -> str:
        sys.stderr.write(text)
        sys.stderr.flush()
        return sys.stdin.readline()

    return AskApprover(ask)


def _sink(args: argparse.Namespace) -> tuple[Any, bool]:
    """(the sink, whether it draws on the terminal)."""
    from client.plain import JsonlSink, PlainSink

    if args.format == "jsonl":
        return JsonlSink(sys.stdout, sys.stderr), False
    if sys.stdout.isatty():
        from rich.console import Console

        from client.render import RichSink

        return RichSink(Console(highlight=False)), True
    return PlainSink(sys.stdout, sys.stderr), False


def _exit_code(outcome: Any) -> int:
    if outcome.cancelled:
        return EXIT_CANCELLED
    return EXIT_OK if outcome.ok else EXIT_FAILED


def _one_shot(runner: Any, args: argparse.Namespace) -> int:
    from client.command import ERROR, HELP, MODE, RUN, parse_command

    command = parse_command(args.execute)
    if command.kind == ERROR:
        raise UsageError(command.message)
    if command.kind == HELP:
        sys.stdout.write(command.message)
        return EXIT_OK
    if command.kind == MODE:
        raise UsageError("use --mode with -e")
    if command.kind != RUN:
        raise UsageError("-e needs a question or a command such as \\sql")
    sink, terminal = _sink(args)
    outcome = runner.run(command.statement, sink, _approver(args, terminal))
    return _exit_code(outcome)


def _script(runner: Any, args: argparse.Namespace) -> int:
    """Questions from a pipe, one per line, answered in turn; stops at the first failure."""
    for line in sys.stdin:
        if not line.strip():
            continue
        sink, terminal = _sink(args)
        outcome = runner.run(line.strip(), sink, _approver(args, terminal))
        code = _exit_code(outcome)
        if code:
            return code
    return EXIT_OK
