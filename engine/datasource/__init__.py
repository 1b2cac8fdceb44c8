"""Datasources: JDBC URL mapping, a bounded SQLAlchemy pool, and an executor with row caps,
timeouts, cancel and database-enforced read-only reads. The only package that imports SQLAlchemy."""

from engine.datasource.datasource import Datasource
from engine.datasource.url import SQLGLOT_DIALECTS, SUPPORTED_SCHEMES, SourceSpec, parse_source

__all__ = [
    "SQLGLOT_DIALECTS",
    "SUPPORTED_SCHEMES",
    "Datasource",
    "SourceSpec",
    "parse_source",
]
