"""Prometheus metrics (the only importer of ``prometheus_client``): see :mod:`engine.metrics.prometheus`."""

from engine.metrics.prometheus import PrometheusMetrics

__all__ = ["PrometheusMetrics"]
