"""Driver exceptions turned into short, credential-free error text: the first line of the root cause."""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.common.redaction import redact_text


def root_cause(exc: BaseException) -> BaseException:
    """The driver's own exception behind SQLAlchemy wrappers and ``raise ... from`` chains."""
    seen: set[int] = set()
    current = exc
    while id(current) not in seen:
        seen.add(id(current))
        inner = getattr(current, "orig", None)
        if isinstance(inner, BaseException):
            current = inner
            continue
        if current.__cause__ is not None:
            current = current.__cause__
            continue
        break
    return current


def first_line(exc: BaseException) -> str:
    cause = root_cause(exc)
    args: tuple[object, ...] = tuple(getattr(cause, "args", ()))
    # PyMySQL errors are (code, message)
    if len(args) == 2 and isinstance(args[0], int) and isinstance(args[1], str):
        text = args[1]
    else:
        text = str(cause)
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("ERROR:"):  # libpq prefixes
            line = line[len("ERROR:") :].strip()
        if line:
            return line
    return type(cause).__name__


def describe(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """The first line of ``exc``'s root cause with every known secret and credential shape masked."""
    text = first_line(exc)
    # MySQL's "(using password: YES)" says whether one was sent, not what it was
    text = re.sub(
        r"\(using password: (YES|NO)\)",
        lambda m: "(with a password)" if m.group(1) == "YES" else "(without a password)",
        text,
    )
    if len(text) > 500:
        text = text[:500] + "..."
    return redact_text(text, [secret for secret in secrets if secret])
