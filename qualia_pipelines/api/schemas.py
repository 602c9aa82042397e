"""Request and response models. Plugin parameter schemas come from plugin metadata, never written here."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qualia_pipelines.core.contract import Plugin


class TextRequest(BaseModel):
    """A transcript handed over as text (parsed like a .txt file: `Name: text`, `[00:01] Name: text`, ...)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., min_length=1, description="Transcript text.")
    parameters: dict[str, Any] = Field(
        default_factory=dict,
        description='Parameters of the plugin; `{"plugin.name": value}` sets one of a plugin it depends on.',
    )


class PipelineStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plugin: str = Field(..., description="Plugin id.")
    parameters: dict[str, Any] = Field(default_factory=dict)


class PipelineRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(..., min_length=1, description="Transcript text.")
    steps: list[PipelineStep] = Field(..., min_length=1, description="Plugins in order, each with its parameters.")


class ErrorBody(BaseModel):
    error: str = Field(..., description="What is wrong, naming the file, plugin or field.")


class PluginSummary(BaseModel):
    id: str
    kind: str
    version: str
    description: str
    requires: list[str]
    provides: list[str]
    parameters_schema: dict[str, Any] = Field(..., description="JSON Schema of the parameters object.")

    @classmethod
    def of(cls, plugin: Plugin) -> "PluginSummary":
        return cls(
            id=plugin.id,
            kind=plugin.kind,
            version=plugin.version,
            description=plugin.description,
            requires=list(plugin.requires),
            provides=list(plugin.provides),
            parameters_schema=plugin.json_schema(),
        )
