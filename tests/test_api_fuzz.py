"""Property-based fuzzing of the OpenAPI schema with schemathesis: no input may cause a 5xx.

Bounded: a fixed number of examples per operation. The live event stream is
left out (without ``events`` it never ends, by design).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from qualia_pipelines.api.app import create_app
from qualia_pipelines.core.settings import Settings

EXAMPLES_PER_OPERATION = 15
JSON_OR_FILE = ("application/json", "text/html", "image/", "text/plain", "application/zip")


def test_no_generated_input_causes_a_server_error(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", max_file_mb=1, rate_limit_per_minute=0))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/health/stream")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    answered: Counter[int] = Counter()
    with TestClient(app):  # runs the lifespan: the orchestrator's background runs stop with it
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,  # the same examples on every run: CI results that do not depend on luck
                suppress_health_check=list(HealthCheck),
            )
            def no_server_error(case: schemathesis.Case) -> None:
                response = case.call()
                answered[response.status_code // 100] += 1
                where = f"{case.method} {case.formatted_path}"
                assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
                assert response.headers.get("content-type", [""])[0].startswith(JSON_OR_FILE), where

            no_server_error()
    assert answered[2] >= 20 and answered[4] >= 20, answered  # both valid and invalid inputs were exercised
