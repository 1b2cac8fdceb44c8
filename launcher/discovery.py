"""Reading engine spaces: live engines, an engine by refId (with a watch), and listing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import WatchedEvent

from engine.common.znode import SHARE_LEVELS, NodeName, space_root
from launcher import zk

log = logging.getLogger(__name__)

RECHECK = 1.0  # a watch wakes us at once; this bounds each wait so exits and deadlines are checked


@dataclass(frozen=True)
class EngineNode:
    """One registered engine: where it lives in ZooKeeper and what its node says."""

    path: str
    node: NodeName
    data: str = ""

    @property
    def address(self) -> str:
        return self.node.address


class EngineDiscovery:
    def __init__(self, client: KazooClient) -> None:
        self._client = client

    def engines(self, space: str) -> list[EngineNode]:
        """The engine nodes of one space, oldest first (empty when the space does not exist)."""
        try:
            found = zk.children(self._client, space)
        except NoNodeError:
            return []
        return self._parse(space, found)

    def live_engine(self, space: str) -> EngineNode | None:
        """The newest engine of a space (every node is ephemeral, so every node is live)."""
        nodes = self.engines(space)
        return nodes[-1] if nodes else None

    def wait_for_ref(
        self, space: str, ref_id: str, deadline: float, wake: threading.Event, exited: Callable[[], bool]
    ) -> EngineNode | None:
        """Wait until a node with ``refId`` appears, woken by a children watch (or by ``wake``,
        which the process watcher sets when the engine exits).

        Returns None when ``exited()`` or at the deadline.
        """

        def on_change(_event: WatchedEvent) -> None:
            wake.set()

        while True:
            wake.clear()
            try:
                children = zk.children(self._client, space, watch=on_change)
            except NoNodeError:  # the engine creates the space; watch for it
                if zk.exists(self._client, space, watch=on_change):
                    continue
                children = []
            for engine in self._parse(space, children):
                if engine.node.ref_id == ref_id:
                    return engine
            remaining = deadline - time.monotonic()
            if exited() or remaining <= 0:
                return None
            wake.wait(timeout=min(remaining, RECHECK))

    def server_nodes(self, path: str) -> list[tuple[str, str]]:
        """Every child of ``path`` with its data, as a Hive JDBC client reads a discovery
        namespace (see ``engine.common.znode.server_address``); empty when ``path`` is missing."""
        nodes = []
        for child in self._children(path):
            try:
                data = zk.data(self._client, f"{path}/{child}")
            except NoNodeError:
                continue  # an ephemeral node that went away meanwhile
            nodes.append((child, data.decode("utf-8", "replace")))
        return nodes

    def delete(self, path: str) -> bool:
        try:
            zk.delete(self._client, path)
            return True
        except NoNodeError:
            return False

    def exists(self, path: str) -> bool:
        return zk.exists(self._client, path)

    def walk(
        self, namespace: str, share_levels: tuple[str, ...] = SHARE_LEVELS
    ) -> list[tuple[str, EngineNode]]:
        """Every engine under a namespace: (share level, engine) for each share level's root."""
        found: list[tuple[str, EngineNode]] = []
        for level in share_levels:
            root = space_root(namespace, level)
            for user in self._children(root):
                for leaf in self._children(f"{root}/{user}"):
                    found.extend((level, engine) for engine in self.engines(f"{root}/{user}/{leaf}"))
        return found

    def _children(self, path: str) -> list[str]:
        try:
            return sorted(zk.children(self._client, path))
        except NoNodeError:
            return []

    def _parse(self, space: str, children: list[str]) -> list[EngineNode]:
        engines = []
        for child in children:
            try:
                node = NodeName.parse(child)
            except ValueError:
                continue
            engines.append(EngineNode(f"{space}/{child}", node))
        return sorted(engines, key=lambda engine: engine.node.sequence or 0)
