"""Per-user limits: a statement rate, concurrent agent runs, LLM tokens per day. All off by default.

- ``user.statements.per.minute`` and ``user.statements.burst``: a token bucket per user that holds
  ``burst`` statements and refills at ``per.minute / 60`` a second. The operation manager asks
  before it builds an operation; control statements (``__approve:``/``__deny:``, ``SET``, ``USE``,
  a JDBC validation probe, ``__attach:``) are not counted.
- ``user.max.concurrent.runs``: agent runs going on at once, detached ones included (the run hub
  asks when a run begins and tells when it ends).
- ``user.tokens.per.day``: prompt + completion tokens of the user's runs on the current UTC day. A
  run is refused once the count reaches the limit (a run under way is not cut). The count is kept
  in a :class:`TokenLedger` (the run store, or :class:`FileTokenLedger` under the work directory)
  so that a restart does not reset it; each user's count is read once a day and then kept here.

A refusal is a :class:`~engine.common.errors.RateLimitedError` naming the limit and when to retry,
and is counted in ``data_agent_rate_limited_total{limit}``. Administrators
(``kyuubi.server.administrators``) are exempt. One lock for everything; every check is O(1) (a
user's first check of a day may read the ledger, outside the lock).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

from engine.common import statement as stmt
from engine.common.config import (
    AGENT,
    USER_MAX_CONCURRENT_RUNS,
    USER_STATEMENTS_BURST,
    USER_STATEMENTS_PER_MINUTE,
    USER_TOKENS_PER_DAY,
    EngineConf,
)
from engine.common.errors import RateLimitedError
from engine.common.metrics import Metrics, NoMetrics
from engine.common.record import TokenUsage

log = logging.getLogger(__name__)

# Statements that never count towards a user's statement rate: approvals and settings, the probes
# JDBC pools send to validate connections, and following a run (which starts nothing).
CONTROL_STATEMENTS = (stmt.Approval, stmt.SetStatement, stmt.UseDatabase, stmt.Probe, stmt.Attach)

RUN_RETRY = 5.0  # seconds suggested to a user at their run limit (a run's end is not predictable)


def _label(key: str) -> str:
    """The metric label of a limit: its key without the agent prefix (``user.tokens.per.day``)."""
    return key.removeprefix(AGENT)


def utc_today() -> date:
    return datetime.now(UTC).date()


def _until_midnight() -> float:
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return max(1.0, (midnight - now).total_seconds())


def _in(seconds: float) -> str:
    if seconds < 60:
        return f"{max(seconds, 0.1):.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


class TokenLedger(Protocol):
    """Where the tokens users spent are kept (:class:`engine.store.RunStore` satisfies it)."""

    def token_usage(self, user: str, day: date | None = None) -> TokenUsage: ...

    def add_token_usage(
        self, user: str, prompt: int, completion: int, *, day: date | None = None
    ) -> None: ...


class FileTokenLedger:
    """Token counts in one JSON file (an engine without the run store): ``{day: {user: [prompt,
    completion]}}`` for today and yesterday, rewritten atomically on every addition."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._days: dict[str, dict[str, list[int]]] = self._read()

    def _read(self) -> dict[str, dict[str, list[int]]]:
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("cannot read the token counts in %s (%s); counting from 0", self.path, exc)
            return {}
        if not isinstance(loaded, dict):
            return {}
        days: dict[str, dict[str, list[int]]] = {}
        for day, users in loaded.items():
            if isinstance(users, dict):
                days[str(day)] = {
                    str(user): [int(counts[0]), int(counts[1])]
                    for user, counts in users.items()
                    if isinstance(counts, list) and len(counts) == 2
                }
        return days

    def token_usage(self, user: str, day: date | None = None) -> TokenUsage:
        when = day or utc_today()
        with self._lock:
            prompt, completion = self._days.get(when.isoformat(), {}).get(user, [0, 0])
        return TokenUsage(user, when, prompt, completion)

    def add_token_usage(self, user: str, prompt: int, completion: int, *, day: date | None = None) -> None:
        when = day or utc_today()
        keep = {when.isoformat(), (when - timedelta(days=1)).isoformat()}
        with self._lock:
            counts = self._days.setdefault(when.isoformat(), {}).setdefault(user, [0, 0])
            counts[0] += prompt
            counts[1] += completion
            self._days = {day: users for day, users in self._days.items() if day in keep}
            text = json.dumps(self._days, separators=(",", ":"))
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                partial = self.path.with_suffix(".tmp")
                partial.write_text(text, encoding="utf-8")
                os.replace(partial, self.path)
            except OSError as exc:
                log.warning("cannot write the token counts to %s: %s", self.path, exc)


@dataclass(frozen=True)
class LimitSettings:
    """The limits in force (0: off)."""

    per_minute: int = 0
    burst: int = 0
    max_runs: int = 0
    tokens_per_day: int = 0

    @classmethod
    def from_conf(cls, conf: EngineConf) -> LimitSettings:
        per_minute = conf.get(USER_STATEMENTS_PER_MINUTE) or 0
        return cls(
            per_minute=per_minute,
            burst=(conf.get(USER_STATEMENTS_BURST) or per_minute) if per_minute else 0,
            max_runs=conf.get(USER_MAX_CONCURRENT_RUNS) or 0,
            tokens_per_day=conf.get(USER_TOKENS_PER_DAY) or 0,
        )


