"""The six built-in plugins on the sample transcripts, with asserted values."""

from __future__ import annotations

import io
import re
import shutil

import pytest

from qualia_pipelines.core.contract import NothingToDrawError, ParameterError, PluginInputError
from qualia_pipelines.core.engine import Engine
from qualia_pipelines.core.figures import RendererUnavailableError, static_export_session
from qualia_pipelines.core.readers import transcript_from_text
from qualia_pipelines.core.text import detect_language
from tests.conftest import SAMPLES


def test_teams_cleaner_removes_system_lines_and_fillers_and_measures_speakers(engine: Engine) -> None:
    values = engine.run_file("teams_cleaner", SAMPLES["txt_pt"]).values
    report = values["quality_report"]
    assert report["system_messages_removed"] == 4  # Recording started/stopped, joined, is now presenting
    assert report["short_utterances_dropped"] == 1  # "Hum."
    assert report["segments_in"] == 16 and report["speakers_found"] == 3
    assert "Recording" not in values["cleaned_document"]["text"]
    speakers = {row["speaker"]: row for row in values["speakers"]}
    assert set(speakers) == {"Marina Lopes", "Rafael Costa", "Tiago Almeida"}
    assert speakers["Marina Lopes"]["utterances"] == 5
    assert speakers["Marina Lopes"]["talk_time_s"] == pytest.approx(
        5 + 5 + 6 + 8 + 6
    )  # each turn ends when the next line starts
    assert sum(row["share_of_words"] for row in speakers.values()) == pytest.approx(1.0, abs=1e-3)
    assert values["metadata"]["participant_count"] == 3 and values["metadata"]["language"] == "pt"
    assert set(values["document_variants"]) == set(speakers)


def test_teams_cleaner_merges_turns_and_unifies_name_variants(engine: Engine) -> None:
    text = (
        "[00:00:01] Júlia Ferreira: Primeira frase longa.\n[00:00:04] julia  ferreira: Continuação da fala.\n"
        "[00:00:08] Ana: Outra pessoa fala agora.\n[00:00:10] Ana: Ok.\n"
        "[00:00:12] Ana entrou na reunião\n[00:00:13] Gravação encerrada\n"
    )
    values = engine.run("teams_cleaner", transcript_from_text(text)).values
    segments = values["cleaned_document"]["segments"]
    assert [(s["speaker"], s["start"], s["end"]) for s in segments] == [
        ("Júlia Ferreira", 1.0, 8.0),
        ("Ana", 8.0, 10.0),
    ]
    assert segments[0]["text"] == "Primeira frase longa. Continuação da fala."
    assert values["quality_report"]["system_messages_removed"] == 2
    transcript = transcript_from_text(text)
    unmerged = engine.run("teams_cleaner", transcript, {"teams_cleaner": {"merge_consecutive": False}})
    assert len(unmerged.values["cleaned_document"]["segments"]) == 3
    no_timestamps = engine.run(
        "teams_cleaner", transcript_from_text(text), {"teams_cleaner": {"remove_timestamps": True}}
    )
    assert no_timestamps.values["cleaned_document"]["text"].startswith("Júlia Ferreira: Primeira")


def test_word_frequency_counts_unicode_words_without_stop_words(engine: Engine) -> None:
    values = engine.run_file("word_frequency", SAMPLES["vtt_pt"]).values
    assert values["language"] == "pt"
    assert values["top_words"][0] == {"word": "clientes", "count": 3, "share": pytest.approx(3 / 112, abs=1e-5)}
    assert values["word_frequencies"]["português"] == 2
    assert "não" not in values["word_frequencies"] and "que" not in values["word_frequencies"]
    assert values["vocabulary_size"] == len(values["word_frequencies"]) == 99
    assert values["hapax_legomena"] == sum(1 for c in values["word_frequencies"].values() if c == 1)
    assert values["total_tokens"] == 213


