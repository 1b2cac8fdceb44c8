"""Secret masking: for displayed URLs, command lines, error text and every log record.

Every pattern here runs over text a client controls (user names, method names, statements), on
every log record, so each one is linear in the length of its input:

* no nested or adjacent unbounded repeats, and unbounded repeats are possessive (``*+``, ``++``)
  so a failed attempt never backtracks into them;
* every pattern starts with a literal or a small character set (fast to skip to), and where an
  unbounded run follows that start, a lookbehind admits only the first start of a run, so no two
  attempts scan the same run (``-eyJ-eyJ-eyJ…`` would otherwise be quadratic);
* PEM blocks are found with two forward searches instead of a lazy ``.*?`` per BEGIN line.

Log records are also capped (:data:`MAX_LOG_CHARS`) before any pattern runs, and log lines that
echo client input cut it to a short prefix first (:func:`clip`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Protocol

MASK = "*********(redacted)"
MAX_LOG_CHARS = 32 * 1024  # a log record's message (and its traceback) is cut beyond this
CLIP_CHARS = 64  # client-supplied names echoed in log lines and messages

_PEM_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----")
_PEM_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----")

_B64 = r"[A-Za-z0-9_-]"  # base64url: JWT segments and most API keys


# Credential shapes that must never reach a log line or an error message. Each pattern starts
# with a literal, so the regex engine skips ahead with a fast search instead of trying every
# position (a case-insensitive pattern would lose that). Group 1 is kept, group 2 is the secret
# and is masked. A word boundary before the literal is a lookbehind placed after it. _CASED
# patterns run over the text itself, _CASELESS ones (written in lowercase) over a lowercase copy.
_CASED: list[re.Pattern[str]] = [
    # JWTs: three base64url segments; only the first eyJ of a run may start one
    re.compile(rf"()(eyJ(?<!{_B64}eyJ){_B64}{{5,}}+\.{_B64}{{5,}}+\.{_B64}{{5,}}+)"),
    # Anthropic and OpenAI keys
    re.compile(rf"()(sk-(?<!\wsk-)(?:ant-{_B64}{{10,}}+|(?:proj-|live-|test-)?{_B64}{{16,}}+))"),
    # Stripe keys: sk_live_..., rk_test_..., pk_live_... (the literal is the part after the
    # first letter; the prefix stays visible)
    re.compile(
        r"(k_(?:live|test)_)(?<=[srp]k_live_|[srp]k_test_)(?<!\w.k_live_)(?<!\w.k_test_)([A-Za-z0-9]{10,}+)"
    ),
    # AWS access key ids
    re.compile(r"()(A(?<!\wA)(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA)[A-Z0-9]{16})(?!\w)"),
    # Google API keys
    re.compile(rf"()(AIza(?<!\wAIza){_B64}{{35}})(?!\w)"),
    # Slack tokens
    re.compile(r"()(xox(?<!\wxox)[abposr]-[A-Za-z0-9-]{10,}+)"),
    # GitHub tokens
    re.compile(r"()(g(?<!\wg)(?:h[pousr]_[A-Za-z0-9]{30,}+|ithub_pat_[A-Za-z0-9_]{30,}+))"),
    # URL passwords: scheme://user:password@host (the scheme needs no matching to be kept)
    re.compile(r"(://[^/\s:@]*+:)([^@\s/]++)(?=@)"),
]
_VALUE = r"\s*+[=:]\s*+)(\"[^\"]*+\"?|'[^']*+'?|[^\s&;,'\"]++)"
_CASELESS: list[re.Pattern[str]] = [
    # Authorization headers: the scheme and credentials after the header name
    re.compile(
        r"(authorization(?<!\wauthorization)\s*+[:=]\s*+)((?:(?:bearer|basic|token)\s++)?[^\s,;'\"]++)"
    ),
    re.compile(r"(bearer(?<!\wbearer)\s++)([a-z0-9._~+/=-]{8,}+)"),
    # key=value / key: value pairs whose key holds a secret-looking word (also JDBC ;password=…;
    # and a quoted value cut short by a log cap). The part of the key before the word is not
    # matched, so no run of key characters is scanned twice; the part after it is bounded (32).
    *(
        re.compile("(" + word + r"[a-z0-9_.-]{0,32}+" + _VALUE)
        for word in (r"passw(?:or)?d", "pwd", "secret", r"api[_.-]?key", r"access[_.-]?key", "token")
    ),
]


def _keep_and_mask(match: re.Match[str]) -> str:
    # A function, not the template r"\1...": Python 3.11 expands templates more slowly.
    return match.group(1) + MASK


PATTERNS: tuple[re.Pattern[str], ...] = (_PEM_BEGIN, _PEM_END, *_CASED, *_CASELESS)  # for audits and tests


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known secret values and every credential shape in ``text`` (linear time)."""
    if not text:
        return text
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    if "PRIVATE KEY-----" in text:
        text = _mask_pem(text)
    for pattern in _CASED:
        text = pattern.sub(_keep_and_mask, text)
    # U+0130 is the one character whose lowercase is two characters long: keep offsets aligned.
    lowered = text.lower() if text.isascii() else text.replace("\u0130", "i").lower()
    if lowered == text:  # nothing to lowercase: substitute in place
        for pattern in _CASELESS:
            text = pattern.sub(_keep_and_mask, text)
        return text
    spans = [match.span(2) for pattern in _CASELESS for match in pattern.finditer(lowered)]
    return _mask(text, spans) if spans else text


