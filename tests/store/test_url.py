"""Where the store lives: store.url (a secret, from the environment when it has a password) or
``<work.dir>/store.db``. Pure mapping, no database, except the from_conf cases (both backends)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.common.config import STORE_RETENTION, STORE_URL, EngineConf
from engine.common.errors import ConfigError
from engine.store import RunStore, default_store_url, store_url
from engine.store.store import StoreOptions
from tests.store.conftest import StoreDb

A = "kyuubi.engine.data.agent."


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5433/runs", "postgresql+psycopg2://u:p@db:5433/runs"),
        ("postgres://u@db/runs", "postgresql+psycopg2://u@db/runs"),
        ("postgresql+psycopg2://u@db/runs", "postgresql+psycopg2://u@db/runs"),
        (
            "jdbc:postgresql://db:5433/runs?user=u&password=p%40ss",
            "postgresql+psycopg2://u:p%40ss@db:5433/runs",
        ),
        (
            "jdbc:postgresql://u:p@db/runs;sslmode=require",
            "postgresql+psycopg2://u:p@db/runs?sslmode=require",
        ),
        (
            "jdbc:postgresql://db/runs?user=u&currentSchema=agent",
            "postgresql+psycopg2://u@db/runs?options=-csearch_path%3Dagent",
        ),
        ("sqlite:////var/lib/agent/store.db", "sqlite:////var/lib/agent/store.db"),
        ("jdbc:sqlite:/var/lib/agent/store.db", "sqlite:////var/lib/agent/store.db"),
    ],
)
def test_store_urls_map_to_sqlalchemy(given: str, expected: str) -> None:
    assert store_url(given).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    "given",
    [
        "mysql://u:topsecret@db/runs",
        "jdbc:mysql://db/runs?password=topsecret",
        "sqlite://",
        "sqlite:///:memory:",
        "jdbc:postgresql:runs?password=topsecret",
        "postgresql+asyncpg://u:topsecret@db/runs",
        "not a url password=topsecret",
    ],
)
def test_other_urls_are_refused_without_their_password(given: str) -> None:
    with pytest.raises(ConfigError) as caught:
        store_url(given)
    assert "topsecret" not in str(caught.value)
    assert "store URL" in str(caught.value) or "store must" in str(caught.value)


def test_the_url_is_a_secret_from_the_environment() -> None:
    conf = EngineConf.load([], environ={"KYUUBI_ENGINE_DATA_AGENT_STORE_URL": "postgresql://u:pw@db/runs"})
    assert conf.get(STORE_URL) == "postgresql://u:pw@db/runs"
    assert "pw" not in str(conf.display())
    assert STORE_URL.secret
    assert conf.get(STORE_RETENTION) == 30 * 86400.0


def test_from_conf_opens_the_configured_store_or_the_work_dir_file(store_db: StoreDb, tmp_path: Path) -> None:
    options = StoreOptions(heartbeat_interval=60.0)
    if store_db.backend == "sqlite":
        conf = EngineConf.load([f"{A}work.dir={tmp_path}"], environ={})
        work_dir = tmp_path / "work"
        assert default_store_url(work_dir).database == str(work_dir / "store.db")
    else:
        conf = EngineConf.load(
            [f"{A}store.retention=P7D"], environ={"KYUUBI_ENGINE_DATA_AGENT_STORE_URL": store_db.url}
        )
        work_dir = tmp_path / "unused"
    store = RunStore.from_conf(conf, work_dir, options=options)
    try:
        store.start_run("r", "alice", "q")
        assert store.flush(10.0)
        assert [run.id for run in store.list_runs("alice")] == ["r"]
    finally:
        store.close()
    if store_db.backend == "sqlite":
        assert (work_dir / "store.db").exists()
        assert store.display_url == f"sqlite:///{work_dir}/store.db"
    else:
        assert store_db.query("SELECT count(*) FROM runs")[0][0] == 1