def test_word_frequency_parameters(engine: Engine) -> None:
    text = "Ana: Don't stop the Qualia qualia QUALIA pipeline, ação ação não 2024!"
    transcript = transcript_from_text(text)
    raw = engine.run(
        "word_frequency",
        transcript,
        {"word_frequency": {"remove_stopwords": False, "min_word_length": 1, "language": "en"}},
    )
    assert raw.values["word_frequencies"]["qualia"] == 3 and raw.values["word_frequencies"]["don't"] == 1
    assert "2024" not in raw.values["word_frequencies"]
    cased = engine.run("word_frequency", transcript, {"word_frequency": {"case_sensitive": True, "language": "en"}})
    assert cased.values["word_frequencies"]["Qualia"] == 1 and cased.values["word_frequencies"]["QUALIA"] == 1
    by_speaker = engine.run("word_frequency", transcript, {"word_frequency": {"by_speaker": True, "max_words": 2}})
    assert list(by_speaker.values["speaker_frequencies"]) == ["Ana"]
    assert len(by_speaker.values["speaker_frequencies"]["Ana"]) == 2


@pytest.mark.parametrize(
    ("text", "label", "engine_name"),
    [
        ("Ana: Os resultados foram muito bons. A equipe adorou os gráficos, ficou excelente!", "positive", "leia"),
        ("Ana: Isso é horrível. A documentação ficou confusa e o sistema travou de novo, péssimo.", "negative", "leia"),
        (
            "Ana: This was great, thank you so much. I love the new charts, they are wonderful.",
            "positive",
            "vader+textblob",
        ),
        ("Ana: We had a terrible experience. The tool is awful and deleted our data.", "negative", "vader+textblob"),
    ],
)
def test_sentiment_sign_for_clear_passages(engine: Engine, text: str, label: str, engine_name: str) -> None:
    sentiment = engine.run("sentiment_analyzer", transcript_from_text(text)).values["sentiment"]
    assert sentiment["sentiment_label"] == label
    assert sentiment["engine"] == engine_name
    assert (sentiment["polarity"] > 0.1) if label == "positive" else (sentiment["polarity"] < -0.1)


def test_portuguese_meeting_is_not_all_neutral(engine: Engine) -> None:
    sentiment = engine.run_file("sentiment_analyzer", SAMPLES["vtt_pt"]).values["sentiment"]
    labels = {row["label"] for row in sentiment["segment_sentiments"]}
    assert labels == {"positive", "neutral", "negative"}
    assert sentiment["statistics"]["share_neutral"] < 0.5
    worried = next(r for r in sentiment["segment_sentiments"] if r["text"].startswith("Isso é preocupante"))
    assert worried["label"] == "negative"
    assert sentiment["most_positive"][0]["polarity"] == sentiment["statistics"]["max"]
    assert {row["speaker"] for row in sentiment["by_speaker"]} == {
        "Ana Beatriz Souza",
        "Carlos Mendes",
        "Júlia Ferreira",
    }


def test_english_interview_sentiment_has_subjectivity(engine: Engine) -> None:
    sentiment = engine.run_file("sentiment_analyzer", SAMPLES["vtt_en"]).values["sentiment"]
    assert sentiment["language"] == "en" and 0 <= sentiment["subjectivity"] <= 1
    worst = sentiment["most_negative"][0]
    assert worst["text"].startswith("Losing track of versions") and worst["polarity"] < -0.5
    labels = {row["text"].split(".")[0]: row["label"] for row in sentiment["segment_sentiments"]}
    assert labels["Just that it should never lose data"] == labels["Honestly, it's painful"] == "negative"


