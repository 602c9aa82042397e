"""Sentiment accuracy against human-labelled data, with the baselines measured in the same run.

Run: `.venv/bin/python bench/sentiment.py` (or `make bench`). Every CSV in
`../shared/corpora/sentiment/` (columns `id,text,gold,orig_label`; third-party data, read in place,
never copied) becomes one transcript with one utterance per item, each by its own speaker, and goes
through the engine as the pipeline runs it: teams_cleaner, then sentiment_analyzer, no cache. In the
same run the baselines score the raw texts: vanilla LeIA (pt), TextBlob (all), VADER (en), and
Qualia's other engines for the language.

One rule for every method: polarity > 0.05 positive, < -0.05 negative, else neutral. Macro-F1 is
over the dataset's gold classes (positive/negative for the two-class sets: a neutral prediction there
counts as a miss). Items are split in two halves, fixed by the parity of the first byte of
SHA-256(id): tuning happened on the even half only ("tune"); "held-out" is the odd half.

Targets (issue 19): ahead of every baseline on every dataset in accuracy and macro-F1; B2W >= .80,
TweetSentBR >= .55, UCI mean >= .70, MELD macro-F1 >= .42; >= 1,500 utterances/s through the engine.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qualia_plugins.sentiment_analyzer.engines import ENGINES  # noqa: E402

from qualia_pipelines.core.engine import Engine  # noqa: E402
from qualia_pipelines.core.transcript import Segment, Transcript  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "sentiment"
THRESHOLD = 0.05
LABELS = ("positive", "neutral", "negative")
TARGET_RATE = 1_500


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    gold: str

    @property
    def tuning(self) -> bool:
        """The fixed tuning half: SHA-256 of the id starts with an even byte."""
        return hashlib.sha256(self.id.encode("utf-8")).digest()[0] % 2 == 0


@dataclass(frozen=True)
class Scores:
    accuracy: float
    macro_f1: float
    neutral_share: float


def dataset_items(path: Path) -> list[Item]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [Item(row["id"], row["text"], row["gold"]) for row in csv.DictReader(handle)]


def label_for(polarity: float) -> str:
    return "positive" if polarity > THRESHOLD else "negative" if polarity < -THRESHOLD else "neutral"


def scores(items: Sequence[Item], predicted: Sequence[str]) -> Scores:
    classes = sorted({item.gold for item in items})
    f1s = []
    for label in classes:
        hits = sum(1 for item, guess in zip(items, predicted, strict=True) if item.gold == guess == label)
        guessed = sum(1 for guess in predicted if guess == label)
        actual = sum(1 for item in items if item.gold == label)
        precision = hits / guessed if guessed else 0.0
        recall = hits / actual if actual else 0.0
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    correct = sum(1 for item, guess in zip(items, predicted, strict=True) if item.gold == guess)
    return Scores(correct / len(items), sum(f1s) / len(f1s), predicted.count("neutral") / len(predicted))


def speaker_of(index: int) -> str:
    return f"Item {index:05d}"


def engine_polarities(engine: Engine, items: Sequence[Item], language: str, choice: str | None) -> list[float]:
    """Each item's utterance polarity, from one transcript through teams_cleaner and sentiment_analyzer."""
    segments = tuple(Segment(speaker_of(i), i * 10.0, i * 10.0 + 5.0, item.text) for i, item in enumerate(items))
    transcript = Transcript(
        source=f"{language}-sentiment.txt",
        format="txt",
        language=language,
        content_hash=hashlib.sha256(repr(segments).encode("utf-8")).hexdigest(),
        segments=segments,
    )
    params = {"polarity_threshold": THRESHOLD, **({f"{language}_engine": choice} if choice else {})}
    result = engine.run("sentiment_analyzer", transcript, {"sentiment_analyzer": params})
    by_speaker = {row["speaker"]: row["polarity"] for row in result.values["sentiment"]["segment_sentiments"]}
    return [by_speaker.get(speaker_of(i), 0.0) for i in range(len(items))]


def baseline_scorers(language: str) -> dict[str, Callable[[str], float]]:
    """The libraries as their users call them, on the raw text."""
    from textblob.en.sentiments import PatternAnalyzer

    pattern = PatternAnalyzer()
    methods: dict[str, Callable[[str], float]] = {"TextBlob": lambda text: float(pattern.analyze(text).polarity)}
    if language == "pt":
        from LeIA import SentimentIntensityAnalyzer as LeIA

        leia = LeIA()
        methods["vanilla LeIA"] = lambda text: leia.polarity_scores(text)["compound"]
    if language == "en":
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer as Vader

        vader = Vader()
        methods["VADER"] = lambda text: vader.polarity_scores(text)["compound"]
    return methods


def timed(action: Callable[[], list[float]]) -> tuple[list[float], float]:
    started = time.perf_counter()
    values = action()
    return values, time.perf_counter() - started


