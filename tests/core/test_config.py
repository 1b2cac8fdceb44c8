"""The typed configuration registry: precedence, validation, overlays and the generated example."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.agent.settings import SettingsPolicy
from engine.common.config import (
    APPROVAL_MODE,
    APPROVAL_TIMEOUT,
    BIND_PORT,
    FETCH_WAIT,
    JDBC_URL,
    MAX_ITERATIONS,
    OPENAI_API_KEY,
    QUERY_TIMEOUT,
    REGISTRY,
    EngineConf,
    parse_duration,
    render_example,
)
from engine.common.errors import ConfigError
from engine.tools import DEFAULT_TOOL_NAMES

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_match_kyuubi() -> None:
    conf = EngineConf.load(environ={})
    assert conf.get(APPROVAL_MODE) == "NORMAL"
    assert conf.get(MAX_ITERATIONS) == 100
    assert conf.get("kyuubi.engine.data.agent.compaction.trigger.tokens") == 128000
    assert conf.get(QUERY_TIMEOUT) == 180.0
    assert conf.get("kyuubi.engine.data.agent.tool.call.timeout") == 300.0
    assert conf.get("kyuubi.engine.data.agent.approval.timeout") == 300.0
    assert conf.get(BIND_PORT) == 10009
    assert conf.get("kyuubi.frontend.thrift.binary.bind.host") == "127.0.0.1"
    assert conf.get("kyuubi.authentication") == "NONE"
    assert conf.get("kyuubi.ha.namespace") == "kyuubi"
    assert conf.effective_provider() == "ECHO"


def test_precedence_conf_over_file_over_env(tmp_path: Path) -> None:
    conf_file = tmp_path / "engine.conf"
    conf_file.write_text(
        "# comment\nkyuubi.engine.data.agent.max.iterations=7\nkyuubi.engine.data.agent.model gpt-file\n"
    )
    env = {"KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY": "sk-env", "OPENAI_API_KEY": "sk-fallback"}
    conf = EngineConf.load(["kyuubi.engine.data.agent.max.iterations=9"], conf_file, env)
    assert conf.get(MAX_ITERATIONS) == 9
    assert conf.get("kyuubi.engine.data.agent.model") == "gpt-file"
    assert conf.get(OPENAI_API_KEY) == "sk-env"
    assert EngineConf.load(environ={"OPENAI_API_KEY": "sk-fallback"}).get(OPENAI_API_KEY) == "sk-fallback"
    assert EngineConf.load(environ={"OPENAI_API_KEY": "sk-x"}).effective_provider() == "OPENAI_COMPATIBLE"
    assert (
        EngineConf.load(environ={"KYUUBI_ENGINE_DATA_AGENT_JDBC_URL": "jdbc:sqlite:/x"}).get(JDBC_URL)
        == "jdbc:sqlite:/x"
    )


@pytest.mark.parametrize(
    "pair,needle",
    [
        ("kyuubi.engine.data.agent.approval.mode=SOMETIMES", "accepted values: AUTO_APPROVE, NORMAL, STRICT"),
        ("kyuubi.engine.data.agent.max.iterations=lots", "an integer"),
        ("kyuubi.engine.data.agent.max.iterations=0", ">= 1"),
        ("kyuubi.engine.data.agent.query.timeout=3 minutes", "duration"),
        ("kyuubi.frontend.thrift.binary.bind.port=70000", "<= 65535"),
        ("kyuubi.engine.data.agent.provider=CLAUDE", "ECHO, OPENAI_COMPATIBLE"),
        ("kyuubi.engine.data.agent.no.such.key=1", "unknown configuration key"),
        ("kyuubi.engine.data.agent.temperature=NaN", "not a finite number"),
        ("kyuubi.engine.data.agent.temperature=inf", "not a finite number"),
        ("kyuubi.engine.data.agent.passthrough.max.rows=9200000000000000000", "<= 1e+12"),
        ("kyuubi.engine.data.agent.passthrough.max.rows=9.2e18", "an integer"),
        ("kyuubi.engine.data.agent.query.timeout=P99999D", "<= 3.1536e+07"),
        ("kyuubi.engine.data.agent.max.iterations=" + "9" * 5000, "an integer"),
        ("novalue", "expected key=value"),
    ],
)
def test_bad_values_name_the_key_and_accepted_values(pair: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        EngineConf.load([pair], environ={})
    assert needle in str(info.value)
    if "=" in pair and not pair.startswith("novalue"):
        assert pair.split("=")[0] in str(info.value)


def test_durations() -> None:
    assert parse_duration("PT3M") == 180
    assert parse_duration("PT0.2S") == pytest.approx(0.2)
    assert parse_duration("P1DT1H") == 90000
    assert parse_duration("1500") == 1.5
    for bad in ("PT", "3m", "", "P"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_overlays_and_the_approval_floor() -> None:
    conf = EngineConf.load(["kyuubi.engine.data.agent.approval.mode.min=NORMAL"], environ={})
    session = conf.with_overlay({"set:hiveconf:kyuubi.engine.data.agent.approval.mode": "STRICT"})
    assert session.get(APPROVAL_MODE) == "STRICT"
    statement = session.with_overlay({"kyuubi.engine.data.agent.max.iterations": "3"}, source="statement")
    assert statement.get(MAX_ITERATIONS) == 3 and statement.get(APPROVAL_MODE) == "STRICT"
    # The approval-mode floor is the agent's policy, checked when a session or statement sets it.
    policy = SettingsPolicy.from_conf(conf, DEFAULT_TOOL_NAMES)
    policy.check(statement)
    with pytest.raises(ConfigError, match="weaker than the engine's floor"):
        policy.check(conf.with_overlay({"kyuubi.engine.data.agent.approval.mode": "AUTO_APPROVE"}))
    with pytest.raises(ConfigError, match="cannot be set per session"):
        conf.with_overlay({"kyuubi.engine.data.agent.jdbc.url": "jdbc:sqlite:/etc/passwd"})
    # Hive clients' own keys pass through untouched.
    assert conf.with_overlay({"set:hiveconf:hive.server2.thrift.resultset.default.fetch.size": "1000"})


def test_secrets_are_hidden_in_display() -> None:
    conf = EngineConf.load(
        ["kyuubi.engine.data.agent.jdbc.url=jdbc:postgresql://h/db?password=hunter2"], environ={}
    )
    shown = conf.display()
    assert "hunter2" not in str(shown)
    assert all(entry.secret for entry in REGISTRY.entries() if entry.key.endswith(("api.key", "jdbc.url")))


def test_conf_example_is_generated_from_the_registry() -> None:
    example = (ROOT / "conf" / "engine.conf.example").read_text()
    assert example.rstrip("\n") == render_example().rstrip("\n"), (
        "conf/engine.conf.example is stale: python -m engine --print-conf-example > conf/engine.conf.example"
    )
    for entry in REGISTRY.entries():
        assert f"#{entry.key}=" in example


def start_engine_with(pair: str) -> subprocess.CompletedProcess[str]:
    """``python -m engine --conf pair``, expected to refuse to start."""
    return subprocess.run(
        [sys.executable, "-m", "engine", "--conf", pair], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_engine_rejects_a_bad_value_at_start() -> None:
    result = start_engine_with("kyuubi.engine.data.agent.approval.mode=maybe")
    assert result.returncode == 2
    assert "kyuubi.engine.data.agent.approval.mode" in result.stderr
    assert "AUTO_APPROVE, NORMAL, STRICT" in result.stderr


def test_every_number_has_bounds() -> None:
    for entry in REGISTRY.entries():
        if entry.type in ("int", "float", "duration"):
            assert entry.maximum is not None and entry.minimum is not None, entry.key


def test_session_settings_are_checked_when_set() -> None:
    conf = EngineConf.load(environ={})
    policy = SettingsPolicy.from_conf(conf, DEFAULT_TOOL_NAMES)
    policy.check(conf.with_overlay({"kyuubi.engine.data.agent.tools.disabled": "run_mutation_query"}))
    with pytest.raises(ConfigError, match="unknown tool 'drop_everything'"):
        policy.check(conf.with_overlay({"kyuubi.engine.data.agent.tools.disabled": "drop_everything"}))


def test_fetch_wait_must_outlast_approval_timeout() -> None:
    """A fetch answering empty ends PyHive's read: it must never do so while a parked call can
    still be approved, for the engine's conf and for every session or statement overlay."""
    conf = EngineConf.load(environ={})
    assert conf.get(FETCH_WAIT) > conf.get(APPROVAL_TIMEOUT)
    with pytest.raises(ConfigError, match=r"fetch\.wait \(10 s\) must be longer than .*approval\.timeout"):
        EngineConf.load(["kyuubi.engine.data.agent.fetch.wait=PT10S"], environ={})
    short = EngineConf.load(
        ["kyuubi.engine.data.agent.fetch.wait=PT10S", "kyuubi.engine.data.agent.approval.timeout=PT5S"],
        environ={},
    )
    assert (
        short.with_overlay({"kyuubi.engine.data.agent.approval.timeout": "PT9S"}).get(APPROVAL_TIMEOUT) == 9
    )
    with pytest.raises(ConfigError, match=r"approval\.timeout \(20 s\)"):
        short.with_overlay({"set:hiveconf:kyuubi.engine.data.agent.approval.timeout": "PT20S"})
    result = start_engine_with("kyuubi.engine.data.agent.fetch.wait=PT1M")
    assert result.returncode == 2 and "kyuubi.engine.data.agent.fetch.wait" in result.stderr