def test_sentiment_says_not_available_for_a_language_without_an_engine(engine: Engine) -> None:
    text = "Ana: El proyecto fue un éxito y el equipo está muy contento con los resultados de la reunión."
    sentiment = engine.run("sentiment_analyzer", transcript_from_text(text)).values["sentiment"]
    assert sentiment["available"] is False and sentiment["polarity"] is None
    assert sentiment["note"].startswith("sentiment not available for Spanish (es)")
    with pytest.raises(NothingToDrawError, match=r"sentiment_viz: sentiment not available for Spanish \(es\)"):
        engine.run("sentiment_viz", transcript_from_text(text))


FRENCH = (
    "Marie: Bonjour à tous, je vous remercie d'être venus pour cette réunion. Nous allons parler du projet.\n"
    "Paul: Merci Marie. Je pense que le calendrier est trop serré, il faut discuter avec l'équipe.\n"
    "Marie: Oui, c'est vrai. Nous devons aussi revoir le budget avant la fin du mois prochain.\n"
)
FINNISH = (
    "Liisa: Hyvää huomenta kaikille, kiitos että tulitte tähän kokoukseen. Puhumme tänään projektista.\n"
    "Mikko: Kiitos Liisa. Minun mielestäni aikataulu on liian tiukka, ja meidän pitää keskustella tiimin kanssa.\n"
    "Liisa: Totta. Meidän täytyy myös tarkistaa budjetti ennen ensi kuun loppua.\n"
)


@pytest.mark.parametrize(("text", "language", "stop_word"), [(FRENCH, "fr", "nous"), (FINNISH, "fi", "että")])
def test_other_languages_are_named_and_counted_with_their_own_stop_words(
    engine: Engine, text: str, language: str, stop_word: str
) -> None:
    transcript = transcript_from_text(text)
    assert transcript.language == language
    counts = engine.run("word_frequency", transcript).values
    assert counts["language"] == language and stop_word not in counts["word_frequencies"]
    assert engine.run("sentiment_analyzer", transcript).values["sentiment"]["available"] is False


def test_short_or_mixed_text_stays_among_the_analysed_languages() -> None:
    assert detect_language("Não gostei da reunião") == "pt"
    assert detect_language("Yeah!") in {"en", "pt", "es"}


def test_wordcloud_png_svg_and_offline_html(engine: Engine) -> None:
    png = engine.run_file("wordcloud_viz", SAMPLES["vtt_pt"]).values["wordcloud"]
    assert png.content.startswith(b"\x89PNG") and png.media_type == "image/png"
    params = {"wordcloud_viz": {"format": "html", "width": 400, "height": 200, "background_color": "transparent"}}
    page = engine.run_file("wordcloud_viz", SAMPLES["vtt_pt"], params).values["wordcloud"].text()
    assert "<title>clientes: 3</title>" in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")
    svg = engine.run_file("wordcloud_viz", SAMPLES["vtt_pt"], {"wordcloud_viz": {"format": "svg"}}).values["wordcloud"]
    assert svg.text().startswith("<svg") and svg.extension == "svg"


def test_a_wordcloud_request_cannot_exceed_the_pixel_budget(engine: Engine) -> None:
    """64 MP took a minute and 6 GB; now it is refused, and the largest image is laid out on a bounded canvas."""
    with pytest.raises(ParameterError, match=r"'width' x 'height': 8000 x 8000 = 64,000,000 pixels, over the budget"):
        engine.run_file("wordcloud_viz", SAMPLES["vtt_pt"], {"wordcloud_viz": {"width": 8000, "height": 8000}})
    large = {"width": 3001, "height": 2999}  # laid out at a third of the size, drawn at the size asked for
    png = engine.run_file("wordcloud_viz", SAMPLES["vtt_pt"], {"wordcloud_viz": large}).values["wordcloud"]
    from PIL import Image

    assert Image.open(io.BytesIO(png.content)).size == (3001, 2999)
    svg = engine.run_file("wordcloud_viz", SAMPLES["vtt_pt"], {"wordcloud_viz": {**large, "format": "svg"}})
    text = svg.values["wordcloud"].text()
    xs = [float(x) for x in re.findall(r' x="([\d.]+)"', text)]
    assert 'width="3001" height="2999"' in text and xs and max(xs) > 1000  # positions scaled to the image


