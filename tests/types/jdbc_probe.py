"""Read statements through hive-jdbc 2.3.10 with JayDeBeApi, in a process of its own (the JVM it
starts stays with that process, never with pytest's).

Reads one JSON object on stdin: ``{"url", "user", "password", "classpath": [...], "statements": [...]}``
and writes a JSON list on stdout, for each statement either ``{"columns": [{"name", "type", "precision", "scale"}],
"java": [[{"class", "text"} | null, ...]], "rows": [[{"py", "value"}, ...]]}`` (``type`` is the type
name hive-jdbc reports, ``java`` what its ``getObject`` returns, ``rows`` what JayDeBeApi's
``fetchall`` makes of it) or ``{"error": "<the exception>"}``. ``python -m tests.types.jdbc_probe``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import jaydebeapi

DRIVER = "org.apache.hive.jdbc.HiveDriver"


_NUMBERS = {"java.lang.Byte", "java.lang.Short", "java.lang.Integer", "java.lang.Long"}


def _value(value: Any) -> dict[str, Any]:
    """A JayDeBeApi value as JSON: its Python type name and the value (numbers and booleans as
    such, anything else as its str)."""
    kind = type(value).__name__
    if value is None or isinstance(value, str):
        return {"py": kind, "value": value}
    if kind == "java.lang.Boolean" or isinstance(value, bool):
        return {"py": kind, "value": bool(value)}
    if kind in _NUMBERS or isinstance(value, int):
        return {"py": kind, "value": int(value)}
    if kind in ("JDouble", "java.lang.Double", "java.lang.Float") or isinstance(value, float):
        return {"py": kind, "value": float(value)}
    return {"py": kind, "value": str(value)}


def _java(value: Any) -> dict[str, str] | None:
    """hive-jdbc's own object for a value: its Java class and text (bytes in hex)."""
    if value is None:
        return None
    if isinstance(value, str):  # JayDeBeApi starts the JVM with java.lang.String converted to str
        return {"class": "java.lang.String", "text": value}
    name = str(value.getClass().getName())
    if name == "[B":  # byte[]
        return {"class": "byte[]", "text": bytes(value).hex()}
    return {"class": name, "text": str(value.toString())}


def _read(connection: Any, statement: str) -> dict[str, Any]:
    """The statement read twice: through hive-jdbc's ResultSet.getObject (the Java objects) and
    through JayDeBeApi's fetchall (the Python values its converters make of them)."""
    cursor = connection.cursor()
    try:
        cursor.execute(statement)
        meta, result_set = cursor._meta, cursor._rs  # the open java.sql.ResultSet and its metadata
        width = meta.getColumnCount()
        columns = [
            {
                "name": str(meta.getColumnLabel(i)),
                "type": str(meta.getColumnTypeName(i)),
                "precision": int(meta.getPrecision(i)),
                "scale": int(meta.getScale(i)),
            }
            for i in range(1, width + 1)
        ]
        java = []
        while result_set.next():
            java.append([_java(result_set.getObject(i)) for i in range(1, width + 1)])
        cursor.execute(statement)
        rows = [[_value(value) for value in row] for row in cursor.fetchall()]
        return {"columns": columns, "java": java, "rows": rows}
    except Exception as exc:  # the client's own error is the finding
        return {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        cursor.close()


def main() -> int:
    request = json.load(sys.stdin)
    connection = jaydebeapi.connect(
        DRIVER, request["url"], [request["user"], request["password"]], request["classpath"]
    )
    try:
        results = [_read(connection, statement) for statement in request["statements"]]
    finally:
        connection.close()
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
