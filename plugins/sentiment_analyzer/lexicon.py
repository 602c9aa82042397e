"""A VADER-style lexicon scorer with the rules stated per language, not hard-wired to English.

VADER (English) and LeIA (its Portuguese fork) share one algorithm: sum the valence of each lexicon
word, adjusted by boosters before it, capitals, negation and a contrastive "but", then squash the sum
into -1..1. LeIA inherited it with flaws that were measured on labelled data (bench/sentiment.py):

- it strips accents with an ASCII encode before looking emoji up, so every emoji is deleted unread;
- it negates a word only when the negator is not itself a lexicon word, and "nao" is one (-1.2), so
  "não gostei" is positive; "nunca", "nem", "ninguém", "jamais" are not negators at all;
- it finds each word by ``list.index``, so a repeated word is scored with the context of its first use.

This scorer reads emoji and emoticons first, then folds words; a negator opens a scope of the next
three words that ends at a clause boundary (punctuation, a contrastive conjunction), and every lexicon
word inside it is flipped and damped (VADER's -0.74; a negative word more, -0.3); a negator inside the
scope continues the same negation (Portuguese concord: "não foi nada mal"). A negator counts its own
(negative) valence only when it negated nothing, and then every negator weighs what the lexicon gives
"não"/"no": "não funciona" and "nunca chegou" are complaints, "não tenho problemas" is positive, if
mildly. The whole utterance is one sum, squashed once: scoring its sentences apart and averaging them
was measured worse on multi-sentence reviews (B2W) and no better on the shorter sets.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby

BOOST = 0.293
"""VADER's empirically derived shift for a booster ("muito", "very") or dampener ("pouco", "slightly")."""
CAPS_BOOST = 0.733
NEGATION_FACTOR = -0.74
NEGATED_NEGATIVE_FACTOR = -0.3
"""A negated negative is faint praise ("not bad", "não tenho problemas"): it turns positive, but weakly. On the
tuning halves this beat VADER's symmetric -0.74 on five of the six sets and tied the sixth."""
NEGATION_SCOPE = 3
BEFORE_CONTRAST, AFTER_CONTRAST = 0.5, 1.5
_ALPHA = 15.0
_EDGE_PUNCTUATION = "\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~!’‘“”«»…–—¿¡"
_CLAUSE_END = frozenset(",.;:!?…)—–")
_SENTENCE_END = frozenset(".!?…")