def _mask_pem(text: str) -> str:
    """Mask each PEM private key block; a block whose END line is missing (a cut log line) is
    masked to the end of the text."""
    spans: list[tuple[int, int]] = []
    position = 0
    while (begin := _PEM_BEGIN.search(text, position)) is not None:
        end = _PEM_END.search(text, begin.end())
        position = len(text) if end is None else end.end()
        spans.append((begin.start(), position))
    return _mask(text, spans) if spans else text


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each span (merged where they overlap) replaced by the mask."""
    spans.sort()
    kept: list[str] = []
    position = 0
    for start, end in spans:
        if start >= position:
            kept.append(text[position:start])
            position = end
        elif end > position:  # overlaps the span before: extend it
            position = end
    kept.append(text[position:])
    return MASK.join(kept)


def cap_text(text: str, limit: int = MAX_LOG_CHARS) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters cut]"


def clip(value: object, limit: int = CLIP_CHARS) -> str:
    """Client-supplied text (a user, mechanism or method name) for a log line or an error
    message: as is when short and printable, else quoted with control characters escaped and cut
    to ``limit`` characters (or bytes)."""
    if isinstance(value, (bytes, bytearray)):
        shown, total, unit = bytes(value[:limit]).decode("utf-8", "backslashreplace"), len(value), "bytes"
    else:
        text = str(value)
        shown, total, unit = text[:limit], len(text), "characters"
        if total <= limit and text.isprintable():
            return text
    if total <= limit:
        return repr(shown)
    return f"{shown!r}… ({total} {unit})"


class TextPattern(Protocol):
    """A compiled pattern of the operator's (``kyuubi.server.redaction.regex``), compiled where a
    linear-time engine (RE2) is at hand; each match is masked."""

    def sub(self, repl: str, string: str) -> str: ...


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
    """A logging filter that caps and masks the rendered message and the exception text.

    Known secret values are replaced before the cap, so a cut never leaves half of one behind.
    """

    def __init__(self, secrets: SecretRegistry | None = None, extra: TextPattern | None = None) -> None:
        super().__init__()
        self._secrets = secrets or SecretRegistry()
        self._extra = extra

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = self._clean(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self._clean(formatted)
            record.exc_info = None
        return True

    def _clean(self, text: str) -> str:
        secrets = self._secrets.values()
        if secrets:
            for secret in sorted(secrets, key=len, reverse=True):
                text = text.replace(secret, MASK)
        text = redact_text(cap_text(text))
        return self._extra.sub(MASK, text) if self._extra is not None else text
