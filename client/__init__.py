"""The terminal client ``data-agent``: questions to a Data Agent Engine over HiveServer2 (PyHive),
answers rendered with rich, input with prompt_toolkit. From the engine it uses only
``engine.common``; ZooKeeper discovery goes through the launcher's kazoo helpers."""