class UserLimits:
    """The per-user limits of one engine (see the module docstring). Thread-safe, one lock."""

    def __init__(
        self,
        settings: LimitSettings,
        *,
        administrators: Iterable[str] = (),
        ledger: TokenLedger | None = None,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.administrators = frozenset(administrators)
        self.ledger = ledger
        self.metrics: Metrics = metrics or NoMetrics()
        self._clock = clock
        self._rate = settings.per_minute / 60.0  # statements a second
        self._lock = threading.Lock()
        self._buckets: dict[str, list[float]] = {}  # user -> [tokens, last refill]
        self._runs: dict[str, int] = {}  # user -> runs going on
        self._spent: dict[str, tuple[date, int]] = {}  # user -> (day, tokens that day)

    def _refuse(self, user: str, key: str, message: str, retry_after: float) -> RateLimitedError:
        self.metrics.rate_limited(_label(key), user)
        log.info("refused a statement of %s: %s", user, message)
        return RateLimitedError(message, limit=key, retry_after_seconds=retry_after)

    # --- statements ------------------------------------------------------------------------------
    def admit_statement(self, user: str) -> None:
        """Take one statement from ``user``'s bucket, or raise RateLimitedError."""
        burst = self.settings.burst
        if not burst or user in self.administrators:
            return
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(user)
            if bucket is None:
                bucket = self._buckets[user] = [float(burst), now]
            bucket[0] = min(float(burst), bucket[0] + (now - bucket[1]) * self._rate)
            bucket[1] = now
            if bucket[0] >= 1.0:
                bucket[0] -= 1.0
                return
            wait = (1.0 - bucket[0]) / self._rate
        raise self._refuse(
            user,
            USER_STATEMENTS_PER_MINUTE.key,
            f"user {user} sent more than {burst} statements at once; the limit is "
            f"{self.settings.per_minute} a minute ({USER_STATEMENTS_PER_MINUTE.key}, "
            f"{USER_STATEMENTS_BURST.key}={burst}); retry in {_in(wait)}",
            wait,
        )

    # --- runs ------------------------------------------------------------------------------------
    def begin_run(self, user: str) -> None:
        """An agent run of ``user`` is about to begin: refused over the run or the token limit.
        Every successful call is paired with one :meth:`end_run`."""
        if user in self.administrators:
            return
        limit = self.settings.tokens_per_day
        if limit:
            spent = self.tokens_today(user)
            if spent >= limit:
                wait = _until_midnight()
                raise self._refuse(
                    user,
                    USER_TOKENS_PER_DAY.key,
                    f"user {user} has spent {spent} LLM tokens today, the daily limit "
                    f"({USER_TOKENS_PER_DAY.key}={limit}); retry after 00:00 UTC, in {_in(wait)}",
                    wait,
                )
        most = self.settings.max_runs
        if not most:
            return
        with self._lock:
            going = self._runs.get(user, 0)
            if going < most:
                self._runs[user] = going + 1
                return
        raise self._refuse(
            user,
            USER_MAX_CONCURRENT_RUNS.key,
            f"user {user} already has {going} runs going on, the limit "
            f"({USER_MAX_CONCURRENT_RUNS.key}={most}); retry when one of them ends "
            f"(stop one with CancelOperation, or try again in {RUN_RETRY:g} s)",
            RUN_RETRY,
        )

    def end_run(self, user: str) -> None:
        if not self.settings.max_runs or user in self.administrators:
            return
        with self._lock:
            going = self._runs.get(user, 0) - 1
            if going > 0:
                self._runs[user] = going
            else:
                self._runs.pop(user, None)

    # --- tokens ----------------------------------------------------------------------------------
    def tokens_today(self, user: str) -> int:
        """The tokens ``user`` spent today (read from the ledger once a day, then kept here)."""
        today = utc_today()
        with self._lock:
            known = self._spent.get(user)
            if known is not None and known[0] == today:
                return known[1]
        spent = 0
        if self.ledger is not None:
            try:
                spent = self.ledger.token_usage(user, today).total
            except Exception as exc:  # the store is down: count from what this process saw
                log.warning("cannot read the tokens %s spent today: %s", user, exc)
                return 0
        with self._lock:
            known = self._spent.get(user)
            if known is None or known[0] != today:
                self._spent[user] = (today, spent)
                return spent
            return known[1]

    def spend(self, user: str, prompt: int, completion: int) -> None:
        """Tokens a run of ``user`` spent: counted here, kept in the ledger (queued to the store,
        or written to the file) and recorded in the token metric."""
        if prompt <= 0 and completion <= 0:
            return
        today = utc_today()
        with self._lock:
            known = self._spent.get(user)
            if known is not None and known[0] == today:
                self._spent[user] = (today, known[1] + prompt + completion)
        self.metrics.llm_tokens(prompt, completion, user)
        if self.ledger is not None:
            self.ledger.add_token_usage(user, prompt, completion, day=today)
