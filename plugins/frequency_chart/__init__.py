"""frequency_chart: the most frequent words as an interactive Plotly chart."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qualia_pipelines.core.contract import NothingToDrawError, Parameter, Plugin
from qualia_pipelines.core.figures import figure_rendering, new_figure
from qualia_pipelines.core.shapes import word_counts

CHART_TYPES = ("bar", "horizontal_bar", "line", "area", "pie", "treemap", "sunburst")
COLOR_SCHEMES = ("viridis", "plasma", "blues", "greens", "teal", "plotly", "pastel", "bold")


def run(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    counts = word_counts(inputs["word_frequencies"], "frequency_chart")
    top = sorted(((w, c) for w, c in counts.items() if c > 0), key=lambda item: (-item[1], item[0]))[
        : params["max_items"]
    ]
    if not top:
        raise NothingToDrawError("frequency_chart: no words to chart (every word was a stop word or too short)")
    figure = frequency_figure(top, params)
    return {"frequency_chart": figure_rendering(figure, params["format"], params["width"], params["height"])}


def palette(scheme: str, size: int) -> list[str]:
    from plotly import colors

    qualitative = {
        "plotly": colors.qualitative.Plotly,
        "pastel": colors.qualitative.Pastel,
        "bold": colors.qualitative.Bold,
    }
    if scheme in qualitative:
        base = qualitative[scheme]
        return [base[i % len(base)] for i in range(size)]
    scale = colors.get_colorscale(scheme)
    points = [0.9 - 0.7 * i / max(size - 1, 1) for i in range(size)]  # darkest for the most frequent
    return colors.sample_colorscale(scale, points)


def frequency_figure(top: list[tuple[str, float]], params: Mapping[str, Any]) -> Any:
    import plotly.graph_objects as go

    words = [word for word, _ in top]
    values = [count for _, count in top]
    colours = palette(params["color_scheme"], len(top))
    chart = params["chart_type"]
    hover = "%{label}: %{value}<extra></extra>"
    if chart == "bar":
        trace = go.Bar(x=words, y=values, marker_color=colours, hovertemplate="%{x}: %{y}<extra></extra>")
    elif chart == "horizontal_bar":
        trace = go.Bar(
            x=values[::-1],
            y=words[::-1],
            orientation="h",
            marker_color=colours[::-1],
            hovertemplate="%{y}: %{x}<extra></extra>",
        )
    elif chart in ("line", "area"):
        trace = go.Scatter(
            x=words,
            y=values,
            mode="lines+markers",
            fill="tozeroy" if chart == "area" else None,
            line_color=colours[0],
            hovertemplate="%{x}: %{y}<extra></extra>",
        )
    elif chart == "pie":
        trace = go.Pie(labels=words, values=values, marker_colors=colours, hovertemplate=hover, sort=False)
    else:
        root = f"top {len(top)} words"
        kind = go.Treemap if chart == "treemap" else go.Sunburst
        trace = kind(
            labels=[root, *words],
            parents=["", *[root] * len(words)],
            values=[sum(values), *values],
            branchvalues="total",
            marker_colors=["#ffffff", *colours],
            hovertemplate=hover,
        )
    figure = new_figure(trace)
    figure.update_layout(
        title=params["title"] or f"Most frequent words (top {len(top)})",
        width=params["width"],
        height=params["height"],
        margin={"l": 60, "r": 30, "t": 60, "b": 60},
    )
    if chart in ("bar", "line", "area"):
        figure.update_layout(xaxis_title="word", yaxis_title="count")
    elif chart == "horizontal_bar":
        figure.update_layout(xaxis_title="count", yaxis_title="word")
    return figure


plugin = Plugin(
    id="frequency_chart",
    kind="visualizer",
    version="1.0.0",
    description="Charts the most frequent words (bar, line, pie, treemap, ...) as offline HTML, PNG or SVG.",
    requires=("word_frequencies",),
    provides=("frequency_chart",),
    run=run,
    parameters=(
        Parameter("chart_type", "choice", "bar", "Kind of chart.", choices=CHART_TYPES),
        Parameter("max_items", "int", 20, "How many words to show.", minimum=1, maximum=500),
        Parameter("title", "str", "", "Chart title (empty: a default title)."),
        Parameter("width", "int", 900, "Width in pixels.", minimum=200, maximum=8000),
        Parameter("height", "int", 500, "Height in pixels.", minimum=200, maximum=8000),
        Parameter("color_scheme", "choice", "viridis", "Colours.", choices=COLOR_SCHEMES),
        Parameter("format", "choice", "html", "Output format (png/svg need Chromium).", choices=("html", "png", "svg")),
    ),
)
