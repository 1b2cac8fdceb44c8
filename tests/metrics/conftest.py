"""Fixtures of the metrics, limits and administrators tests: an in-process engine on the scripted
LLM and the SQLite shop, its runs kept in a SQLite store file (or in memory only), and its
metrics scraped over real HTTP."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RunningEngine
from tests.durable.support import StoreTarget, in_process_conf
from tests.fakes.openai_server import FakeOpenAIServer

Start = Callable[..., RunningEngine]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def store(tmp_path: Path) -> StoreTarget:
    path = tmp_path / "store" / "runs.db"
    path.parent.mkdir()
    return StoreTarget("sqlite", f"sqlite:///{path}", path=path)


@pytest.fixture
def agent(start_engine: Any, llm: FakeOpenAIServer, shop: Path, store: StoreTarget) -> Start:
    """Factory: ``agent(**conf)`` starts an in-process engine answering through the scripted LLM
    over the shop (keys given without the ``kyuubi.engine.data.agent.`` prefix, dots as given)."""

    def factory(**extra: str) -> RunningEngine:
        return start_engine(in_process_conf(llm, f"jdbc:sqlite:{shop}", store, extra))  # type: ignore[no-any-return]

    return factory


def scrape(url: str) -> tuple[str, str]:
    """GET ``url``: (body, content type)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode("utf-8"), response.headers.get("Content-Type", "")


def samples(text: str) -> Samples:
    """Every sample of an exposition: (name, sorted labels) -> value."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def metrics_url(engine: RunningEngine) -> str:
    """Where ``engine`` serves /metrics: its REST port, or (REST off) its metrics-only server."""
    if engine.app.rest is not None:
        return f"http://{engine.app.rest_host}:{engine.app.rest_port}/metrics"
    server = engine.app.metrics_server
    assert server is not None, "the engine serves no metrics (REST off and kyuubi.metrics.enabled=false)"
    return str(server.url)


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)
