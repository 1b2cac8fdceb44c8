"""The error code table: every error class that declares a vendor code declares its own."""

from __future__ import annotations

import importlib
import pkgutil

import engine
import launcher
from engine.common.errors import EngineError


def _subclasses(cls: type[EngineError]) -> list[type[EngineError]]:
    found: list[type[EngineError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_vendor_codes_are_unique_across_the_engine_and_the_launcher() -> None:
    for package in (engine, launcher):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" not in module.name and not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    owners: dict[int, str] = {}
    for cls in _subclasses(EngineError):
        code = cls.__dict__.get("vendor_code")
        if code is None:
            continue  # inherits its parent's
        name = f"{cls.__module__}.{cls.__qualname__}"
        assert code not in owners, f"vendor code {code}: {owners[code]} and {name}"
        owners[code] = name
    assert len(owners) >= 20
