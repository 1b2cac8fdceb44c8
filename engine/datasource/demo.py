"""The bundled demo database (a small shop: customers, products, orders, order_items).

``demo/demo.sql`` is package data; on first use it is run into a SQLite file named after the
script's hash, written to a temporary name and renamed into place, so concurrent engines never
see a half-built file and a changed script builds a new one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import tempfile
from importlib import resources
from pathlib import Path

log = logging.getLogger(__name__)


def demo_script() -> str:
    return resources.files("engine.datasource").joinpath("demo/demo.sql").read_text(encoding="utf-8")


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "data-agent-engine"


def materialize(directory: Path | None = None) -> Path:
    """The path of the demo SQLite file in ``directory`` (default: the user's cache), built if missing."""
    script = demo_script()
    digest = hashlib.sha256(script.encode("utf-8")).hexdigest()[:12]
    target_dir = directory if directory is not None else default_cache_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"demo-{digest}.sqlite"
    if target.exists():
        return target
    handle, temporary = tempfile.mkstemp(prefix=".demo-", suffix=".sqlite", dir=target_dir)
    os.close(handle)
    try:
        connection = sqlite3.connect(temporary)
        try:
            connection.executescript(script)
            connection.commit()
        finally:
            connection.close()
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    log.info("built the demo database at %s", target)
    return target
