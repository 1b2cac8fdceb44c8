"""JDBC and SQLAlchemy URL mapping, password hiding, and clear errors for bad URLs."""

from __future__ import annotations

import pytest

from engine.common.errors import ConfigError
from engine.datasource import SUPPORTED_SCHEMES, parse_source

SECRET = "S3cr3t-PW"


@pytest.mark.parametrize(
    ("url", "dialect", "rendered"),
    [
        ("jdbc:sqlite:/abs/path.db", "sqlite", "sqlite:////abs/path.db"),
        ("jdbc:sqlite:rel.db", "sqlite", "sqlite:///rel.db"),
        ("jdbc:sqlite::memory:", "sqlite", "sqlite:///%3Amemory%3A"),
        ("jdbc:sqlite:file:/abs/x.db?mode=ro", "sqlite", "sqlite:////abs/x.db"),
        (
            "jdbc:postgresql://127.0.0.1:5432/test?user=postgres",
            "postgresql",
            "postgresql+psycopg2://postgres@127.0.0.1:5432/test",
        ),
        ("jdbc:postgresql://db/sales;user=u", "postgresql", "postgresql+psycopg2://u@db/sales"),
        (
            "jdbc:postgresql://db/sales?user=u&currentSchema=mart",
            "postgresql",
            "postgresql+psycopg2://u@db/sales?options=-csearch_path%3Dmart",
        ),
        ("jdbc:mysql://h:3307/shop?user=root", "mysql", "mysql+pymysql://root@h:3307/shop?charset=utf8mb4"),
        ("jdbc:mariadb://h/shop;user=root", "mysql", "mysql+pymysql://root@h/shop?charset=utf8mb4"),
        ("jdbc:mysql://root@h/shop", "mysql", "mysql+pymysql://root@h/shop?charset=utf8mb4"),
        (
            "jdbc:hive2://h:10009/default;auth=noSasl;user=bob",
            "hive",
            "hive://bob@h:10009/default?auth=NOSASL",
        ),
        ("jdbc:kyuubi://h:10009/db", "hive", "hive://anonymous@h:10009/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql", "postgresql+psycopg2://u@h/db"),
        ("sqlite:////tmp/a.db", "sqlite", "sqlite:////tmp/a.db"),
        ("mysql+pymysql://u@h/db", "mysql", "mysql+pymysql://u@h/db"),
    ],
)
def test_urls_map_to_sqlalchemy(url: str, dialect: str, rendered: str) -> None:
    spec = parse_source(url)
    assert spec.dialect == dialect
    assert spec.sa_url.render_as_string(hide_password=False) == rendered


@pytest.mark.parametrize(
    "url",
    [
        f"jdbc:postgresql://db:5432/sales?user=u&password={SECRET}",
        f"jdbc:postgresql://db:5432/sales;user=u;password={SECRET}",
        f"jdbc:mysql://u:{SECRET}@db/sales",
        f"jdbc:mariadb://db/sales?password={SECRET}&user=u",
        f"jdbc:hive2://db:10000/default;user=u;password={SECRET}",
        f"postgresql+psycopg2://u:{SECRET}@db/sales",
    ],
)
def test_password_reaches_the_driver_but_never_the_display(url: str) -> None:
    spec = parse_source(url)
    assert spec.sa_url.password == SECRET
    assert SECRET not in spec.display_url
    assert SECRET not in repr(spec.display_url)
    assert "redacted" in spec.display_url


def test_unknown_scheme_names_it_and_lists_the_supported_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_source(f"jdbc:nosuchdb://host/db?password={SECRET}")
    message = str(caught.value)
    assert "nosuchdb" in message
    for scheme in SUPPORTED_SCHEMES:
        assert scheme in message
    assert SECRET not in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("not a url", "not a JDBC or SQLAlchemy URL"),
        ("jdbc:postgresql:db", "expected //host"),
        ("jdbc:postgresql://db:notaport/x", "bad port"),
        ("jdbc:mysql://db:70000/x", "bad port"),
        ("jdbc:postgresql:///x", "no host"),
        ("nosuchdialect://u@h/db", "no SQLAlchemy dialect"),
        ("mysql+pymysql://u@h/db?client_flag=65536", "not allowed"),
        ("jdbc:hive2://zk1:2181/;serviceDiscoveryMode=zooKeeper", "ZooKeeper"),
    ],
)
def test_bad_urls_fail_with_a_clear_config_error(url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_source(url)
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("url", "package"),
    [("jdbc:trino://h:8080/hive/web?user=u", "trino"), ("jdbc:duckdb:/tmp/x.duckdb", "duckdb")],
)
def test_missing_driver_is_named(url: str, package: str) -> None:
    try:
        spec = parse_source(url)
    except ConfigError as exc:
        assert package in str(exc) and "pip install" in str(exc)
    else:  # the driver is installed here: the mapping must still be right
        assert spec.dialect == package


def test_sqlglot_dialect_names() -> None:
    assert parse_source("jdbc:sqlite:/x.db").sqlglot_dialect == "sqlite"
    assert parse_source("jdbc:postgresql://h/db").sqlglot_dialect == "postgres"
    assert parse_source("jdbc:mariadb://h/db").sqlglot_dialect == "mysql"
    assert parse_source("jdbc:hive2://h/db").sqlglot_dialect == "hive"
