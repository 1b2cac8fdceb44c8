"""Launcher errors: each is an EngineError with the process exit code it maps to.

Exit codes (also in ``data-agent-launcher --help``):

====  ==========================================================================
0     success (``launch`` prints host:port and the JDBC URL; ``stop`` confirmed)
1     unexpected internal error
2     bad arguments or configuration (unknown key, bad value, bad user name)
3     ZooKeeper unreachable, or a ZooKeeper request failed
4     timed out waiting for the engine creation lock
5     the engine failed to start (exited early: bad JDBC URL, port in use, ...)
6     the engine did not register within kyuubi.session.engine.initialize.timeout
7     ``stop``: no matching engine, or it did not go away in time
====  ==========================================================================
"""

from __future__ import annotations

from engine.common.errors import EngineError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_ZOOKEEPER = 3
EXIT_LOCK_TIMEOUT = 4
EXIT_ENGINE_FAILED = 5
EXIT_ENGINE_TIMEOUT = 6
EXIT_NOT_FOUND = 7


class LauncherError(EngineError):
    exit_code = EXIT_INTERNAL
    vendor_code = 10030


class ZooKeeperUnavailableError(LauncherError):
    exit_code = EXIT_ZOOKEEPER
    sqlstate = "08001"
    vendor_code = 10031


class LockTimeoutError(LauncherError):
    exit_code = EXIT_LOCK_TIMEOUT
    sqlstate = "HYT00"
    vendor_code = 10032


class EngineStartError(LauncherError):
    exit_code = EXIT_ENGINE_FAILED
    sqlstate = "08001"
    vendor_code = 10033


class EngineStartTimeoutError(LauncherError):
    exit_code = EXIT_ENGINE_TIMEOUT
    sqlstate = "HYT00"
    vendor_code = 10034


class EngineNotFoundError(LauncherError):
    exit_code = EXIT_NOT_FOUND
    vendor_code = 10035


class AmbiguousEngineError(LauncherError):
    """``stop --user`` matched several engines: the message lists them."""

    exit_code = EXIT_CONFIG
    vendor_code = 10036
