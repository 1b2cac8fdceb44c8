"""Secret masking: for displayed URLs, command lines, error text and every log record."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

MASK = "*********(redacted)"

# Credential shapes that must never reach a log line or an error message.
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # PEM private keys (any kind), whole block
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----", re.S), MASK),
    # Authorization headers
    (re.compile(r"(?i)\b(authorization\s*[:=]\s*)(?:bearer|basic|token)?\s*[^\s,;'\"]+"), r"\1" + MASK),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer " + MASK),
    # JWTs
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\b"), MASK),
    # Anthropic and OpenAI keys
    (re.compile(r"\bsk-ant-[A-Za-z0-9_-]{10,}"), MASK),
    (re.compile(r"\bsk-(?:proj-|live-|test-)?[A-Za-z0-9_-]{16,}"), MASK),
    # Stripe keys
    (re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}"), MASK),
    # AWS access key ids and secret keys in assignments
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b"), MASK),
    # Google API keys
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), MASK),
    # Slack tokens
    (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), MASK),
    # GitHub tokens
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})"), MASK),
    # URL passwords: scheme://user:password@host
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), r"\1" + MASK + "@"),
    # key=value / key: value pairs with secret-looking keys (also JDBC ;password=...;)
    (
        re.compile(
            r"(?i)\b((?:[a-z0-9_.-]*?)(?:password|passwd|pwd|secret|api[_.-]?key|access[_.-]?key|token)"
            r"[a-z0-9_.-]*\s*[=:]\s*)(?:\"[^\"]*\"|'[^']*'|[^\s&;,'\"]+)"
        ),
        r"\1" + MASK,
    ),
]


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known secret values and every credential shape in ``text``."""
    if not text:
        return text
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class SecretRegistry:
    """Exact secret values known at run time (API key, JDBC URL and its password)."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, value: str | None) -> None:
        if value and len(value) >= 4:
            self._values.add(value)

    def values(self) -> frozenset[str]:
        return frozenset(self._values)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the rendered message and in exception text."""

    def __init__(self, secrets: SecretRegistry | None = None) -> None:
        super().__init__()
        self._secrets = secrets or SecretRegistry()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact_text(message, self._secrets.values())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(formatted, self._secrets.values())
            record.exc_info = None
        return True
