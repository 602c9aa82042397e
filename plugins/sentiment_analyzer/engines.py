"""Sentence scorers per language: TextBlob's pattern analyzer (en), LeIA (pt).

LeIA's lexicon lists lemmas ("bom", "adorar", "confuso"), so out of the box it
scores "foram muito bons" and "a equipe adorou" as neutral: exactly the
always-neutral Portuguese the original system was criticised for. We extend a
copy of the lexicon with the regular inflections of each lemma (plural,
feminine, common verb forms), never overriding a form the lexicon lists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from qualia_pipelines.core.text import fold_accents, stop_words


@dataclass(frozen=True)
class Score:
    polarity: float
    subjectivity: float | None


Scorer = Callable[[str], Score]
ENGINE_NAMES = {"en": "textblob-pattern", "pt": "leia"}

_ADJECTIVE_ENDINGS = {"o": ("a", "os", "as"), "e": ("es",), "l": ("is",), "m": ("ns",), "r": ("res",), "z": ("zes",)}
_VERB_ENDINGS = {
    "ar": (
        "o",
        "a",
        "am",
        "ou",
        "ei",
        "amos",
        "aram",
        "ava",
        "avam",
        "ando",
        "ado",
        "ada",
        "ados",
        "adas",
        "aria",
        "ara",
    ),
    "er": ("o", "e", "em", "eu", "i", "emos", "eram", "ia", "iam", "endo", "ido", "ida", "idos", "idas", "eria"),
    "ir": ("o", "e", "em", "iu", "i", "imos", "iram", "ia", "iam", "indo", "ido", "ida", "idos", "idas", "iria"),
}
_NOUN_ENDINGS = {"ao": ("oes", "aes"), "s": ()}


def inflected_forms(lemma: str) -> list[str]:
    """Regular Portuguese inflections of ``lemma`` (accents already stripped, as LeIA does)."""
    forms: list[str] = []
    verb_ending = lemma[-2:]
    if verb_ending in _VERB_ENDINGS and len(lemma) > 3:
        forms += [lemma[:-2] + suffix for suffix in _VERB_ENDINGS[verb_ending]]
    if lemma.endswith("ao"):
        forms += [lemma[:-2] + suffix for suffix in _NOUN_ENDINGS["ao"]]
    last = lemma[-1]
    if last in _ADJECTIVE_ENDINGS and len(lemma) > (3 if last == "l" else 2):  # not "mal" -> "mais"
        stem = lemma[:-1] if last in "olm" else lemma
        forms += [stem + suffix for suffix in _ADJECTIVE_ENDINGS[last]]
    return forms


def extended_lexicon(lexicon_text: str) -> dict[str, float]:
    """LeIA's lexicon with duplicate entries averaged (LeIA keeps the last) and inflections added.

    A generated form that is a stop word while its lemma is not ("mais" from
    "mal") is left out: it carries no sentiment of its own.
    """
    ratings: dict[str, list[float]] = {}
    for line in lexicon_text.splitlines():
        fields = line.strip().split("\t")
        if len(fields) >= 2:
            ratings.setdefault(fields[0], []).append(float(fields[1]))
    lexicon = {word: sum(values) / len(values) for word, values in ratings.items()}
    blocked = {fold_accents(word) for word in stop_words("pt")}
    for lemma, valence in list(lexicon.items()):
        for form in inflected_forms(lemma):
            if form not in blocked or lemma in blocked:
                lexicon.setdefault(form, valence)
    return lexicon


@lru_cache(maxsize=1)
def portuguese_scorer() -> Scorer:
    from LeIA import SentimentIntensityAnalyzer, leia

    if "sem" not in leia.NEGATE:  # "sem problemas" is "no problem", not a complaint
        leia.NEGATE.append("sem")
    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon = extended_lexicon(analyzer.lexicon_full_filepath)

    def score(sentence: str) -> Score:
        return Score(polarity=analyzer.polarity_scores(sentence)["compound"], subjectivity=None)

    return score


@lru_cache(maxsize=1)
def english_scorer() -> Scorer:
    from textblob.en.sentiments import PatternAnalyzer  # the lexicon ships in the package

    analyzer = PatternAnalyzer()

    def score(sentence: str) -> Score:
        result = analyzer.analyze(sentence)
        return Score(polarity=float(result.polarity), subjectivity=float(result.subjectivity))

    return score


def scorer_for(language: str) -> Scorer:
    return {"pt": portuguese_scorer, "en": english_scorer}[language]()