def test_wordcloud_rejects_an_unknown_colormap(engine: Engine) -> None:
    with pytest.raises(ParameterError, match="'colormap': 'rainbowz' is not a matplotlib colormap"):
        engine.run_file("wordcloud_viz", SAMPLES["vtt_pt"], {"wordcloud_viz": {"colormap": "rainbowz"}})


@pytest.mark.parametrize("chart_type", ["bar", "horizontal_bar", "line", "area", "pie", "treemap", "sunburst"])
def test_frequency_chart_html_links_one_local_plotly(engine: Engine, chart_type: str) -> None:
    params = {"frequency_chart": {"chart_type": chart_type, "max_items": 5}}
    rendering = engine.run_file("frequency_chart", SAMPLES["vtt_en"], params).values["frequency_chart"]
    page = rendering.text()
    assert '<script charset="utf-8" src="plotly.min.js"></script>' in page
    assert "cdn." not in page and len(page) < 100_000
    assert rendering.companions["plotly.min.js"].stat().st_size > 1_000_000
    assert re.search(r'"(x|labels|values|y)":\[', page)


@pytest.mark.parametrize("chart_type", ["dashboard", "gauge", "timeline", "distribution", "by_speaker"])
def test_sentiment_viz_chart_types(engine: Engine, chart_type: str) -> None:
    params = {"sentiment_viz": {"chart_type": chart_type}}
    page = engine.run_file("sentiment_viz", SAMPLES["vtt_pt"], params).values["sentiment_chart"].text()
    assert "plotly.min.js" in page and "Sentiment:" in page


@pytest.mark.parametrize(
    ("plugin_id", "inputs", "message"),
    [
        ("wordcloud_viz", {"word_frequencies": {}}, "wordcloud_viz: no words to draw"),
        ("frequency_chart", {"word_frequencies": {"zero": 0}}, "frequency_chart: no words to chart"),
    ],
)
def test_nothing_to_draw_is_its_own_error(engine: Engine, plugin_id: str, inputs: dict, message: str) -> None:
    with pytest.raises(NothingToDrawError, match=re.escape(message)):
        engine.run_plugin(plugin_id, inputs)


@pytest.mark.parametrize(
    ("plugin_id", "inputs", "message"),
    [
        ("wordcloud_viz", {"word_frequencies": ["a", "b"]}, "needs word_frequencies as a mapping of word to count"),
        ("frequency_chart", {"word_frequencies": {"ok": "many"}}, "entry 'ok': 'many' is not a word with"),
        ("sentiment_viz", {"sentiment": {"polarity": 0.2}}, "needs the sentiment record"),
        ("word_frequency", {"cleaned_document": "plain text"}, "needs a cleaned document with a 'segments' list"),
    ],
)
def test_wrong_shaped_inputs_are_named(engine: Engine, plugin_id: str, inputs: dict, message: str) -> None:
    with pytest.raises(PluginInputError, match=re.escape(message)):
        engine.run_plugin(plugin_id, inputs)


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (.ci/run installs it)")
def test_static_png_and_svg_charts_through_one_browser(engine: Engine) -> None:
    with static_export_session():
        png = engine.run_file("frequency_chart", SAMPLES["vtt_en"], {"frequency_chart": {"format": "png"}})
        svg = engine.run_file("sentiment_viz", SAMPLES["vtt_pt"], {"sentiment_viz": {"format": "svg"}})
    assert png.values["frequency_chart"].content.startswith(b"\x89PNG")
    assert b"<svg" in svg.values["sentiment_chart"].content[:500]


def test_missing_renderer_says_how_to_get_one(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RendererUnavailableError, match=r"apt-get install chromium\) or use format=html"):
        engine.run_file("frequency_chart", SAMPLES["vtt_en"], {"frequency_chart": {"format": "png"}})
