"""jdbc:hive2: / jdbc:kyuubi: through PyHive, against a real HiveServer2 endpoint: this engine
itself (its SHOW/DESCRIBE forms answer from the bundled demo database's catalog)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.common.deadline import DeadlineScheduler
from engine.common.errors import DatasourceError
from engine.common.types import HiveType
from engine.datasource import Datasource


@pytest.mark.parametrize(
    ("scheme", "suffix"), [("hive2", ";auth=noSasl"), ("kyuubi", ";auth=noSasl;user=carol")]
)
def test_hive_datasource_reads_from_a_hiveserver2(
    start_engine: Any, scheme: str, suffix: str, scheduler: DeadlineScheduler
) -> None:
    engine = start_engine({"kyuubi.authentication": "NOSASL"})
    datasource = Datasource.from_url(
        f"jdbc:{scheme}://{engine.host}:{engine.port}/default{suffix}", scheduler=scheduler
    )
    try:
        assert datasource.dialect == "hive" and datasource.sqlglot_dialect == "hive"
        tables = datasource.execute_read("SHOW TABLES", max_rows=100, timeout=30)
        names = {row[-1] for row in tables.rows}
        assert {"customers", "orders", "order_items", "products"} <= names
        assert all(column.type == HiveType.STRING for column in tables.columns)
        described = datasource.execute_read("DESCRIBE orders", max_rows=2, timeout=30)
        assert described.rows[0][0] == "order_id" and described.truncated
    finally:
        datasource.close()


def test_hive_datasource_down(unused_port: int, scheduler: DeadlineScheduler) -> None:
    datasource = Datasource.from_url(
        f"jdbc:hive2://127.0.0.1:{unused_port}/default;auth=noSasl", scheduler=scheduler
    )
    try:
        with pytest.raises(DatasourceError, match="cannot connect"):
            datasource.execute_read("SELECT 1", max_rows=1, timeout=5)
    finally:
        datasource.close()
