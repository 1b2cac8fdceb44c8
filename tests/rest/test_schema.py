"""Schemathesis over the REST API's own OpenAPI document, against a real engine (uvicorn over
loopback): for generated valid and invalid requests to every operation, no 5xx, and every answer
conforms to the document (status code, content type, schema). A handful of examples per operation
keeps it under a minute."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from engine.app import EngineApp
from engine.common.config import EngineConf
from engine.rest.openapi import document
from tests.conftest import base_conf

schema = schemathesis.openapi.from_dict(document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
BASIC = "Basic " + base64.b64encode(b"alice:secret").decode()


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work: Path = tmp_path_factory.mktemp("schema")
    values = base_conf(work)
    app = EngineApp(EngineConf.load([f"{k}={v}" for k, v in values.items()], environ={}))
    app.start()
    yield f"http://127.0.0.1:{app.rest_port}"
    app.stop()


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_answer_conforms_to_the_document(case: schemathesis.Case, base_url: str) -> None:
    case.call_and_validate(base_url=base_url, headers={"Authorization": BASIC}, checks=CHECKS, timeout=30)
