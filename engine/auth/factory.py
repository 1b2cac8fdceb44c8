"""Which authenticator ``kyuubi.authentication`` asks for. The mechanisms are imported on demand,
so an engine that does not use LDAP never loads ldap3."""

from __future__ import annotations

from engine.auth.base import AnyPasswordAuthenticator, CheckSlots, PasswordAuthenticator
from engine.common.config import AUTH_MAX_CONCURRENT, AUTHENTICATION, PASSWORD_FILE, EngineConf
from engine.common.errors import ConfigError


def build_authenticator(conf: EngineConf) -> PasswordAuthenticator | None:
    """The authenticator of ``kyuubi.authentication``; None for NOSASL. A CUSTOM password file
    with a plaintext entry, or LDAP without a URL, is a :class:`ConfigError` at start."""
    mode = conf.get(AUTHENTICATION)
    if mode == "NOSASL":
        return None
    slots = CheckSlots(conf.get(AUTH_MAX_CONCURRENT))
    if mode == "CUSTOM":
        from engine.auth.password_file import PasswordFileAuthenticator

        path = conf.get(PASSWORD_FILE)
        if not path:
            raise ConfigError(f"{AUTHENTICATION.key}=CUSTOM needs {PASSWORD_FILE.key}")
        return PasswordFileAuthenticator(path, slots)
    if mode == "LDAP":
        from engine.auth.ldap import LdapAuthenticator, LdapSettings

        return LdapAuthenticator(LdapSettings.from_conf(conf), slots)
    return AnyPasswordAuthenticator()
