"""What every reader shares about speakers: label shapes, when a label is a name, and non-speech annotations.

Transcripts mark speakers in many ways: ``Name: text`` (Zoom, podcasts, SRT),
``[Name] text`` (subtitles for the deaf), ``A - text`` (interviews), header lines
(Teams DOCX, Otter, Fathom). Subtitles also mark what is not speech
(``[risas]``, ``(music)``, ``[Ángeles ríe]``): that is removed from the text that
is analysed and counted. Everything here splits at a delimiter and checks a
bounded head, so it runs in time linear in the line.
"""

from __future__ import annotations

import re
from collections import Counter

_MAX_LABEL_CHARS = 60
_MAX_NAME_WORDS = 5
_NAME_PARTICLES = frozenset({"da", "das", "de", "del", "der", "di", "do", "dos", "du", "e", "la", "le", "van", "von"})
_LABEL_SHAPE = re.compile(r"[^\W\d_][\w.'’ @-]{0,59}")
"""What a file that labels every cue may call a speaker: display names such as "jsmith", "iPhone de Ana", an
e-mail address (Zoom shows one for a guest without a name)."""
_MAX_LABEL_WORDS = 6
_INTERVIEW_LABEL = re.compile(r"[A-Z][A-Z0-9]{0,2}")
# A bracketed span cannot hold a bracket or a line break, so each search from a "[" stops at the next one.
_BRACKETED = re.compile(r"\[[^\[\]\n]{1,80}\]")
_PARENTHESISED = re.compile(r"\([^()\n]{1,80}\)")
NON_SPEECH = frozenset(
    {
        # en
        "applause", "background", "beep", "bell", "clears", "coughs", "coughing", "crosstalk", "indistinct",
        "inaudible", "laughing", "laughs", "laughter", "music", "noise", "pause", "silence", "sighs", "sneezes",
        "unintelligible",
        # pt
        "aplausos", "barulho", "inaudível", "incompreensível", "música", "pausa", "riso", "risos", "ruído",
        "silêncio", "suspiro", "tosse",
        # es
        "aplauso", "risa", "risas", "ruido", "silencio", "suspira", "tose",
    }
)  # fmt: skip
"""First words of a parenthesised note that is not speech: "(risos)", "(music playing)". Square brackets
need no list: transcripts use them for editorial notes only."""


def looks_like_name(label: str) -> bool:
    """Whether ``label`` could be a person's name: up to five words, each capitalised (or a particle such as
    "da", "van"), no sentence punctuation. "Ana Paula", "Dr. Souza", "GAUME", "Maria da Silva" are;
    "J'ai dit", "Règle numéro un", "Ángeles ríe" are not."""
    words = label.split()
    if not words or len(words) > _MAX_NAME_WORDS or len(label) > _MAX_LABEL_CHARS:
        return False
    if not words[0][0].isupper() or any(ch in label for ch in '!?;:,"()[]'):
        return False
    return all(word[0].isupper() or word in _NAME_PARTICLES for word in words)


def prefix_label(text: str) -> tuple[str | None, str]:
    """``Name: text``, ``- Name: text`` or ``[Name] text``: the label and the rest, else (None, text).

    A bracketed label must look like a name ("[risas] ..." is a note); a ``Name:`` label need only have a
    label's shape here, and :func:`speaker_labels` decides whether it names a speaker.
    """
    body = text[2:].lstrip() if text.startswith("- ") else text
    if body.startswith("["):
        label, close, rest = body[1:].partition("]")
        if close and rest[:1] == " " and rest.strip() and looks_like_name(label):
            return label.strip(), rest.strip()
        return None, text
    head, colon, rest = body[: _MAX_LABEL_CHARS + 2].partition(":")
    label = label_name(head) if colon and rest[:1] in (" ", "\n") else None
    if label:
        return label, body[len(head) + 1 :].strip()
    return None, text


def interview_label(line: str) -> tuple[str | None, str]:
    """``A - text`` / ``E1 - text`` / ``Entrevistador - text``: the label and the rest, else (None, line)."""
    head, dash, _ = line[: _MAX_LABEL_CHARS + 3].partition(" - ")
    if dash and (_INTERVIEW_LABEL.fullmatch(head) or looks_like_name(head)):
        return head, line[len(head) + 3 :].strip()
    return None, line


def label_name(head: str) -> str | None:
    """The cue label ``head`` holds, single-spaced: a letter, then at most 59 label characters, at most six
    words, no URL; else None."""
    head = head.strip()
    return clean_label(head) if _LABEL_SHAPE.fullmatch(head) else None


def clean_label(name: str | None) -> str | None:
    """``name`` single-spaced, unless it has more than six words or is a URL (cue labels and the speaker
    names of plain-text lines alike)."""
    if not name:
        return None
    name = " ".join(name.split())
    if len(name.split(" ")) > _MAX_LABEL_WORDS or "://" in name:
        return None
    return name


def speaker_labels(labels: list[str | None], share: float, min_cues: int) -> set[str]:
    """The labels that name speakers: every label where at least ``share`` of the units carry one (the file
    labels its speakers, as Zoom does), else those that look like a name and begin at least ``min_cues``
    units (a speaker's label recurs; "J'ai dit:" or "Règle numéro un:" in a film is dialogue, said once)."""
    counts = Counter(label for label in labels if label)
    if labels and sum(counts.values()) >= share * len(labels):
        return set(counts)
    return {label for label, count in counts.items() if count >= min_cues and looks_like_name(label)}


def without_annotations(text: str) -> tuple[str, int]:
    """``text`` without non-speech notes ("[risas]", "(music)", "[Ángeles ríe]"), and how many there were."""
    removed = 0
    if "[" in text:
        text, removed = _BRACKETED.subn(" ", text)
    if "(" in text:
        kept, notes = _PARENTHESISED.subn(_note_or_speech, text)
        if notes and kept != text:
            removed += text.count("(") - kept.count("(")
            text = kept
    if removed:
        text = " ".join(text.split())
    return text, removed


def _note_or_speech(match: re.Match[str]) -> str:
    words = match.group()[1:-1].split()
    return " " if words and words[0].lower() in NON_SPEECH else match.group()
