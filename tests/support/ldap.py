"""A throwaway OpenLDAP ``slapd`` (Debian's package) for the LDAP authentication tests.

Each instance has its own directory: a generated ``slapd.conf`` (mdb database, the memberof
overlay so users carry ``memberOf``), its data and a port of its own. It runs in the foreground
(``-d``) and is ready when it logs ``slapd starting``; the tree is then loaded with the real
``ldapadd``. :meth:`Slapd.pause` (SIGSTOP) makes a directory that accepts connections and never
answers; :meth:`Slapd.stop` makes one that is down.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
LDAPADD = shutil.which("ldapadd") or "/usr/bin/ldapadd"
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
START_TIMEOUT = 30.0

# user -> (password, groups)
USERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "alice": ("alice-pw", ("analysts",)),
    "bob": ("bob-pw", ("analysts", "admins")),
    "carol": ("carol-pw", ()),
    "svc": ("svc-pw", ()),
}


class SlapdError(RuntimeError):
    pass


def available() -> bool:
    return os.path.exists(SLAPD) and os.path.exists(LDAPADD) and (SCHEMA_DIR / "core.schema").exists()


def ssha(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tree_ldif() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n",
        f"dn: ou=people,{SUFFIX}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: ou=groups,{SUFFIX}\nobjectClass: organizationalUnit\nou: groups\n",
    ]
    for user, (password, _) in USERS.items():
        entries.append(
            f"dn: uid={user},ou=people,{SUFFIX}\nobjectClass: inetOrgPerson\nuid: {user}\n"
            f"cn: {user.title()}\nsn: {user.title()}\nuserPassword: {ssha(password)}\n"
        )
    groups = sorted({group for _, groups in USERS.values() for group in groups})
    for group in groups:
        members = "".join(
            f"member: uid={user},ou=people,{SUFFIX}\n" for user, (_, in_) in USERS.items() if group in in_
        )
        entries.append(
            f"dn: cn={group},ou=groups,{SUFFIX}\nobjectClass: groupOfNames\ncn: {group}\n{members}"
        )
    # a posixGroup listing members by name (groupMembershipKey=memberUid)
    entries.append(
        f"dn: cn=staff,ou=groups,{SUFFIX}\nobjectClass: posixGroup\ncn: staff\ngidNumber: 5000\nmemberUid: carol\n"
    )
    return "\n".join(entries)


def slapd_conf(root: Path, root_password: str) -> str:
    schemas = "".join(
        f"include {SCHEMA_DIR / name}.schema\n" for name in ("core", "cosine", "inetorgperson", "nis")
    )
    return (
        f"{schemas}"
        f"modulepath {MODULE_DIR}\nmoduleload back_mdb\nmoduleload memberof\n"
        f"pidfile {root / 'slapd.pid'}\nargsfile {root / 'slapd.args'}\n"
        "access to attrs=userPassword by anonymous auth by self read by * none\n"
        "access to * by * read\n"
        f'database mdb\nmaxsize 10485760\nsuffix "{SUFFIX}"\nrootdn "{ROOT_DN}"\n'
        f"rootpw {ssha(root_password)}\ndirectory {root / 'data'}\n"
        "overlay memberof\n"
    )


class Slapd:
    """One throwaway slapd on 127.0.0.1 (``url``), its tree loaded (:data:`USERS`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self.url = ""
        self._root_password = base64.b32encode(os.urandom(10)).decode()
        self._process: subprocess.Popen[bytes] | None = None
        self._log: list[str] = []
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self) -> Slapd:
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        conf = self.root / "slapd.conf"
        conf.write_text(slapd_conf(self.root, self._root_password))
        self.port = _free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self._ready.clear()
        self._process = subprocess.Popen(
            [SLAPD, "-d", "256", "-f", str(conf), "-h", f"{self.url}/"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._reader = threading.Thread(target=self._read, name="slapd-log", daemon=True)
        self._reader.start()
        if not self._ready.wait(START_TIMEOUT) or self._process.poll() is not None or not self._listening():
            self.stop()
            raise SlapdError("slapd did not start:\n" + "\n".join(self._log[-20:]))
        return self

    def _listening(self) -> bool:
        """The port accepts connections (slapd logs that it starts a moment before it listens)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
                return True
            except OSError:
                if self._process is None or self._process.poll() is not None:
                    return False
                threading.Event().wait(0.02)
        return False

    def _read(self) -> None:
        process = self._process
        assert process is not None and process.stderr is not None
        for raw in process.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self._log.append(line)
            if "slapd starting" in line:
                self._ready.set()
        self._ready.set()  # exited: wake the waiter, which sees poll() is set

    def load_tree(self) -> None:
        secret = self.root / "root.pw"
        secret.write_text(self._root_password)
        secret.chmod(0o600)
        result = subprocess.run(
            [LDAPADD, "-x", "-H", self.url, "-D", ROOT_DN, "-y", str(secret)],
            input=tree_ldif().encode(),
            capture_output=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise SlapdError(f"ldapadd failed: {result.stderr.decode(errors='replace')}")

    def pause(self) -> None:
        """The directory accepts connections (the kernel does) and answers nothing."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        if process.stderr is not None:
            process.stderr.close()
        if self._reader is not None:
            self._reader.join(timeout=5)
