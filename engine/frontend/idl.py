"""Load ``TCLIService.thrift`` with thriftpy2, once per process.

The canonical IDL lives at ``thrift/TCLIService.thrift`` in the repository. The package keeps a
link to it (``engine/frontend/TCLIService.thrift``) so that an installed wheel carries the file as
package data; when running from a checkout either path works.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import thriftpy2

IDL_NAME = "TCLIService.thrift"
_HERE = Path(__file__).resolve().parent


def idl_path() -> Path:
    for candidate in (_HERE / IDL_NAME, _HERE.parent.parent / "thrift" / IDL_NAME):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{IDL_NAME} not found next to {__file__} nor in the repository's thrift/ directory"
    )


@functools.cache
def load() -> ModuleType:
    """The thriftpy2 module for TCLIService (structs, enums and the ``TCLIService`` service)."""
    return thriftpy2.load(str(idl_path()), module_name="TCLIService_thrift")


TCLI = load()


class ThriftStruct(Protocol):
    """A TCLIService struct (request, response or part of one). thriftpy2 builds these classes at
    run time from the IDL, so their fields have no static types: they are read and written by the
    IDL's field names, and only inside ``engine.frontend`` (Thrift structs never travel below it)."""

    thrift_spec: dict[int, tuple[Any, ...]]  # field id -> (type, name, ...), from the IDL

    def __getattr__(self, name: str) -> Any: ...
