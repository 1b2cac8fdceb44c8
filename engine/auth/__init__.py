"""Password authentication shared by the frontends (Thrift SASL PLAIN, and REST later).

One interface, :class:`PasswordAuthenticator` (``authenticate(user, password) -> Principal``),
built from the configuration by :func:`build_authenticator`:

* ``NONE``: any password; the user is who they say (:class:`AnyPasswordAuthenticator`);
* ``CUSTOM``: a file of argon2 or bcrypt hashes (:mod:`engine.auth.password_file`);
* ``LDAP``: a simple bind to the directory, with Kyuubi's LDAP keys (:mod:`engine.auth.ldap`).

This package owns ldap3, argon2-cffi and bcrypt, and imports only ``engine.common``.
"""

from __future__ import annotations

from engine.auth.base import AnyPasswordAuthenticator, PasswordAuthenticator
from engine.auth.factory import build_authenticator

__all__ = ["AnyPasswordAuthenticator", "PasswordAuthenticator", "build_authenticator"]
