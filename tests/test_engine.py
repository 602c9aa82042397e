"""Contract, registry, resolver and engine: validation, discovery, cache correctness."""

from __future__ import annotations

import multiprocessing
import sys
import textwrap
from pathlib import Path

import pytest

from qualia_pipelines.core.cache import ResultCache, cache_key, is_missing
from qualia_pipelines.core.contract import Parameter, ParameterError, Plugin, PluginDefinitionError
from qualia_pipelines.core.engine import Engine, PluginExecutionError
from qualia_pipelines.core.registry import Registry, UnknownPluginError, discover
from qualia_pipelines.core.resolver import ResolutionError, execution_order
from tests.conftest import SAMPLES, digest


def echo(inputs, params):
    return {"echo": params}


def make_plugin(plugin_id: str, requires: tuple[str, ...], provides: tuple[str, ...]) -> Plugin:
    return Plugin(plugin_id, "analyzer", "1", "test", requires, provides, lambda i, p: {k: 1 for k in provides})


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5), (5, 5), (5.0, 5), ("true", True), ("0.25", 0.25), ("pt", "pt")],
)
def test_parameters_accept_strings_and_native_values(value: object, expected: object) -> None:
    parameter = {
        5: Parameter("n", "int", 1, minimum=0, maximum=10),
        True: Parameter("b", "bool", False),
        0.25: Parameter("f", "float", 0.1, minimum=0, maximum=1),
        "pt": Parameter("c", "choice", "en", choices=("en", "pt")),
    }[expected]
    assert parameter.validate(value) == expected


@pytest.mark.parametrize(
    ("parameter", "value", "message"),
    [
        (
            Parameter("n", "int", 1, minimum=0, maximum=10),
            "11",
            "'n': '11' is not allowed; expected an integer in [0, 10]",
        ),
        (Parameter("n", "int", 1, minimum=0), "2.5", "'n': '2.5' is not allowed; expected an integer in [0, inf]"),
        (Parameter("b", "bool", False), "maybe", "'b': 'maybe' is not allowed; expected true or false"),
        (Parameter("f", "float", 0.1, minimum=0, maximum=1), "nan", "expected a number in [0, 1]"),
        (Parameter("c", "choice", "en", choices=("en", "pt")), "fr", "expected one of en, pt"),
    ],
)
def test_bad_parameter_values_name_parameter_value_and_what_is_allowed(
    parameter: Parameter, value: str, message: str
) -> None:
    with pytest.raises(ParameterError) as error:
        parameter.validate(value)
    assert message in str(error.value)


def test_unknown_parameter_lists_the_known_ones(engine: Engine) -> None:
    with pytest.raises(ParameterError, match=r"plugin 'word_frequency' has no parameter 'colour' \(known: min_word"):
        engine.run_file("word_frequency", SAMPLES["vtt_en"], {"word_frequency": {"colour": "red"}})


def test_parameters_for_a_dependency_are_validated_before_anything_runs(engine: Engine) -> None:
    with pytest.raises(ParameterError, match="plugin 'teams_cleaner': parameter 'min_utterance_words': -1"):
        engine.run_file("wordcloud_viz", SAMPLES["vtt_en"], {"teams_cleaner": {"min_utterance_words": -1}})


def test_unknown_plugin_lists_the_available_ones(engine: Engine) -> None:
    with pytest.raises(UnknownPluginError, match="unknown plugin 'topics' \\(available: frequency_chart, "):
        engine.run_file("topics", SAMPLES["vtt_en"])


def test_malformed_plugins_are_reported_and_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "myplugins"
    (folder / "broken_import").mkdir(parents=True)
    (folder / "broken_import" / "__init__.py").write_text("import not_a_module_anywhere\n")
    (folder / "bad_kind.py").write_text(
        textwrap.dedent("""
        from qualia_pipelines.core.contract import Plugin
        plugin = Plugin("bad_kind", "transformer", "1", "x", ("cleaned_document",), ("x",), lambda i, p: {})
    """)
    )
    (folder / "no_plugin.py").write_text("VALUE = 1\n")
    (folder / "duplicate.py").write_text(
        textwrap.dedent("""
        from qualia_pipelines.core.contract import Plugin
        plugin = Plugin("word_frequency", "analyzer", "9", "x", ("cleaned_document",), ("y",), lambda i, p: {})
    """)
    )
    (folder / "good_one.py").write_text(
        textwrap.dedent("""
        from qualia_pipelines.core.contract import Plugin
        plugin = Plugin("good_one", "analyzer", "1", "x", ("cleaned_document",), ("good",), lambda i, p: {"good": 1})
    """)
    )
    registry = discover([folder])
    assert "good_one" in registry.plugins and "word_frequency" in registry.plugins
    messages = {Path(p.source).name: p.message for p in registry.problems}
    assert "ModuleNotFoundError" in messages["broken_import"]
    assert "kind 'transformer' is not one of document, analyzer, visualizer" in messages["bad_kind.py"]
    assert "does not expose" in messages["no_plugin.py"] or "no 'plugin' attribute" in messages["no_plugin.py"]
    assert "already registered by built-in word_frequency" in messages["duplicate.py"]


def test_entry_point_plugins_are_discovered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "qualia_plugin_demo"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent("""
        from qualia_pipelines.core.contract import Plugin
        plugin = Plugin("demo_counter", "analyzer", "2.0", "Counts segments.", ("cleaned_document",),
                        ("segment_count",), lambda i, p: {"segment_count": len(i["cleaned_document"]["segments"])})
    """)
    )
    info = tmp_path / "qualia_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: qualia-plugin-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[qualia.plugins]\ndemo_counter = qualia_plugin_demo\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = discover()
    assert registry.get("demo_counter").source.startswith("entry point demo_counter")
    result = Engine(registry).run_file("demo_counter", SAMPLES["vtt_pt"])
    assert result.values == {"segment_count": 13}
    sys.modules.pop("qualia_plugin_demo", None)


