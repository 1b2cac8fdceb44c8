"""The sample shop every datasource test database holds, and the checks its summary query shares
across databases."""

from __future__ import annotations

import datetime
import decimal

from engine.common.types import HiveType
from engine.datasource import Datasource

SEED = [
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, country VARCHAR(40))",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount DECIMAL(10,2), "
    "placed DATE, note VARCHAR(100))",
    "INSERT INTO customers VALUES (1, 'Ann', 'FR'), (2, 'Bob', 'DE'), (3, 'Cy|d', NULL)",
    "INSERT INTO orders VALUES (1, 1, 10.50, '2024-01-05', 'first'), (2, 1, 20.00, '2024-02-07', NULL), "
    "(3, 2, 7.25, '2024-02-09', 'x'), (4, 3, 99.99, '2024-03-01', 'big')",
]


def read_summary(datasource: Datasource, extra_columns: str) -> tuple[dict[str, object], tuple[object, ...]]:
    """Read the per-customer summary with ``extra_columns`` after its four columns, check what every
    database types alike (name, count, decimal sum, date) and the first row's four values; return
    the columns by name and the first row."""
    result = datasource.execute_read(
        "SELECT c.name, count(*) AS n, sum(o.amount) AS total, max(o.placed) AS last, "
        f"{extra_columns} "
        "FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name ORDER BY c.name",
        max_rows=10,
        timeout=10,
    )
    columns = {c.name: c for c in result.columns}
    assert columns["name"].type == HiveType.STRING
    assert columns["n"].type == HiveType.BIGINT
    assert columns["total"].type == HiveType.DECIMAL and columns["total"].scale == 2
    assert columns["last"].type == HiveType.DATE
    first = result.rows[0]
    assert first[:4] == ("Ann", 2, decimal.Decimal("30.50"), datetime.date(2024, 2, 7))
    return columns, first
