"""Engine benchmark: figures as ratios against a baseline measured in the same run.

Run: `.venv/bin/python bench/engine.py` (or `make bench`). It builds Teams-style
VTT transcripts from the samples (a one-hour meeting of ~60 KB, 1 MB and
20 MB), then measures:

- baseline: a bare Unicode regex tokenizer + collections.Counter over the text;
- word_frequency alone on the same text (target: >= 0.5x the baseline's throughput);
- the whole chain read -> teams_cleaner -> word_frequency -> sentiment_analyzer
  on the one-hour meeting, warm, no cache (target: < 150 ms);
- wordcloud (PNG) + frequency chart + sentiment chart (HTML) for it (target: < 1.5 s);
- a cache hit of the chain (target: < 10 ms);
- the 20 MB transcript analysed in a child process, peak RSS (target: < 1 GB);
- `qualia list` and `qualia analyze` as whole processes (target: < 0.5 s each).
"""

from __future__ import annotations

import collections
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qualia_pipelines.core.cache import ResultCache  # noqa: E402
from qualia_pipelines.core.engine import Engine  # noqa: E402
from qualia_pipelines.core.readers import read_transcript  # noqa: E402

SAMPLES = ROOT / "samples"
CUE = re.compile(r"<v ([^>]+)>(.*?)</v>", re.DOTALL)
BASELINE_WORDS = re.compile(r"[^\W\d_]+")


def sample_cues() -> list[tuple[str, str]]:
    cues = []
    for name in ("weekly_sync_pt.vtt", "customer_interview_en.vtt"):
        cues += CUE.findall((SAMPLES / name).read_text(encoding="utf-8"))
    return cues


def clock(seconds: float) -> str:
    return f"{int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"


def build_vtt(path: Path, target_bytes: int, language: str = "pt") -> Path:
    """A Teams-style VTT of about ``target_bytes``, cues cycling through the sample cues."""
    cues = [cue for cue in sample_cues() if (language == "pt") == any(ch in cue[1] for ch in "ãçéêóúí")]
    parts = ["WEBVTT\n"]
    size, index, start = 7, 0, 0.0
    while size < target_bytes:
        speaker, text = cues[index % len(cues)]
        block = f"\n{index + 1}\n{clock(start)} --> {clock(start + 8.5)}\n<v {speaker}>{text}</v>\n"
        parts.append(block)
        size += len(block.encode("utf-8"))
        index += 1
        start += 9.0
    path.write_text("".join(parts), encoding="utf-8")
    return path


def best_of(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def baseline(text: str) -> collections.Counter[str]:
    return collections.Counter(BASELINE_WORDS.findall(text.lower()))


def process_seconds(*args: str, repeat: int = 5) -> float:
    qualia = shutil.which("qualia", path=str(Path(sys.executable).parent)) or "qualia"
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([qualia, *args], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def child_peak_rss_mb(path: Path) -> float:
    code = (
        "import sys; from qualia_pipelines.core.engine import Engine; e = Engine(); "
        "[e.run_file(p, sys.argv[1], {'teams_cleaner': {'create_variants': False}}) "
        "for p in ('word_frequency', 'sentiment_analyzer')]"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, cwd=ROOT)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def row(name: str, value: str, target: str, ok: bool) -> None:
    print(f"{name:<48} {value:>22}   target {target:<14} {'ok' if ok else 'MISSED'}")


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="qualia-bench-"))
    hour = build_vtt(work / "one_hour.vtt", 60_000)
    one_mb = build_vtt(work / "one_mb.vtt", 1_000_000)
    twenty_mb = build_vtt(work / "twenty_mb.vtt", 20_000_000)
    engine = Engine()
    meeting = read_transcript(hour)
    print(
        f"one-hour meeting: {hour.stat().st_size / 1000:.0f} KB, {len(meeting.segments)} cues, "
        f"{meeting.segments[-1].end / 3600:.2f} h"
    )

    for label, path in (("1 MB", one_mb), ("20 MB", twenty_mb)):
        cleaned = engine.run_file("teams_cleaner", path).values
        text = "\n".join(segment["text"] for segment in cleaned["cleaned_document"]["segments"])
        megabytes = len(text.encode("utf-8")) / 1e6
        base = best_of(3, lambda text=text: baseline(text))
        ours = best_of(3, lambda cleaned=cleaned: engine.run_plugin("word_frequency", cleaned))
        ratio = base / ours
        row(
            f"word_frequency throughput, {label}",
            f"{megabytes / ours:.0f} MB/s = {ratio:.2f}x base",
            ">= 0.5x",
            ratio >= 0.5,
        )
        print(f"{'':<4}baseline regex+Counter: {megabytes / base:.0f} MB/s")

    def chain() -> None:
        engine.run_file("word_frequency", hour)
        engine.run_file("sentiment_analyzer", hour)

    engine.run_file("sentiment_analyzer", hour)  # warm: imports, lexicons
    chain_seconds = best_of(5, chain)
    hour_text = meeting.text
    base_hour = best_of(5, lambda: baseline(hour_text))
    row(
        "chain read->clean->words->sentiment, 1 h",
        f"{chain_seconds * 1000:.0f} ms = {chain_seconds / base_hour:.0f}x base",
        "< 150 ms",
        chain_seconds < 0.150,
    )

    def visuals() -> None:
        engine.run_file("wordcloud_viz", hour)
        engine.run_file("frequency_chart", hour)
        engine.run_file("sentiment_viz", hour)

    visuals()
    visual_seconds = best_of(3, visuals)
    row(
        "wordcloud PNG + frequency + sentiment charts",
        f"{visual_seconds:.2f} s = {visual_seconds / base_hour:.0f}x base",
        "< 1.5 s",
        visual_seconds < 1.5,
    )

    cached = Engine(cache=ResultCache(work / "cache"))
    cached.run_file("sentiment_analyzer", hour)
    hit = best_of(20, lambda: cached.run_file("sentiment_analyzer", hour))
    row("cache hit of the chain", f"{hit * 1000:.1f} ms = {hit / base_hour:.1f}x base", "< 10 ms", hit < 0.010)

    peak = child_peak_rss_mb(twenty_mb)
    row("20 MB transcript analysed: peak RSS", f"{peak:.0f} MB", "< 1024 MB", peak < 1024)

    python_startup = process_seconds("--help")
    for name, args in (
        ("qualia list", ("list", "--json")),
        (
            "qualia analyze (1 h, word_frequency)",
            ("analyze", str(hour), "-p", "word_frequency", "--no-cache", "--json"),
        ),
    ):
        seconds = process_seconds(*args)
        row(
            f"{name}, whole process",
            f"{seconds:.2f} s = {seconds / python_startup:.2f}x --help",
            "< 0.5 s",
            seconds < 0.5,
        )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
