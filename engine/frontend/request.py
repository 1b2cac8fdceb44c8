"""Checks on a decoded request before its handler runs.

thriftpy2 hands a string field that is not valid UTF-8 over as ``bytes`` instead of failing; a
handler would then fail somewhere deep with a bare internal error. :func:`check_request` names
the field instead. Which fields can hold text is worked out once per struct class from its
``thrift_spec``; a struct with no string anywhere inside (handles, for instance) costs nothing,
so the FetchResults and GetOperationStatus hot path pays for no walk at all.
"""

from __future__ import annotations

import functools
from typing import Any

from engine.common.errors import MalformedRequestError
from engine.common.redaction import clip
from engine.frontend.idl import ThriftStruct

T_STRING, T_STRUCT, T_MAP, T_SET, T_LIST = 11, 12, 13, 14, 15

# A value spec: (ttype, nested) where nested is a struct class, an element spec or a (key, value)
# pair of specs; thriftpy2 writes a plain ttype when there is nothing nested.
Spec = Any


def check_request(request: ThriftStruct | None, method: str) -> None:
    """Raise :class:`MalformedRequestError` when ``request`` is missing or holds non-UTF-8 text."""
    if request is None:
        raise MalformedRequestError(f"{method} carries no request struct")
    field = _invalid_text(request, type(request).__name__)
    if field is not None:
        raise MalformedRequestError(f"{method}: field {field} is not valid UTF-8")


def _invalid_text(struct: Any, path: str) -> str | None:
    for name, spec in _text_fields(struct.__class__):
        value = getattr(struct, name, None)
        if value is not None:
            found = _check_value(value, spec, f"{path}.{name}")
            if found is not None:
                return found
    return None


def _check_value(value: Any, spec: Spec, path: str) -> str | None:
    ttype, nested = _split(spec)
    if ttype == T_STRING:
        return path if isinstance(value, bytes) else None
    if ttype == T_STRUCT:
        return _invalid_text(value, path)
    if ttype in (T_LIST, T_SET):
        for index, element in enumerate(value):
            found = _check_value(element, nested, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if ttype == T_MAP:
        key_spec, value_spec = nested
        for key, item in value.items():
            if isinstance(key, bytes) and _split(key_spec)[0] == T_STRING:
                return f"{path} (a key)"
            found = _check_value(item, value_spec, f"{path}[{clip(key, 32)}]")
            if found is not None:
                return found
    return None


def _split(spec: Spec) -> tuple[int, Any]:
    if isinstance(spec, int):
        return spec, None
    return spec[0], spec[1]


@functools.cache
def _text_fields(cls: Any) -> tuple[tuple[str, Spec], ...]:  # cls: a thriftpy2 struct class
    """The fields of ``cls`` that are, or contain, strings: (name, value spec)."""
    fields = []
    for field in getattr(cls, "thrift_spec", {}).values():
        spec: Spec = field[0] if len(field) <= 3 else (field[0], field[2])
        if _holds_text(spec, frozenset({cls})):
            fields.append((field[1], spec))
    return tuple(fields)


def _holds_text(spec: Spec, visiting: frozenset[type]) -> bool:
    ttype, nested = _split(spec)
    if ttype == T_STRING:
        return True
    if ttype == T_STRUCT:
        if nested in visiting:
            return False
        inner = visiting | {nested}
        return any(
            _holds_text(field[0] if len(field) <= 3 else (field[0], field[2]), inner)
            for field in nested.thrift_spec.values()
        )
    if ttype in (T_LIST, T_SET):
        return _holds_text(nested, visiting)
    if ttype == T_MAP:
        return _holds_text(nested[0], visiting) or _holds_text(nested[1], visiting)
    return False
