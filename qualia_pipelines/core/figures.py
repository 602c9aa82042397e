"""Plotly figures to Renderings: offline HTML and static PNG/SVG.

HTML links one shared local ``plotly.min.js`` (a companion file copied next to
the output from the installed plotly package) instead of inlining 4.8 MB into
every chart or pointing at a CDN. PNG/SVG go through kaleido, which drives a
local Chromium; ``static_export_session`` keeps one browser for a batch.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from qualia_pipelines.core.contract import QualiaError, Rendering

PLOTLY_JS = "plotly.min.js"
_MEDIA_TYPES = {"html": "text/html", "png": "image/png", "svg": "image/svg+xml"}
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class RendererUnavailableError(QualiaError):
    """PNG/SVG export needs kaleido and a Chromium browser, and one is missing."""


def plotly_js_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / PLOTLY_JS


def figure_rendering(figure: Any, fmt: str, width: int, height: int) -> Rendering:
    """Render a plotly figure as ``html``, ``png`` or ``svg``."""
    if fmt == "html":
        page = figure.to_html(
            include_plotlyjs=PLOTLY_JS,
            full_html=True,
            default_width=f"{width}px",
            default_height=f"{height}px",
            config={"displaylogo": False, "responsive": True},
        )
        return Rendering(page.encode("utf-8"), _MEDIA_TYPES["html"], "html", {PLOTLY_JS: plotly_js_path()})
    return Rendering(static_image(figure, fmt, width, height), _MEDIA_TYPES[fmt], fmt)


def static_image(figure: Any, fmt: str, width: int, height: int) -> bytes:
    _require_renderer()
    try:
        with warnings.catch_warnings():  # plotly warns that a shared session ignores per-call options
            warnings.simplefilter("ignore", UserWarning)
            return figure.to_image(format=fmt, width=width, height=height)
    except Exception as exc:  # kaleido/choreographer errors have no common base class
        raise RendererUnavailableError(
            f"could not render {fmt.upper()} with kaleido/Chromium ({type(exc).__name__}: {exc}); "
            "use format=html, or check that Debian's 'chromium' package is installed"
        ) from exc


def _require_renderer() -> None:
    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise RendererUnavailableError(
            "PNG/SVG charts need kaleido: pip install 'kaleido>=1' (or use format=html)"
        ) from None
    if not any(shutil.which(name) for name in _CHROMIUM_NAMES):
        raise RendererUnavailableError(
            "PNG/SVG charts need a Chromium browser for kaleido and none was found: "
            "install it (Debian/Ubuntu: apt-get install chromium) or use format=html"
        )


@contextlib.contextmanager
def static_export_session() -> Iterator[None]:
    """Keep one Chromium running for every PNG/SVG rendered inside the block.

    Without it kaleido starts a browser per figure (~3.5 s each). Where no
    renderer exists this does nothing, and rendering raises its usual error.
    """
    try:
        _require_renderer()
        import kaleido

        kaleido.start_sync_server(silence_warnings=True)
    except Exception:  # no renderer: rendering itself will say what is missing
        yield
        return
    try:
        yield
    finally:
        kaleido.stop_sync_server(silence_warnings=True)
