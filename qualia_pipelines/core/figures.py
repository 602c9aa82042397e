"""Plotly figures to Renderings: offline HTML and static PNG/SVG.

HTML links one shared local ``plotly.min.js`` (a companion file copied next to
the output from the installed plotly package) instead of inlining 4.8 MB into
every chart or pointing at a CDN. PNG/SVG go through kaleido, which drives a
local Chromium; ``static_export_session`` keeps one browser for a batch.

Figures start from ``new_figure``, without plotly's default template: plotly
deep-copies and re-validates a template for every figure that gets one (about
15 ms, most of a chart's cost). The rendering adds Qualia's template as
ready-made JSON instead, which looks the same.
"""

from __future__ import annotations

import contextlib
import shutil
import warnings
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from qualia_pipelines.core.contract import QualiaError, Rendering

PLOTLY_JS = "plotly.min.js"
TEMPLATE = "plotly_white"
_MEDIA_TYPES = {"html": "text/html", "png": "image/png", "svg": "image/svg+xml"}
RENDERING_EXTENSIONS = tuple(_MEDIA_TYPES)
"""The file formats Qualia draws charts, clouds and reports in."""
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class RendererUnavailableError(QualiaError):
    """PNG/SVG export needs kaleido and a Chromium browser, and one is missing."""


def plotly_js_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / PLOTLY_JS


def new_figure(data: Any = None) -> Any:
    """An empty-template plotly Figure: its traces and layout are validated, no template is copied."""
    import plotly.graph_objects as go

    return go.Figure(data, layout={"template": {}})


def figure_spec(figure: Any) -> dict[str, Any]:
    """The figure as plotly JSON with Qualia's template, ready to render without validating again."""
    spec = figure.to_plotly_json()
    spec["layout"]["template"] = _template_json()
    return spec


@lru_cache(maxsize=1)
def _template_json() -> dict[str, Any]:
    import plotly.io as pio

    return pio.templates[TEMPLATE].to_plotly_json()


def figure_fragment(figure: Any) -> str:
    """The figure as a ``<div>`` for a page that loads plotly.js itself (the report)."""
    import plotly.io as pio

    return pio.to_html(
        figure_spec(figure), full_html=False, include_plotlyjs=False, config={"displaylogo": False}, validate=False
    )


def figure_rendering(figure: Any, fmt: str, width: int, height: int) -> Rendering:
    """Render a plotly figure as ``html``, ``png`` or ``svg``."""
    if fmt == "html":
        import plotly.io as pio

        page = pio.to_html(
            figure_spec(figure),
            include_plotlyjs=PLOTLY_JS,
            full_html=True,
            default_width=f"{width}px",
            default_height=f"{height}px",
            config={"displaylogo": False, "responsive": True},
            validate=False,
        )
        return Rendering(page.encode("utf-8"), _MEDIA_TYPES["html"], "html", {PLOTLY_JS: plotly_js_path()})
    return Rendering(static_image(figure, fmt, width, height), _MEDIA_TYPES[fmt], fmt)


def static_image(figure: Any, fmt: str, width: int, height: int) -> bytes:
    import plotly.io as pio

    _require_renderer()
    try:
        with warnings.catch_warnings():  # plotly warns that a shared session ignores per-call options
            warnings.simplefilter("ignore", UserWarning)
            return pio.to_image(figure_spec(figure), format=fmt, width=width, height=height, validate=False)
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
