"""The metrics port: one method per fact the engine records, and a no-op implementation.

The owner of each fact calls its method (the run hub for runs, the session manager for sessions,
the LLM client for requests, the tool registry for tool calls, the approval registry for
decisions, the frontend for connections and fetched rows, the limits for refusals, the store's
writer for failed writes). The app builds one implementation and hands it down; nothing reaches
for a global. :mod:`engine.metrics` is the Prometheus implementation (the only importer of
``prometheus_client``); :class:`NoMetrics` records nothing (metrics off, tests, benchmarks).

``user`` is given where a per-user label may apply; an implementation drops it unless the
operator asked for per-user labels (``kyuubi.metrics.per.user``). Every method is quick, never
raises and is safe from any thread. Stdlib only.
"""

from __future__ import annotations

from typing import Protocol


class Metrics(Protocol):
    """What the engine records (see the module docstring)."""

    # --- runs and sessions ---------------------------------------------------------------------
    def run_started(self, user: str | None = None) -> None: ...

    def run_ended(self, status: str, user: str | None = None) -> None:
        """``status``: the run's final status (success, error, stopped, interrupted)."""
        ...

    def session_opened(self, user: str | None = None) -> None: ...

    def session_closed(self, user: str | None = None) -> None: ...

    # --- the LLM -------------------------------------------------------------------------------
    def llm_request(self, outcome: str, seconds: float) -> None:
        """One request to the LLM endpoint: ``outcome`` success, error or cancelled."""
        ...

    def llm_tokens(self, prompt: int, completion: int, user: str | None = None) -> None: ...

    # --- tools and approvals -------------------------------------------------------------------
    def tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        """One tool call: ``outcome`` success or error."""
        ...

    def approval(self, decision: str) -> None:
        """A decided approval request: approved, denied or timeout."""
        ...

    # --- the frontend --------------------------------------------------------------------------
    def fetched_rows(self, rows: int) -> None: ...

    def thrift_connection_opened(self) -> None: ...

    def thrift_connection_closed(self) -> None: ...

    # --- limits and the store ------------------------------------------------------------------
    def rate_limited(self, limit: str, user: str | None = None) -> None:
        """A statement or run refused by a per-user limit (``limit``: the limit's short name)."""
        ...

    def store_write_error(self) -> None: ...


class NoMetrics:
    """Records nothing."""

    def run_started(self, user: str | None = None) -> None:
        return None

    def run_ended(self, status: str, user: str | None = None) -> None:
        return None

    def session_opened(self, user: str | None = None) -> None:
        return None

    def session_closed(self, user: str | None = None) -> None:
        return None

    def llm_request(self, outcome: str, seconds: float) -> None:
        return None

    def llm_tokens(self, prompt: int, completion: int, user: str | None = None) -> None:
        return None

    def tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        return None

    def approval(self, decision: str) -> None:
        return None

    def fetched_rows(self, rows: int) -> None:
        return None

    def thrift_connection_opened(self) -> None:
        return None

    def thrift_connection_closed(self) -> None:
        return None

    def rate_limited(self, limit: str, user: str | None = None) -> None:
        return None

    def store_write_error(self) -> None:
        return None