def method_rows(items: Sequence[Item], language: str) -> list[tuple[str, list[str], float]]:
    """(method, predicted labels, items per second) for Qualia, its other engines and the baselines."""
    engine = Engine()
    engine_polarities(engine, items[:50], language, None)  # load lexicons outside the timing
    rows = []
    default = ENGINES[language].default
    for choice in (default, *(name for name in ENGINES[language].choices if name != default)):
        name = "Qualia" if choice == default else f"Qualia {language}_engine={choice}"
        values, seconds = timed(lambda choice=choice: engine_polarities(engine, items, language, choice))
        rows.append((name, [label_for(value) for value in values], len(items) / seconds))
    for name, scorer in baseline_scorers(language).items():
        values, seconds = timed(lambda scorer=scorer: [scorer(item.text) for item in items])
        rows.append((name, [label_for(value) for value in values], len(items) / seconds))
    return rows


def split(items: Sequence[Item], predicted: Sequence[str], tuning: bool) -> tuple[list[Item], list[str]]:
    pairs = [(item, guess) for item, guess in zip(items, predicted, strict=True) if item.tuning == tuning]
    return [item for item, _ in pairs], [guess for _, guess in pairs]


def report(path: Path) -> tuple[dict[str, Scores], float]:
    """Print one dataset's table; return each method's scores on the whole set and Qualia's items/s."""
    items = dataset_items(path)
    language = path.name[:2]
    print(f"\n{path.stem}  ({len(items)} items, {language})")
    print(
        f"  {'method':32} {'accuracy':>8} {'macro-F1':>8} {'neutral':>8}   {'tune acc/F1':>11}"
        f"   {'held-out acc/F1':>15} {'items/s':>9}"
    )
    whole: dict[str, Scores] = {}
    qualia_rate = 0.0
    for name, predicted, rate in method_rows(items, language):
        qualia_rate = rate if name == "Qualia" else qualia_rate
        everything = whole[name] = scores(items, predicted)
        tune, held = (scores(*split(items, predicted, half)) for half in (True, False))
        print(
            f"  {name:32} {everything.accuracy:8.3f} {everything.macro_f1:8.3f} {everything.neutral_share:8.1%}"
            f"   {tune.accuracy:5.3f}/{tune.macro_f1:5.3f}   {held.accuracy:7.3f}/{held.macro_f1:5.3f}"
            f"   {rate:9,.0f}"
        )
    return whole, qualia_rate


def verdicts(results: dict[str, dict[str, Scores]], rates_ok: bool) -> list[str]:
    lines = []
    for dataset, methods in results.items():
        ours = methods["Qualia"]
        rivals = {name: s for name, s in methods.items() if not name.startswith("Qualia")}
        behind = [n for n, s in rivals.items() if s.accuracy >= ours.accuracy or s.macro_f1 >= ours.macro_f1]
        lines.append(f"{dataset}: {'ahead of every baseline' if not behind else 'NOT ahead of ' + ', '.join(behind)}")
    floors = {"pt_b2w_reviews": 0.80, "pt_tweetsentbr": 0.55}
    for dataset, floor in floors.items():
        if dataset in results:
            value = results[dataset]["Qualia"].accuracy
            verdict = "met" if value >= floor else "MISSED"
            lines.append(f"{dataset} accuracy {value:.3f} (target >= {floor:.2f}): {verdict}")
    uci = [results[name]["Qualia"].accuracy for name in results if name.startswith("en_uci_")]
    if uci:
        mean = sum(uci) / len(uci)
        lines.append(f"UCI mean accuracy {mean:.3f} (target >= 0.70): {'met' if mean >= 0.70 else 'MISSED'}")
    if "en_meld_dialogue" in results:
        value = results["en_meld_dialogue"]["Qualia"].macro_f1
        lines.append(f"MELD macro-F1 {value:.3f} (target >= 0.42): {'met' if value >= 0.42 else 'MISSED'}")
    verdict = "met" if rates_ok else "MISSED"
    lines.append(f"throughput through the engine >= {TARGET_RATE:,}/s on every dataset: {verdict}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="folder of labelled CSVs")
    args = parser.parse_args()
    files = sorted(args.corpus.glob("*.csv"))
    if not files:
        print(f"skipped: no labelled sentiment data in {args.corpus} (it lives in ../shared beside the checkout)")
        return
    started = time.perf_counter()
    results: dict[str, dict[str, Scores]] = {}
    rates: list[float] = []
    for path in files:
        results[path.stem], rate = report(path)
        rates.append(rate)
    rates_ok = all(rate >= TARGET_RATE for rate in rates) if rates else True
    print("\n" + "\n".join(verdicts(results, rates_ok)))
    print(f"\nbench ran in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
