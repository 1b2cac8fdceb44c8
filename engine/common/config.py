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
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar, overload

# The registry machinery, re-exported: callers import everything configuration from here.
from engine.common.config_entry import REGISTRY as REGISTRY
from engine.common.config_entry import ConfigEntry as ConfigEntry
from engine.common.config_entry import (
    bool_entry,
    duration_entry,
    float_entry,
    int_entry,
    list_entry,
    resolve_key,
    str_entry,
)
from engine.common.config_entry import parse_conf_pairs as parse_conf_pairs
from engine.common.config_entry import parse_duration as parse_duration
from engine.common.config_entry import read_conf_file as read_conf_file
from engine.common.config_entry import render_example as render_example
from engine.common.config_entry import strip_hive_prefix as strip_hive_prefix
from engine.common.errors import ConfigError
from engine.common.jdbc import url_password
from engine.common.redaction import MASK, SecretRegistry

T = TypeVar("T")

AGENT = "kyuubi.engine.data.agent."


def _regex_problem(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    return None


APPROVAL_MODES = ("AUTO_APPROVE", "NORMAL", "STRICT")  # weakest to strongest

# --- agent -----------------------------------------------------------------------------------
PROVIDER = str_entry(
    AGENT + "provider",
    "ECHO",
    "Agent provider: ECHO answers without an LLM (demos, tests); OPENAI_COMPATIBLE uses an "
    "OpenAI-compatible chat completions endpoint. When unset and an API key or endpoint is "
    "given, OPENAI_COMPATIBLE is chosen. Kyuubi's spellings (echo, openai-compatible, and its "
    "EchoProvider and ChatCompletionProvider class names) mean the same; another class name is "
    "refused (no JVM here).",
    choices=("ECHO", "OPENAI_COMPATIBLE"),
    # Kyuubi 1.12 also takes these spellings (and its provider class names)
    aliases=(
        ("openai-compatible", "OPENAI_COMPATIBLE"),
        ("org.apache.kyuubi.engine.dataagent.provider.echo.EchoProvider", "ECHO"),
        (
            "org.apache.kyuubi.engine.dataagent.provider.chatcompletion.ChatCompletionProvider",
            "OPENAI_COMPATIBLE",
        ),
    ),
)
MODEL = str_entry(
    AGENT + "model",
    None,
    "Model name sent to the LLM endpoint.",
    overridable=True,
)
OPENAI_ENDPOINT = str_entry(
    AGENT + "openai.endpoint",
    None,
    "Base URL of the OpenAI-compatible API, e.g. https://api.openai.com/v1.",
    env=("KYUUBI_ENGINE_DATA_AGENT_OPENAI_ENDPOINT", "OPENAI_BASE_URL"),
)
OPENAI_API_KEY = str_entry(
    AGENT + "openai.api.key",
    None,
    "API key for the LLM endpoint. Secret: give it through the environment, never on argv.",
    secret=True,
    env=("KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY", "OPENAI_API_KEY"),
)
JDBC_URL = str_entry(
    AGENT + "jdbc.url",
    None,
    "JDBC URL of the datasource (jdbc:sqlite:, jdbc:postgresql:, jdbc:mysql:, jdbc:mariadb:, "
    "jdbc:hive2:, jdbc:trino:, jdbc:duckdb:) or a SQLAlchemy URL. Unset: the bundled demo SQLite "
    "database (Kyuubi connects back to its own server instead). Secret: it may carry a password.",
    secret=True,
    env=("KYUUBI_ENGINE_DATA_AGENT_JDBC_URL",),
)
APPROVAL_MODE = str_entry(
    AGENT + "approval.mode",
    "NORMAL",
    "Which tool calls wait for __approve:/__deny:. AUTO_APPROVE: none; NORMAL: non-SAFE tools; "
    "STRICT: every tool.",
    choices=APPROVAL_MODES,
    overridable=True,
)
APPROVAL_MODE_MIN = str_entry(
    AGENT + "approval.mode.min",
    "AUTO_APPROVE",
    "The weakest approval mode a session or statement may choose (administrator floor).",
    choices=APPROVAL_MODES,
)
APPROVAL_TIMEOUT = duration_entry(
    AGENT + "approval.timeout",
    "PT5M",
    "How long a parked tool call waits for a decision; a timeout counts as a deny.",
    minimum=0.001,
    overridable=True,
)
MAX_ITERATIONS = int_entry(
    AGENT + "max.iterations",
    "100",
    "Step budget of one run (LLM calls).",
    minimum=1,
    maximum=10000,
    overridable=True,
)
COMPACTION_TRIGGER_TOKENS = int_entry(
    AGENT + "compaction.trigger.tokens",
    "128000",
    "Compact the conversation when the predicted prompt reaches this many tokens "
    "(9223372036854775807, as in Kyuubi, effectively disables compaction).",
    minimum=1,
    overridable=True,
    maximum=2**63 - 1,
)
QUERY_TIMEOUT = duration_entry(
    AGENT + "query.timeout",
    "PT3M",
    "Timeout of one SQL statement run by a tool, enforced in the database and by a wall clock.",
    minimum=0.001,
    overridable=True,
)
TOOL_CALL_TIMEOUT = duration_entry(
    AGENT + "tool.call.timeout",
    "PT5M",
    "Timeout of one tool call.",
    minimum=0.001,
    overridable=True,
)
RUN_TIMEOUT = duration_entry(
    AGENT + "run.timeout",
    "PT30M",
    "Deadline of one agent run (one statement), after which it stops with an error.",
    minimum=0.001,
    overridable=True,
)
TEMPERATURE = float_entry(
    AGENT + "temperature",
    None,
    "Sampling temperature sent to the LLM.",
    minimum=0.0,
    maximum=2.0,
    overridable=True,
)
TOOLS_DISABLED = list_entry(
    AGENT + "tools.disabled",
    "",
    "Comma-separated tool names the agent may not use.",
    overridable=True,
)
RESULT_MODE = str_entry(
    AGENT + "result.mode",
    "events",
    "events: one JSON row per agent event (Kyuubi); answer: one row with the final text; "
    "table: the rows of the run's last successful query as typed columns.",
    choices=("events", "answer", "table"),
    overridable=True,
)
TABLE_MODE_APPROVAL = str_entry(
    AGENT + "table.mode.approval",
    "DENY",
    "What a gated tool call does in table result mode, where no client sees approval_request rows. "
    "DENY: denied at once with a clear message; WAIT: parks as usual (bounded by approval.timeout).",
    choices=("DENY", "WAIT"),
    overridable=True,
)
PASSTHROUGH_MAX_ROWS = int_entry(
    AGENT + "passthrough.max.rows",
    "1000000",
    "Row cap of a __sql: passthrough query and of the SHOW/DESCRIBE forms; more rows are cut.",
    minimum=1,
    overridable=True,
    maximum=1_000_000_000_000,
)
CATALOG_CACHE_TTL = duration_entry(
    AGENT + "catalog.cache.ttl",
    "PT30S",
    "How long metadata read from the datasource catalog is reused; SET or a confOverlay refreshes it.",
    minimum=0.0,
)
CATALOG_REFRESH = bool_entry(
    AGENT + "catalog.refresh",
    "false",
    "Setting this key (SET, OpenSession configuration or a statement confOverlay) drops cached catalog metadata.",
    overridable=True,
)
LLM_REQUEST_TIMEOUT = duration_entry(
    AGENT + "llm.request.timeout",
    "PT2M",
    "Timeout of one LLM request, including the wait between streamed chunks.",
    minimum=0.001,
    overridable=True,
)
LLM_CONNECT_TIMEOUT = duration_entry(
    AGENT + "llm.connect.timeout",
    "PT10S",
    "Timeout to connect to the LLM endpoint.",
    minimum=0.001,
)
LLM_MAX_RETRIES = int_entry(
    AGENT + "llm.max.retries",
    "3",
    "Retries (with exponential backoff) on 429, 5xx, connection errors and timeouts before the first token.",
    minimum=0,
    maximum=20,
)
LLM_RETRY_BACKOFF = duration_entry(
    AGENT + "llm.retry.backoff",
    "PT0.5S",
    "First retry delay; doubles each retry.",
    minimum=0.0,
)
QUERY_MAX_ROWS = int_entry(
    AGENT + "query.max.rows",
    "1000",
    "Row cap of one query tool result; more rows are cut with a visible note.",
    minimum=1,
    overridable=True,
    maximum=10_000_000,
)
OUTPUT_OFFLOAD_LINES = int_entry(
    AGENT + "tool.output.offload.lines",
    "500",
    "A tool output longer than this many lines is saved to the session's directory and previewed.",
    minimum=10,
    maximum=100_000_000,
)
OUTPUT_OFFLOAD_BYTES = int_entry(
    AGENT + "tool.output.offload.bytes",
    "51200",
    "A tool output larger than this many bytes is saved to the session's directory and previewed.",
    minimum=1024,
    maximum=1_073_741_824,
)
TOOL_POOL_SIZE = int_entry(
    AGENT + "tool.pool.size",
    "16",
    "Threads that run tool calls, shared by all sessions.",
    minimum=1,
    maximum=1024,
)
DATASOURCE_POOL_SIZE = int_entry(
    AGENT + "datasource.pool.size",
    "8",
    "Connections kept to the datasource.",
    minimum=1,
    maximum=512,
)
DATASOURCE_POOL_OVERFLOW = int_entry(
    AGENT + "datasource.pool.overflow",
    "8",
    "Extra connections allowed above the pool size.",
    minimum=0,
    maximum=512,
)
WORK_DIR = str_entry(
    AGENT + "work.dir",
    None,
    "Directory for per-session tool output and the audit log. Unset: a temporary directory.",
)
FETCH_COMPACT_THRESHOLD = int_entry(
    AGENT + "fetch.compact.threshold",
    "1024",
    "Consumed rows kept in a fetch buffer before they are compacted away.",
    minimum=1,
    maximum=10_000_000,
)
MEMORY_MAX_MESSAGES = int_entry(
    AGENT + "memory.max.messages",
    "2000",
    "Hard cap on messages kept in a session's memory; older turns are dropped first.",
    minimum=10,
    maximum=1_000_000,
)
AUDIT_LOG = str_entry(
    AGENT + "audit.log",
    None,
    "File that receives one JSON line per approval decision. Unset: the work dir's audit.log.",
)

# --- run registry (engine.store) -------------------------------------------------------------
STORE_URL = str_entry(
    AGENT + "store.url",
    None,
    "Where runs, their events, approvals and conversations are kept: a SQLAlchemy URL "
    "(sqlite:///path, postgresql://user@host/db) or jdbc:postgresql://host/db?user=u. Unset: a "
    "SQLite file store.db under work.dir (opened in WAL mode); without a work.dir that is a "
    "temporary directory, so nothing outlives the engine. Secret: it may carry a password.",
    secret=True,
    env=("KYUUBI_ENGINE_DATA_AGENT_STORE_URL",),
)
STORE_RETENTION = duration_entry(
    AGENT + "store.retention",
    "P30D",
    "Runs that ended longer ago than this are deleted in the background, with their events and "
    "approvals; so are conversations left without runs and not updated for as long.",
    minimum=1.0,
)
STORE_QUEUE_CAPACITY = int_entry(
    AGENT + "store.queue.capacity",
    "100000",
    "Events waiting to be written to the store at most (during an outage). Beyond it new events "
    "are dropped from the store (never from the client's stream) and their run is marked incomplete.",
    minimum=1000,
    maximum=10_000_000,
)
STORE_COMMIT_TIMEOUT = duration_entry(
    AGENT + "store.commit.timeout",
    "PT10S",
    "How long a finishing run waits for its last event and final status to be committed before "
    "its operation reports the end anyway (the writes stay queued and retried).",
    minimum=0.0,
)

# --- durable runs and conversations (issue 14 §2-§6: the run registry wired into the engine) ---
CONVERSATION_ID = str_entry(
    AGENT + "conversation.id",
    None,
    "Per session (OpenSession configuration) only: continue this conversation of yours, with the "
    "agent's memory as its last run left it, even after an engine restart. Unset: the session "
    "starts a new conversation, whose id OpenSession's response configuration carries (and every "
    "run's agent_start row). Ignored in the engine's own configuration.",
)
RUN_DETACHED_TIMEOUT = duration_entry(
    AGENT + "run.detached.timeout",
    "PT10M",
    "How long a run whose connection dropped (without CloseOperation or CloseSession) goes on "
    "detached, waiting for someone to __attach: to it, before it is stopped (status stopped).",
    minimum=0.0,
)
STORE_ENABLED = bool_entry(
    AGENT + "store.enabled",
    "true",
    "Keep runs, their events, approvals and conversations in the run registry (store.url). false: "
    "runs are kept in memory only while they go on (__attach: still follows them), nothing outlives "
    "the engine, and SHOW RUNS, SHOW CONVERSATIONS and conversation.id are refused.",
)
ADMINISTRATORS = list_entry(
    "kyuubi.server.administrators",
    "",
    "Comma-separated users who may list, watch and cancel anyone's runs (SHOW RUNS ALL, "
    "__attach:, the REST API). Nobody approves another user's tool calls, not even them.",
)

# --- fetch waiting (issue 13 §2: streaming to DB-API clients) ---------------------------------------
# PyHive, impyla and hive-jdbc read until a fetch comes back empty, so a FetchResults of a running
# statement waits until a row exists or the statement ends. fetch.wait only caps that wait (for
# proxies that cut idle connections); it must outlast approval.timeout (checked below, for the
# engine's conf and for every session or statement overlay), or a fetch could answer empty while a
# parked tool call can still be approved.
FETCH_WAIT = duration_entry(
    AGENT + "fetch.wait",
    "PT10M",
    "Longest a FetchResults of a running statement waits for its next row before it answers empty "
    "(clients such as PyHive take an empty batch for the end, so keep it longer than any pause of a "
    "run; it must be longer than approval.timeout). A cancel, a close or the engine stopping ends "
    "the wait at once.",
    minimum=0.0,
)


def _fetch_outlasts_approval(conf: EngineConf) -> str | None:
    fetch_wait, approval = conf.get(FETCH_WAIT), conf.get(APPROVAL_TIMEOUT)
    if fetch_wait > approval:
        return None
    return (
        f"{FETCH_WAIT.key} ({fetch_wait:g} s) must be longer than {APPROVAL_TIMEOUT.key} "
        f"({approval:g} s), or a fetch could answer empty (the end, for PyHive, impyla and hive-jdbc) "
        f"while a parked tool call can still be approved: raise {FETCH_WAIT.key} or lower "
        f"{APPROVAL_TIMEOUT.key}"
    )


# --- operation status long poll (issue 13 §1: beeline and hive-jdbc) ---------------------------
OPERATION_STATUS_POLLING_TIMEOUT = duration_entry(
    "kyuubi.operation.status.polling.timeout",
    "PT1S",
    "Longest a GetOperationStatus of a pending or running statement waits before it answers; it "
    "answers at once when the state changes or a line is added to the operation log. hive-jdbc "
    "(beeline) asks again as soon as it gets an answer, so without this wait it spins; its "
    "operation-log reader shares the connection and waits behind this call, which is why the "
    "default is shorter than Kyuubi's 5 s. 0 answers at once.",
    minimum=0.0,
    maximum=60.0,
)


# --- frontend --------------------------------------------------------------------------------
BIND_HOST = str_entry(
    "kyuubi.frontend.thrift.binary.bind.host",
    "127.0.0.1",
    "Address the Thrift server binds.",
)
BIND_PORT = int_entry(
    "kyuubi.frontend.thrift.binary.bind.port",
    "10009",
    "Port the Thrift server binds; 0 picks a free port.",
    minimum=0,
    maximum=65535,
)
MAX_WORKER_THREADS = int_entry(
    "kyuubi.frontend.thrift.max.worker.threads",
    "999",
    "Connections served at once; further connections wait in the accept backlog.",
    minimum=1,
    maximum=100000,
)
MAX_MESSAGE_SIZE = int_entry(
    "kyuubi.frontend.thrift.max.message.size",
    "104857600",
    "Largest Thrift or SASL frame accepted, in bytes.",
    minimum=1024,
    maximum=2_147_483_647,
)
LOGIN_TIMEOUT = duration_entry(
    "kyuubi.frontend.thrift.login.timeout",
    "PT20S",
    "Deadline for the whole handshake of a new connection (TLS and SASL), from accept to login; "
    "a client that sends slowly is cut when it passes, however often it sends a byte.",
    minimum=0.001,
)
SSL_ENABLED = bool_entry(
    "kyuubi.frontend.thrift.binary.ssl.enabled",
    "false",
    "Serve the binary protocol over TLS.",
)
SSL_KEYSTORE_PATH = str_entry(
    "kyuubi.frontend.ssl.keystore.path",
    None,
    "PEM file with the certificate chain and key for TLS.",
)
# --- authentication (engine.auth): NONE, NOSASL, CUSTOM password file, LDAP with Kyuubi's keys ---
AUTHENTICATION = str_entry(
    "kyuubi.authentication",
    "NONE",
    "NONE: SASL PLAIN, any user and password; NOSASL: raw binary Thrift; CUSTOM: SASL PLAIN "
    "checked against kyuubi.authentication.password.file; LDAP: SASL PLAIN checked by a simple "
    "bind to the directory of kyuubi.authentication.ldap.url (Kyuubi's LDAP keys).",
    choices=("NONE", "NOSASL", "CUSTOM", "LDAP"),
)
PASSWORD_FILE = str_entry(
    "kyuubi.authentication.password.file",
    None,
    "With kyuubi.authentication=CUSTOM: a file of user:hash lines, each hash argon2 ($argon2id$...) "
    "or bcrypt ($2b$...); '#' starts a comment. Make a line with `python -m engine hash-password "
    "--user NAME` (reads the password from stdin or a prompt). Plaintext and unsalted sha256 "
    "entries are refused at start. Read again when the file changes.",
)
LDAP_URL = str_entry(
    "kyuubi.authentication.ldap.url",
    None,
    "Space-separated LDAP URLs (ldap://host:389, ldaps://host:636), tried in order.",
)
LDAP_BASE_DN = str_entry(
    "kyuubi.authentication.ldap.baseDN",
    None,
    "LDAP base DN: where users (guidKey=<user>,<baseDN>) and groups are searched when no DN pattern "
    "is given.",
)
LDAP_BASE_DN_ALT = str_entry(
    "kyuubi.authentication.ldap.base.dn",
    None,
    "Older name of kyuubi.authentication.ldap.baseDN (used when baseDN is unset).",
)
LDAP_DOMAIN = str_entry(
    "kyuubi.authentication.ldap.domain",
    None,
    "LDAP domain: a user binds as <user>@<domain> (Active Directory's user principal name).",
)
LDAP_GROUP_DN_PATTERN = str_entry(
    "kyuubi.authentication.ldap.groupDNPattern",
    None,
    "Colon-separated patterns of group DNs, %s standing for the group name, e.g. "
    "cn=%s,ou=groups,dc=example,dc=org; their parents are where groups are searched.",
)
LDAP_USER_DN_PATTERN = str_entry(
    "kyuubi.authentication.ldap.userDNPattern",
    None,
    "Colon-separated patterns of user DNs, %s standing for the user name (escaped), e.g. "
    "uid=%s,ou=people,dc=example,dc=org: the DNs a user binds as, and where users are searched.",
)
LDAP_GROUP_FILTER = list_entry(
    "kyuubi.authentication.ldap.groupFilter",
    "",
    "Comma-separated group names (short names, not DNs): only their members may log in.",
)
LDAP_USER_FILTER = list_entry(
    "kyuubi.authentication.ldap.userFilter",
    "",
    "Comma-separated user names (short names, not DNs): only they may log in.",
)
LDAP_GUID_KEY = str_entry(
    "kyuubi.authentication.ldap.guidKey",
    "uid",
    "Attribute whose value names a user or group uniquely (uid, cn, sAMAccountName).",
)
LDAP_GROUP_MEMBERSHIP_KEY = str_entry(
    "kyuubi.authentication.ldap.groupMembershipKey",
    "member",
    "Attribute of a group entry that lists its members, by DN (member, uniqueMember) or by name (memberUid).",
)
LDAP_USER_MEMBERSHIP_KEY = str_entry(
    "kyuubi.authentication.ldap.userMembershipKey",
    None,
    "Attribute of a user entry that lists the DNs of its groups (memberOf). When set, groupFilter "
    "is checked on the user's entry instead of the groups' member lists.",
)
LDAP_GROUP_CLASS_KEY = str_entry(
    "kyuubi.authentication.ldap.groupClassKey",
    "groupOfNames",
    "objectClass of group entries (groupOfNames, groupOfUniqueNames, posixGroup, group).",
)
LDAP_CUSTOM_QUERY = str_entry(
    "kyuubi.authentication.ldap.customLDAPQuery",
    None,
    "A complete LDAP filter run under baseDN instead of userFilter/groupFilter: the user may log in "
    "when an entry found is the user (its first RDN value or its DN) or lists the user's DN in "
    "groupMembershipKey; a %s in it stands for the user name (escaped), and then exactly one entry "
    "must match.",
)
LDAP_BIND_DN = str_entry(
    "kyuubi.authentication.ldap.binddn",
    None,
    "DN of a service account that searches the directory for the user's DN; the user's password is "
    "then checked by a bind as that DN. Unset: the user binds directly (domain or DN patterns).",
)
LDAP_BIND_PASSWORD = str_entry(
    "kyuubi.authentication.ldap.bindpw",
    None,
    "Password of kyuubi.authentication.ldap.binddn. Secret: give it through the environment.",
    secret=True,
    env=("KYUUBI_AUTHENTICATION_LDAP_BINDPW",),
)
LDAP_CONNECT_TIMEOUT = duration_entry(
    "kyuubi.authentication.ldap.connect.timeout",
    "PT5S",
    "Timeout to connect to one LDAP server (never past the login deadline, "
    "kyuubi.frontend.thrift.login.timeout).",
    minimum=0.001,
    maximum=600.0,
)
LDAP_READ_TIMEOUT = duration_entry(
    "kyuubi.authentication.ldap.read.timeout",
    "PT10S",
    "Timeout of one LDAP bind or search answer (never past the login deadline).",
    minimum=0.001,
    maximum=600.0,
)
AUTH_MAX_CONCURRENT = int_entry(
    "kyuubi.authentication.max.concurrent",
    "8",
    "Password checks run at once (LDAP binds, each on its own directory connection, and argon2 or "
    "bcrypt verifications, each costly in memory or CPU); more wait, up to their login deadline.",
    minimum=1,
    maximum=1024,
)
# --- end authentication ---
SERVER_NAME = str_entry(
    "kyuubi.engine.data.agent.server.name",
    "Kyuubi Data Agent Engine",
    "GetInfo server name.",
)

# --- frontend: hostile clients (idle connections, connection limits, request checks) ----------
CONNECTION_IDLE_TIMEOUT = duration_entry(
    "kyuubi.frontend.thrift.connection.idle.timeout",
    "PT10M",
    "Close a logged-in connection that holds no open session and has sent nothing for this long, "
    "so idle clients cannot hold every worker thread. A connection with an open session is never "
    "cut for idleness. 0 disables.",
    minimum=0.0,
)
MAX_CONTAINER_LENGTH = int_entry(
    "kyuubi.frontend.thrift.max.container.length",
    "100000",
    "Most elements one list, set or map of a request may declare; a request declaring more is "
    "refused before it is decoded and its connection is closed.",
    minimum=16,
    maximum=100_000_000,
)
LIMIT_CONNECTIONS_PER_USER = int_entry(
    "kyuubi.server.limit.connections.per.user",
    None,
    "Most connections one user may hold at once (the SASL user, or in NOSASL mode the user of "
    "the first OpenSession). Unset or 0: no limit.",
    minimum=0,
    maximum=1_000_000,
)
LIMIT_CONNECTIONS_PER_IPADDRESS = int_entry(
    "kyuubi.server.limit.connections.per.ipaddress",
    None,
    "Most connections one client IP address may hold at once, checked before the handshake. "
    "Unset: kyuubi.frontend.thrift.max.worker.threads minus a tenth (from 10 threads on), so no "
    "single address can take every worker thread; 0: no limit.",
    minimum=0,
    maximum=1_000_000,
)
LIMIT_CONNECTIONS_PER_USER_IPADDRESS = int_entry(
    "kyuubi.server.limit.connections.per.user.ipaddress",
    None,
    "Most connections one user may hold at once from one IP address. Unset or 0: no limit.",
    minimum=0,
    maximum=1_000_000,
)
# --- end frontend: hostile clients ---

# --- sessions and operations -----------------------------------------------------------------
SESSION_IDLE_TIMEOUT = duration_entry(
    "kyuubi.session.idle.timeout",
    "PT6H",
    "Close a session idle this long.",
    minimum=0.001,
)
OPERATION_IDLE_TIMEOUT = duration_entry(
    "kyuubi.operation.idle.timeout",
    "PT3H",
    "Close a terminal operation not fetched for this long.",
    minimum=0.001,
)
SESSION_CHECK_INTERVAL = duration_entry(
    "kyuubi.session.check.interval",
    "PT1M",
    "How often the reaper looks for idle sessions.",
    minimum=0.01,
)
SESSION_CLOSE_ON_DISCONNECT = bool_entry(
    "kyuubi.session.close.on.disconnect",
    "true",
    "Close the sessions a client opened when its connection ends; a running agent run goes on "
    "detached (see run.detached.timeout) and can be attached again with __attach:<runId>. false: "
    "sessions (and their runs) outlive the connection until CloseSession or the idle timeout.",
)
EXEC_POOL_SIZE = int_entry(
    "kyuubi.backend.engine.exec.pool.size",
    "256",
    "Threads that run statements in the background; more waiting statements queue.",
    minimum=1,
    maximum=10000,
)
EXEC_POOL_WAIT_QUEUE = int_entry(
    "kyuubi.backend.engine.exec.pool.wait.queue.size",
    "1000",
    "Statements that may wait for a background thread before new ones are rejected.",
    minimum=0,
    maximum=1_000_000,
)

# --- statements: parsing and SQL routing (engine.operation.parser) --------------------------
STATEMENT_MAX_LENGTH = int_entry(
    AGENT + "statement.max.length",
    "1048576",
    "Longest statement accepted, in characters; a longer one is refused before it is parsed.",
    minimum=1024,
    maximum=67_108_864,
)
SQL_ROUTING = str_entry(
    AGENT + "sql.routing",
    "auto",
    "auto: a statement that parses, in the datasource's dialect, as one read-only query over "
    "existing tables (SELECT, WITH, EXPLAIN, DESCRIBE QUERY) runs directly, without the LLM; "
    "prefix: only __sql: statements skip the LLM.",
    choices=("auto", "prefix"),
    overridable=True,
)

# --- engine lifecycle, discovery (launcher and registration) ---------------------------------
HA_ADDRESSES = str_entry(
    "kyuubi.ha.addresses",
    None,
    "ZooKeeper connect string (host:port,...).",
)
HA_NAMESPACE = str_entry(
    "kyuubi.ha.namespace",
    "kyuubi",
    "Root namespace of engine spaces in ZooKeeper.",
)
HA_SESSION_TIMEOUT = duration_entry(
    "kyuubi.ha.zookeeper.session.timeout",
    "PT60S",
    "ZooKeeper session timeout.",
    minimum=1.0,
)
HA_CONNECTION_TIMEOUT = duration_entry(
    "kyuubi.ha.zookeeper.connection.timeout",
    "PT15S",
    "ZooKeeper connection timeout.",
    minimum=0.1,
)
HA_LOST_GRACE = duration_entry(
    "kyuubi.engine.data.agent.ha.lost.grace",
    "PT30S",
    "After its ZooKeeper session is lost, how long the engine tries to re-register before it stops.",
    minimum=0.0,
)
SHARE_LEVEL = str_entry(
    "kyuubi.engine.share.level",
    "USER",
    "Engine sharing: CONNECTION, USER or SERVER.",
    choices=("CONNECTION", "USER", "GROUP", "SERVER"),
)
SESSION_USER = str_entry(
    "kyuubi.session.user",
    None,
    "User the launcher acts for (default: the OS user).",
)
ENGINE_ID = str_entry(
    "kyuubi.engine.id",
    None,
    "Engine id (set by the launcher).",
)
ENGINE_REF_ID = str_entry(
    "kyuubi.engine.engineRef.id",
    None,
    "Launch reference id (set by the launcher).",
)
ENGINE_INIT_TIMEOUT = duration_entry(
    "kyuubi.session.engine.initialize.timeout",
    "PT3M",
    "How long the launcher waits for a new engine to register.",
    minimum=0.1,
)
ENGINE_IDLE_TIMEOUT = duration_entry(
    "kyuubi.session.engine.idle.timeout",
    "PT30M",
    "An engine with no sessions for this long deregisters and exits.",
    minimum=0.1,
)
ENGINE_LOCK_TIMEOUT = duration_entry(
    "kyuubi.engine.data.agent.launch.lock.timeout",
    "PT30S",
    "How long a launcher waits for the engine creation lock.",
    minimum=0.1,
)
REDACTION_REGEX = str_entry(
    "kyuubi.server.redaction.regex",
    "(?i)secret|password|token|access[.]?key|api[.]?key",
    "Kyuubi's meaning: a displayed setting (SET, the launcher's command line) whose key or value "
    "matches this regex has its value hidden. When set explicitly it also adds to the log "
    "redaction: every match in a log line is masked (so write it to match the secret itself, e.g. "
    "corp-[A-Za-z0-9]{20,}). Compiled with RE2, so it runs in linear time (no backreferences or "
    "lookarounds).",
    validator=_regex_problem,
)
# --- operating the engine: Kyuubi 1.12's data-agent keys, session overrides, logs, start-up check ---
# Kyuubi starts its data-agent engine as a JVM; these keys size and shape that JVM and mean nothing
# to this engine. They are accepted (a Kyuubi configuration works unchanged) and logged once.
JVM_MEMORY = str_entry(
    AGENT + "memory",
    "1g",
    "Kyuubi: the heap of the data-agent engine's JVM. Not applicable to this engine (no JVM); "
    "accepted and logged once at start.",
)
JVM_JAVA_OPTIONS = str_entry(
    AGENT + "java.options",
    None,
    "Kyuubi: extra Java options of the data-agent engine's JVM. Not applicable (no JVM); accepted "
    "and logged once at start.",
)
JVM_EXTRA_CLASSPATH = str_entry(
    AGENT + "extra.classpath",
    None,
    "Kyuubi: extra classpath of the data-agent engine's JVM (JDBC drivers, LLM SDKs). Not "
    "applicable: datasources use the Python drivers installed with the engine (SQLAlchemy "
    "dialects); accepted and logged once at start.",
)
JVM_ONLY_KEYS = (JVM_MEMORY, JVM_JAVA_OPTIONS, JVM_EXTRA_CLASSPATH)
SESSION_CONF_RESTRICT_LIST = list_entry(
    "kyuubi.session.conf.restrict.list",
    "",
    "Keys no session or statement may set (OpenSession configuration, SET, a statement's "
    "confOverlay): such a request is refused with a message naming the key. An entry ending in "
    ".* covers every key that starts with what comes before it.",
)
SESSION_CONF_IGNORE_LIST = list_entry(
    "kyuubi.session.conf.ignore.list",
    "",
    "Keys silently dropped from every session or statement override (OpenSession configuration, "
    "SET, a statement's confOverlay). An entry ending in .* covers every key that starts with what "
    "comes before it.",
)
LOG_FORMAT = str_entry(
    AGENT + "log.format",
    "text",
    "text: one readable line per record; json: one JSON object per line with time, level, logger, "
    "thread, session, operation and message (redacted as text lines are).",
    choices=("text", "json"),
)
DATASOURCE_CHECK = str_entry(
    AGENT + "datasource.check",
    "warn",
    "At start the engine checks that the datasource answers. warn: if it does not, log an ERROR, "
    "serve anyway (not ready) and check again in the background until it answers; fail: exit with "
    "code 1 instead.",
    choices=("warn", "fail"),
)
DATASOURCE_CHECK_INTERVAL = duration_entry(
    AGENT + "datasource.check.interval",
    "PT30S",
    "How often an engine whose datasource did not answer at start checks it again.",
    minimum=0.01,
    maximum=3600.0,
)
# --- end operating the engine ---

LOG_LEVEL = str_entry(
    "kyuubi.engine.data.agent.log.level",
    "INFO",
    "Log level of the engine.",
    choices=("DEBUG", "INFO", "WARNING", "ERROR"),
)
LOG_CONTENT = bool_entry(
    "kyuubi.engine.data.agent.log.content",
    "false",
    "Log prompts, model output and tool results (at DEBUG only).",
)


# --- REST frontend (engine.rest): the REST/SSE API and the web UI, beside the Thrift server -----
FRONTEND_PROTOCOLS_KNOWN = ("THRIFT_BINARY", "REST")


def _protocols_problem(values: tuple[str, ...]) -> str | None:
    unknown = [value for value in values if value.upper() not in FRONTEND_PROTOCOLS_KNOWN]
    if unknown:
        return f"unknown protocol {unknown[0][:40]}: choose from {', '.join(FRONTEND_PROTOCOLS_KNOWN)}"
    if not values:
        return "at least one protocol is needed"
    return None


FRONTEND_PROTOCOLS = list_entry(
    "kyuubi.frontend.protocols",
    "THRIFT_BINARY,REST",
    "Frontends the engine serves: THRIFT_BINARY (HiveServer2 binary Thrift) and REST (the REST/SSE "
    "API and the web UI). Kyuubi's other protocols (THRIFT_HTTP, MYSQL, TRINO) are not served.",
    validator=_protocols_problem,
)
REST_BIND_HOST = str_entry(
    "kyuubi.frontend.rest.bind.host",
    None,
    "Address the REST server binds; unset: the Thrift bind host.",
)
REST_BIND_PORT = int_entry(
    "kyuubi.frontend.rest.bind.port",
    "10099",
    "Port the REST server binds; 0 picks a free port. When left unset and 10099 is taken (another "
    "engine on this host), a free port is picked and logged.",
    minimum=0,
    maximum=65535,
)
REST_WORKER_THREADS = int_entry(
    "kyuubi.frontend.rest.max.worker.threads",
    "32",
    "Threads that run the REST API's blocking calls (logins, the store, the catalog); requests wait "
    "for one up to kyuubi.frontend.rest.worker.wait, then get 503.",
    minimum=1,
    maximum=1024,
)
REST_WORKER_WAIT = duration_entry(
    "kyuubi.frontend.rest.worker.wait",
    "PT30S",
    "How long a REST request waits for a free worker thread before it is refused as busy.",
    minimum=0.001,
    maximum=600.0,
)
REST_LOGIN_TIMEOUT = duration_entry(
    "kyuubi.frontend.rest.login.session.timeout",
    "PT8H",
    "A web UI login (POST /api/v1/login) ends after this long without a request.",
    minimum=1.0,
)
REST_LOGIN_MAX = int_entry(
    "kyuubi.frontend.rest.login.session.max",
    "10000",
    "Web UI logins kept at once; past it the least recently used one ends.",
    minimum=1,
    maximum=1_000_000,
)
REST_AUTH_CACHE_TTL = duration_entry(
    "kyuubi.frontend.rest.auth.cache.ttl",
    "PT1M",
    "How long a checked HTTP Basic user and password is remembered (as a keyed hash, in memory) so "
    "that API clients do not pay a password check (LDAP bind, argon2) on every request; 0: never.",
    minimum=0.0,
    maximum=3600.0,
)
REST_SSE_PING = duration_entry(
    "kyuubi.frontend.rest.sse.ping.interval",
    "PT15S",
    "An SSE stream silent this long gets a ping event (proxies and browsers keep it open).",
    minimum=0.05,
    maximum=300.0,
)
REST_MODELS = list_entry(
    "kyuubi.frontend.rest.models",
    "",
    "Model names the web UI offers besides kyuubi.engine.data.agent.model.",
)


class EngineConf:
    """Resolved, typed configuration. Immutable: overlays return a new object."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self._raw: dict[str, str] = dict(raw)
        self._values: dict[str, object] = {}
        for key, value in self._raw.items():
            entry = REGISTRY.get(key)
            if entry is None:
                continue  # unknown keys are kept verbatim (sessions carry hive/spark keys)
            self._values[key] = entry.parse(value)
        for relation in _RELATIONS:
            problem = relation(self)
            if problem:
                raise ConfigError(f"invalid configuration: {problem}")

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

    @overload
    def get(self, key: ConfigEntry[T]) -> T: ...
    @overload
    def get(self, key: str) -> object: ...
    def get(self, key: ConfigEntry[T] | str) -> T | object:
        """The typed value of an entry (or of a registered key given by name)."""
        entry = resolve_key(key)
        if entry.key in self._values:
            return self._values[entry.key]
        return entry.default_value()

    def is_set(self, key: ConfigEntry[T] | str) -> bool:
        return resolve_key(key).key in self._values

    def raw(self) -> dict[str, str]:
        """The explicitly given raw values (secrets included: never log this)."""
        return dict(self._raw)

    def secret_values(self) -> SecretRegistry:
        """Every secret value to mask in logs: each secret key's value and the password a URL-shaped
        secret carries (so that a URL shown without its password still hides the password)."""
        secrets = SecretRegistry()
        for key, value in self._raw.items():
            entry = REGISTRY.get(key)
            if entry is not None and entry.secret:
                secrets.add(value)
                secrets.add(url_password(value))
        return secrets

    def display(self) -> dict[str, str]:
        """Explicit values with every secret hidden, safe to log or show."""
        shown: dict[str, str] = {}
        for key, value in self._raw.items():
            entry = REGISTRY.get(key)
            shown[key] = MASK if entry is not None and entry.secret else value
        return shown

    def with_overlay(self, overlay: Mapping[str, str] | None, *, source: str = "session") -> EngineConf:
        """Return a conf with a session or statement overlay applied.

        Only ``overridable`` keys of the registry take effect; ``set:hiveconf:``/``set:hivevar:``
        prefixes (sent by Hive clients) are stripped. Other keys are kept but ignored. A bad value
        raises ConfigError naming the key. Policies over the result (the approval-mode floor, the
        known tool names) belong to the layers that own them and are checked by the session.
        """
        if not overlay:
            return self
        merged = dict(self._raw)
        for raw_key, value in overlay.items():
            key = strip_hive_prefix(raw_key)
            entry = REGISTRY.get(key)
            if entry is None:
                if key.startswith(AGENT):
                    raise ConfigError(f"unknown configuration key: {key[:200]}")
                continue
            if not entry.overridable:
                if key.startswith(AGENT):
                    raise ConfigError(f"{key} cannot be set per {source}; it is an engine setting")
                continue  # other engine keys forwarded by clients are ignored
            entry.parse(value)
            merged[key] = value
        return EngineConf(merged)

    def effective_provider(self) -> str:
        """ECHO unless configured, or unless an API key or endpoint was given without a provider."""
        if self.is_set(PROVIDER):
            return self.get(PROVIDER)
        if self.get(OPENAI_API_KEY) or self.get(OPENAI_ENDPOINT):
            return "OPENAI_COMPATIBLE"
        return "ECHO"


# Rules between keys, checked whenever a conf is built (the engine's, and each session or
# statement overlay): each returns the problem, or None.
_RELATIONS: tuple[Callable[[EngineConf], str | None], ...] = (_fetch_outlasts_approval,)
