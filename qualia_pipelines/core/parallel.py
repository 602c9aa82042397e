"""Batch processing across worker processes, one engine per process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from qualia_pipelines.core.batch import FileReport, process_file
from qualia_pipelines.core.engine import Engine, ParamsByPlugin
from qualia_pipelines.core.figures import static_export_session

_engine: Engine | None = None


def run_batch(
    files: Sequence[Path],
    plugin_ids: Sequence[str],
    params: ParamsByPlugin,
    outputs: Path,
    settings_file: Path | None,
    workers: int,
    on_done: Callable[[FileReport], None] | None = None,
) -> list[FileReport]:
    """Process ``files``; reports come back in input order whatever order they finish in."""
    if workers <= 1 or len(files) <= 1:
        _start_worker(settings_file)
        reports = []
        with static_export_session():
            for file in files:
                reports.append(_process(file, plugin_ids, params, outputs))
                if on_done:
                    on_done(reports[-1])
        return reports
    by_path: dict[str, FileReport] = {}
    with ProcessPoolExecutor(max_workers=workers, initializer=_start_worker, initargs=(settings_file,)) as pool:
        futures = [pool.submit(_process, file, plugin_ids, params, outputs) for file in files]
        for future in as_completed(futures):
            report = future.result()
            by_path[report.path] = report
            if on_done:
                on_done(report)
    return [by_path[str(file)] for file in files]


def _start_worker(settings_file: Path | None) -> None:
    global _engine  # one engine per worker process: plugins, lexicons and cache handles load once
    from qualia_pipelines.core.cache import ResultCache
    from qualia_pipelines.core.registry import discover
    from qualia_pipelines.core.settings import load_settings

    settings = load_settings(settings_file)
    cache = ResultCache(settings.cache_path) if settings.cache else None
    _engine = Engine(
        discover(settings.plugin_dirs), cache=cache, max_bytes=settings.max_bytes, defaults=settings.parameters
    )


def _process(file: Path, plugin_ids: Sequence[str], params: ParamsByPlugin, outputs: Path) -> FileReport:
    assert _engine is not None, "worker not initialised"
    return process_file(_engine, file, plugin_ids, params, outputs)