def test_contract_violations_are_definition_errors() -> None:
    with pytest.raises(PluginDefinitionError, match="plugin id 'Bad-Id' is not snake_case"):
        make_plugin("Bad-Id", (), ("x",))
    with pytest.raises(PluginDefinitionError, match="default of parameter 'n'"):
        Parameter("n", "int", 50, maximum=10)


def test_resolver_orders_dependencies_and_names_missing_and_cyclic_plugins() -> None:
    registry = Registry()
    registry.add(make_plugin("a", ("transcript",), ("ka",)), "test")
    registry.add(make_plugin("b", ("ka",), ("kb",)), "test")
    registry.add(make_plugin("c", ("kb", "ka"), ("kc",)), "test")
    assert [p.id for p in execution_order(registry, "c")] == ["a", "b", "c"]
    registry.add(make_plugin("lonely", ("nothing_provides_this",), ("kl",)), "test")
    with pytest.raises(ResolutionError, match="plugin 'lonely' requires 'nothing_provides_this', which no registered"):
        execution_order(registry, "lonely")
    cyclic = Registry()
    cyclic.add(make_plugin("x", ("ky",), ("kx",)), "test")
    cyclic.add(make_plugin("y", ("kx",), ("ky",)), "test")
    with pytest.raises(ResolutionError, match="cycle: x -> y -> x"):
        execution_order(cyclic, "x")


def test_a_plugin_that_crashes_or_breaks_its_promise_is_named() -> None:
    registry = Registry()
    registry.add(Plugin("boom", "document", "1", "x", ("transcript",), ("k",), lambda i, p: 1 / 0), "test")
    registry.add(Plugin("liar", "document", "1", "x", ("transcript",), ("k2",), lambda i, p: {"other": 1}), "test")
    engine = Engine(registry)
    with pytest.raises(PluginExecutionError, match=r"plugin 'boom' failed on .*retro_pt.txt: ZeroDivisionError"):
        engine.run_file("boom", SAMPLES["txt_pt"])
    with pytest.raises(PluginExecutionError, match="plugin 'liar' did not return k2"):
        engine.run_file("liar", SAMPLES["txt_pt"])


def test_cache_hits_and_never_returns_stale_results(tmp_path: Path) -> None:
    engine = Engine(cache=ResultCache(tmp_path / "cache"))
    path = tmp_path / "meeting.txt"
    path.write_text("[00:00:01] Ana: Reunião sobre qualidade e dados.\n[00:00:04] Bia: Dados dados ótimos hoje.\n")
    first = engine.run_file("word_frequency", path)
    assert [s.cache_hit for s in first.steps] == [False, False]
    again = engine.run_file("word_frequency", path)
    assert [s.cache_hit for s in again.steps] == [True]  # the target's hit: nothing upstream is even loaded
    assert again.values == first.values
    changed_parameter = engine.run_file("word_frequency", path, {"word_frequency": {"min_word_length": 6}})
    assert "dados" not in changed_parameter.values["word_frequencies"]
    upstream_changed = engine.run_file("word_frequency", path, {"teams_cleaner": {"min_utterance_words": 5}})
    assert upstream_changed.values["word_frequencies"] == {"reunião": 1, "qualidade": 1, "dados": 1}
    path.write_text("[00:00:01] Ana: Outro assunto completamente.\n")
    assert "assunto" in engine.run_file("word_frequency", path).values["word_frequencies"]


def test_cache_key_covers_version_parameters_and_upstream() -> None:
    base = cache_key("h", "p", "1", {"a": 1}, ["u"])
    assert base == cache_key("h", "p", "1", {"a": 1}, ["u"])
    assert (
        len(
            {
                base,
                cache_key("h2", "p", "1", {"a": 1}, ["u"]),
                cache_key("h", "p", "2", {"a": 1}, ["u"]),
                cache_key("h", "p", "1", {"a": 2}, ["u"]),
                cache_key("h", "p", "1", {"a": 1}, ["v"]),
            }
        )
        == 5
    )


def _hammer(root: str, worker: int) -> None:
    cache = ResultCache(root)
    for round_ in range(40):
        cache.put("same-key-for-everyone", {"worker": worker, "round": round_, "payload": "x" * 50_000})


def test_concurrent_writers_never_corrupt_an_entry(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_hammer, args=(str(tmp_path), n)) for n in range(4)]
    for process in workers:
        process.start()
    cache = ResultCache(tmp_path)
    reads = 0
    while any(p.is_alive() for p in workers):
        value = cache.get("same-key-for-everyone")
        if not is_missing(value):
            assert value["payload"] == "x" * 50_000
            reads += 1
    for process in workers:
        process.join()
        assert process.exitcode == 0
    assert cache.get("same-key-for-everyone")["round"] == 39
    assert not [p for p in cache.path_for("same-key-for-everyone").parent.iterdir() if p.suffix == ".tmp"]


def test_engine_never_modifies_inputs(engine: Engine, samples: dict[str, Path]) -> None:
    before = {name: (digest(path), path.stat().st_mtime_ns) for name, path in samples.items()}
    for path in samples.values():
        engine.run_file("sentiment_analyzer", path)
        engine.run_file("wordcloud_viz", path)
    assert before == {name: (digest(path), path.stat().st_mtime_ns) for name, path in samples.items()}