@dataclass(frozen=True)
class Language:
    """Everything the scorer knows about one language."""

    valences: dict[str, float]
    """Folded word (or emoticon, as written) -> valence, -4..4."""
    emoji: dict[str, float]
    """One emoji code point -> valence (of its description's words)."""
    negators: frozenset[str]
    negation_valence: float
    """What a negator that negated nothing weighs: the lexicon's rating of the plain "não"/"no" (-1.2)."""
    boosters: dict[str, float]
    """Folded word or two-word phrase -> +BOOST (intensifier) or -BOOST (dampener)."""
    contrasts: frozenset[str]
    fold: Callable[[str], str]
    negating_suffix: str = ""
    """English "n't": "didn't", "isn't" negate like "not"."""
    discourse_markers: frozenset[str] = frozenset()
    """Words that carry no sentiment when they open a clause ("Well, ...", "Bom, vamos começar")."""
    derivations: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Suffix -> endings to try for a word the lexicon lacks: "bonitinho" -> "bonito", "tristíssima" -> "triste"."""
    sense_cues: dict[str, frozenset[str]] = field(default_factory=dict)
    """Words whose sentiment sense needs one of these words right before it: "like" is a verb after "I",
    "really", "don't", and a filler or preposition elsewhere ("it was like, huge", "feel like")."""
    emoji_pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        characters = "".join(sorted(re.escape(char) for char in self.emoji))
        object.__setattr__(self, "emoji_pattern", re.compile(f"[{characters}]" if characters else r"(?!x)x"))


@dataclass
class _Token:
    folded: str
    shouting: bool
    clause_ends: bool
    sentence: int


def polarity(text: str, language: Language) -> float:
    """Compound polarity of one utterance, -1..1."""
    # An emoji repeated counts once: a row of "😢" would otherwise outweigh every word of the utterance.
    emoji_total = sum(language.emoji[char] for char in set(language.emoji_pattern.findall(text)))
    tokens = utterance_tokens(language.emoji_pattern.sub(" ", text), language)
    mixed_case = any(token.shouting for token in tokens) and not all(token.shouting for token in tokens)
    total = emoji_total + sum(_valences(tokens, language, mixed_case))
    if total:
        total += _punctuation_emphasis(text) * (1 if total > 0 else -1)
    return total / math.sqrt(total * total + _ALPHA)


def utterance_tokens(text: str, language: Language) -> list[_Token]:
    """Whitespace tokens: emoticons kept as written, words stripped of edge punctuation and folded."""
    tokens: list[_Token] = []
    sentence = 0
    for raw in text.split():
        if raw in language.valences or (raw.lower() in language.valences and not raw.isalpha()):
            tokens.append(_Token(raw.lower(), False, False, sentence))
            continue
        core = raw.strip(_EDGE_PUNCTUATION)
        tail = raw[len(raw.rstrip(_EDGE_PUNCTUATION)) :]
        if core:
            shouting = len(core) > 1 and core.isupper()
            tokens.append(_Token(canonical(language.fold(core), language), shouting, False, sentence))
        if tail and tokens:
            tokens[-1].clause_ends = tokens[-1].clause_ends or any(char in _CLAUSE_END for char in tail)
            if any(char in _SENTENCE_END for char in tail):
                sentence += 1
    return tokens


def canonical(folded: str, language: Language) -> str:
    """The lexicon's spelling of a word written the way people chat: laughter ("kkkk", "hahahaha") reads as
    "haha", a stretched word ("feliiiz", "soooo good") as its plain form, a diminutive or superlative
    ("rapidinho", "importantíssimo") as its base."""
    if folded in language.valences or len(folded) < 3:
        return folded
    if is_laughter(folded):
        return "haha"
    runs = [(letter, len(list(run))) for letter, run in groupby(folded)]
    if any(length >= 3 for _, length in runs):  # "goooood" -> "good", "feliiiz" -> "feliz", "carrooo" -> "carro"
        for kept in (2, 1):
            candidate = "".join(letter * (min(length, kept) if length >= 3 else length) for letter, length in runs)
            if candidate in language.valences:
                return candidate
    return _derived_base(folded, language) or folded


def _derived_base(word: str, language: Language) -> str | None:
    for suffix, endings in language.derivations:
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            stem = word[: -len(suffix)]
            return next((stem + ending for ending in endings if stem + ending in language.valences), None)
    return None


def is_laughter(word: str) -> bool:
    """ "kkkk", "hahaha", "hehehe", "huahuahua", "rsrs": chat laughter, which no lexicon lists in all its lengths."""
    letters = set(word)
    if letters == {"k"}:
        return len(word) >= 3
    if letters == {"r", "s"}:
        return len(word) >= 4 and word.startswith("rs")
    vowels = sum(word.count(vowel) for vowel in "aeiu")
    return letters <= set("haeiu") and word.count("h") >= 2 and vowels >= 2 and len(word) >= 4


def _valences(tokens: list[_Token], language: Language, mixed_case: bool) -> list[float]:
    negator_at: int | None = None
    negator_used = False
    scope = 0
    values = [0.0] * len(tokens)
    for index, token in enumerate(tokens):
        folded = token.folded
        if _is_negator(folded, language):
            if not scope:  # inside a scope it is concord, one negation: "não foi nada mal", "não veio nunca"
                _settle_negator(tokens, values, negator_at, negator_used, language)
                negator_at, negator_used = index, False
            scope = NEGATION_SCOPE
        elif folded in language.contrasts:
            scope = 0
        else:
            valence = _lexical_valence(tokens, index, language)
            if valence:
                valence = _boosted(valence, tokens, index, language, mixed_case)
                if scope:
                    valence *= NEGATION_FACTOR if valence > 0 else NEGATED_NEGATIVE_FACTOR
                    negator_used = True
                values[index] = valence
            scope = max(scope - 1, 0)
        if token.clause_ends:
            scope = 0
    _settle_negator(tokens, values, negator_at, negator_used, language)
    return _contrasted(tokens, values, language)


def _lexical_valence(tokens: list[_Token], index: int, language: Language) -> float:
    """The word's lexicon valence, or 0 where its position says it is used without sentiment."""
    folded = tokens[index].folded
    valence = language.valences.get(folded, 0.0)
    if not valence or _is_booster(tokens, index, language):
        return 0.0
    opens_clause = index == 0 or tokens[index - 1].clause_ends
    if opens_clause and folded in language.discourse_markers:
        return 0.0
    cues = language.sense_cues.get(folded)
    if cues is not None:
        before = tokens[index - 1].folded if index else ""
        if before not in cues and not _is_negator(before, language):
            return 0.0
    return valence


