"""LDAP authentication (Kyuubi's keys) against a real OpenLDAP slapd: the checks themselves, then
through real clients (PyHive auth='LDAP', beeline) logging in to a real engine."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyhive import hive

from engine.auth import PasswordAuthenticator, build_authenticator
from engine.auth.base import CheckSlots
from engine.auth.ldap import LdapAuthenticator, LdapSettings
from engine.common.errors import AuthenticationError, ConfigError
from tests.auth.conftest import ldap_conf
from tests.support.ldap import SUFFIX, Slapd

Factory = Callable[..., PasswordAuthenticator]
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
SERVICE = {
    "kyuubi.authentication.ldap.binddn": f"uid=svc,{PEOPLE}",
}
GROUP_DNS = {"kyuubi.authentication.ldap.groupDNPattern": f"cn=%s,{GROUPS}"}
BINDPW_ENV = {"KYUUBI_AUTHENTICATION_LDAP_BINDPW": "svc-pw"}


def refused(authenticator: PasswordAuthenticator, user: str, password: str) -> str:
    with pytest.raises(AuthenticationError) as caught:
        authenticator.authenticate(user, password)
    return str(caught.value)


# --- the checks --------------------------------------------------------------------------------
def test_a_good_password_logs_in_as_that_user(ldap_auth: Factory) -> None:
    principal = ldap_auth().authenticate("alice", "alice-pw")
    assert (principal.name, principal.mechanism) == ("alice", "LDAP")


@pytest.mark.parametrize(
    ("user", "password"),
    [
        ("alice", "wrong"),
        ("alice", "bob-pw"),
        ("nobody", "alice-pw"),
        ("alice ", "alice-pw"),
        (" alice", "alice-pw"),
    ],
)
def test_a_wrong_password_or_an_unknown_user_is_refused_alike(
    ldap_auth: Factory, user: str, password: str
) -> None:
    message = refused(ldap_auth(), user, password)
    assert message.startswith("authentication failed for user")
    assert password not in message


@pytest.mark.parametrize("password", ["", "\x00alice-pw"])
def test_an_empty_password_is_refused_before_any_bind(ldap_auth: Factory, password: str) -> None:
    # an LDAP simple bind without a password is an anonymous bind, which the directory accepts
    assert "empty password" in refused(ldap_auth(), "alice", password)


def test_a_user_outside_the_group_filter_learns_it_only_with_the_right_password(ldap_auth: Factory) -> None:
    auth = ldap_auth({"kyuubi.authentication.ldap.groupFilter": "analysts,nobody-group", **GROUP_DNS})
    assert auth.authenticate("alice", "alice-pw").name == "alice"
    assert auth.authenticate("bob", "bob-pw").name == "bob"
    message = refused(auth, "carol", "carol-pw")
    assert "not a member of an allowed group" in message and "groupFilter" in message
    assert refused(auth, "carol", "wrong").startswith("authentication failed")


def test_the_group_filter_through_the_users_memberof(ldap_auth: Factory) -> None:
    auth = ldap_auth(
        {
            "kyuubi.authentication.ldap.groupFilter": "admins",
            "kyuubi.authentication.ldap.userMembershipKey": "memberOf",
            "kyuubi.authentication.ldap.groupDNPattern": f"cn=%s,{GROUPS}",
            "kyuubi.authentication.ldap.guidKey": "cn",
            "kyuubi.authentication.ldap.userDNPattern": f"uid=%s,{PEOPLE}",
        }
    )
    assert auth.authenticate("bob", "bob-pw").name == "bob"
    assert "allowed group" in refused(auth, "alice", "alice-pw")


def test_a_group_listing_members_by_name(ldap_auth: Factory) -> None:
    auth = ldap_auth(
        {
            "kyuubi.authentication.ldap.groupFilter": "staff",
            "kyuubi.authentication.ldap.groupClassKey": "posixGroup",
            "kyuubi.authentication.ldap.groupMembershipKey": "memberUid",
            "kyuubi.authentication.ldap.groupDNPattern": f"cn=%s,{GROUPS}",
        }
    )
    assert auth.authenticate("carol", "carol-pw").name == "carol"
    assert "allowed group" in refused(auth, "alice", "alice-pw")


def test_the_user_filter(ldap_auth: Factory) -> None:
    auth = ldap_auth({"kyuubi.authentication.ldap.userFilter": "Bob, carol"})
    assert auth.authenticate("bob", "bob-pw").name == "bob"
    assert "userFilter" in refused(auth, "alice", "alice-pw")


def test_a_service_account_finds_the_user_then_the_user_binds(ldap_auth: Factory) -> None:
    auth = ldap_auth(
        {**SERVICE, "kyuubi.authentication.ldap.groupFilter": "analysts", **GROUP_DNS}, BINDPW_ENV
    )
    assert auth.authenticate("alice", "alice-pw").name == "alice"
    assert refused(auth, "alice", "svc-pw").startswith("authentication failed")
    assert refused(auth, "nobody", "x").startswith("authentication failed")
    assert "allowed group" in refused(auth, "carol", "carol-pw")


def test_a_service_account_the_directory_refuses_is_an_outage_not_a_wrong_password(
    ldap_auth: Factory,
) -> None:
    auth = ldap_auth(SERVICE, {"KYUUBI_AUTHENTICATION_LDAP_BINDPW": "not-svc-pw"})
    assert "does not answer" in refused(auth, "alice", "alice-pw")


def custom_query(ldap_auth: Factory, query: str) -> PasswordAuthenticator:
    return ldap_auth(
        {
            "kyuubi.authentication.ldap.baseDN": SUFFIX,
            "kyuubi.authentication.ldap.userDNPattern": f"uid=%s,{PEOPLE}",
            "kyuubi.authentication.ldap.customLDAPQuery": query,
        }
    )


@pytest.mark.parametrize(
    ("query", "allowed", "refused_user"),
    [
        # the entries found are the users who may log in
        ("(&(objectClass=inetOrgPerson)(|(uid=bob)(uid=carol)))", "carol", "alice"),
        # a group found lists its members' DNs (groupMembershipKey)
        ("(&(objectClass=groupOfNames)(cn=admins))", "bob", "alice"),
        # %s stands for the user (escaped): exactly one entry must match
        (f"(&(objectClass=inetOrgPerson)(memberOf=cn=analysts,{GROUPS})(uid=%s))", "alice", "carol"),
    ],
)
def test_a_custom_query(ldap_auth: Factory, query: str, allowed: str, refused_user: str) -> None:
    auth = custom_query(ldap_auth, query)
    assert auth.authenticate(allowed, f"{allowed}-pw").name == allowed
    assert "customLDAPQuery" in refused(auth, refused_user, f"{refused_user}-pw")


@pytest.mark.parametrize(
    "user",
    ["*", "alice)(uid=*", "al*", "alice\\", f"uid=alice,{PEOPLE}", "alice,ou=people", "alice\x00"],
)
def test_user_input_cannot_change_a_filter_or_a_dn(ldap_auth: Factory, user: str) -> None:
    for auth in (
        ldap_auth(),
        ldap_auth({"kyuubi.authentication.ldap.userFilter": "alice,al*,*"}),
        ldap_auth({**SERVICE, "kyuubi.authentication.ldap.groupFilter": "analysts", **GROUP_DNS}, BINDPW_ENV),
    ):
        with pytest.raises(AuthenticationError):
            auth.authenticate(user, "alice-pw")


def test_several_urls_are_tried_in_order(slapd: Slapd, tmp_path: Path) -> None:
    dead = "ldap://127.0.0.1:1"  # nothing listens on port 1
    auth = build_authenticator(ldap_conf(f"{dead} {slapd.url}"))
    assert auth is not None and auth.authenticate("alice", "alice-pw").name == "alice"


def test_ldap_configuration_errors_name_their_key() -> None:
    with pytest.raises(ConfigError, match=r"ldap\.url"):
        build_authenticator(ldap_conf("").__class__.load(["kyuubi.authentication=LDAP"], environ={}))
    with pytest.raises(ConfigError, match=r"ldap\.url"):
        build_authenticator(ldap_conf("http://example.org"))
    with pytest.raises(ConfigError, match="KYUUBI_AUTHENTICATION_LDAP_BINDPW"):
        build_authenticator(ldap_conf("ldap://127.0.0.1:1", SERVICE))
    with pytest.raises(ConfigError, match="userDNPattern"):
        build_authenticator(
            ldap_conf("ldap://127.0.0.1:1", {"kyuubi.authentication.ldap.userDNPattern": "people"})
        )


def test_the_bind_password_never_reaches_a_log_line(
    ldap_auth: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = ldap_auth(
        {**SERVICE, "kyuubi.authentication.ldap.groupFilter": "analysts", **GROUP_DNS}, BINDPW_ENV
    )
    auth.authenticate("alice", "alice-pw")
    refused(auth, "carol", "carol-pw")
    text = caplog.text
    assert "svc-pw" not in text and "alice-pw" not in text and "carol-pw" not in text


# --- the directory going down ------------------------------------------------------------------
def test_a_directory_that_is_down_refuses_at_once_and_comes_back(own_slapd: Slapd) -> None:
    auth = build_authenticator(ldap_conf(own_slapd.url))
    assert auth is not None and auth.authenticate("alice", "alice-pw").name == "alice"
    own_slapd.stop()
    started = time.monotonic()
    assert "does not answer" in refused(auth, "alice", "alice-pw")
    assert time.monotonic() - started < 5
    own_slapd.start()  # same data directory, a new port: the operator points the engine at it
    again = build_authenticator(ldap_conf(own_slapd.url))
    assert again is not None and again.authenticate("alice", "alice-pw").name == "alice"


def test_a_directory_that_stops_answering_never_holds_a_login_past_its_deadline(own_slapd: Slapd) -> None:
    auth = build_authenticator(ldap_conf(own_slapd.url, {"kyuubi.authentication.ldap.read.timeout": "PT30S"}))
    assert auth is not None
    own_slapd.pause()
    try:
        started = time.monotonic()
        with pytest.raises(AuthenticationError, match="does not answer"):
            auth.authenticate("alice", "alice-pw", deadline=started + 1.0)
        assert time.monotonic() - started < 3
    finally:
        own_slapd.resume()
    assert auth.authenticate("alice", "alice-pw").name == "alice"


def test_concurrent_logins_are_bounded_and_wait_no_longer_than_their_deadline(slapd: Slapd) -> None:
    slots = CheckSlots(1)
    auth = LdapAuthenticator(LdapSettings.from_conf(ldap_conf(slapd.url)), slots)
    with slots.hold(time.monotonic() + 10):  # another login holds the one slot
        started = time.monotonic()
        with pytest.raises(AuthenticationError, match="too many logins"):
            auth.authenticate("alice", "alice-pw", deadline=started + 0.3)
        assert time.monotonic() - started < 2
    assert auth.authenticate("alice", "alice-pw").name == "alice"


# --- through real clients ----------------------------------------------------------------------
def _ldap_engine(start_engine: Any, slapd: Slapd, extra: dict[str, str] | None = None) -> Any:
    return start_engine(
        {
            "kyuubi.authentication": "LDAP",
            "kyuubi.authentication.ldap.url": slapd.url,
            "kyuubi.authentication.ldap.baseDN": PEOPLE,
            "kyuubi.authentication.ldap.groupFilter": "analysts",
            "kyuubi.authentication.ldap.groupDNPattern": f"cn=%s,{GROUPS}",
            **(extra or {}),
        }
    )


def test_pyhive_logs_in_with_ldap(start_engine: Any, slapd: Slapd) -> None:
    engine = _ldap_engine(start_engine, slapd)
    with hive.connect(engine.host, engine.port, username="alice", password="alice-pw", auth="LDAP") as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT current_user()")
        assert cursor.fetchall() == [("alice",)]
    for user, password, expected in (
        ("alice", "wrong", "authentication failed"),
        ("nobody", "x", "authentication failed"),
        ("carol", "carol-pw", "not a member of an allowed group"),
    ):
        with pytest.raises(Exception) as caught:
            hive.connect(engine.host, engine.port, username=user, password=password, auth="LDAP")
        assert expected in str(caught.value), caught.value
    # an empty password: PyHive refuses to send one, so the CUSTOM spelling sends it
    with pytest.raises(Exception) as caught:
        hive.connect(engine.host, engine.port, username="alice", password="", auth="CUSTOM")
    assert "empty password" in str(caught.value)
    # the engine still serves after the refusals
    with hive.connect(engine.host, engine.port, username="bob", password="bob-pw", auth="LDAP") as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT 1")
        assert cursor.fetchall() == [(1,)]


def test_pyhive_login_while_the_directory_is_down(start_engine: Any, own_slapd: Slapd) -> None:
    engine = _ldap_engine(start_engine, own_slapd)
    own_slapd.stop()
    with pytest.raises(Exception) as caught:
        hive.connect(engine.host, engine.port, username="alice", password="alice-pw", auth="LDAP")
    assert "LDAP directory does not answer" in str(caught.value)


LAB = Path(os.environ.get("LAB", str(Path.home() / ".cache" / "hs2-clients")))


@pytest.mark.beeline
@pytest.mark.skipif(not (LAB / "bin" / "env.sh").exists(), reason=f"{LAB} not installed")
@pytest.mark.timeout(120)
def test_beeline_logs_in_with_ldap(start_engine: Any, slapd: Slapd) -> None:
    engine = _ldap_engine(start_engine, slapd)
    script = f'source {LAB}/bin/env.sh; beeline -u "$URL" -n "$BUSER" -p "$BPASS" -e "SELECT current_user()"'
    url = f"jdbc:hive2://{engine.host}:{engine.port}/default"

    def beeline(user: str, password: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "URL": url, "BUSER": user, "BPASS": password}
        return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=110, env=env)

    good = beeline("bob", "bob-pw")
    assert good.returncode == 0, good.stderr[-2000:]
    assert "| bob " in good.stdout
    bad = beeline("bob", "alice-pw")
    assert bad.returncode != 0
    assert "authentication failed for user bob" in bad.stderr
