"""The machinery of the configuration registry: typed entries, parsing and validation, the
registry itself, ``--conf``/``--conf-file`` input and the generated example file.

An entry is a :class:`ConfigEntry` parameterized by the Python type of its value, so that
``conf.get(MAX_ITERATIONS)`` is an ``int`` to the type checker and no caller converts. Entries are
declared with the ``*_entry`` functions below (in :mod:`engine.common.config`), which also fix the
bounds every number must have: an unbounded number is a value nobody can reason about. This module
is stdlib only.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypedDict, TypeVar, Unpack, cast, overload

from engine.common.errors import ConfigError

T = TypeVar("T")

# The longest duration any key accepts unless it says otherwise: a year. Longer waits are typos,
# and deadlines far beyond it overflow the monotonic clock arithmetic of some platforms.
MAX_DURATION = 365 * 86400.0

_DURATION_RE = re.compile(
    r"^P(?:(?P<d>\d{1,9}(?:\.\d{1,9})?)D)?(?:T(?:(?P<h>\d{1,9}(?:\.\d{1,9})?)H)?"
    r"(?:(?P<m>\d{1,9}(?:\.\d{1,9})?)M)?(?:(?P<s>\d{1,12}(?:\.\d{1,9})?)S)?)?$",
    re.IGNORECASE,
)
_MILLIS_RE = re.compile(r"\d{1,15}")
_INT_RE = re.compile(r"[-+]?\d{1,19}")
_MAX_RAW = 64 * 1024  # no configuration value is longer; a longer one is refused before parsing


def parse_duration(text: str) -> float:
    """Parse a Kyuubi duration: ISO-8601 (``PT3M``, ``PT0.2S``, ``P1D``) or plain milliseconds.

    Returns seconds as a float.
    """
    value = text.strip()
    if _MILLIS_RE.fullmatch(value):
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


def _parse_str(text: str) -> str:
    return text


def _parse_int(text: str) -> int:
    value = text.strip()
    if not _INT_RE.fullmatch(value):
        raise ValueError(f"not an integer: {text!r}")
    return int(value)


def _parse_float(text: str) -> float:
    value = float(text.strip())
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


_KINDS: dict[str, tuple[Callable[[str], object], str]] = {
    "str": (_parse_str, "a string"),
    "int": (_parse_int, "an integer"),
    "float": (_parse_float, "a number"),
    "bool": (_parse_bool, "true or false"),
    "duration": (parse_duration, "a duration such as PT30S or milliseconds"),
    "list": (_parse_list, "a comma-separated list"),
}


@dataclass(frozen=True)
class ConfigEntry(Generic[T]):
    """One configuration key: its type, default, doc and rules. ``T`` is its value's type."""

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
    validator: Callable[[T], str | None] | None = field(default=None, compare=False)
    # other spellings of a choice (Kyuubi's lowercase or class-name forms), matched case-insensitively
    aliases: tuple[tuple[str, str], ...] = ()

    def parse(self, raw: str) -> T:
        """Convert and validate a raw string; raises :class:`ConfigError` naming the key."""
        if len(raw) > _MAX_RAW:
            raise ConfigError(f"invalid value for {self.key}: longer than {_MAX_RAW} characters")
        parser, _ = _KINDS[self.type]
        try:
            value = parser(raw)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ConfigError(
                f"invalid value for {self.key}: {exc}; expected {self.describe_accepted()}"
            ) from None
        if self.choices is not None:
            normalized = str(value).strip().upper()
            allowed = {choice.upper(): choice for choice in self.choices}
            allowed.update((alias.upper(), choice) for alias, choice in self.aliases)
            if normalized not in allowed:
                raise ConfigError(
                    f"invalid value for {self.key}: {raw!r}; accepted values: {', '.join(self.choices)}"
                )
            value = allowed[normalized]
        if isinstance(value, int | float) and not isinstance(value, bool):
            if (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum
            ):
                raise ConfigError(
                    f"invalid value for {self.key}: {raw!r}; expected {self.describe_accepted()}"
                )
        typed = cast(T, value)
        if self.validator is not None:
            problem = self.validator(typed)
            if problem:
                raise ConfigError(f"invalid value for {self.key}: {problem}")
        return typed

    def default_value(self) -> T:
        """The parsed default (None for keys without one)."""
        if self.default is None:
            return cast(T, None)
        return self.parse(self.default)

    def describe_accepted(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(self.choices)
        kind = _KINDS[self.type][1]
        bounds = []
        if self.minimum is not None:
            bounds.append(f">= {self.minimum:g}")
        if self.maximum is not None:
            bounds.append(f"<= {self.maximum:g}")
        return kind + (" " + " and ".join(bounds) if bounds else "")


class ConfigRegistry:
    """The set of known entries. Built once at import time and then read-only."""

    def __init__(self) -> None:
        self._entries: dict[str, ConfigEntry[object]] = {}

    def register(self, entry: ConfigEntry[T]) -> ConfigEntry[T]:
        if entry.key in self._entries:
            raise ValueError(f"duplicate config key {entry.key}")
        if entry.type in ("int", "float", "duration") and entry.maximum is None:
            raise ValueError(f"config key {entry.key} needs a maximum")
        entry.default_value()  # defaults must be valid
        self._entries[entry.key] = cast(ConfigEntry[object], entry)
        return entry

    def get(self, key: str) -> ConfigEntry[object] | None:
        return self._entries.get(key)

    def entries(self) -> list[ConfigEntry[object]]:
        return list(self._entries.values())

    def __contains__(self, key: object) -> bool:
        return key in self._entries


REGISTRY = ConfigRegistry()


# --- declaring entries ------------------------------------------------------------------------------
# Each returns the registered entry typed by its value: Optional when the key has no default.
class _StrOptions(TypedDict, total=False):
    secret: bool
    choices: tuple[str, ...] | None
    env: tuple[str, ...]
    overridable: bool
    validator: Callable[[str], str | None] | None
    aliases: tuple[tuple[str, str], ...]


@overload
def str_entry(key: str, default: str, doc: str, **options: Unpack[_StrOptions]) -> ConfigEntry[str]: ...
@overload
def str_entry(
    key: str, default: None, doc: str, **options: Unpack[_StrOptions]
) -> ConfigEntry[str | None]: ...
def str_entry(
    key: str, default: str | None, doc: str, **options: Unpack[_StrOptions]
) -> ConfigEntry[str] | ConfigEntry[str | None]:
    """A string (``choices`` restricts it, ``validator`` returns an error message or None)."""
    return REGISTRY.register(ConfigEntry[str](key, "str", default, doc, **options))


@overload
def int_entry(
    key: str,
    default: str,
    doc: str,
    *,
    minimum: int,
    maximum: int,
    env: tuple[str, ...] = ...,
    overridable: bool = ...,
) -> ConfigEntry[int]: ...
@overload
def int_entry(
    key: str,
    default: None,
    doc: str,
    *,
    minimum: int,
    maximum: int,
    env: tuple[str, ...] = ...,
    overridable: bool = ...,
) -> ConfigEntry[int | None]: ...
def int_entry(
    key: str,
    default: str | None,
    doc: str,
    *,
    minimum: int,
    maximum: int,
    env: tuple[str, ...] = (),
    overridable: bool = False,
) -> ConfigEntry[int] | ConfigEntry[int | None]:
    return REGISTRY.register(
        ConfigEntry[int](
            key, "int", default, doc, minimum=minimum, maximum=maximum, env=env, overridable=overridable
        )
    )


@overload
def float_entry(
    key: str, default: str, doc: str, *, minimum: float, maximum: float, overridable: bool = ...
) -> ConfigEntry[float]: ...
@overload
def float_entry(
    key: str, default: None, doc: str, *, minimum: float, maximum: float, overridable: bool = ...
) -> ConfigEntry[float | None]: ...
def float_entry(
    key: str, default: str | None, doc: str, *, minimum: float, maximum: float, overridable: bool = False
) -> ConfigEntry[float] | ConfigEntry[float | None]:
    return REGISTRY.register(
        ConfigEntry[float](
            key, "float", default, doc, minimum=minimum, maximum=maximum, overridable=overridable
        )
    )


def duration_entry(
    key: str,
    default: str,
    doc: str,
    *,
    minimum: float,
    maximum: float = MAX_DURATION,
    overridable: bool = False,
) -> ConfigEntry[float]:
    """A duration in seconds (written as ISO-8601 or milliseconds)."""
    return REGISTRY.register(
        ConfigEntry[float](
            key, "duration", default, doc, minimum=minimum, maximum=maximum, overridable=overridable
        )
    )


def bool_entry(key: str, default: str, doc: str, *, overridable: bool = False) -> ConfigEntry[bool]:
    return REGISTRY.register(ConfigEntry[bool](key, "bool", default, doc, overridable=overridable))


def list_entry(
    key: str,
    default: str,
    doc: str,
    *,
    overridable: bool = False,
    validator: Callable[[tuple[str, ...]], str | None] | None = None,
) -> ConfigEntry[tuple[str, ...]]:
    return REGISTRY.register(
        ConfigEntry[tuple[str, ...]](key, "list", default, doc, overridable=overridable, validator=validator)
    )


def resolve_key(key_or_entry: str | ConfigEntry[T]) -> ConfigEntry[T] | ConfigEntry[object]:
    if isinstance(key_or_entry, ConfigEntry):
        return key_or_entry
    entry = REGISTRY.get(key_or_entry)
    if entry is None:
        raise ConfigError(f"unknown configuration key: {key_or_entry}")
    return entry


# --- input ------------------------------------------------------------------------------------------
def parse_conf_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``k=v`` strings from ``--conf`` into a dict; a malformed pair is a ConfigError."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"malformed --conf {pair.split('=')[0][:200]!r}: expected key=value")
        result[key.strip()] = value.strip()
    return result


def read_conf_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read a Kyuubi-style defaults file: ``key=value`` or ``key value`` lines, ``#`` comments."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config file {path}: it is not UTF-8 text") from None
    result: dict[str, str] = {}
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        key, value = _split_line(line)
        if not key:
            raise ConfigError(f"{path}:{number}: expected 'key=value' or 'key value'")
        result[key] = value
    return result


def _split_line(line: str) -> tuple[str, str]:
    """``key=value`` or ``key value`` (the first '=' or whitespace ends the key)."""
    for index, char in enumerate(line):
        if char == "=" or char.isspace():
            key, rest = line[:index], line[index:].lstrip()
            if rest.startswith("=") and char != "=":
                rest = rest[1:]
            elif char == "=":
                rest = rest[1:]
            return key, rest.strip()
    return "", ""


HIVE_PREFIXES = ("set:hiveconf:", "set:hivevar:", "set:system:", "set:")


def strip_hive_prefix(key: str) -> str:
    for prefix in HIVE_PREFIXES:
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
