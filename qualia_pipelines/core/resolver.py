"""Map ``requires`` keys to the plugins that ``provide`` them, in dependency order."""

from __future__ import annotations

from qualia_pipelines.core.contract import TRANSCRIPT_KEY, Plugin, QualiaError
from qualia_pipelines.core.registry import Registry


class ResolutionError(QualiaError):
    """A required key has no provider, or plugins depend on each other in a cycle."""


def providers(registry: Registry) -> dict[str, str]:
    """Key -> id of the plugin that provides it (the registry guarantees one)."""
    return {key: plugin.id for plugin in registry.plugins.values() for key in plugin.provides}


def direct_dependencies(registry: Registry, plugin: Plugin) -> list[str]:
    """Ids of the plugins whose outputs ``plugin`` requires, in ``requires`` order."""
    by_key = providers(registry)
    found: list[str] = []
    for key in plugin.requires:
        if key == TRANSCRIPT_KEY:
            continue
        if key not in by_key:
            raise ResolutionError(f"plugin {plugin.id!r} requires {key!r}, which no registered plugin provides")
        if by_key[key] not in found:
            found.append(by_key[key])
    return found


def execution_order(registry: Registry, plugin_id: str) -> list[Plugin]:
    """``plugin_id`` and everything it depends on, dependencies first."""
    order: list[Plugin] = []
    visiting: list[str] = []

    def visit(current: str) -> None:
        if any(plugin.id == current for plugin in order):
            return
        if current in visiting:
            cycle = " -> ".join([*visiting[visiting.index(current) :], current])
            raise ResolutionError(f"plugins depend on each other in a cycle: {cycle}")
        visiting.append(current)
        plugin = registry.get(current)
        for dependency in direct_dependencies(registry, plugin):
            visit(dependency)
        visiting.pop()
        order.append(plugin)

    visit(plugin_id)
    return order
