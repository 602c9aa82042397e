"""Language-aware text primitives shared by readers and plugins.

Everything here is offline and cheap to import: stop words come from the
``stop-words`` package, language identification uses stop-word evidence first
(instant, and decisive on meeting-length text) and falls back to py3langid's
model only for short or ambiguous text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

SUPPORTED_LANGUAGES: dict[str, str] = {"pt": "portuguese", "en": "english", "es": "spanish"}
UNDETERMINED = "und"

WORD_PATTERN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
"""Unicode words: letters with inner apostrophes/hyphens ("não", "ação", "don't", "bem-vindo")."""

_FILLERS: dict[str, frozenset[str]] = {
    "pt": frozenset({"hum", "hmm", "ah", "ahn", "aham", "uhum", "né", "tá", "ok", "okay", "tipo", "então"}),
    "en": frozenset({"uh", "um", "uhm", "hmm", "mm", "ah", "ok", "okay", "yeah", "yep", "gonna"}),
    "es": frozenset({"eh", "em", "mmm", "ah", "ok", "vale", "pues", "bueno"}),
}
_LANGUAGE_HINT_CHARS = {"pt": "ãõç", "es": "ñ¿¡"}
_MIN_STOPWORD_EVIDENCE = 8
_DECISIVE_RATIO = 1.5
_SAMPLE_CHARS = 20_000
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-ZÀ-ÖØ-Þ0-9¿¡])")
_ABBREVIATIONS = frozenset(
    {"sr", "sra", "dr", "dra", "prof", "profa", "mr", "mrs", "ms", "st", "vs", "etc", "e.g", "i.e", "ex", "p.ex"}
)


# Characters outside WORD_PATTERN's letters that often wrap a word ("(sim),", "“ok”"). Stripping them off a
# whitespace-separated token leaves exactly the token's one match when the rest is letters (a test pins this).
_WORD_EDGES = "\"#$%&'()*+,./:;<=>?@[\\]^_`{|}~!-’‘“”«»…–—¿¡"


def word_counts(text: str) -> Counter[str]:
    """How often each word occurs in ``text``: ``Counter(WORD_PATTERN.findall(text))``, computed faster.

    No match spans whitespace, so the words of the text are those of its tokens; and tokens repeat (a
    long meeting has a third or fewer distinct ones). So the tokens are counted first (in C) and each
    distinct one is tokenised once: most are a word with punctuation around it, which stripping leaves
    without the regex.
    """
    counts: dict[str, int] = {}
    for token, count in Counter(text.split()).items():
        core = token.strip(_WORD_EDGES)
        if core.isalpha():
            counts[core] = counts.get(core, 0) + count
        elif core:
            for word in WORD_PATTERN.findall(core):
                counts[word] = counts.get(word, 0) + count
    return Counter(counts)


def normalise_quotes(text: str) -> str:
    return text.replace("’", "'")


@lru_cache(maxsize=8)
def stop_words(language: str) -> frozenset[str]:
    """Maintained stop words for ``language`` plus conversational fillers."""
    if language not in SUPPORTED_LANGUAGES:
        return frozenset()
    from stop_words import get_stop_words

    listed = {normalise_quotes(word.lower()) for word in get_stop_words(language)}
    return frozenset(listed | _FILLERS[language])


@lru_cache(maxsize=1)
def _distinctive_stop_words() -> dict[str, frozenset[str]]:
    lists = {language: stop_words(language) for language in SUPPORTED_LANGUAGES}
    return {
        language: frozenset(words_ - set().union(*(v for k, v in lists.items() if k != language)))
        for language, words_ in lists.items()
    }


def detect_language(text: str) -> str:
    """ISO 639-1 code of ``text`` among the supported languages, or ``und``."""
    sample = text[:_SAMPLE_CHARS].lower()
    counts = word_counts(normalise_quotes(sample))
    if not counts:
        return UNDETERMINED
    scores = {
        language: sum(counts[word] for word in distinctive if word in counts)
        for language, distinctive in _distinctive_stop_words().items()
    }
    for language, chars in _LANGUAGE_HINT_CHARS.items():
        scores[language] += sum(sample.count(ch) for ch in chars)
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, best_score), (_, second_score) = ranked[0], ranked[1]
    if best_score >= _MIN_STOPWORD_EVIDENCE and best_score >= _DECISIVE_RATIO * max(second_score, 1):
        return best
    return _model_language(sample) or (best if best_score > 0 else UNDETERMINED)


def _model_language(sample: str) -> str | None:
    """py3langid restricted to the supported languages (loads a model: ~0.7 s once)."""
    try:
        import py3langid
    except ImportError:
        return None
    py3langid.set_languages(list(SUPPORTED_LANGUAGES))
    language, _score = py3langid.classify(sample)
    return language if language in SUPPORTED_LANGUAGES else None


def split_sentences(text: str) -> list[str]:
    """Rule-based sentence split that keeps abbreviations such as "Dr." and "Sra." intact."""
    pieces = _SENTENCE_END.split(text.strip())
    sentences: list[str] = []
    for piece in pieces:
        if sentences and _ends_with_abbreviation(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        elif piece.strip():
            sentences.append(piece.strip())
    return sentences


def _ends_with_abbreviation(sentence: str) -> bool:
    last = sentence.rsplit(" ", 1)[-1].rstrip(".").lower()
    return last in _ABBREVIATIONS or (len(last) == 1 and last.isalpha())


def fold_accents(text: str) -> str:
    """``"Júlia"`` -> ``"Julia"``: for matching name variants, never for display."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
