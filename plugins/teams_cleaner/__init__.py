"""teams_cleaner: a clean transcript, who spoke how much, and how trustworthy it is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qualia_plugins.teams_cleaner.cleaning import (
    is_system_message,
    merged_consecutive,
    rendered_text,
    with_normalised_speakers,
)

from qualia_pipelines.core.contract import TRANSCRIPT_KEY, Parameter, Plugin, PluginInputError, RetryHints
from qualia_pipelines.core.transcript import Segment, Transcript


def run(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    transcript = inputs[TRANSCRIPT_KEY]
    if not isinstance(transcript, Transcript):
        raise PluginInputError(f"teams_cleaner needs a Transcript, got {type(transcript).__name__}")
    segments = list(transcript.segments)
    system = [is_system_message(s) for s in segments] if params["remove_system_messages"] else []
    removed = sum(system)
    segments = [s for s, is_system in zip(segments, system, strict=True) if not is_system] if removed else segments
    if params["normalize_speakers"]:
        segments = with_normalised_speakers(segments)
    short = [s for s in segments if s.word_count < params["min_utterance_words"]]
    segments = [s for s in segments if s.word_count >= params["min_utterance_words"]]
    speakers = speaker_participation(segments)  # before merging: gaps between turns are not talk time
    if params["merge_consecutive"]:
        segments = merged_consecutive(segments)
    return {
        "cleaned_document": {
            "source": transcript.source,
            "language": transcript.language,
            "segments": [segment_record(s) for s in segments],
            "short_utterances": [segment_record(s) for s in short],
            "text": rendered_text(segments, with_timestamps=not params["remove_timestamps"]),
        },
        "speakers": speakers,
        "quality_report": quality_report(transcript, segments, removed, len(short)),
        "metadata": meeting_metadata(transcript, segments, speakers),
        "document_variants": speaker_texts(segments) if params["create_variants"] else {},
    }


def segment_record(segment: Segment) -> dict[str, Any]:
    return {"speaker": segment.speaker, "start": segment.start, "end": segment.end, "text": segment.text}


def speaker_participation(segments: list[Segment]) -> list[dict[str, Any]]:
    """Per speaker: turns, words, talk time and shares, most words first."""
    table: dict[str, dict[str, Any]] = {}
    for segment in segments:
        if not segment.speaker:
            continue
        row = table.get(segment.speaker)
        if row is None:
            row = table[segment.speaker] = {
                "speaker": segment.speaker,
                "utterances": 0,
                "words": 0,
                "talk_time_s": None,
            }
        row["utterances"] += 1
        row["words"] += segment.word_count
        if segment.start is not None and segment.end is not None:
            row["talk_time_s"] = round((row["talk_time_s"] or 0.0) + segment.end - segment.start, 3)
    total_words = sum(row["words"] for row in table.values())
    total_time = sum(row["talk_time_s"] or 0.0 for row in table.values())
    for row in table.values():
        row["share_of_words"] = round(row["words"] / total_words, 4) if total_words else 0.0
        row["share_of_time"] = round((row["talk_time_s"] or 0.0) / total_time, 4) if total_time else None
    return sorted(table.values(), key=lambda row: (-row["words"], row["speaker"]))


def quality_report(
    transcript: Transcript, kept: list[Segment], system_removed: int, short_dropped: int
) -> dict[str, Any]:
    """A 0-100 score with the counts behind it, so a low score explains itself."""
    without_speaker = sum(1 for s in kept if not s.speaker)
    timed = sum(1 for s in kept if s.start is not None)
    score = 100.0
    if kept:
        score -= 30 * without_speaker / len(kept)
        score -= 10 * (1 - timed / len(kept))
        score -= 10 * short_dropped / max(len(transcript.segments), 1)
    score -= min(20, 2 * transcript.encoding_repairs)
    score -= min(10, 5 * transcript.speaker_name_repairs)
    return {
        "score": 0 if not kept else max(0, round(score)),
        "format": transcript.format,
        "language": transcript.language,
        "segments_in": len(transcript.segments),
        "segments_kept": len(kept),
        "system_messages_removed": system_removed,
        "short_utterances_dropped": short_dropped,
        "segments_without_speaker": without_speaker,
        "speakers_found": len({s.speaker for s in kept if s.speaker}),
        "encoding": transcript.encoding,
        "encoding_repairs": transcript.encoding_repairs,
        "speaker_name_repairs": transcript.speaker_name_repairs,
        "annotations_removed": transcript.annotations_removed,
        "empty_after_cleaning": not kept,
    }


def meeting_metadata(transcript: Transcript, kept: list[Segment], speakers: list[dict[str, Any]]) -> dict[str, Any]:
    starts = [s.start for s in transcript.segments if s.start is not None]
    ends = [s.end if s.end is not None else s.start for s in transcript.segments if s.start is not None]
    return {
        "source": transcript.source,
        "content_hash": transcript.content_hash,
        "format": transcript.format,
        "language": transcript.language,
        "encoding": transcript.encoding,
        "duration_s": round(max(ends) - min(starts), 3) if starts else None,
        "participant_count": len(speakers),
        "participants": [row["speaker"] for row in speakers],
        "segments": len(kept),
        "words": sum(s.word_count for s in kept),
        **{key: value for key, value in transcript.metadata.items() if key in ("title", "preamble", "date")},
    }


def speaker_texts(segments: list[Segment]) -> dict[str, str]:
    texts: dict[str, list[str]] = {}
    for segment in segments:
        texts.setdefault(segment.speaker or "(no speaker)", []).append(segment.text)
    return {speaker: "\n".join(parts) for speaker, parts in texts.items()}


plugin = Plugin(
    id="teams_cleaner",
    kind="document",
    version="1.3.0",
    description="Cleans a transcript: drops system messages and fillers, unifies speaker names, "
    "merges turns, and measures participation and transcript quality.",
    requires=(TRANSCRIPT_KEY,),
    provides=("cleaned_document", "speakers", "quality_report", "metadata", "document_variants"),
    run=run,
    parameters=(
        Parameter(
            "remove_system_messages",
            "bool",
            True,
            "Drop 'Recording started', 'X joined the meeting', "
            "'X está apresentando' and lines by a System/Sistema speaker.",
        ),
        Parameter("normalize_speakers", "bool", True, "Trim names and unify case and accent variants of one name."),
        Parameter("merge_consecutive", "bool", True, "Merge adjacent turns of the same speaker."),
        Parameter("min_utterance_words", "int", 2, "Drop utterances with fewer words ('Hum.', 'Ok.').", minimum=0),
        Parameter("remove_timestamps", "bool", False, "Leave timestamps out of the rendered text."),
        Parameter("create_variants", "bool", True, "Also give the text of each speaker on its own."),
    ),
    retry=RetryHints(max_retries=1, backoff_seconds=2.0),
)
