"""Version strings, each defined once.

``VERSION`` is this engine's own release (``pyproject.toml`` reads it from here);
``KYUUBI_VERSION`` is the Kyuubi release whose Data Agent Engine we replace: servers report it as
their DBMS version, and it is part of the ZooKeeper engine spaces we share with Kyuubi.
"""

VERSION = "0.1.0"
KYUUBI_VERSION = "1.11.0"
