"""EngineCommand: secrets go to the environment, never argv; redacted() hides what it must."""

from __future__ import annotations

from launcher.command import EngineCommand

URL = "jdbc:postgresql://db:5432/sales?user=u&password=SENTINELPASS"
KEY = "sk-SENTINELKEY0000000000000000"


def command() -> EngineCommand:
    return EngineCommand(
        {
            "kyuubi.engine.data.agent.jdbc.url": URL,
            "kyuubi.engine.data.agent.openai.api.key": KEY,
            "kyuubi.engine.data.agent.model": "gpt-x",
            "my.service.token": "tok-visible-on-argv",
            "kyuubi.ha.addresses": "127.0.0.1:2181",
        },
        python="/usr/bin/python3",
    )


def test_secrets_are_not_on_argv_but_in_env() -> None:
    cmd = command()
    argv = cmd.argv()
    joined = " ".join(argv)
    assert argv[:3] == ["/usr/bin/python3", "-m", "engine"]
    assert "SENTINEL" not in joined
    assert "--conf" in argv and "kyuubi.engine.data.agent.model=gpt-x" in argv
    env = cmd.env({"OPENAI_API_KEY": "stale-inherited", "PATH": "/bin"})
    assert env["KYUUBI_ENGINE_DATA_AGENT_JDBC_URL"] == URL
    assert env["KYUUBI_ENGINE_DATA_AGENT_OPENAI_API_KEY"] == KEY
    assert "OPENAI_API_KEY" not in env  # no stale secret leaks through
    assert env["PATH"] == "/bin" and env["PYTHONPATH"]


def test_redacted_hides_secrets_and_regex_matches() -> None:
    shown = command().redacted()
    assert "SENTINEL" not in shown
    assert "tok-visible-on-argv" not in shown  # key matches the redaction regex
    assert "my.service.token=*********(redacted)" in shown
    assert "KYUUBI_ENGINE_DATA_AGENT_JDBC_URL=*********(redacted)" in shown
    assert "kyuubi.engine.data.agent.model=gpt-x" in shown


def test_redacted_matches_values_with_custom_regex() -> None:
    cmd = EngineCommand(
        {"kyuubi.engine.data.agent.model": "secret-model"}, python="py", redaction_regex="secret"
    )
    assert "secret-model" not in cmd.redacted()
