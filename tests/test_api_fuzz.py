"""Property-based fuzzing of the OpenAPI schema with schemathesis: no input may cause a 5xx.

Bounded: a fixed number of examples per operation. The live event stream is
left out (without ``events`` it never ends, by design). Path parameters are
real half the time (a registered plugin, an uploaded transcript's key), so
generated bodies and queries reach the handlers behind the 404s.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qualia_pipelines.api.app import create_app
from qualia_pipelines.api.engines import ROUTE_KIND
from qualia_pipelines.core.settings import Settings
from tests.conftest import SAMPLES

EXAMPLES_PER_OPERATION = 15
JSON_OR_FILE = ("application/json", "text/html", "image/", "text/plain", "application/zip")


def test_no_generated_input_causes_a_server_error(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", max_file_mb=1, rate_limit_per_minute=0))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/health/stream")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    answered: dict[str, Counter[int]] = {}
    with TestClient(app) as client:  # runs the lifespan: the orchestrator's background runs stop with it
        meeting = SAMPLES["txt_pt"].read_text(encoding="utf-8")
        plugins = client.get("/plugins").json()
        key = uploaded_key(client)
        for operation in operations:
            real = {"plugin_id": plugin_ids(plugins, operation.path), "key": [key]}
            fuzz(operation, real, meeting, answered)
    valid = {where for where, classes in answered.items() if classes[2]}
    invalid = {where for where, classes in answered.items() if classes[4]}
    # valid and invalid inputs reached the handlers that take parameters, bodies and uploads
    for where in (
        "POST /analyze/{plugin_id}",
        "GET /plugins/{plugin_id}",
        "GET /transcripts/{key}",
        "POST /transcripts",
    ):
        assert where in valid and where in invalid, (where, answered[where])
    assert len(valid) >= 8 and len(invalid) >= 12, answered


def fuzz(
    operation: schemathesis.APIOperation, real: dict[str, list[str]], meeting: str, answered: dict[str, Counter[int]]
) -> None:
    """Call ``operation`` with generated cases, real path values and text half the time; count the answers."""

    @given(case=operation.as_strategy(), data=st.data())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples on every run: CI results that do not depend on luck
        suppress_health_check=list(HealthCheck),
    )
    def no_server_error(case: schemathesis.Case, data: st.DataObject) -> None:
        for name in case.path_parameters or {}:
            if name in real and data.draw(st.booleans(), label=f"real {name}"):
                case.path_parameters[name] = data.draw(st.sampled_from(real[name]), label=name)
        if isinstance(case.body, dict) and "text" in case.body and data.draw(st.booleans(), label="real text"):
            case.body["text"] = meeting
            case.body["parameters"] = data.draw(st.sampled_from([{}, case.body.get("parameters", {})]))
        response = case.call()
        where = f"{case.method} {operation.path}"
        answered.setdefault(where, Counter())[response.status_code // 100] += 1
        assert response.status_code < 500, f"{where}: {response.status_code} {response.text}"
        assert response.headers.get("content-type", [""])[0].startswith(JSON_OR_FILE), where

    no_server_error()


def plugin_ids(plugins: list[dict], path: str) -> list[str]:
    """The plugins a route runs (``/analyze/...``: the analyzers), or every plugin for the other routes."""
    kind = ROUTE_KIND.get(path.strip("/").split("/")[0])
    return sorted(plugin["id"] for plugin in plugins if kind in (None, plugin["kind"]))


def uploaded_key(client: TestClient) -> str:
    """A transcript in the inbox, so its routes answer for a real key."""
    with SAMPLES["txt_pt"].open("rb") as handle:
        answer = client.post("/transcripts", files={"file": ("retro_pt.txt", handle)})
    assert answer.status_code == 202, answer.text
    return answer.json()["key"]