def _is_negator(folded: str, language: Language) -> bool:
    return folded in language.negators or (bool(language.negating_suffix) and folded.endswith(language.negating_suffix))


def _settle_negator(tokens: list[_Token], values: list[float], at: int | None, used: bool, language: Language) -> None:
    """A negator that negated nothing is a complaint of its own ("não funciona", "never arrived")."""
    if at is not None and not used:
        values[at] = language.negation_valence


def _is_booster(tokens: list[_Token], index: int, language: Language) -> bool:
    """A booster modifies the next word; it is not a sentiment word itself ("muito", "pretty")."""
    folded = tokens[index].folded
    if folded in language.boosters:
        return True
    following = tokens[index + 1].folded if index + 1 < len(tokens) else ""
    return f"{folded} {following}" in language.boosters


def _boosted(valence: float, tokens: list[_Token], index: int, language: Language, mixed_case: bool) -> float:
    if mixed_case and tokens[index].shouting:
        valence += CAPS_BOOST if valence > 0 else -CAPS_BOOST
    sign = 1 if valence > 0 else -1
    for distance, decay in ((1, 1.0), (2, 0.95), (3, 0.9)):
        if index - distance < 0:
            break
        before = tokens[index - distance]
        shift = language.boosters.get(before.folded)
        if shift is None and index - distance - 1 >= 0:
            shift = language.boosters.get(f"{tokens[index - distance - 1].folded} {before.folded}")
        if shift:
            if mixed_case and before.shouting:
                shift += CAPS_BOOST if shift > 0 else -CAPS_BOOST
            valence += shift * sign * decay
    return valence


def _contrasted(tokens: list[_Token], values: list[float], language: Language) -> list[float]:
    """Within a sentence, what follows "mas"/"but" weighs more than what precedes it."""
    contrast_at: dict[int, int] = {}
    for index, token in enumerate(tokens):
        if token.folded in language.contrasts:
            contrast_at.setdefault(token.sentence, index)
    if not contrast_at:
        return values
    weighted = []
    for index, (token, value) in enumerate(zip(tokens, values, strict=True)):
        pivot = contrast_at.get(token.sentence)
        if pivot is not None and index != pivot:
            value *= BEFORE_CONTRAST if index < pivot else AFTER_CONTRAST
        weighted.append(value)
    return weighted


def _punctuation_emphasis(text: str) -> float:
    """VADER's amplifier for "!" (up to four) and repeated "?"."""
    exclamations = min(text.count("!"), 4) * 0.292
    questions = text.count("?")
    question_boost = 0.0 if questions <= 1 else (0.96 if questions > 3 else questions * 0.18)
    return exclamations + question_boost


def averaged_entries(lines: Iterable[str]) -> dict[str, float]:
    """``word<TAB>valence...`` lines; a word listed twice gets the mean of its valences."""
    ratings: dict[str, list[float]] = {}
    for line in lines:
        fields = line.rstrip("\n").split("\t")
        if len(fields) >= 2 and fields[0]:
            ratings.setdefault(fields[0], []).append(float(fields[1]))
    return {word: sum(values) / len(values) for word, values in ratings.items()}


def emoji_valences(descriptions: dict[str, str], valences: dict[str, float]) -> dict[str, float]:
    """Each single-code-point emoji scored by the words of its description ("red heart", "crying face")."""
    scored = {}
    for emoji, description in descriptions.items():
        if len(emoji) != 1:
            continue
        value = sum(valences.get(word.lower(), 0.0) for word in description.replace("-", " ").split())
        if value:
            scored[emoji] = value
    return scored
