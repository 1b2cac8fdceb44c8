"""Kyuubi's ``kyuubi.session.conf.restrict.list`` and ``kyuubi.session.conf.ignore.list``, applied
to every override a client sends: its OpenSession configuration, ``SET`` and a statement's
confOverlay. A restricted key is refused with a message that names it; an ignored key is dropped
without a word to the client (one DEBUG line in the log). An entry ending in ``.*`` covers every
key that starts with what comes before it, as in Kyuubi."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from engine.common import config
from engine.common.config import EngineConf, strip_hive_prefix
from engine.common.errors import ConfigError
from engine.common.redaction import clip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _KeySet:
    exact: frozenset[str]
    prefixes: tuple[str, ...]

    @classmethod
    def of(cls, entries: Iterable[str]) -> _KeySet:
        names = [entry.strip() for entry in entries if entry.strip()]
        return cls(
            frozenset(name for name in names if not name.endswith(".*")),
            tuple(name.removesuffix(".*") for name in names if name.endswith(".*")),
        )

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in self.exact or key.startswith(self.prefixes))


@dataclass(frozen=True)
class SessionConfPolicy:
    restricted: _KeySet
    ignored: _KeySet

    @classmethod
    def from_conf(cls, conf: EngineConf) -> SessionConfPolicy:
        restricted: tuple[str, ...] = conf.get(config.SESSION_CONF_RESTRICT_LIST)
        ignored: tuple[str, ...] = conf.get(config.SESSION_CONF_IGNORE_LIST)
        return cls(_KeySet.of(restricted), _KeySet.of(ignored))

    def admit(self, overrides: Mapping[str, str], source: str) -> dict[str, str]:
        """The overrides the engine may apply (Hive's ``set:hiveconf:`` prefixes stripped): a
        restricted key refuses them all, ignored keys are left out."""
        kept: dict[str, str] = {}
        for raw_key, value in overrides.items():
            key = strip_hive_prefix(raw_key)
            if key in self.restricted:
                raise ConfigError(
                    f"{clip(key, 200)} is a restrict key according to the server-side configuration "
                    f"({config.SESSION_CONF_RESTRICT_LIST.key}); remove it from the {source} and retry"
                )
            if key in self.ignored:
                log.debug("dropped the ignored key %s from a %s", clip(key, 200), source)
                continue
            kept[key] = value
        return kept
