"""The znode codec against independently computed vectors and Kyuubi's formats."""

from __future__ import annotations

import subprocess

import pytest

from engine.common.errors import ConfigError
from engine.common.znode import (
    KYUUBI_VERSION,
    NodeName,
    engine_space,
    make_path,
    parse_address,
    sorted_nodes,
    subdomain,
)

URLS = [
    "jdbc:sqlite:/tmp/a.db",
    "jdbc:postgresql://db.example:5432/sales?user=u&password=p",
    "jdbc:mysql://h/ünïcode",
]


@pytest.mark.parametrize("url", URLS)
def test_subdomain_matches_coreutils_sha256(url: str) -> None:
    digest = subprocess.run(["sha256sum"], input=url.encode(), capture_output=True, check=True).stdout
    assert subdomain(url) == "ds-" + digest.decode()[:16]


def test_subdomain_fixed_vectors() -> None:
    # printf %s 'jdbc:sqlite:/tmp/a.db' | sha256sum; printf %s '' -> default
    assert (
        subdomain("jdbc:sqlite:/tmp/a.db")
        == "ds-"
        + subprocess.run(
            ["sh", "-c", "printf %s 'jdbc:sqlite:/tmp/a.db' | openssl dgst -sha256 -r | cut -c1-16"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    assert subdomain(None) == "default"
    assert subdomain("") == "default"
    assert len(subdomain("x")) == 19 and subdomain("x").islower()


def test_engine_space_and_lock_path() -> None:
    sub = subdomain("jdbc:sqlite:/tmp/a.db")
    assert engine_space("kyuubi", "USER", "alice", "jdbc:sqlite:/tmp/a.db") == (
        f"/kyuubi_{KYUUBI_VERSION}_USER_DATA_AGENT/alice/{sub}"
    )
    assert engine_space("kyuubi", "USER", "alice", "jdbc:sqlite:/tmp/a.db", lock=True) == (
        f"/kyuubi_{KYUUBI_VERSION}_USER_DATA_AGENT_lock/alice/{sub}"
    )
    assert (
        engine_space("/ns/", "server", "svc", None) == f"/ns_{KYUUBI_VERSION}_SERVER_DATA_AGENT/svc/default"
    )
    assert engine_space("ns", "CONNECTION", "bob", "jdbc:x", ref_id="r-1") == (
        f"/ns_{KYUUBI_VERSION}_CONNECTION_DATA_AGENT/bob/r-1"
    )


@pytest.mark.parametrize("user", ["", "a/b", "..", "x\ny"])
def test_bad_user_is_a_config_error(user: str) -> None:
    with pytest.raises(ConfigError, match="user"):
        engine_space("kyuubi", "USER", user, None)


def test_bad_share_level_and_connection_without_ref() -> None:
    with pytest.raises(ConfigError, match="share level"):
        engine_space("kyuubi", "PARTY", "u", None)
    with pytest.raises(ConfigError, match="refId"):
        engine_space("kyuubi", "CONNECTION", "u", None)


def test_make_path_is_curator_like() -> None:
    assert make_path("a", "b", "c") == "/a/b/c"
    assert make_path("/a/", "/b/", "c/") == "/a/b/c"


def test_node_name_round_trip_kyuubi_format() -> None:
    node = NodeName("127.0.0.1", 10009, engine_id="data-agent-1", ref_id="abc-123")
    assert node.prefix() == (
        f"serverUri=127.0.0.1:10009;version={KYUUBI_VERSION};kyuubi.engine.id=data-agent-1;refId=abc-123;sequence="
    )
    parsed = NodeName.parse(node.prefix() + "0000000007")
    assert (parsed.host, parsed.port, parsed.engine_id, parsed.ref_id, parsed.sequence) == (
        "127.0.0.1",
        10009,
        "data-agent-1",
        "abc-123",
        7,
    )
    assert parsed.name() == node.prefix() + "0000000007"


def test_node_name_rejects_separators_and_foreign_names() -> None:
    with pytest.raises(ConfigError):
        NodeName("h", 1, ref_id="a;b").prefix()
    with pytest.raises(ValueError):
        NodeName.parse("__lock__0000000001")
    nodes = sorted_nodes(["junk", "serverUri=h:2;sequence=0000000002", "serverUri=h:1;sequence=0000000001"])
    assert [n.port for n in nodes] == [1, 2]


def test_parse_address() -> None:
    assert parse_address("h:1") == ("h", 1)
    assert parse_address("[::1]:10009") == ("::1", 10009)
    for bad in ("h", "h:0", "h:x", ":1", "h:70000"):
        with pytest.raises(ValueError):
            parse_address(bad)
