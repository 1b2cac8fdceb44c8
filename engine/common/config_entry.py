"""The machinery of the configuration registry: typed entries, parsing and validation, the
registry itself, ``--conf``/``--conf-file`` input and the generated example file.

The entries are declared in :mod:`engine.common.config`. This module is stdlib only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.common.errors import ConfigError

_DURATION_RE = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


def parse_duration(text: str) -> float:
    """Parse a Kyuubi duration: ISO-8601 (``PT3M``, ``PT0.2S``, ``P1D``) or plain milliseconds.

    Returns seconds as a float.
    """
    value = text.strip()
    if re.fullmatch(r"\d+", value):
        return int(value) / 1000.0
    match = _DURATION_RE.match(value)
    if not match or value.upper() in ("P", "PT"):
        raise ValueError(f"not a duration: {text!r} (use ISO-8601 such as PT3M or PT0.5S, or milliseconds)")
    parts = match.groupdict()
    seconds = 0.0
    for unit, factor in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if parts[unit]:
            seconds += float(parts[unit]) * factor
    return seconds


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": lambda text: text,
    "int": lambda text: int(text.strip()),
    "float": lambda text: float(text.strip()),
    "bool": _parse_bool,
    "duration": parse_duration,
    "list": _parse_list,
}


@dataclass(frozen=True)
class ConfigEntry:
    """One configuration key: its type, default, doc and rules."""

    key: str
    type: str  # str | int | float | bool | duration | list
    default: str | None
    doc: str
    secret: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    env: tuple[str, ...] = ()
    overridable: bool = False  # may a session configuration or statement confOverlay set it?
    validator: Callable[[Any], str | None] | None = field(default=None, compare=False)

    def parse(self, raw: str) -> Any:
        """Convert and validate a raw string; raises :class:`ConfigError` naming the key."""
        try:
            value = _PARSERS[self.type](raw)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"invalid value for {self.key}: {exc}; expected {self.describe_accepted()}"
            ) from None
        if self.choices is not None:
            normalized = str(value).strip().upper()
            allowed = {choice.upper(): choice for choice in self.choices}
            if normalized not in allowed:
                raise ConfigError(
                    f"invalid value for {self.key}: {raw!r}; accepted values: {', '.join(self.choices)}"
                )
            value = allowed[normalized]
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(f"invalid value for {self.key}: {raw!r}; expected {self.describe_accepted()}")
        if self.maximum is not None and value > self.maximum:
            raise ConfigError(f"invalid value for {self.key}: {raw!r}; expected {self.describe_accepted()}")
        if self.validator is not None:
            problem = self.validator(value)
            if problem:
                raise ConfigError(f"invalid value for {self.key}: {problem}")
        return value

    def describe_accepted(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        kind = {
            "str": "a string",
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "duration": "a duration such as PT30S or milliseconds",
            "list": "a comma-separated list",
        }[self.type]
        bounds = []
        if self.minimum is not None:
            bounds.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            bounds.append(f"<= {self.maximum:g}")
        return kind + (" " + " and ".join(bounds) if bounds else "")


class ConfigRegistry:
    """The set of known entries. Built once at import time and then read-only."""

    def __init__(self) -> None:
        self._entries: dict[str, ConfigEntry] = {}

    def register(self, entry: ConfigEntry) -> ConfigEntry:
        if entry.key in self._entries:
            raise ValueError(f"duplicate config key {entry.key}")
        if entry.default is not None:
            entry.parse(entry.default)  # defaults must be valid
        self._entries[entry.key] = entry
        return entry

    def get(self, key: str) -> ConfigEntry | None:
        return self._entries.get(key)

    def entries(self) -> list[ConfigEntry]:
        return list(self._entries.values())

    def __contains__(self, key: object) -> bool:
        return key in self._entries


REGISTRY = ConfigRegistry()


def resolve_key(key_or_entry: str | ConfigEntry) -> ConfigEntry:
    if isinstance(key_or_entry, ConfigEntry):
        return key_or_entry
    entry = REGISTRY.get(key_or_entry)
    if entry is None:
        raise ConfigError(f"unknown configuration key: {key_or_entry}")
    return entry


def parse_conf_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``k=v`` strings from ``--conf`` into a dict; a malformed pair is a ConfigError."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"malformed --conf {pair.split('=')[0]!r}: expected key=value")
        result[key.strip()] = value.strip()
    return result


def read_conf_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a Kyuubi-style defaults file: ``key=value`` or ``key value`` lines, ``#`` comments."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    result: dict[str, str] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"^([^\s=]+)\s*(?:=|\s)\s*(.*)$", line)
        if not match:
            raise ConfigError(f"{path}:{number}: expected 'key=value' or 'key value'")
        result[match.group(1)] = match.group(2).strip()
    return result


def strip_hive_prefix(key: str) -> str:
    for prefix in ("set:hiveconf:", "set:hivevar:", "set:system:", "set:"):
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def render_example() -> str:
    """The text of ``conf/engine.conf.example``, generated from the registry."""
    lines = [
        "# Data Agent Engine configuration example. GENERATED from engine/common/config.py:",
        "#   python -m engine --print-conf-example > conf/engine.conf.example",
        "# Format: 'key=value' per line. Precedence: --conf, then --conf-file, then environment",
        "# variables (for secrets), then these defaults. Secrets belong in the environment.",
        "",
    ]
    for entry in sorted(REGISTRY.entries(), key=lambda item: item.key):
        lines.extend("# " + doc_line for doc_line in _wrap(entry.doc))
        if entry.choices:
            lines.append("# accepted: " + ", ".join(entry.choices))
        if entry.env:
            lines.append("# environment: " + ", ".join(entry.env))
        if entry.secret:
            lines.append("# secret: never put it on a command line")
        if entry.overridable:
            lines.append("# may be overridden per session (OpenSession configuration, SET) and per statement")
        default = "" if entry.default is None else entry.default
        lines.append(f"#{entry.key}={default}")
        lines.append("")
    return "\n".join(lines)


def _wrap(text: str, width: int = 98) -> list[str]:
    words = text.split()
    lines: list[str] = []
    current = ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines
