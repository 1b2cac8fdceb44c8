#!/usr/bin/env python3
"""The per-batch floor of a streamed typed result, stage by stage, in one process.

One 10,000-row batch of one-column strings (``str(i)``, as bench/stream.py reads), timed per
stage and reported as rows per second:

- ``sqlite fetchmany``: the SQLite cursor's ``fetchmany(10000)`` over ``SELECT s FROM big``;
- ``type_columns``: the engine's typing of a batch (engine.datasource.typemap);
- ``to_rowset``: building the column-based ``TRowSet`` (engine.frontend.rowset);
- ``thrift encode``: thriftpy2's C binary protocol writing the whole ``TFetchResultsResp``;
- ``thrift decode``: the same bytes read back (what a PyHive client pays per batch).

The sum of the server-side stages is what one 1M-row read costs the engine at best in Python
(x100 batches). Prints one line per stage.

usage: bench/floor.py [--rows 1000000] [--batch 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(action: Callable[[], object], repeat: int) -> float:
    """The median seconds of ``repeat`` runs of ``action``."""
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from thriftpy2.protocol import TBinaryProtocol
    from thriftpy2.transport import TMemoryBuffer

    from engine.common.types import ColumnSpec, HiveType, RowBatch, TableSchema
    from engine.datasource.typemap import type_columns
    from engine.frontend import rowset
    from engine.frontend.idl import TCLI

    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "big.db"
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE big(s TEXT)")
        db.executemany("INSERT INTO big VALUES (?)", ((str(i),) for i in range(args.rows)))
        db.commit()

        def read_all() -> None:
            cursor = db.execute("SELECT s FROM big")
            while cursor.fetchmany(args.batch):
                pass

        whole = timed(read_all, max(1, args.repeat // 2))
        rows = db.execute("SELECT s FROM big").fetchmany(args.batch)
        description = (("s", None, None, None, None, None, None),)
        db.close()

    schema = TableSchema((ColumnSpec("s", HiveType.STRING),))
    values = [row[0] for row in rows]
    batch = RowBatch([values], 0, True, schema, 10)

    def encode() -> bytes:
        buffer = TMemoryBuffer()
        response = TCLI.TFetchResultsResp(
            status=TCLI.TStatus(statusCode=0), hasMoreRows=True, results=rowset.to_rowset(batch, 10)
        )
        response.write(TBinaryProtocol(buffer))
        return buffer.getvalue()

    payload = encode()

    def decode() -> None:
        response = TCLI.TFetchResultsResp()
        response.read(TBinaryProtocol(TMemoryBuffer(payload), decode_response=True))

    stages = {
        "sqlite fetchmany (whole table)": whole / (args.rows / args.batch),
        "type_columns": timed(lambda: type_columns("sqlite", description, rows), args.repeat),
        "column extract [r[0] for r]": timed(lambda: [row[0] for row in rows], args.repeat),
        "to_rowset": timed(lambda: rowset.to_rowset(batch, 10), args.repeat),
        "thrift encode (to_rowset + write)": timed(encode, args.repeat),
        "thrift decode (client side)": timed(decode, args.repeat),
    }
    print(f"one batch of {args.batch} one-column string rows; {len(payload)} bytes on the wire")
    for name, seconds in stages.items():
        print(
            f"{name:36s} {seconds * 1000:8.2f} ms/batch  {args.batch / seconds / 1e6:7.2f} M rows/s"
            f"  ({seconds * args.rows / args.batch:6.3f} s per {args.rows} rows)"
        )


if __name__ == "__main__":
    main()
