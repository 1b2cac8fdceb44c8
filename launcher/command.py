"""The engine's command line and environment, and their redacted display form.

Secrets never go on argv: every ``secret`` registry entry (the LLM API key, the whole JDBC URL)
travels to the child in the environment variable the engine reads it from. Everything else is
passed as ``--conf k=v``. :meth:`EngineCommand.redacted` is what may be printed or logged.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import re2

from engine.common.config import REDACTION_REGEX, REGISTRY
from engine.common.errors import ConfigError
from engine.common.redaction import MASK

PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)


def _compile(regex: str) -> re2._Regexp:
    """``kyuubi.server.redaction.regex`` in RE2: linear time over any value of the command line."""
    options = re2.Options()
    options.log_errors = False
    try:
        return re2.compile(regex, options)
    except re2.error:
        raise ConfigError(f"invalid value for {REDACTION_REGEX.key}: RE2 cannot compile it") from None


@dataclass(frozen=True)
class EngineCommand:
    """``python -m engine --conf k=v ...`` for one engine, from resolved raw configuration."""

    conf: Mapping[str, str]
    python: str = field(default_factory=lambda: sys.executable)
    redaction_regex: str = REDACTION_REGEX.default or ""

    def _split(self) -> tuple[dict[str, str], dict[str, str]]:
        """(argv pairs, environment secrets)."""
        pairs: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for key, value in self.conf.items():
            entry = REGISTRY.get(key)
            if entry is not None and entry.secret:
                if not entry.env:
                    raise ConfigError(f"{key} is secret but has no environment variable to pass it safely")
                if value:
                    secrets[entry.env[0]] = value
            else:
                pairs[key] = value
        return pairs, secrets

    def argv(self) -> list[str]:
        pairs, _ = self._split()
        argv = [self.python, "-m", "engine"]
        for key in sorted(pairs):
            argv += ["--conf", f"{key}={pairs[key]}"]
        return argv

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The child's environment: ``base`` (default: ours), the secrets, and our PYTHONPATH."""
        env = dict(os.environ if base is None else base)
        _, secrets = self._split()
        for entry in REGISTRY.entries():  # no stale secret from our own environment leaks through
            if entry.secret:
                for name in entry.env:
                    env.pop(name, None)
        env.update(secrets)
        path = env.get("PYTHONPATH", "")
        if PROJECT_ROOT not in path.split(os.pathsep):
            env["PYTHONPATH"] = PROJECT_ROOT + (os.pathsep + path if path else "")
        return env

    def secret_values(self) -> list[str]:
        _, secrets = self._split()
        return list(secrets.values())

    def redacted(self) -> str:
        """Display form: secrets shown as masked environment variables, sensitive pairs masked."""
        pattern = _compile(self.redaction_regex) if self.redaction_regex else None
        _, secrets = self._split()
        shown = [f"{name}={MASK}" for name in sorted(secrets)]
        argv = self.argv()
        for index, arg in enumerate(argv):
            key, sep, value = arg.partition("=")
            if sep and index > 0 and argv[index - 1] == "--conf" and pattern is not None:
                if pattern.search(key) or pattern.search(value):
                    arg = f"{key}={MASK}"
            shown.append(arg)
        return shlex.join(shown)
