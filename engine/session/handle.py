"""Session and operation handles (defined in engine.common.handle; re-exported here)."""

from engine.common.handle import Handle, OperationHandle, OperationType, SessionHandle

__all__ = ["Handle", "OperationHandle", "OperationType", "SessionHandle"]
