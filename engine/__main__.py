"""``python -m engine``: run one Data Agent Engine in the foreground.

``python -m engine hash-password [--user NAME] [--scheme argon2|bcrypt]`` prints a line for the
CUSTOM password file instead; the password comes from stdin (one line) or a prompt, never argv.

Exit codes: 0 stopped cleanly; 1 failed to start or crashed; 2 bad configuration or arguments.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import select
import signal
import sys
from typing import cast

from engine.common.config import LOG_FORMAT, LOG_LEVEL, REDACTION_REGEX, EngineConf, render_example
from engine.common.errors import ConfigError, EngineError
from engine.common.logging_context import configure_logging
from engine.common.redaction import TextPattern, redact_text

log = logging.getLogger("engine")

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _ignore(_signum: int, _frame: object) -> None:
    """The Python-level half of a stop signal does nothing; the wakeup fd carries it."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="data-agent-engine", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a configuration value"
    )
    parser.add_argument("--conf-file", metavar="FILE", help="a file of key=value lines")
    parser.add_argument("--print-conf-example", action="store_true", help="print the generated example conf")
    return parser.parse_args(argv)


def operator_redaction(conf: EngineConf) -> TextPattern | None:
    """``kyuubi.server.redaction.regex``, when the operator set it, compiled with RE2 (linear time)
    to mask its matches in every log line."""
    if not conf.is_set(REDACTION_REGEX):
        return None
    import re2

    options = re2.Options()
    options.log_errors = False
    try:
        return cast(TextPattern, re2.compile(conf.get(REDACTION_REGEX) or "", options))
    except re2.error as exc:
        detail = (
            exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        )
        raise ConfigError(
            f"invalid value for {REDACTION_REGEX.key}: RE2 cannot compile it: {detail}"
        ) from None


def hash_password_command(argv: list[str]) -> int:
    """Print ``user:hash`` (or the hash alone) for the CUSTOM password file."""
    parser = argparse.ArgumentParser(
        prog="data-agent-engine hash-password",
        description="Hash a password for kyuubi.authentication.password.file. The password is read "
        "from stdin (its first line) or, on a terminal, from a prompt; never from the command line.",
    )
    parser.add_argument("--user", help="print user:hash, a whole line of the password file")
    parser.add_argument("--scheme", choices=("argon2", "bcrypt"), default="argon2")
    args = parser.parse_args(argv)
    from engine.auth.password_file import hash_password

    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            sys.stderr.write("hash-password: the passwords differ\n")
            return 2
    else:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not password:
        sys.stderr.write("hash-password: empty password\n")
        return 2
    if args.user is not None and (not args.user or ":" in args.user or not args.user.isprintable()):
        sys.stderr.write("hash-password: a user name must be printable, without ':'\n")
        return 2
    try:
        hashed = hash_password(password, args.scheme)
    except ConfigError as exc:
        sys.stderr.write(f"hash-password: {exc}\n")
        return 2
    sys.stdout.write(f"{args.user}:{hashed}\n" if args.user is not None else f"{hashed}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["hash-password"]:
        return hash_password_command(arguments[1:])
    args = parse_args(arguments)
    if args.print_conf_example:
        sys.stdout.write(render_example() + "\n")
        return 0
    try:
        conf = EngineConf.load(args.conf, args.conf_file)
    except ConfigError as exc:
        sys.stderr.write(f"data-agent-engine: {redact_text(str(exc))}\n")
        return 2

    try:
        extra = operator_redaction(conf)
    except ConfigError as exc:
        sys.stderr.write(f"data-agent-engine: {redact_text(str(exc))}\n")
        return 2

    from engine.app import EngineApp, secrets_of

    configure_logging(
        conf.get(LOG_LEVEL), secrets_of(conf), log_format=conf.get(LOG_FORMAT), extra_redaction=extra
    )
    app = EngineApp(conf)
    # SIGTERM and SIGINT reach the main loop through a self-pipe (signal.set_wakeup_fd): a Python
    # handler that called request_stop() would run between two bytecodes of the main thread,
    # possibly while it holds the very lock request_stop() needs, and the engine would never stop.
    wakeup_read, wakeup_write = os.pipe()
    os.set_blocking(wakeup_write, False)
    signal.set_wakeup_fd(wakeup_write, warn_on_full_buffer=False)
    for number in STOP_SIGNALS:
        signal.signal(number, _ignore)
    try:
        app.start()
    except ConfigError as exc:
        log.error("cannot start: %s", exc)
        return 2
    except EngineError as exc:
        log.error("cannot start: %s", exc)
        return 1
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    try:
        while not app.stop_requested:
            ready, _, _ = select.select([wakeup_read], [], [], 1.0)
            if ready:
                for received in os.read(wakeup_read, 64):
                    if received in STOP_SIGNALS:
                        app.request_stop(f"signal {signal.Signals(received).name}")
    finally:
        app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
