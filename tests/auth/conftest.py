"""Fixtures of the authentication tests: a real OpenLDAP slapd (Debian's package) per module,
and LDAP authenticators built from Kyuubi's keys the way the engine builds them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.auth import PasswordAuthenticator, build_authenticator
from engine.common.config import EngineConf
from tests.support.ldap import SUFFIX, Slapd, available

needs_slapd = pytest.mark.skipif(not available(), reason="slapd and ldap-utils are not installed (bin/setup)")


@pytest.fixture(scope="module")
def slapd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slapd]:
    if not available():
        pytest.skip("slapd and ldap-utils are not installed (bin/setup installs them)")
    server = Slapd(tmp_path_factory.mktemp("slapd")).start()
    try:
        server.load_tree()
        yield server
    finally:
        server.stop()


def ldap_conf(
    url: str, extra: dict[str, str] | None = None, environ: dict[str, str] | None = None
) -> EngineConf:
    values = {
        "kyuubi.authentication": "LDAP",
        "kyuubi.authentication.ldap.url": url,
        "kyuubi.authentication.ldap.baseDN": f"ou=people,{SUFFIX}",
    }
    values.update(extra or {})
    return EngineConf.load([f"{k}={v}" for k, v in values.items()], environ=environ or {})


@pytest.fixture
def ldap_auth(slapd: Slapd) -> Callable[..., PasswordAuthenticator]:
    """``ldap_auth(extra_conf=None, environ=None)``: an LDAP authenticator against ``slapd``."""

    def factory(
        extra: dict[str, str] | None = None, environ: dict[str, str] | None = None
    ) -> PasswordAuthenticator:
        authenticator = build_authenticator(ldap_conf(slapd.url, extra, environ))
        assert authenticator is not None
        return authenticator

    return factory


@pytest.fixture
def own_slapd(tmp_path: Path) -> Iterator[Slapd]:
    """A slapd of the test's own, which it may stop or pause."""
    if not available():
        pytest.skip("slapd and ldap-utils are not installed (bin/setup installs them)")
    server = Slapd(tmp_path / "slapd").start()
    try:
        server.load_tree()
        yield server
    finally:
        server.stop()
