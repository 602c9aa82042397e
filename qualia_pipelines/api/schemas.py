"""Request and response models. Plugin parameter schemas come from plugin metadata, never written here."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qualia_pipelines.core.contract import Plugin
from qualia_pipelines.core.statuses import TranscriptStatus


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


class RunsLaunched(BaseModel):
    key: str = Field(..., description="Partition key of the transcript.")
    status: TranscriptStatus
    run_ids: list[str] = Field(..., description="Dagster runs launched now (empty: left to the inbox sensor).")


class TranscriptAccepted(RunsLaunched):
    new: bool = Field(..., description="False when the identical file was already in the inbox.")
    links: dict[str, str]

    @classmethod
    def of(cls, key: str, new: bool, run_ids: list[str]) -> "TranscriptAccepted":
        return cls(
            key=key,
            status="queued" if run_ids else "received",
            run_ids=run_ids,
            new=new,
            links={"self": f"/transcripts/{key}", "report": f"/transcripts/{key}/report"},
        )


class TranscriptState(BaseModel):
    key: str
    status: TranscriptStatus = Field(
        ...,
        description="received: in the inbox, no partition yet; queued: its run starts soon; pending: some asset "
        "is missing; running; failed: an asset's last attempt failed; processed: every asset materialized.",
    )
    file: str | None = Field(None, description="File name in the inbox (None once removed from it).")
    assets: dict[str, str | None] = Field(..., description="Status of each per-transcript asset.")
    run_id: str | None = Field(None, description="The run launched by this API, while it is queued.")


class TranscriptPage(BaseModel):
    items: list[TranscriptState]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null after the last page. Pages may be short."
    )


class TranscriptDetail(TranscriptState):
    results: dict[str, Any] = Field(..., description="Key figures and output files (empty until processed).")
    report: str = Field(..., description="Link to the HTML report.")


class WebhookTranscript(BaseModel):
    name: str = Field(..., min_length=1, description="File name; its extension (or its content) gives the format.")
    content: str = Field(..., min_length=1, description="The file's content, as text or base64.")
    encoding: Literal["utf-8", "base64"] = Field("utf-8", description="base64 for .docx or non-UTF-8 bytes.")


class WebhookDelivery(BaseModel):
    """Other fields a sender includes are ignored; URLs are never fetched."""

    text: str | None = Field(None, min_length=1, description="Transcript text to analyse now.")
    steps: list[PipelineStep] | None = Field(None, description="Plugins to run on the text (default: every analyzer).")
    transcript: WebhookTranscript | None = Field(None, description="A transcript file to queue into the inbox.")


class WebhookResult(BaseModel):
    source: str
    action: Literal["analysed", "queued"]
    key: str | None = Field(None, description="Partition key of a queued transcript.")
    results: dict[str, Any] = Field(..., description="Plugin id -> result, for analysed text.")
