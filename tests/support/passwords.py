"""Password-file lines for CUSTOM authentication tests: real argon2id hashes, made cheap.

The engine reads each hash's own cost parameters, so these verify in well under a millisecond
while going through exactly the code path of a production hash.
"""

from __future__ import annotations

from pathlib import Path

import argon2

_CHEAP = argon2.PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


def cheap_hash(password: str) -> str:
    return _CHEAP.hash(password)


def write_password_file(path: Path, users: dict[str, str], header: str = "") -> Path:
    """``path`` holding one ``user:argon2id-hash`` line per user (after an optional comment)."""
    lines = [f"# {header}\n"] if header else []
    lines += [f"{user}:{cheap_hash(password)}\n" for user, password in users.items()]
    path.write_text("".join(lines), encoding="utf-8")
    return path
