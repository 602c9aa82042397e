"""Asset checks: transcript quality and output sanity, evaluated for every partition a run produced."""

from collections.abc import Mapping
from typing import Any

import dagster as dg

from qualia_pipelines.core.contract import Plugin, Rendering

OUTPUT_SANITY = "output_sanity"
TRANSCRIPT_QUALITY = "transcript_quality"


def check_specs(plugin: Plugin) -> list[dg.AssetCheckSpec]:
    specs = [
        dg.AssetCheckSpec(
            OUTPUT_SANITY,
            asset=plugin.id,
            description="Every promised output is present and "
            "in range: non-empty visuals, polarity within [-1, 1], counts non-negative.",
        )
    ]
    if "quality_report" in plugin.provides:
        specs.append(
            dg.AssetCheckSpec(
                TRANSCRIPT_QUALITY,
                asset=plugin.id,
                description="Speakers were found, "
                "something is left after cleaning, and no bytes needed encoding repair.",
            )
        )
    return specs


def check_results(plugin: Plugin, results: Mapping[str, Any]) -> list[dg.AssetCheckResult]:
    checks = [_sanity(plugin, results)]
    if "quality_report" in plugin.provides:
        checks.append(_quality(plugin, results))
    return checks


def skipped_results(plugin: Plugin, reason: str) -> list[dg.AssetCheckResult]:
    """Checks of a skipped asset: reported as not passed (warning), with the reason, rather than left silent."""
    return [
        dg.AssetCheckResult(
            asset_key=plugin.id,
            check_name=spec.name,
            passed=False,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"not_evaluated": reason},
        )
        for spec in check_specs(plugin)
    ]


def _sanity(plugin: Plugin, results: Mapping[str, Any]) -> dg.AssetCheckResult:
    problems = []
    for key, stored in results.items():
        values = stored.get("values", stored)
        problems += [f"{key}: {problem}" for problem in _value_problems(plugin, values)]
    return dg.AssetCheckResult(
        asset_key=plugin.id,
        check_name=OUTPUT_SANITY,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"transcripts": len(results), "problems": dg.MetadataValue.md(bullets(problems))},
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


def _quality(plugin: Plugin, results: Mapping[str, Any]) -> dg.AssetCheckResult:
    empty, speakerless, repaired, scores = [], [], [], []
    for key, stored in results.items():
        report = stored["values"]["quality_report"]
        scores.append(report["score"])
        if report["empty_after_cleaning"]:
            empty.append(key)
        if report["speakers_found"] == 0:
            speakerless.append(key)
        if report["encoding_repairs"]:
            repaired.append(f"{key} ({report['encoding_repairs']} bytes)")
    problems = [f"nothing left after cleaning: {k}" for k in empty] + [f"no speakers found: {k}" for k in speakerless]
    problems += [f"encoding repaired: {k}" for k in repaired]
    return dg.AssetCheckResult(
        asset_key=plugin.id,
        check_name=TRANSCRIPT_QUALITY,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR if empty else dg.AssetCheckSeverity.WARN,
        metadata={"lowest_score": min(scores, default=0), "problems": dg.MetadataValue.md(bullets(problems))},
    )


def bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items) or "none"
