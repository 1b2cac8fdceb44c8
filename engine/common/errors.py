"""Domain errors. One base type with a SQLSTATE and a vendor code, raised anywhere below the
frontend and mapped to Thrift ``TStatus`` in exactly one place (the frontend's handler decorator).

The table below is the code table. Messages must never contain credentials: build them from
already-redacted values (see :mod:`engine.common.redaction`).
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every error we raise on purpose. ``str(err)`` is the client-facing message."""

    sqlstate: str = "HY000"  # general error
    vendor_code: int = 10000

    def __init__(self, message: str, *, sqlstate: str | None = None, vendor_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if sqlstate is not None:
            self.sqlstate = sqlstate
        if vendor_code is not None:
            self.vendor_code = vendor_code

    def __str__(self) -> str:
        return self.message


class ConfigError(EngineError):
    """A bad configuration key or value (start-up, session configuration, SET, confOverlay)."""

    sqlstate = "42000"
    vendor_code = 10001


class InvalidHandleError(EngineError):
    """Unknown, closed or malformed session or operation handle."""

    sqlstate = "HY000"
    vendor_code = 10002


class PermissionDeniedError(EngineError):
    """A user acting on another user's session, operation or approval."""

    sqlstate = "42000"
    vendor_code = 10003


class InvalidStateError(EngineError):
    """An RPC not allowed in the operation's current state (fetch on a closed operation...)."""

    sqlstate = "HY010"  # function sequence error
    vendor_code = 10004


class UnsupportedError(EngineError):
    """A feature or RPC we do not support (unsupported orientation, delegation tokens...)."""

    sqlstate = "0A000"  # feature not supported
    vendor_code = 10005


class InvalidStatementError(EngineError):
    """A statement we cannot run as given (empty approval id, malformed SET...)."""

    sqlstate = "42000"
    vendor_code = 10006


class BusyError(EngineError):
    """A session that already runs a statement, a full pool, a quota or a rate limit."""

    sqlstate = "53000"  # insufficient resources
    vendor_code = 10007


class RateLimitedError(BusyError):
    """A per-user limit refused a statement or a run (``limit`` names the configuration key);
    ``retry_after_seconds`` is when a retry may pass (REST answers 429 with ``Retry-After``)."""

    vendor_code = 10015

    def __init__(self, message: str, *, limit: str, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds


class OperationCanceledError(EngineError):
    sqlstate = "HY008"  # operation canceled
    vendor_code = 10008


class OperationTimeoutError(EngineError):
    sqlstate = "HYT00"  # timeout expired
    vendor_code = 10009


class DatasourceError(EngineError):
    """The datasource is unreachable, rejected credentials, or failed a query."""

    sqlstate = "08000"
    vendor_code = 10010


class AgentError(EngineError):
    """The agent run failed: LLM errors, step budget exhausted, no table in table mode."""

    sqlstate = "HY000"
    vendor_code = 10011


class FetchWindowError(InvalidStateError):
    """A fetch reached into rows the fetch buffer has already compacted away."""

    vendor_code = 10012


class AuthenticationError(EngineError):
    sqlstate = "28000"  # invalid authorization specification
    vendor_code = 10013


class StoreError(EngineError):
    """The run registry cannot answer: its database is unreachable or refused a read or change."""

    sqlstate = "08000"
    vendor_code = 10016


class MalformedRequestError(EngineError):
    """A request that decoded but cannot be served as sent: no request struct, or a string field
    that is not valid UTF-8. Answered with this error; the connection stays open."""

    sqlstate = "08P01"  # protocol violation
    vendor_code = 10014


class NotFoundError(EngineError):
    """An id that names nothing the caller can see: an unknown run or conversation."""

    sqlstate = "42000"
    vendor_code = 10017
