"""CUSTOM authentication: a password file of argon2 or bcrypt hashes, and the command that makes
its lines. Plaintext and unsalted sha256 entries stop the engine at start with the way out."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from pyhive import hive

from engine.auth import build_authenticator
from engine.auth.password_file import hash_password, verify
from engine.common.config import EngineConf
from engine.common.errors import AuthenticationError, ConfigError
from tests.support.engine_cli import engine_exit
from tests.support.passwords import cheap_hash, write_password_file

ROOT = Path(__file__).resolve().parents[2]


def custom(path: Path) -> Any:
    conf = EngineConf.load(
        ["kyuubi.authentication=CUSTOM", f"kyuubi.authentication.password.file={path}"], environ={}
    )
    return build_authenticator(conf)


def test_argon2_and_bcrypt_entries_check_passwords(tmp_path: Path) -> None:
    path = tmp_path / "users"
    cheap_bcrypt = bcrypt.hashpw(b"bob-pw", bcrypt.gensalt(rounds=4)).decode()
    path.write_text(f"# team\nalice:{cheap_hash('alice-pw')}\n\nbob:{cheap_bcrypt}\n")
    auth = custom(path)
    assert auth.authenticate("alice", "alice-pw").name == "alice"
    assert auth.authenticate("bob", "bob-pw").mechanism == "CUSTOM"
    for user, password in (("alice", "bob-pw"), ("bob", "alice-pw"), ("nobody", "alice-pw"), ("alice", "")):
        with pytest.raises(AuthenticationError, match="authentication failed for user"):
            auth.authenticate(user, password)


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ("alice:hunter2", "a plaintext password"),
        (f"alice:{hashlib.sha256(b'hunter2').hexdigest()}", "unsalted sha256"),
        ("alice:$argon2id$v=19$broken", "malformed"),
        ("alice:$2b$12$short", "a plaintext password"),
        ("no-colon-here", "expected user:hash"),
    ],
)
def test_an_entry_that_is_not_a_salted_hash_stops_the_engine_with_the_way_out(
    tmp_path: Path, entry: str, kind: str
) -> None:
    path = tmp_path / "users"
    path.write_text(f"bob:{cheap_hash('bob-pw')}\n{entry}\n")
    with pytest.raises(ConfigError) as caught:
        custom(path)
    message = str(caught.value)
    assert kind in message and "line 2" in message
    assert "python -m engine hash-password --user" in message
    assert "hunter2" not in message and hashlib.sha256(b"hunter2").hexdigest() not in message


def test_the_engine_refuses_to_start_on_a_plaintext_entry(tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text("alice:hunter2\n")
    result = engine_exit("kyuubi.authentication=CUSTOM", f"kyuubi.authentication.password.file={path}")
    assert result.returncode == 2, result.stderr
    assert "hash-password --user alice" in result.stderr and "hunter2" not in result.stderr


def test_the_file_is_read_again_when_it_changes_and_a_broken_edit_refuses_every_login(tmp_path: Path) -> None:
    path = write_password_file(tmp_path / "users", {"alice": "alice-pw"})
    auth = custom(path)
    with pytest.raises(AuthenticationError):
        auth.authenticate("bob", "bob-pw")
    write_password_file(path, {"alice": "alice-pw", "bob": "bob-pw"})
    assert auth.authenticate("bob", "bob-pw").name == "bob"
    path.write_text(path.read_text() + "carol:plaintext-oops\n")
    with pytest.raises(AuthenticationError, match="password file is invalid"):
        auth.authenticate("alice", "alice-pw")
    write_password_file(path, {"alice": "alice-pw"})
    assert auth.authenticate("alice", "alice-pw").name == "alice"
    path.unlink()
    with pytest.raises(AuthenticationError, match="cannot be read"):
        auth.authenticate("alice", "alice-pw")


@pytest.mark.parametrize("scheme", ["argon2", "bcrypt"])
def test_hash_password_reads_stdin_and_prints_a_line_the_engine_accepts(tmp_path: Path, scheme: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine", "hash-password", "--user", "dave", "--scheme", scheme],
        input="correct horse\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("dave:$") and "correct horse" not in line
    path = tmp_path / "users"
    path.write_text(line + "\n")
    auth = custom(path)
    assert auth.authenticate("dave", "correct horse").name == "dave"
    with pytest.raises(AuthenticationError):
        auth.authenticate("dave", "correct horse ")


def test_hash_password_refuses_an_empty_password() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "engine", "hash-password"],
        input="\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 2 and "empty password" in result.stderr


def test_hashes_are_salted_and_long_bcrypt_passwords_are_refused() -> None:
    assert hash_password("same") != hash_password("same")
    assert verify(hash_password("same"), "same")
    with pytest.raises(ConfigError, match="72 bytes"):
        hash_password("x" * 73, "bcrypt")


def test_pyhive_logs_in_with_a_bcrypt_entry(start_engine: Any, tmp_path: Path) -> None:
    path = tmp_path / "users"
    path.write_text(f"erin:{bcrypt.hashpw(b'erin-pw', bcrypt.gensalt(rounds=4)).decode()}\n")
    engine = start_engine(
        {"kyuubi.authentication": "CUSTOM", "kyuubi.authentication.password.file": str(path)}
    )
    with hive.connect(engine.host, engine.port, username="erin", password="erin-pw", auth="CUSTOM") as conn:
        cursor = conn.cursor()
        cursor.execute("SELECT current_user()")
        assert cursor.fetchall() == [("erin",)]
    with pytest.raises(Exception, match="authentication failed for user erin"):
        hive.connect(engine.host, engine.port, username="erin", password="wrong", auth="CUSTOM")
