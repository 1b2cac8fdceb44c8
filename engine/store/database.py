"""The SQLAlchemy engine of the store: a SQLite file in WAL mode with a busy timeout, or
PostgreSQL through psycopg2 with connect and keepalive timeouts. Its pool is bounded."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine

POOL_SIZE = 4  # readers; the writer and the maintenance thread take one each from it
POOL_OVERFLOW = 4
POOL_TIMEOUT = 10.0


def secrets_of(url: URL) -> tuple[str, ...]:
    """Exact values to mask in any message about this store: its password, its full URL."""
    values = [url.render_as_string(hide_password=False)]
    if url.password:
        values.append(str(url.password))
    return tuple(value for value in values if len(value) >= 4)


def create_store_engine(url: URL, *, busy_timeout: float = 5.0, connect_timeout: float = 10.0) -> Engine:
    """A pooled engine for the store at ``url`` (a SQLite file or PostgreSQL)."""
    pool: dict[str, Any] = {
        "pool_size": POOL_SIZE,
        "max_overflow": POOL_OVERFLOW,
        "pool_timeout": POOL_TIMEOUT,
        "pool_recycle": 3600,
        "pool_pre_ping": True,
    }
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
            poolclass=sa.pool.QueuePool,
            **pool,
        )
        milliseconds = max(0, int(busy_timeout * 1000))

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute(f"PRAGMA busy_timeout={milliseconds}")
                cursor.execute("PRAGMA synchronous=NORMAL")  # in WAL: durable across a process crash
                cursor.execute("PRAGMA foreign_keys=ON")
            finally:
                cursor.close()

        return engine
    return sa.create_engine(
        url,
        # psycopg2's plain executemany costs a round trip per row; execute_batch sends pages
        executemany_mode="values_plus_batch",
        executemany_batch_page_size=500,
        connect_args={
            "connect_timeout": max(1, int(connect_timeout)),
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": int(connect_timeout * 1000),
            "application_name": "data-agent-engine store",
        },
        **pool,
    )
