"""Asset checks: transcript quality and output sanity, one result per transcript; the corpus tables'
completeness and the reports' safety."""

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from qualia_pipelines.core.contract import Plugin, Rendering
from qualia_pipelines.orchestration.partitions import TRANSCRIPTS

OUTPUT_SANITY = "output_sanity"
TRANSCRIPT_QUALITY = "transcript_quality"


def check_specs(plugin: Plugin) -> list[dg.AssetCheckSpec]:
    """One result per transcript (the specs are partitioned like the asset)."""
    with warnings.catch_warnings():  # partitioned checks are a preview in Dagster 1.13, warned about at every load
        warnings.simplefilter("ignore", dg.PreviewWarning)
        specs = [
            dg.AssetCheckSpec(
                OUTPUT_SANITY,
                asset=plugin.id,
                partitions_def=TRANSCRIPTS,
                description="Every promised output is present and in range: non-empty visuals, polarity within "
                "[-1, 1], counts non-negative.",
            )
        ]
        if "quality_report" in plugin.provides:
            specs.append(
                dg.AssetCheckSpec(
                    TRANSCRIPT_QUALITY,
                    asset=plugin.id,
                    partitions_def=TRANSCRIPTS,
                    description="Speakers were found, something is left after cleaning, and no bytes needed "
                    "encoding repair.",
                )
            )
    return specs


def check_evaluations(plugin: Plugin, results: Mapping[str, Any]) -> list[dg.AssetCheckEvaluation]:
    """Each check's result for each transcript of the run, recorded against its partition (a range run's
    ``AssetCheckResult`` would record one result for the whole range)."""
    evaluations = [_sanity(plugin, key, stored) for key, stored in results.items()]
    if "quality_report" in plugin.provides:
        evaluations += [_quality(plugin, key, stored["values"]["quality_report"]) for key, stored in results.items()]
    return evaluations


def skipped_evaluations(plugin: Plugin, keys: Sequence[str], reason: str) -> list[dg.AssetCheckEvaluation]:
    """Checks of a skipped asset: reported as not passed (warning), with the reason, rather than left silent."""
    return [
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(plugin.id),
            check_name=spec.name,
            passed=False,
            partition=key,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"not_evaluated": reason},
        )
        for spec in check_specs(plugin)
        for key in keys
    ]


def _sanity(plugin: Plugin, key: str, stored: Mapping[str, Any]) -> dg.AssetCheckEvaluation:
    problems = _value_problems(plugin, stored.get("values", stored))
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(plugin.id),
        check_name=OUTPUT_SANITY,
        passed=not problems,
        partition=key,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"problems": dg.MetadataValue.md(bullets(problems))},
    )


def _value_problems(plugin: Plugin, values: Mapping[str, Any]) -> list[str]:
    problems = [f"missing {key}" for key in plugin.provides if key not in values]
    for name, value in values.items():
        if isinstance(value, Rendering) and not value.content:
            problems.append(f"{name} is empty")
        polarity = value.get("polarity") if name == "sentiment" else None
        if polarity is not None and not -1.0 <= polarity <= 1.0:
            problems.append(f"polarity {value['polarity']} outside [-1, 1]")
        if name == "word_frequencies" and any(count < 0 for count in value.values()):
            problems.append("negative word count")
    return problems


def _quality(plugin: Plugin, key: str, report: Mapping[str, Any]) -> dg.AssetCheckEvaluation:
    problems = ["nothing left after cleaning"] if report["empty_after_cleaning"] else []
    problems += ["no speakers found"] if report["speakers_found"] == 0 else []
    problems += [f"{report['encoding_repairs']} bytes needed encoding repair"] if report["encoding_repairs"] else []
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(plugin.id),
        check_name=TRANSCRIPT_QUALITY,
        passed=not problems,
        partition=key,
        severity=dg.AssetCheckSeverity.ERROR if report["empty_after_cleaning"] else dg.AssetCheckSeverity.WARN,
        metadata={"score": report["score"], "problems": dg.MetadataValue.md(bullets(problems))},
    )


def bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items) or "none"


CORPUS_COMPLETE = "complete_and_defined"
REPORT_SAFE = "report_sanity"
REPORT_MAX_BYTES = 4 * 1024 * 1024
"""A report holds text, two charts' data and a PNG word cloud: a one-hour meeting's is about 0.2 MB."""


def corpus_check_spec(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CORPUS_COMPLETE,
        asset=asset,
        description="Every transcript the table should cover is in it, and no value is missing (NaN) where the "
        "table promises one.",
    )


def corpus_check_result(
    asset: str, table: Any, covered: set[str] | None, nullable: tuple[str, ...] = ()
) -> dg.AssetCheckResult:
    """``covered``: the transcripts that must have rows (None for a table keyed by word or speaker)."""
    problems = [f"{column}: {count} missing value(s)" for column, count in table.isna().sum().items()
                if count and column not in nullable]  # fmt: skip
    if covered is not None:
        absent = sorted(covered - set(table["transcript"]))
        problems += [f"no rows for transcript {key}" for key in absent[:20]]
        problems += [f"... and {len(absent) - 20} more transcripts without rows"] if len(absent) > 20 else []
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=CORPUS_COMPLETE,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rows": len(table), "problems": dg.MetadataValue.md(bullets(problems))},
    )


with warnings.catch_warnings():  # partitioned checks are a preview in Dagster 1.13
    warnings.simplefilter("ignore", dg.PreviewWarning)
    REPORT_CHECK = dg.AssetCheckSpec(
        REPORT_SAFE,
        asset="report",
        partitions_def=TRANSCRIPTS,
        description=f"The report is a page under {REPORT_MAX_BYTES // 2**20} MB whose only scripts are plotly.js "
        "and its charts, and no transcript text containing markup appears unescaped.",
    )


def report_check_evaluations(
    pages: Mapping[str, bytes], inputs: Mapping[str, list[str]]
) -> list[dg.AssetCheckEvaluation]:
    """One result per report. ``inputs``: per transcript, the texts from it the page shows (speakers,
    utterances)."""
    evaluations = []
    for key, content in pages.items():
        problems = _page_problems(content, inputs.get(key, []))
        evaluations.append(
            dg.AssetCheckEvaluation(
                asset_key=dg.AssetKey("report"),
                check_name=REPORT_SAFE,
                passed=not problems,
                partition=key,
                severity=dg.AssetCheckSeverity.ERROR,
                metadata={"bytes": len(content), "problems": dg.MetadataValue.md(bullets(problems))},
            )
        )
    return evaluations


def _page_problems(content: bytes, texts: list[str]) -> list[str]:
    if not content:
        return ["empty page"]
    if len(content) > REPORT_MAX_BYTES:
        return [f"{len(content):,} bytes, over {REPORT_MAX_BYTES:,}"]
    page = content.decode("utf-8", errors="replace")
    charts = page.count("plotly-graph-div")
    problems = []
    if not page.count("<script") == page.count("</script>") == 1 + charts:
        problems.append(f"{page.count('<script')} scripts for {charts} chart(s): input text may have become markup")
    raw = [text for text in texts if "<" in text and text in page]
    problems += [f"unescaped input text: {text[:60]!r}" for text in raw[:5]]
    return problems
