"""What ``SET`` shows: the effective value of a setting (engine, then the session's overlay),
with secrets masked, and the list of the effective agent settings.

A value is masked when its key is a secret one (API key, JDBC URL, store URL) or when the key or
the value matches ``kyuubi.server.redaction.regex`` (Kyuubi's meaning of that key). That regex is
compiled with RE2, so a value a user SETs can never make it backtrack.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import re2

from engine.common.config import AGENT, REDACTION_REGEX, REGISTRY, EngineConf
from engine.common.redaction import MASK, redact_text


@lru_cache(maxsize=8)
def _pattern(text: str) -> re2._Regexp | None:
    if not text:
        return None
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(text, options)
    except re2.error:
        return None  # the engine refused it at start; a session cannot change it


def shown(conf: EngineConf, key: str, value: str) -> str:
    """``value`` as ``SET`` may show it."""
    entry = REGISTRY.get(key)
    if entry is not None and entry.secret:
        return MASK
    pattern = _pattern(conf.get(REDACTION_REGEX) or "")
    if pattern is not None and (pattern.search(key) or pattern.search(value)):
        return MASK
    return redact_text(value)


def effective_value(conf: EngineConf, overlay: Mapping[str, str], key: str) -> str | None:
    """The text of ``key``'s effective value; None when it has none. A registered key's is the
    session's (when the key may be set per session), the engine's, or the registry's default; any
    other key's is what the session set (kept for Hive clients, not used by the engine)."""
    entry = REGISTRY.get(key)
    if entry is None:
        return overlay.get(key)
    return conf.raw().get(key, entry.default)


def effective_settings(conf: EngineConf, overlay: Mapping[str, str]) -> list[tuple[str, str]]:
    """``SET``: every agent setting that has a value, and every other key the session set, sorted,
    each value as it may be shown."""
    keys = {entry.key for entry in REGISTRY.entries() if entry.key.startswith(AGENT)} | set(overlay)
    listed = []
    for key in sorted(keys):
        value = effective_value(conf, overlay, key)
        if value is not None:
            listed.append((key, shown(conf, key, value)))
    return listed
