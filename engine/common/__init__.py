"""Stdlib-only foundations: configuration, errors, cancellation, redaction, logging context."""
