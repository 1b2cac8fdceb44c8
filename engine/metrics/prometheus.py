"""The Prometheus implementation of :class:`engine.common.metrics.Metrics`.

Every metric lives on the engine's own :class:`CollectorRegistry` (never the process-wide default
one, so that two engines in one process, as in tests, count apart), with the names the product
fixes:

- ``data_agent_runs_total{status}``, ``data_agent_runs_active``, ``data_agent_sessions_active``;
- ``data_agent_llm_requests_total{outcome}``, ``data_agent_llm_request_seconds`` (a histogram),
  ``data_agent_llm_tokens_total{kind="prompt|completion"}``;
- ``data_agent_tool_calls_total{tool,outcome}``, ``data_agent_tool_call_seconds{tool}``,
  ``data_agent_approvals_total{decision}``;
- ``data_agent_fetch_rows_total``, ``data_agent_thrift_connections_active``;
- ``data_agent_rate_limited_total{limit}``, ``data_agent_store_write_errors_total``.

No label carries a user name unless ``per_user`` (``kyuubi.metrics.per.user``): then the run,
session, token and rate-limit metrics have a ``user`` label as well.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.exposition import generate_latest

LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
TOOL_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# label values shown at 0 from the start (dashboards and alerts see the series before they move)
RUN_STATUSES = ("success", "error", "stopped", "interrupted")
LLM_OUTCOMES = ("success", "error", "cancelled")
DECISIONS = ("approved", "denied", "timeout")


class PrometheusMetrics:
    """Thread-safe (prometheus_client's metrics are); ``exposition()`` renders the text format."""

    def __init__(self, *, per_user: bool = False) -> None:
        self.per_user = per_user
        # only the names above: no ``*_created`` timestamp series beside each counter (a switch of
        # the library's, process-wide; this engine is the process's only user of it)
        disable_created_metrics()
        self.registry = CollectorRegistry()
        user: tuple[str, ...] = ("user",) if per_user else ()
        registry = self.registry
        self._runs = Counter(
            "data_agent_runs_total", "Agent runs ended, by status.", ("status", *user), registry=registry
        )
        self._runs_active = Gauge("data_agent_runs_active", "Agent runs going on.", user, registry=registry)
        self._sessions_active = Gauge("data_agent_sessions_active", "Open sessions.", user, registry=registry)
        self._llm_requests = Counter(
            "data_agent_llm_requests_total",
            "Requests to the LLM endpoint, by outcome.",
            ("outcome",),
            registry=registry,
        )
        self._llm_seconds = Histogram(
            "data_agent_llm_request_seconds",
            "Duration of one LLM request (to the end of its stream).",
            buckets=LLM_BUCKETS,
            registry=registry,
        )
        self._tokens = Counter(
            "data_agent_llm_tokens_total", "LLM tokens spent, by kind.", ("kind", *user), registry=registry
        )
        self._tool_calls = Counter(
            "data_agent_tool_calls_total",
            "Tool calls, by tool and outcome.",
            ("tool", "outcome"),
            registry=registry,
        )
        self._tool_seconds = Histogram(
            "data_agent_tool_call_seconds",
            "Duration of one tool call, by tool.",
            ("tool",),
            buckets=TOOL_BUCKETS,
            registry=registry,
        )
        self._approvals = Counter(
            "data_agent_approvals_total",
            "Approval requests decided, by decision.",
            ("decision",),
            registry=registry,
        )
        self._fetch_rows = Counter(
            "data_agent_fetch_rows_total", "Result rows sent to clients by FetchResults.", registry=registry
        )
        self._connections = Gauge(
            "data_agent_thrift_connections_active", "Open Thrift connections.", registry=registry
        )
        self._rate_limited = Counter(
            "data_agent_rate_limited_total",
            "Statements and runs refused by a per-user limit, by limit.",
            ("limit", *user),
            registry=registry,
        )
        self._store_errors = Counter(
            "data_agent_store_write_errors_total", "Failed writes to the run store.", registry=registry
        )
        if not per_user:  # the series exist at 0 from the start
            for status in RUN_STATUSES:
                self._runs.labels(status)
            for outcome in LLM_OUTCOMES:
                self._llm_requests.labels(outcome)
            for decision in DECISIONS:
                self._approvals.labels(decision)
            for kind in ("prompt", "completion"):
                self._tokens.labels(kind)

    def _user(self, user: str | None) -> tuple[str, ...]:
        return (user or "",) if self.per_user else ()

    def _per(self, gauge: Gauge, user: str | None) -> Gauge:
        """The gauge, or its child for ``user`` when labelled per user."""
        return gauge.labels(*self._user(user)) if self.per_user else gauge

    # --- runs and sessions ---------------------------------------------------------------------
    def run_started(self, user: str | None = None) -> None:
        self._per(self._runs_active, user).inc()

    def run_ended(self, status: str, user: str | None = None) -> None:
        self._runs.labels(status, *self._user(user)).inc()
        self._per(self._runs_active, user).dec()

    def session_opened(self, user: str | None = None) -> None:
        self._per(self._sessions_active, user).inc()

    def session_closed(self, user: str | None = None) -> None:
        self._per(self._sessions_active, user).dec()

    # --- the LLM -------------------------------------------------------------------------------
    def llm_request(self, outcome: str, seconds: float) -> None:
        self._llm_requests.labels(outcome).inc()
        self._llm_seconds.observe(max(0.0, seconds))

    def llm_tokens(self, prompt: int, completion: int, user: str | None = None) -> None:
        if prompt > 0:
            self._tokens.labels("prompt", *self._user(user)).inc(prompt)
        if completion > 0:
            self._tokens.labels("completion", *self._user(user)).inc(completion)

    # --- tools and approvals -------------------------------------------------------------------
    def tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        self._tool_calls.labels(tool, outcome).inc()
        self._tool_seconds.labels(tool).observe(max(0.0, seconds))

    def approval(self, decision: str) -> None:
        self._approvals.labels(decision).inc()

    # --- the frontend --------------------------------------------------------------------------
    def fetched_rows(self, rows: int) -> None:
        if rows > 0:
            self._fetch_rows.inc(rows)

    def thrift_connection_opened(self) -> None:
        self._connections.inc()

    def thrift_connection_closed(self) -> None:
        self._connections.dec()

    # --- limits and the store ------------------------------------------------------------------
    def rate_limited(self, limit: str, user: str | None = None) -> None:
        self._rate_limited.labels(limit, *self._user(user)).inc()

    def store_write_error(self) -> None:
        self._store_errors.inc()

    # --- exposition ----------------------------------------------------------------------------
    def exposition(self) -> tuple[bytes, str]:
        """The registry in Prometheus' text format, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
