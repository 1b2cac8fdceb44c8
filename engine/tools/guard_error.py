"""The read-only guard's one error type and the text every rejection ends with."""

from __future__ import annotations

from engine.common.errors import InvalidStatementError

MUTATION_HINT = (
    "run_select_query runs read-only SQL only; to change data use run_mutation_query "
    "(it needs the user's approval)"
)


class ReadOnlyViolationError(InvalidStatementError):
    """A statement the read-only guard does not let through; the text is for the model."""


def reject(reason: str) -> ReadOnlyViolationError:
    """The error for a rejected statement: why, and that run_mutation_query exists."""
    return ReadOnlyViolationError(f"Rejected by the read-only guard: {reason}. {MUTATION_HINT}.")
