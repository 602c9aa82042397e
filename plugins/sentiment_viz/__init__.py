"""sentiment_viz: sentiment charts — gauge, timeline over meeting time, distribution, by speaker."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qualia_pipelines.core.contract import NothingToDrawError, Parameter, Plugin
from qualia_pipelines.core.figures import figure_rendering, new_figure
from qualia_pipelines.core.shapes import sentiment_record

SCHEMES = {
    "red_green": {"positive": "#2ca02c", "neutral": "#9e9e9e", "negative": "#d62728"},
    "colorblind": {"positive": "#0072b2", "neutral": "#999999", "negative": "#e69f00"},
    "mono": {"positive": "#08519c", "neutral": "#9ecae1", "negative": "#3f3f3f"},
}
LABELS = ("positive", "neutral", "negative")


def run(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    record = sentiment_record(inputs["sentiment"], "sentiment_viz")
    if record.get("available") is False:
        raise NothingToDrawError(f"sentiment_viz: {record.get('note') or 'no sentiment to chart'}")
    figure = sentiment_figure(record, params)
    return {"sentiment_chart": figure_rendering(figure, params["format"], params["width"], params["height"])}


def sentiment_figure(record: Mapping[str, Any], params: Mapping[str, Any]) -> Any:
    from plotly.subplots import make_subplots

    colours = SCHEMES[params["color_scheme"]]
    chart = params["chart_type"]
    if chart == "dashboard":
        figure = make_subplots(
            rows=2,
            cols=2,
            specs=[[{"type": "indicator"}, {"type": "xy"}], [{"type": "xy", "colspan": 2}, None]],
            subplot_titles=("Overall polarity", "Labels", "Polarity over the meeting"),
            figure=new_figure(),
        )
        figure.add_trace(gauge_trace(record, colours), row=1, col=1)
        figure.add_trace(distribution_trace(record, colours), row=1, col=2)
        for trace in timeline_traces(record, colours, params["show_examples"]):
            figure.add_trace(trace, row=2, col=1)
    else:
        builders = {
            "gauge": lambda: [gauge_trace(record, colours)],
            "timeline": lambda: timeline_traces(record, colours, params["show_examples"]),
            "distribution": lambda: [distribution_trace(record, colours)],
            "by_speaker": lambda: speaker_traces(record, colours),
        }
        figure = new_figure(builders[chart]())
        if chart == "by_speaker":
            figure.update_layout(barmode="stack", xaxis_title="utterances")
        if chart == "timeline":
            figure.update_layout(
                xaxis_title="meeting time (s) or utterance number", yaxis_title="polarity", yaxis_range=[-1.05, 1.05]
            )
    headline = f"{record['sentiment_label']} (polarity {record['polarity']:+.2f}, {record.get('engine', '')})"
    figure.update_layout(
        title=f"Sentiment: {headline}",
        width=params["width"],
        height=params["height"],
    )
    return figure


def gauge_trace(record: Mapping[str, Any], colours: Mapping[str, str]) -> Any:
    import plotly.graph_objects as go

    threshold = record.get("threshold", 0.1)
    return go.Indicator(
        mode="gauge+number",
        value=record["polarity"],
        number={"valueformat": "+.2f"},
        gauge={
            "axis": {"range": [-1, 1]},
            "bar": {"color": colours[record["sentiment_label"]]},
            "steps": [
                {"range": [-1, -threshold], "color": "#f3d6d6"},
                {"range": [-threshold, threshold], "color": "#eeeeee"},
                {"range": [threshold, 1], "color": "#d6f0d6"},
            ],
        },
    )


def distribution_trace(record: Mapping[str, Any], colours: Mapping[str, str]) -> Any:
    import plotly.graph_objects as go

    segments = record["segment_sentiments"]
    counts = [sum(1 for s in segments if s.get("label") == label) for label in LABELS]
    return go.Bar(
        x=list(LABELS),
        y=counts,
        marker_color=[colours[label] for label in LABELS],
        showlegend=False,
        hovertemplate="%{x}: %{y} utterances<extra></extra>",
    )


def timeline_traces(record: Mapping[str, Any], colours: Mapping[str, str], show_examples: bool) -> list[Any]:
    """Utterance polarity against meeting time (utterance order where times are missing)."""
    import plotly.graph_objects as go

    segments = record["segment_sentiments"]
    x = [s["start"] if s.get("start") is not None else index for index, s in enumerate(segments)]
    texts = [
        f"{s.get('speaker') or ''}: {s.get('text', '')[:140]}" if show_examples else (s.get("speaker") or "")
        for s in segments
    ]
    return [
        go.Scatter(
            x=x,
            y=[s["polarity"] for s in segments],
            mode="lines",
            line={"color": "#bbbbbb"},
            showlegend=False,
            hoverinfo="skip",
        ),
        go.Scatter(
            x=x,
            y=[s["polarity"] for s in segments],
            mode="markers",
            text=texts,
            showlegend=False,
            marker={"size": 9, "color": [colours.get(s.get("label"), "#999999") for s in segments]},
            hovertemplate="%{y:+.2f}<br>%{text}<extra></extra>",
        ),
    ]


def speaker_traces(record: Mapping[str, Any], colours: Mapping[str, str]) -> list[Any]:
    import plotly.graph_objects as go

    rows = record["by_speaker"]
    names = [f"{row['speaker']} ({row['polarity']:+.2f})" for row in rows]
    return [
        go.Bar(
            y=names,
            x=[row.get(label, 0) for row in rows],
            name=label,
            orientation="h",
            marker_color=colours[label],
            hovertemplate="%{y}: %{x} " + label + "<extra></extra>",
        )
        for label in LABELS
    ]


plugin = Plugin(
    id="sentiment_viz",
    kind="visualizer",
    version="1.0.0",
    description="Charts the sentiment: dashboard, gauge, timeline over the meeting, distribution, by speaker.",
    requires=("sentiment",),
    provides=("sentiment_chart",),
    run=run,
    parameters=(
        Parameter(
            "chart_type",
            "choice",
            "dashboard",
            "Kind of chart.",
            choices=("dashboard", "gauge", "timeline", "distribution", "by_speaker"),
        ),
        Parameter("color_scheme", "choice", "red_green", "Colours of the labels.", choices=tuple(SCHEMES)),
        Parameter("show_examples", "bool", True, "Show each utterance's text on hover in the timeline."),
        Parameter("width", "int", 1000, "Width in pixels.", minimum=200, maximum=8000),
        Parameter("height", "int", 650, "Height in pixels.", minimum=200, maximum=8000),
        Parameter("format", "choice", "html", "Output format (png/svg need Chromium).", choices=("html", "png", "svg")),
    ),
)
