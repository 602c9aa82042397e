"""Language-aware text primitives shared by readers and plugins.

Everything here is offline and cheap to import: stop words come from the
``stop-words`` package (33 languages), language identification uses py3langid's
model (97 languages) where the text is long enough to tell any language, and
stop-word evidence to settle the analysed languages (pt/en/es) quickly.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache
from typing import Any

SUPPORTED_LANGUAGES: dict[str, str] = {"pt": "portuguese", "en": "english", "es": "spanish"}
"""The languages Qualia analyses fully (fillers, tuned detection); others get stop words where listed."""
UNDETERMINED = "und"

WORD_PATTERN = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
"""Unicode words: letters with inner apostrophes/hyphens ("não", "ação", "don't", "bem-vindo")."""

CONVERSATIONAL_WORDS: dict[str, frozenset[str]] = {
    # Removed with the maintained list (the `stop-words` package), holding only words it lacks. That list is
    # written for prose; speech adds fillers and backchannels, discourse markers, light verbs of speech
    # ("deu", "bora", "gonna") and function words the prose list lacks ("ainda", "tudo"). Each word here led
    # or crowded the top words of real meetings (samples/, ../shared/corpora/transcripts-public) without
    # saying what a meeting was about.
    "pt": frozenset(
        {"hum", "hmm", "ah", "ahn", "aham", "uhum", "né", "tá", "tô", "ok", "okay", "aí", "daí"}
        | {"assim", "olha", "beleza", "certo", "enfim", "gente", "sim", "bora", "vamos", "vai", "vou"}
        | {"deu", "dá", "ficou", "fica", "tava", "pro", "pros", "pras", "acho", "achei", "sabe", "sei", "coisa"}
        | {"coisas", "ainda", "algum", "alguma", "algumas", "bastante", "tudo", "lá", "cá", "vez"}
    ),
    "en": frozenset(
        {"uh", "uhm", "hmm", "mhm", "hey", "alright", "yeah", "yep", "yup"}
        | {"nope", "gonna", "wanna", "gotta", "kinda", "sorta", "basically", "literally", "stuff", "guess", "lot"}
    ),
    "es": frozenset({"eh", "em", "mmm", "ah", "ajá", "ok", "vale", "tipo", "osea", "mira", "oye", "digamos", "cosa"}),
}
"""Qualia's conversational stop words, by language (see the README's notes on the analysis)."""
_LANGUAGE_HINT_CHARS = {"pt": "ãõç", "es": "ñ¿¡"}
_MIN_STOPWORD_EVIDENCE = 8
_MIN_WORDS_FOR_ANY_LANGUAGE = 20
_CONFIDENT = 0.99
"""The model names a language outside pt/en/es only for 20 words or more at 99%: at that bar it named no
other language for any of 7,000 labelled pt/en reviews, tweets and dialogue lines, and French and Finnish
meetings correctly."""
_DECISIVE_RATIO = 1.5
_SAMPLE_CHARS = 20_000


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


def stop_word_languages() -> tuple[str, ...]:
    """ISO 639-1 codes of the languages with a maintained stop-word list."""
    from stop_words import LANGUAGE_MAPPING

    return tuple(sorted(LANGUAGE_MAPPING))


@lru_cache(maxsize=64)
def stop_words(language: str) -> frozenset[str]:
    """Maintained stop words for ``language`` plus Qualia's conversational ones (none for an unlisted language)."""
    return maintained_stop_words(language) | CONVERSATIONAL_WORDS.get(language, frozenset())


@lru_cache(maxsize=64)
def maintained_stop_words(language: str) -> frozenset[str]:
    """The `stop-words` package's list for ``language``, lower-cased with straight quotes."""
    if language not in stop_word_languages():
        return frozenset()
    from stop_words import get_stop_words

    return frozenset(normalise_quotes(word.lower()) for word in get_stop_words(language))


def language_name(code: str) -> str:
    """``"fi"`` -> ``"Finnish"``: for messages a person reads."""
    from babel import Locale

    return Locale("en").languages.get(code, code)


@lru_cache(maxsize=1)
def _distinctive_stop_words() -> dict[str, frozenset[str]]:
    lists = {language: stop_words(language) for language in SUPPORTED_LANGUAGES}
    return {
        language: frozenset(words_ - set().union(*(v for k, v in lists.items() if k != language)))
        for language, words_ in lists.items()
    }


def detect_language(text: str) -> str:
    """ISO 639 code of ``text`` (any language the model knows, when the text is long enough to tell), or ``und``."""
    sample = text[:_SAMPLE_CHARS].lower()
    counts = word_counts(normalise_quotes(sample))
    if not counts:
        return UNDETERMINED
    other = _other_language(sample, counts)
    if other:
        return other
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


def load_language_models() -> None:
    """Load what language detection reads (the model, ~0.4 s; the stop-word lists) now: a long-lived process
    (an API engine) then answers its first request as fast as the next, within a short work limit."""
    _identifier()
    _distinctive_stop_words()


def _other_language(sample: str, counts: Counter[str]) -> str | None:
    """A language other than pt/en/es that the model is sure of, for text long enough to be sure.

    Stop words alone cannot say "none of pt/en/es": a French film shares "de", "en", "que" with them and
    was called English.
    """
    if sum(counts.values()) < _MIN_WORDS_FOR_ANY_LANGUAGE:
        return None
    language, probability = _identifier().classify(sample)
    return language if language not in SUPPORTED_LANGUAGES and probability >= _CONFIDENT else None


def _model_language(sample: str) -> str | None:
    """The model's best guess among pt/en/es, for short or ambiguous text."""
    return next((language for language, _ in _identifier().rank(sample) if language in SUPPORTED_LANGUAGES), None)


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """py3langid's model with probabilities that sum to one (loaded once per process: ~0.4 s)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def fold_accents(text: str) -> str:
    """``"Júlia"`` -> ``"Julia"``: for matching name variants, never for display."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
