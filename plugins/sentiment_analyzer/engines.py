"""Utterance scorers per language, chosen by measurement (bench/sentiment.py).

Portuguese: ``leia`` is LeIA's lexicon and boosters under Qualia's scorer (lexicon.py), with the
regular inflections of its lemmas added and the meeting words it misreads set to neutral. English:
``vader`` is VADER's lexicon under the same scorer, ``textblob`` is TextBlob's pattern analyzer,
``vader+textblob`` VADER's lexicon completed by TextBlob's under Qualia's rules. Emoji are read in
both languages from VADER's English descriptions. Every lexicon ships in an installed package;
nothing is downloaded.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from qualia_plugins.sentiment_analyzer import lexicon

from qualia_pipelines.core.text import fold_accents, stop_words


@dataclass(frozen=True)
class Score:
    polarity: float
    subjectivity: float | None


Scorer = Callable[[str], Score]


@dataclass(frozen=True)
class EngineChoice:
    default: str
    choices: tuple[str, ...]
    description: str


ENGINES: dict[str, EngineChoice] = {
    "pt": EngineChoice(
        "leia",
        ("leia",),
        "Portuguese engine: LeIA's lexicon under Qualia's negation, emoji and contrast rules.",
    ),
    "en": EngineChoice(
        "vader+textblob",
        ("vader+textblob", "vader", "textblob"),
        "English engine: VADER's lexicon completed by TextBlob's, under Qualia's rules (vader+textblob); VADER's "
        "alone under the same rules; or TextBlob's pattern analyzer as it ships.",
    ),
}

NEUTRAL_IN_MEETINGS: dict[str, frozenset[str]] = {
    # Lexicon words whose rated sense is not the one meetings use. Each was checked against the samples and
    # the labelled sets' tuning half; the list stays small on purpose.
    "pt": frozenset(
        {
            "ha",  # "há" (there is), rated as the English laugh "ha" once accents are folded
            "processo",  # a work process, rated -2.2 as "lawsuit"
            "verdade",  # "é verdade": agreement, not praise
            "prazo",  # deadline; never a form of "prazer" (pleasure)
            "questao",  # "a questão é": a topic, not a problem
            "tipo",  # filler ("tipo assim"), rated as "type" +2.4
            "pode",  # "pode ser", "pode falar": permission, rated as a positive "can"
            "valor",  # "o valor do contrato": an amount, rated as "worth" (+1.4)
            "presente",  # "estou presente", "o presente documento": rated as "gift" (+1.9)
            "superior",  # "meu superior", "nível superior": a manager or a level, rated as "better" (+2.5)
            # Translation artefacts of the English lexicon, frequent in any Portuguese meeting:
            "para",  # the preposition "for", rated as the verb "stop" (-0.6)
            "voce",  # the pronoun "you" (+1.1)
            "ai",  # "aí" (there, then), rated as the interjection "ai!" (-1.8)
            "falando",  # "speaking", rated -3.2
            "falou",  # "said", rated -0.5
            "homem",  # "man", rated -1.8
        }
    ),
    "en": frozenset(
        {
            "kind",  # "kind of"
            "yeah",  # assent, not enthusiasm ("Yeah, okay, give that a try!" is neutral in MELD)
            "please",  # politeness
            "hand",  # "by hand", "on the other hand": VADER rates the "give a hand" sense (+2.2)
        }
    ),
}

DISCOURSE_MARKERS: dict[str, frozenset[str]] = {
    # Neutral only where they open a clause: "Well, ..." but "it works well"; "Bom, vamos lá" but "foi bom".
    "pt": frozenset({"bom", "bem", "beleza", "certo", "claro", "legal", "ok", "sim", "obrigado", "obrigada"}),
    "en": frozenset({"well", "okay", "ok", "right", "sure", "yes", "so", "oh", "hey", "hi", "thanks", "honestly"}),
}

PORTUGUESE_DERIVATIONS = (
    # Diminutives and superlatives of a listed word, longest suffix first: "certinho" -> "certo".
    ("zinhos", ("os", "s")),
    ("zinhas", ("as", "s")),
    ("zinho", ("o", "")),
    ("zinha", ("a", "")),
    ("inhos", ("os",)),
    ("inhas", ("as",)),
    ("inho", ("o", "e")),
    ("inha", ("a", "e")),
    ("issimos", ("os", "es")),
    ("issimas", ("as", "es")),
    ("issimo", ("o", "e")),
    ("issima", ("a", "e")),
)

ENGLISH_LIKE_CUES = frozenset(
    # "like" is the verb after its subject or an adverb/auxiliary; a negator also cues it ("don't like")
    {"i", "you", "we", "they", "really", "do", "does", "did", "would", "i'd", "we'd", "you'd", "they'd", "also"}
    | {"still", "definitely", "totally", "actually", "always", "will", "truly", "quite", "dont", "didnt"}
)

_ADJECTIVE_ENDINGS = {"o": ("a", "os", "as"), "e": ("es",), "l": ("is",), "m": ("ns",), "r": ("res",), "z": ("zes",)}
_VERB_ENDINGS = {
    # Bare present forms ("-o", "-e", "-em") only for -ar verbs ("adorar" -> "adoro"): -er/-ir lemmas include
    # many nouns ("prazer", "poder", "dever", "lazer"), whose made-up forms are real, unrelated words
    # ("prazer" -> "prazo", the deadline).
    "ar": (
        *("o", "a", "am", "e", "em", "ou", "ei", "amos", "aram", "ava", "avam"),
        *("ando", "ado", "ada", "ados", "adas", "aria", "asse"),
    ),
    "er": ("eu", "emos", "eram", "ia", "iam", "endo", "ido", "ida", "idos", "idas", "eria", "esse"),
    "ir": ("iu", "imos", "iram", "ia", "iam", "indo", "ido", "ida", "idos", "idas", "iria", "isse"),
}


def inflected_forms(lemma: str) -> list[str]:
    """Regular Portuguese inflections of ``lemma`` (accents already folded, as in LeIA's lexicon)."""
    forms: list[str] = []
    verb_ending = lemma[-2:]
    if verb_ending in _VERB_ENDINGS and len(lemma) > 4:
        forms += [lemma[:-2] + suffix for suffix in _VERB_ENDINGS[verb_ending]]
    if lemma.endswith("ao"):
        forms += [lemma[:-2] + "oes", lemma[:-2] + "aes"]
    last = lemma[-1]
    if last in _ADJECTIVE_ENDINGS and len(lemma) > (3 if last == "l" else 2):  # not "mal" -> "mais"
        stem = lemma[:-1] if last in "olm" else lemma
        forms += [stem + suffix for suffix in _ADJECTIVE_ENDINGS[last]]
    return forms


def extended_lexicon(valences: dict[str, float]) -> dict[str, float]:
    """``valences`` with each lemma's regular inflections added, never overriding a listed form.

    A generated form that is a stop word while its lemma is not ("mais" from "mal") is left out: it
    carries no sentiment of its own.
    """
    blocked = {fold_accents(word) for word in stop_words("pt")}
    extended = dict(valences)
    for lemma, valence in valences.items():
        for form in inflected_forms(lemma):
            if form not in blocked or lemma in blocked:
                extended.setdefault(form, valence)
    return extended


def folded_portuguese(word: str) -> str:
    return fold_accents(word.lower())


@lru_cache(maxsize=1)
def portuguese_language() -> lexicon.Language:
    folder = Path(str(files("LeIA") / "lexicons"))
    listed = lexicon.averaged_entries((folder / "vader_lexicon_ptbr.txt").read_text(encoding="utf-8").splitlines())
    valences = {
        word: value for word, value in extended_lexicon(listed).items() if word not in NEUTRAL_IN_MEETINGS["pt"]
    }
    boosters = {
        folded_portuguese(" ".join(parts[:-1])): lexicon.BOOST if parts[-1] == "INCR" else -lexicon.BOOST
        for parts in (line.split() for line in (folder / "booster.txt").read_text(encoding="utf-8").splitlines())
        if len(parts) >= 2
    }
    boosters["muito"] = lexicon.BOOST  # "very": LeIA lists only "muito muito"
    return lexicon.Language(
        valences=valences,
        emoji=emoji_valences(),
        negators=frozenset(
            {"nao", "nunca", "nem", "ninguem", "jamais", "sem", "nenhum", "nenhuma", "nada", "tampouco"}
            | {"dificilmente", "raramente"}
        ),
        negation_valence=valences["nao"],
        boosters=boosters,
        contrasts=frozenset({"mas", "porem", "contudo", "entretanto", "todavia"}),
        fold=folded_portuguese,
        discourse_markers=DISCOURSE_MARKERS["pt"],
        derivations=PORTUGUESE_DERIVATIONS,
    )


@lru_cache(maxsize=2)
def english_valences(with_textblob: bool) -> dict[str, float]:
    """VADER's lexicon; with TextBlob's, also the words VADER lacks ("adorable", "bland")."""
    path = Path(str(files("vaderSentiment") / "vader_lexicon.txt"))
    listed = lexicon.averaged_entries(path.read_text(encoding="utf-8").splitlines())
    if with_textblob:
        listed = {**textblob_valences(listed), **listed}
    return {word: value for word, value in listed.items() if word not in NEUTRAL_IN_MEETINGS["en"]}


@lru_cache(maxsize=2)
def english_language(with_textblob: bool) -> lexicon.Language:
    from vaderSentiment.vaderSentiment import BOOSTER_DICT, NEGATE

    valences = english_valences(with_textblob)
    return lexicon.Language(
        valences=valences,
        emoji=emoji_valences(),
        negators=frozenset(word.replace("'", "") for word in NEGATE) | frozenset({*NEGATE, "no", "nobody", "noone"}),
        negation_valence=valences["no"],
        boosters=dict(BOOSTER_DICT),
        contrasts=frozenset({"but", "however"}),
        fold=lambda word: word.lower().replace("’", "'"),
        negating_suffix="n't",
        discourse_markers=DISCOURSE_MARKERS["en"],
        sense_cues={"like": ENGLISH_LIKE_CUES},
    )


def textblob_valences(vader_valences: dict[str, float]) -> dict[str, float]:
    """TextBlob's word polarities (-1..1) on VADER's -4..4 scale, content words only.

    The scale is the median ratio of the two ratings over the words both list with the same sign
    (3.6 with the installed lexicons), so neither lexicon's words outweigh the other's. TextBlob rates
    quantifiers and function words ("other" -0.5, "many", "first", "own"); words on the English
    stop-word list are left out, which made dialogue (MELD) more accurate.
    """
    from textblob.en import sentiment

    stops = stop_words("en")
    polarities = {
        word: float(senses[None][0])
        for word, senses in sentiment.items()
        if None in senses and senses[None][0] and " " not in word and word not in stops
    }
    ratios = [vader_valences[w] / p for w, p in polarities.items() if vader_valences.get(w, 0.0) * p > 0]
    scale = statistics.median(ratios)
    return {word: polarity * scale for word, polarity in polarities.items()}


@lru_cache(maxsize=1)
def emoji_valences() -> dict[str, float]:
    """Emoji read the same in every language: by the words of VADER's English descriptions ("red heart"),
    rated by the English lexicons. LeIA's Portuguese descriptions rated by its lexicon gave "❤" nothing and
    "😒" (unamused, "rosto sem graça") +3.6."""
    path = Path(str(files("vaderSentiment") / "emoji_utf8_lexicon.txt"))
    pairs = (line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines())
    descriptions = {pair[0].replace("\ufe0f", ""): pair[1] for pair in pairs if len(pair) == 2}
    return lexicon.emoji_valences(descriptions, english_valences(with_textblob=True))


def lexicon_scorer(language: lexicon.Language) -> Scorer:
    def score(utterance: str) -> Score:
        return Score(polarity=lexicon.polarity(utterance, language), subjectivity=None)

    return score


@lru_cache(maxsize=1)
def textblob_scorer() -> Scorer:
    from textblob.en.sentiments import PatternAnalyzer  # the lexicon ships in the package

    analyzer = PatternAnalyzer()

    def score(utterance: str) -> Score:
        result = analyzer.analyze(utterance)
        return Score(polarity=float(result.polarity), subjectivity=float(result.subjectivity))

    return score


def merged_scorer() -> Scorer:
    """Polarity from both lexicons under Qualia's rules; subjectivity from TextBlob, the engine that rates it."""
    language, textblob = english_language(with_textblob=True), textblob_scorer()

    def score(utterance: str) -> Score:
        return Score(polarity=lexicon.polarity(utterance, language), subjectivity=textblob(utterance).subjectivity)

    return score


@lru_cache(maxsize=8)
def scorer_for(language: str, engine: str) -> Scorer:
    """The scorer named ``engine`` for ``language`` (one of ``ENGINES[language].choices``)."""
    if engine not in ENGINES[language].choices:
        raise ValueError(f"no sentiment engine {engine!r} for {language}; choose from {ENGINES[language].choices}")
    if language == "pt":
        return lexicon_scorer(portuguese_language())
    if engine == "vader":
        return lexicon_scorer(english_language(with_textblob=False))
    return textblob_scorer() if engine == "textblob" else merged_scorer()
