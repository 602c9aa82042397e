"""Declarative automation against Qualia's corpus sensor: what deciding a corpus refresh costs as the corpus grows.

Run: `.venv/bin/python bench/automation.py [--sizes 1000 5000]`. For each N it records N processed transcripts
(a `word_frequency` materialization each) and one corpus refresh after them on a temporary instance, then times
two ways of deciding whether the corpus tables need a refresh, idle and after a drop of 100 transcripts:

- Dagster's `AutomationCondition.eager()` on the corpus table, evaluated with `evaluate_automation_conditions`
  (what the automation sensor does on each of its ticks);
- Qualia's `corpus_sensor` decision (`corpus_out_of_date` and `unfinished_runs`), which reads the newest
  materialization of each input and of the corpus tables.

Both must request the refresh after the drop and not before. The figures are printed as seconds and as a ratio
of the sensor's time in the same run (each the best of 3); the growth exponent between sizes shows which one grows
with the corpus.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qualia_pipelines.orchestration.partitions import TRANSCRIPTS
from qualia_pipelines.orchestration.sensors import corpus_out_of_date, unfinished_runs

DROP = 100
REPEATS = 3


@dg.asset(partitions_def=TRANSCRIPTS)
def word_frequency() -> None: ...


@dg.asset(deps=[word_frequency], automation_condition=dg.AutomationCondition.eager())
def corpus_vocabulary() -> None: ...


DEFINITIONS = dg.Definitions(assets=[word_frequency, corpus_vocabulary])


def processed(instance: dg.DagsterInstance, keys: list[str]) -> None:
    """Record ``keys`` as processed transcripts, as their runs would."""
    instance.add_dynamic_partitions(TRANSCRIPTS.name, keys)
    for key in keys:
        instance.report_runless_asset_event(dg.AssetMaterialization("word_frequency", partition=key))


def sensor_decides(instance: dg.DagsterInstance) -> bool:
    """The corpus sensor's decision: a transcript newer than the corpus tables, and no run unfinished."""
    return corpus_out_of_date(instance) and not unfinished_runs(instance)


def timed(decide: Callable[[], bool]) -> tuple[float, bool]:
    started = time.perf_counter()
    answer = decide()
    return time.perf_counter() - started, answer


def measure(size: int) -> dict[str, float]:
    """Seconds of each decision at ``size`` transcripts, idle and after a drop."""
    with tempfile.TemporaryDirectory() as home, dg.instance_for_test(temp_dir=home) as instance:
        processed(instance, [f"t{index:06d}" for index in range(size)])
        instance.report_runless_asset_event(dg.AssetMaterialization("corpus_vocabulary"))
        cursor = dg.evaluate_automation_conditions(defs=DEFINITIONS, instance=instance).cursor  # the first look
        figures: dict[str, float] = {}
        for moment in ("idle", "after drop"):
            if moment == "after drop":
                processed(instance, [f"new{index:03d}" for index in range(DROP)])
            expected = moment == "after drop"
            automation = [timed_automation(instance, cursor) for _ in range(REPEATS)]
            sensor = [timed(lambda: sensor_decides(instance)) for _ in range(REPEATS)]
            assert all((result.total_requested > 0) == expected for _, result in automation), moment
            assert all(out_of_date == expected for _, out_of_date in sensor), moment
            figures[f"automation {moment}"] = min(seconds for seconds, _ in automation)
            figures[f"sensor {moment}"] = min(seconds for seconds, _ in sensor)
        return figures


def timed_automation(
    instance: dg.DagsterInstance, cursor: object
) -> tuple[float, dg.EvaluateAutomationConditionsResult]:
    """One evaluation from the same cursor, as the automation sensor's next tick would make it."""
    started = time.perf_counter()
    result = dg.evaluate_automation_conditions(defs=DEFINITIONS, instance=instance, cursor=cursor)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    args = parser.parse_args()
    results = {size: measure(size) for size in args.sizes}
    print(f"{'transcripts':>11} {'decision':<24} {'seconds':>9} {'x sensor':>9}")
    for size, figures in results.items():
        for moment in ("idle", "after drop"):
            sensor = figures[f"sensor {moment}"]
            for way in ("automation", "sensor"):
                seconds = figures[f"{way} {moment}"]
                print(f"{size:>11} {f'{way}, {moment}':<24} {seconds:9.3f} {seconds / sensor:9.1f}")
    if len(results) > 1:
        small, big = min(results), max(results)
        for way in ("automation", "sensor"):
            ratio = results[big][f"{way} idle"] / results[small][f"{way} idle"]
            print(f"growth exponent, {way} idle: {math.log(ratio) / math.log(big / small):.2f}")


if __name__ == "__main__":
    main()
