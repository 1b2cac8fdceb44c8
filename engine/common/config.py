"""One typed configuration registry, in the spirit of Kyuubi's ``KyuubiConf``.

Every key the engine or the launcher reads is declared here once, as a :class:`ConfigEntry`
with its type, default, documentation, ``secret`` flag and validation. Values are resolved
from, in order of precedence: ``--conf k=v``, ``--conf-file``, environment variables (for
secrets), then defaults. A session overlay and a statement overlay sit on top of that for the
keys marked ``overridable``.

The machinery (entries, parsing, the registry) is in :mod:`engine.common.config_entry`.
This module is stdlib only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

# The registry machinery, re-exported: callers import everything configuration from here.
from engine.common.config_entry import REGISTRY as REGISTRY
from engine.common.config_entry import ConfigEntry as ConfigEntry
from engine.common.config_entry import parse_conf_pairs as parse_conf_pairs
from engine.common.config_entry import parse_duration as parse_duration
from engine.common.config_entry import read_conf_file as read_conf_file
from engine.common.config_entry import render_example as render_example
from engine.common.config_entry import resolve_key
from engine.common.config_entry import strip_hive_prefix as strip_hive_prefix
from engine.common.errors import ConfigError

AGENT = "kyuubi.engine.data.agent."


def _entry(key: str, type_: str, default: str | None, doc: str, **kwargs: Any) -> ConfigEntry:
    return REGISTRY.register(ConfigEntry(key, type_, default, doc, **kwargs))


def _regex_problem(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    return None


APPROVAL_MODES = ("AUTO_APPROVE", "NORMAL", "STRICT")  # weakest to strongest

# --- agent -----------------------------------------------------------------------------------
PROVIDER = _entry(
    AGENT + "provider",
    "str",
    "ECHO",
    "Agent provider: ECHO answers without an LLM (demos, tests); OPENAI_COMPATIBLE uses an "
    "OpenAI-compatible chat completions endpoint. When unset and an API key or endpoint is "
    "given, OPENAI_COMPATIBLE is chosen.",
    choices=("ECHO", "OPENAI_COMPATIBLE"),
)
MODEL = _entry(AGENT + "model", "str", None, "Model name sent to the LLM endpoint.", overridable=True)
OPENAI_ENDPOINT = _entry(
    AGENT + "openai.endpoint",
    "str",
    None,
    "Base URL of the OpenAI-compatible API, e.g. https://api.openai.com/v1.",
    env=("KYUUBI_ENGINE_DATA_AGENT_OPENAI_ENDPOINT", "OPENAI_BASE_URL"),
)
OPENAI_API_KEY = _entry(
    AGENT + "openai.api.key",
    "str",
    None,
    "API key for the LLM endpoint. Secret: give it through the environment, never on argv.",
    secret=True,
    env=("KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY", "OPENAI_API_KEY"),
)
JDBC_URL = _entry(
    AGENT + "jdbc.url",
    "str",
    None,
    "JDBC URL of the datasource (jdbc:sqlite:, jdbc:postgresql:, jdbc:mysql:, jdbc:mariadb:, "
    "jdbc:hive2:, jdbc:trino:, jdbc:duckdb:) or a SQLAlchemy URL. Unset: the bundled demo SQLite "
    "database. Secret: it may carry a password.",
    secret=True,
    env=("KYUUBI_ENGINE_DATA_AGENT_JDBC_URL",),
)
APPROVAL_MODE = _entry(
    AGENT + "approval.mode",
    "str",
    "NORMAL",
    "Which tool calls wait for __approve:/__deny:. AUTO_APPROVE: none; NORMAL: non-SAFE tools; "
    "STRICT: every tool.",
    choices=APPROVAL_MODES,
    overridable=True,
)
APPROVAL_MODE_MIN = _entry(
    AGENT + "approval.mode.min",
    "str",
    "AUTO_APPROVE",
    "The weakest approval mode a session or statement may choose (administrator floor).",
    choices=APPROVAL_MODES,
)
APPROVAL_TIMEOUT = _entry(
    AGENT + "approval.timeout",
    "duration",
    "PT5M",
    "How long a parked tool call waits for a decision; a timeout counts as a deny.",
    minimum=0.001,
    overridable=True,
)
MAX_ITERATIONS = _entry(
    AGENT + "max.iterations",
    "int",
    "100",
    "Step budget of one run (LLM calls).",
    minimum=1,
    maximum=10000,
    overridable=True,
)
COMPACTION_TRIGGER_TOKENS = _entry(
    AGENT + "compaction.trigger.tokens",
    "int",
    "128000",
    "Compact the conversation when the predicted prompt reaches this many tokens.",
    minimum=256,
    overridable=True,
)
QUERY_TIMEOUT = _entry(
    AGENT + "query.timeout",
    "duration",
    "PT3M",
    "Timeout of one SQL statement run by a tool, enforced in the database and by a wall clock.",
    minimum=0.001,
    overridable=True,
)
TOOL_CALL_TIMEOUT = _entry(
    AGENT + "tool.call.timeout",
    "duration",
    "PT5M",
    "Timeout of one tool call.",
    minimum=0.001,
    overridable=True,
)
RUN_TIMEOUT = _entry(
    AGENT + "run.timeout",
    "duration",
    "PT30M",
    "Deadline of one agent run (one statement), after which it stops with an error.",
    minimum=0.001,
    overridable=True,
)
TEMPERATURE = _entry(
    AGENT + "temperature",
    "float",
    None,
    "Sampling temperature sent to the LLM.",
    minimum=0.0,
    maximum=2.0,
    overridable=True,
)
TOOLS_DISABLED = _entry(
    AGENT + "tools.disabled",
    "list",
    "",
    "Comma-separated tool names the agent may not use.",
    overridable=True,
)
RESULT_MODE = _entry(
    AGENT + "result.mode",
    "str",
    "events",
    "events: one JSON row per agent event (Kyuubi); answer: one row with the final text; "
    "table: the rows of the run's last successful query as typed columns.",
    choices=("events", "answer", "table"),
    overridable=True,
)
TABLE_MODE_APPROVAL = _entry(
    AGENT + "table.mode.approval",
    "str",
    "DENY",
    "What a gated tool call does in table result mode, where no client sees approval_request rows. "
    "DENY: denied at once with a clear message; WAIT: parks as usual (bounded by approval.timeout).",
    choices=("DENY", "WAIT"),
    overridable=True,
)
PASSTHROUGH_MAX_ROWS = _entry(
    AGENT + "passthrough.max.rows",
    "int",
    "1000000",
    "Row cap of a __sql: passthrough query and of the SHOW/DESCRIBE forms; more rows are cut.",
    minimum=1,
    overridable=True,
)
CATALOG_CACHE_TTL = _entry(
    AGENT + "catalog.cache.ttl",
    "duration",
    "PT30S",
    "How long metadata read from the datasource catalog is reused; SET or a confOverlay refreshes it.",
    minimum=0.0,
)
CATALOG_REFRESH = _entry(
    AGENT + "catalog.refresh",
    "bool",
    "false",
    "Setting this key (SET, OpenSession configuration or a statement confOverlay) drops cached catalog metadata.",
    overridable=True,
)
LLM_REQUEST_TIMEOUT = _entry(
    AGENT + "llm.request.timeout",
    "duration",
    "PT2M",
    "Timeout of one LLM request, including the wait between streamed chunks.",
    minimum=0.001,
    overridable=True,
)
LLM_CONNECT_TIMEOUT = _entry(
    AGENT + "llm.connect.timeout",
    "duration",
    "PT10S",
    "Timeout to connect to the LLM endpoint.",
    minimum=0.001,
)
LLM_MAX_RETRIES = _entry(
    AGENT + "llm.max.retries",
    "int",
    "3",
    "Retries (with exponential backoff) on 429, 5xx, connection errors and timeouts before the first token.",
    minimum=0,
    maximum=20,
)
LLM_RETRY_BACKOFF = _entry(
    AGENT + "llm.retry.backoff",
    "duration",
    "PT0.5S",
    "First retry delay; doubles each retry.",
    minimum=0.0,
)
QUERY_MAX_ROWS = _entry(
    AGENT + "query.max.rows",
    "int",
    "1000",
    "Row cap of one query tool result; more rows are cut with a visible note.",
    minimum=1,
    overridable=True,
)
OUTPUT_OFFLOAD_LINES = _entry(
    AGENT + "tool.output.offload.lines",
    "int",
    "500",
    "A tool output longer than this many lines is saved to the session's directory and previewed.",
    minimum=10,
)
OUTPUT_OFFLOAD_BYTES = _entry(
    AGENT + "tool.output.offload.bytes",
    "int",
    "51200",
    "A tool output larger than this many bytes is saved to the session's directory and previewed.",
    minimum=1024,
)
TOOL_POOL_SIZE = _entry(
    AGENT + "tool.pool.size",
    "int",
    "16",
    "Threads that run tool calls, shared by all sessions.",
    minimum=1,
    maximum=1024,
)
DATASOURCE_POOL_SIZE = _entry(
    AGENT + "datasource.pool.size",
    "int",
    "8",
    "Connections kept to the datasource.",
    minimum=1,
    maximum=512,
)
DATASOURCE_POOL_OVERFLOW = _entry(
    AGENT + "datasource.pool.overflow",
    "int",
    "8",
    "Extra connections allowed above the pool size.",
    minimum=0,
    maximum=512,
)
WORK_DIR = _entry(
    AGENT + "work.dir",
    "str",
    None,
    "Directory for per-session tool output and the audit log. Unset: a temporary directory.",
)
FETCH_WAIT = _entry(
    AGENT + "fetch.wait",
    "duration",
    "PT0.2S",
    "How long FetchResults waits for a new row of a running statement before it answers empty.",
    minimum=0.0,
    maximum=60.0,
)
FETCH_COMPACT_THRESHOLD = _entry(
    AGENT + "fetch.compact.threshold",
    "int",
    "1024",
    "Consumed rows kept in a fetch buffer before they are compacted away.",
    minimum=1,
)
MEMORY_MAX_MESSAGES = _entry(
    AGENT + "memory.max.messages",
    "int",
    "2000",
    "Hard cap on messages kept in a session's memory; older turns are dropped first.",
    minimum=10,
)
AUDIT_LOG = _entry(
    AGENT + "audit.log",
    "str",
    None,
    "File that receives one JSON line per approval decision. Unset: the work dir's audit.log.",
)

# --- frontend --------------------------------------------------------------------------------
BIND_HOST = _entry(
    "kyuubi.frontend.thrift.binary.bind.host", "str", "127.0.0.1", "Address the Thrift server binds."
)
BIND_PORT = _entry(
    "kyuubi.frontend.thrift.binary.bind.port",
    "int",
    "10009",
    "Port the Thrift server binds; 0 picks a free port.",
    minimum=0,
    maximum=65535,
)
MAX_WORKER_THREADS = _entry(
    "kyuubi.frontend.thrift.max.worker.threads",
    "int",
    "999",
    "Connections served at once; further connections wait in the accept backlog.",
    minimum=1,
    maximum=100000,
)
MAX_MESSAGE_SIZE = _entry(
    "kyuubi.frontend.thrift.max.message.size",
    "int",
    "104857600",
    "Largest Thrift or SASL frame accepted, in bytes.",
    minimum=1024,
)
LOGIN_TIMEOUT = _entry(
    "kyuubi.frontend.thrift.login.timeout",
    "duration",
    "PT20S",
    "Deadline for the whole handshake of a new connection (TLS and SASL), from accept to login; "
    "a client that sends slowly is cut when it passes, however often it sends a byte.",
    minimum=0.001,
)
SSL_ENABLED = _entry(
    "kyuubi.frontend.thrift.binary.ssl.enabled", "bool", "false", "Serve the binary protocol over TLS."
)
SSL_KEYSTORE_PATH = _entry(
    "kyuubi.frontend.ssl.keystore.path", "str", None, "PEM file with the certificate chain and key for TLS."
)
AUTHENTICATION = _entry(
    "kyuubi.authentication",
    "str",
    "NONE",
    "NONE: SASL PLAIN, any user and password; NOSASL: raw binary Thrift; CUSTOM: SASL PLAIN "
    "checked against kyuubi.authentication.password.file.",
    choices=("NONE", "NOSASL", "CUSTOM"),
)
PASSWORD_FILE = _entry(
    "kyuubi.authentication.password.file",
    "str",
    None,
    "With kyuubi.authentication=CUSTOM: a file of user:sha256-hex-of-password lines.",
)
SERVER_NAME = _entry(
    "kyuubi.engine.data.agent.server.name", "str", "Kyuubi Data Agent Engine", "GetInfo server name."
)

# --- frontend: hostile clients (idle connections, connection limits, request checks) ----------
CONNECTION_IDLE_TIMEOUT = _entry(
    "kyuubi.frontend.thrift.connection.idle.timeout",
    "duration",
    "PT10M",
    "Close a logged-in connection that holds no open session and has sent nothing for this long, "
    "so idle clients cannot hold every worker thread. A connection with an open session is never "
    "cut for idleness. 0 disables.",
    minimum=0.0,
)
MAX_CONTAINER_LENGTH = _entry(
    "kyuubi.frontend.thrift.max.container.length",
    "int",
    "100000",
    "Most elements one list, set or map of a request may declare; a request declaring more is "
    "refused before it is decoded and its connection is closed.",
    minimum=16,
)
LIMIT_CONNECTIONS_PER_USER = _entry(
    "kyuubi.server.limit.connections.per.user",
    "int",
    None,
    "Most connections one user may hold at once (the SASL user, or in NOSASL mode the user of "
    "the first OpenSession). Unset or 0: no limit.",
    minimum=0,
)
LIMIT_CONNECTIONS_PER_IPADDRESS = _entry(
    "kyuubi.server.limit.connections.per.ipaddress",
    "int",
    None,
    "Most connections one client IP address may hold at once, checked before the handshake. "
    "Unset: kyuubi.frontend.thrift.max.worker.threads minus a tenth (from 10 threads on), so no "
    "single address can take every worker thread; 0: no limit.",
    minimum=0,
)
LIMIT_CONNECTIONS_PER_USER_IPADDRESS = _entry(
    "kyuubi.server.limit.connections.per.user.ipaddress",
    "int",
    None,
    "Most connections one user may hold at once from one IP address. Unset or 0: no limit.",
    minimum=0,
)
# --- end frontend: hostile clients ---

# --- sessions and operations -----------------------------------------------------------------
SESSION_IDLE_TIMEOUT = _entry(
    "kyuubi.session.idle.timeout", "duration", "PT6H", "Close a session idle this long.", minimum=0.001
)
OPERATION_IDLE_TIMEOUT = _entry(
    "kyuubi.operation.idle.timeout",
    "duration",
    "PT3H",
    "Close a terminal operation not fetched for this long.",
    minimum=0.001,
)
SESSION_CHECK_INTERVAL = _entry(
    "kyuubi.session.check.interval",
    "duration",
    "PT1M",
    "How often the reaper looks for idle sessions.",
    minimum=0.01,
)
SESSION_CLOSE_ON_DISCONNECT = _entry(
    "kyuubi.session.close.on.disconnect",
    "bool",
    "true",
    "Close the sessions a client opened when its connection ends. false: sessions (and their runs) "
    "outlive the connection until CloseSession or the idle timeout.",
)
EXEC_POOL_SIZE = _entry(
    "kyuubi.backend.engine.exec.pool.size",
    "int",
    "256",
    "Threads that run statements in the background; more waiting statements queue.",
    minimum=1,
    maximum=10000,
)
EXEC_POOL_WAIT_QUEUE = _entry(
    "kyuubi.backend.engine.exec.pool.wait.queue.size",
    "int",
    "1000",
    "Statements that may wait for a background thread before new ones are rejected.",
    minimum=0,
)

# --- engine lifecycle, discovery (launcher and registration) ---------------------------------
HA_ADDRESSES = _entry("kyuubi.ha.addresses", "str", None, "ZooKeeper connect string (host:port,...).")
HA_NAMESPACE = _entry("kyuubi.ha.namespace", "str", "kyuubi", "Root namespace of engine spaces in ZooKeeper.")
HA_SESSION_TIMEOUT = _entry(
    "kyuubi.ha.zookeeper.session.timeout", "duration", "PT60S", "ZooKeeper session timeout.", minimum=1.0
)
HA_CONNECTION_TIMEOUT = _entry(
    "kyuubi.ha.zookeeper.connection.timeout",
    "duration",
    "PT15S",
    "ZooKeeper connection timeout.",
    minimum=0.1,
)
HA_LOST_GRACE = _entry(
    "kyuubi.engine.data.agent.ha.lost.grace",
    "duration",
    "PT30S",
    "After its ZooKeeper session is lost, how long the engine tries to re-register before it stops.",
    minimum=0.0,
)
SHARE_LEVEL = _entry(
    "kyuubi.engine.share.level",
    "str",
    "USER",
    "Engine sharing: CONNECTION, USER or SERVER.",
    choices=("CONNECTION", "USER", "GROUP", "SERVER"),
)
SESSION_USER = _entry(
    "kyuubi.session.user", "str", None, "User the launcher acts for (default: the OS user)."
)
ENGINE_ID = _entry("kyuubi.engine.id", "str", None, "Engine id (set by the launcher).")
ENGINE_REF_ID = _entry(
    "kyuubi.engine.engineRef.id", "str", None, "Launch reference id (set by the launcher)."
)
ENGINE_INIT_TIMEOUT = _entry(
    "kyuubi.session.engine.initialize.timeout",
    "duration",
    "PT3M",
    "How long the launcher waits for a new engine to register.",
    minimum=0.1,
)
ENGINE_IDLE_TIMEOUT = _entry(
    "kyuubi.session.engine.idle.timeout",
    "duration",
    "PT30M",
    "An engine with no sessions for this long deregisters and exits.",
    minimum=0.1,
)
ENGINE_LOCK_TIMEOUT = _entry(
    "kyuubi.engine.data.agent.launch.lock.timeout",
    "duration",
    "PT30S",
    "How long a launcher waits for the engine creation lock.",
    minimum=0.1,
)
REDACTION_REGEX = _entry(
    "kyuubi.server.redaction.regex",
    "str",
    "(?i)secret|password|token|access[.]?key|api[.]?key",
    "Keys or values matching this regex are hidden in displayed command lines.",
    validator=_regex_problem,
)
LOG_LEVEL = _entry(
    "kyuubi.engine.data.agent.log.level",
    "str",
    "INFO",
    "Log level of the engine.",
    choices=("DEBUG", "INFO", "WARNING", "ERROR"),
)
LOG_CONTENT = _entry(
    "kyuubi.engine.data.agent.log.content",
    "bool",
    "false",
    "Log prompts, model output and tool results (at DEBUG only).",
)


class EngineConf:
    """Resolved, typed configuration. Immutable: overlays return a new object."""

    def __init__(self, raw: Mapping[str, str], *, explicit: frozenset[str] = frozenset()) -> None:
        self._raw: dict[str, str] = dict(raw)
        self._explicit = explicit | frozenset(raw)
        self._values: dict[str, Any] = {}
        for key, value in self._raw.items():
            entry = REGISTRY.get(key)
            if entry is None:
                continue  # unknown keys are kept verbatim (sessions carry hive/spark keys)
            self._values[key] = entry.parse(value)

    @classmethod
    def load(
        cls,
        conf_pairs: Iterable[str] = (),
        conf_file: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        strict: bool = True,
    ) -> EngineConf:
        """Resolve --conf, --conf-file, environment and defaults; validate every known key.

        With ``strict`` an unknown ``kyuubi.engine.data.agent.*`` key is an error (a typo must not
        silently fall back to a default).
        """
        env = os.environ if environ is None else environ
        raw: dict[str, str] = {}
        for entry in REGISTRY.entries():
            for name in entry.env:
                if env.get(name):
                    raw[entry.key] = env[name]
                    break
        if conf_file is not None:
            raw.update(read_conf_file(conf_file))
        raw.update(parse_conf_pairs(conf_pairs))
        if strict:
            unknown = sorted(key for key in raw if key.startswith(AGENT) and key not in REGISTRY)
            if unknown:
                raise ConfigError(f"unknown configuration key: {unknown[0]}")
        return cls(raw)

    def get(self, key_or_entry: str | ConfigEntry) -> Any:
        entry = resolve_key(key_or_entry)
        if entry.key in self._values:
            return self._values[entry.key]
        if entry.default is None:
            return None
        return entry.parse(entry.default)

    def is_set(self, key_or_entry: str | ConfigEntry) -> bool:
        entry = resolve_key(key_or_entry)
        return entry.key in self._values

    def raw(self) -> dict[str, str]:
        """The explicitly given raw values (secrets included: never log this)."""
        return dict(self._raw)

    def display(self) -> dict[str, str]:
        """Explicit values with every secret hidden, safe to log or show."""
        shown: dict[str, str] = {}
        for key, value in self._raw.items():
            entry = REGISTRY.get(key)
            shown[key] = "*********(redacted)" if entry is not None and entry.secret else value
        return shown

    def with_overlay(self, overlay: Mapping[str, str] | None, *, source: str = "session") -> EngineConf:
        """Return a conf with a session or statement overlay applied.

        Only ``overridable`` keys of the registry take effect; ``set:hiveconf:``/``set:hivevar:``
        prefixes (sent by Hive clients) are stripped. Other keys are kept but ignored. A bad value
        raises ConfigError naming the key. The approval-mode floor is enforced here.
        """
        if not overlay:
            return self
        merged = dict(self._raw)
        for raw_key, value in overlay.items():
            key = strip_hive_prefix(raw_key)
            entry = REGISTRY.get(key)
            if entry is None:
                if key.startswith(AGENT):
                    raise ConfigError(f"unknown configuration key: {key}")
                continue
            if not entry.overridable:
                if key.startswith(AGENT):
                    raise ConfigError(f"{key} cannot be set per {source}; it is an engine setting")
                continue  # other engine keys forwarded by clients are ignored
            entry.parse(value)
            merged[key] = value
        result = EngineConf(merged)
        floor = self.get(APPROVAL_MODE_MIN)
        mode = result.get(APPROVAL_MODE)
        if APPROVAL_MODES.index(mode) < APPROVAL_MODES.index(floor):
            raise ConfigError(
                f"invalid value for {APPROVAL_MODE.key}: {mode} is weaker than the engine's floor "
                f"{APPROVAL_MODE_MIN.key}={floor}; accepted values: "
                + ", ".join(APPROVAL_MODES[APPROVAL_MODES.index(floor) :])
            )
        return result

    def effective_provider(self) -> str:
        """ECHO unless configured, or unless an API key or endpoint was given without a provider."""
        if self.is_set(PROVIDER):
            return str(self.get(PROVIDER))
        if self.get(OPENAI_API_KEY) or self.get(OPENAI_ENDPOINT):
            return "OPENAI_COMPATIBLE"
        return "ECHO"
