"""``python -m engine``: run one Data Agent Engine in the foreground.

Exit codes: 0 stopped cleanly; 1 failed to start or crashed; 2 bad configuration or arguments.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from engine.common.config import LOG_LEVEL, EngineConf, render_example
from engine.common.errors import ConfigError, EngineError
from engine.common.logging_context import configure_logging
from engine.common.redaction import redact_text

log = logging.getLogger("engine")

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="data-agent-engine", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE", help="a configuration value"
    )
    parser.add_argument("--conf-file", metavar="FILE", help="a file of key=value lines")
    parser.add_argument("--print-conf-example", action="store_true", help="print the generated example conf")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.print_conf_example:
        sys.stdout.write(render_example() + "\n")
        return 0
    try:
        conf = EngineConf.load(args.conf, args.conf_file)
    except ConfigError as exc:
        sys.stderr.write(f"data-agent-engine: {redact_text(str(exc))}\n")
        return 2

    from engine.app import EngineApp, secrets_of

    configure_logging(conf.get(LOG_LEVEL), secrets_of(conf))
    app = EngineApp(conf)
    # SIGTERM and SIGINT are taken synchronously by the main thread (sigtimedwait) rather than by a
    # handler: a handler runs between two bytecodes of the main thread, possibly while it holds the
    # very lock request_stop() needs, and the engine would never stop. Blocked before any thread
    # starts, so that every thread inherits the mask and the signals wait for the main thread.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
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
            received = signal.sigtimedwait(STOP_SIGNALS, 1.0)
            if received is not None:
                app.request_stop(f"signal {signal.Signals(received.si_signo).name}")
    finally:
        app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
