"""Table-driven: connection strings, backslash commands, approval answers, Markdown tables and
the Hive JDBC driver's reading of discovery znodes."""

from __future__ import annotations

import pytest

from client.approval import parse_answer
from client.command import ERROR, MODE, QUIT, RUN, parse_command
from client.markdown_table import parse_table, split_row
from client.render import split_markdown
from client.url import DEFAULT_PORT, TargetError, parse_target
from engine.common.znode import server_address


@pytest.mark.parametrize(
    ("text", "host", "port", "nosasl", "database"),
    [
        ("localhost:10009", "localhost", 10009, False, "default"),
        ("db.example", "db.example", DEFAULT_PORT, False, "default"),
        ("[::1]:10010", "::1", 10010, False, "default"),
        ("jdbc:hive2://h:1/sales", "h", 1, False, "sales"),
        ("jdbc:hive2://h:1", "h", 1, False, "default"),
        ("jdbc:hive2://h:1/;auth=noSasl", "h", 1, True, "default"),
        ("JDBC:HIVE2://h:1/x;AUTH=NOSASL;user=u", "h", 1, True, "x"),
        ("jdbc:kyuubi://h:2/d", "h", 2, False, "d"),
    ],
)
def test_direct_targets(text, host, port, nosasl, database):
    target = parse_target(text)
    assert (target.host, target.port, target.nosasl, target.database) == (host, port, nosasl, database)
    assert not target.discovery


def test_url_user_conf_and_vars():
    target = parse_target("jdbc:hive2://h:1/db;user=alice?kyuubi.engine.data.agent.model=m;a=b#v=1")
    assert target.user == "alice"
    assert target.configuration == {
        "set:hiveconf:kyuubi.engine.data.agent.model": "m",
        "set:hiveconf:a": "b",
        "set:hivevar:v": "1",
    }


def test_zookeeper_discovery_url():
    target = parse_target(
        "jdbc:hive2://zk1:2181,zk2:2181/default;serviceDiscoveryMode=zooKeeper;"
        "zooKeeperNamespace=/kyuubi_1.11.0_USER_DATA_AGENT/alice/ds-0011223344556677"
    )
    assert target.discovery and target.zk_quorum == "zk1:2181,zk2:2181"
    assert target.zk_namespace == "kyuubi_1.11.0_USER_DATA_AGENT/alice/ds-0011223344556677"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no server given"),
        ("jdbc:postgresql://h/db", "unsupported URL"),
        ("jdbc:hive2://h:1/db;password=hunter2", "does not belong in the URL"),
        ("jdbc:hive2://h:1/db;transportMode=http", "transportMode=http"),
        ("jdbc:hive2://h:1/db;ssl=true", "ssl=true"),
        ("jdbc:hive2://h:1/db;auth=kerberos", "auth=kerberos"),
        ("jdbc:hive2://a:1,b:2/db", "several hosts"),
        ("jdbc:hive2://h:1/db;serviceDiscoveryMode=etcd", "serviceDiscoveryMode=etcd"),
        ("jdbc:hive2://h:1/db;oops", "expected key=value"),
        ("h:notaport", "not a host:port"),
        ("h:0", "not a host:port"),
    ],
)
def test_bad_targets(text, message):
    with pytest.raises(TargetError, match=message) as caught:
        parse_target(text)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("line", "kind", "statement"),
    [
        ("how many orders?", RUN, "how many orders?"),
        ("\\sql SELECT 1", RUN, "__sql: SELECT 1"),
        ("\\tables", RUN, "SHOW TABLES"),
        ("\\describe sales.orders", RUN, "DESCRIBE sales.orders"),
        ("\\describe my table", RUN, "DESCRIBE `my table`"),
        ("\\set", RUN, "SET"),
        ("\\set a=b", RUN, "SET a=b"),
        ("\\mode table", MODE, "SET kyuubi.engine.data.agent.result.mode=table"),
        ("\\mode nope", ERROR, ""),
        ("\\sql", ERROR, ""),
        ("\\q", QUIT, ""),
        ("exit", QUIT, ""),
        ("\\what", ERROR, ""),
    ],
)
def test_commands(line, kind, statement):
    command = parse_command(line)
    assert command.kind == kind and command.statement == statement


@pytest.mark.parametrize(
    ("answer", "approved", "reason"),
    [("y", True, ""), ("YES", True, ""), ("", False, ""), ("n", False, ""), ("not now", False, "not now")],
)
def test_approval_answers(answer, approved, reason):
    decision = parse_answer(answer)
    assert (decision.approved, decision.reason) == (approved, reason)


def test_markdown_tables():
    output = "| a | b\\|c |\n|---|---|\n| 1 | x\\|y |\n| NULL | 2 |\n\n(2 rows)"
    table = parse_table(output)
    assert table is not None
    assert table.header == ["a", "b|c"] and table.rows == [["1", "x|y"], ["NULL", "2"]]
    assert table.after == "(2 rows)"
    assert parse_table("The query returned no rows. Columns: a.") is None
    assert split_row("| a\\nb | c |") == ["a\\nb", "c"]


def test_streaming_markdown_is_committed_at_block_boundaries():
    assert split_markdown("one\n\ntwo") == ("one", "two")
    assert split_markdown("```sql\nSELECT 1\n\nFROM t") == ("", "```sql\nSELECT 1\n\nFROM t")
    assert split_markdown("a\n\n```\nx\n```\n\nb") == ("a\n\n```\nx\n```", "b")


@pytest.mark.parametrize(
    ("name", "data", "address"),
    [
        ("serverUri=a:1;version=1;sequence=0000000001", "b:2", ("b", 2)),
        ("x", "hive.server2.thrift.bind.host=c;hive.server2.thrift.port=3", ("c", 3)),
        ("serverUri=d:4;version=1;sequence=0000000002", "", ("d", 4)),
        ("serverUri=e:5;sequence=0000000003", "foo=bar", ("e", 5)),
    ],
)
def test_discovery_znodes(name, data, address):
    assert server_address(name, data) == address


def test_a_znode_without_an_address():
    with pytest.raises(ValueError):
        server_address("nothing-here", "")
