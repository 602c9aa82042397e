"""wordcloud_viz: a word cloud as PNG, SVG or a self-contained HTML page.

The layout is seeded, so the same frequencies always give the same picture.
The HTML variant is an inline SVG in which every word carries a tooltip with
its count; it needs no script and no network.
"""

from __future__ import annotations

import html
import io
import math
from collections.abc import Mapping
from typing import Any

from qualia_pipelines.core.contract import NothingToDrawError, Parameter, ParameterError, Plugin, Rendering
from qualia_pipelines.core.shapes import word_counts

_SEED = 42
MAX_PIXELS = 16_000_000
"""The largest image a request may ask for (width x height), e.g. 4000 x 4000 or 8000 x 2000."""
LAYOUT_PIXELS = 1_000_000
"""The canvas words are placed on, at most: placing costs about pixels x words (2,000 words on 1 MP: ~7 s
on 2 cores; on 64 MP it did not end), so a larger image is laid out on a smaller canvas and drawn scaled."""


def run(inputs: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    counts = {
        word: count for word, count in word_counts(inputs["word_frequencies"], "wordcloud_viz").items() if count > 0
    }
    if not counts:
        raise NothingToDrawError("wordcloud_viz: no words to draw (every word was a stop word or too short)")
    cloud = laid_out_cloud(counts, params)
    fmt = params["format"]
    if fmt == "png":
        buffer = io.BytesIO()
        palette_png(full_size(cloud.to_image(), params)).save(buffer, format="PNG", optimize=True)
        return {"wordcloud": Rendering(buffer.getvalue(), "image/png", "png")}
    svg = cloud_svg(cloud, counts, params)
    if fmt == "svg":
        return {"wordcloud": Rendering(svg.encode("utf-8"), "image/svg+xml", "svg")}
    return {"wordcloud": Rendering(cloud_page(svg, len(cloud.layout_)).encode("utf-8"), "text/html", "html")}


def laid_out_cloud(counts: dict[str, float], params: Mapping[str, Any]) -> Any:
    from matplotlib import colormaps
    from wordcloud import WordCloud

    if params["colormap"] not in colormaps:
        raise ParameterError(
            f"plugin 'wordcloud_viz': parameter 'colormap': {params['colormap']!r} is not a matplotlib colormap "
            "(for example viridis, plasma, inferno, magma, cividis, Blues)"
        )
    width, height = params["width"], params["height"]
    if width * height > MAX_PIXELS:
        raise ParameterError(
            f"plugin 'wordcloud_viz': parameters 'width' x 'height': {width} x {height} = {width * height:,} pixels, "
            f"over the budget of {MAX_PIXELS:,}"
        )
    scale = layout_scale(width, height)
    transparent = params["background_color"] == "transparent"
    cloud = WordCloud(
        width=width // scale,
        height=height // scale,
        scale=scale,
        max_words=params["max_words"],
        background_color=None if transparent else params["background_color"],
        mode="RGBA" if transparent else "RGB",
        colormap=params["colormap"],
        relative_scaling=params["relative_scaling"],
        random_state=_SEED,
        collocations=False,
    )
    return cloud.generate_from_frequencies(counts)


def layout_scale(width: int, height: int) -> int:
    """How many times smaller than the image the layout canvas is, to keep it within LAYOUT_PIXELS."""
    return max(1, math.ceil(math.sqrt(width * height / LAYOUT_PIXELS)))


def palette_png(image: Any) -> Any:
    """The image in 256 colours: a cloud is flat colours and their anti-aliased edges, which look the same,
    and its PNG takes a third of the bytes (165 KB against 56 KB at 800 x 400)."""
    from PIL import Image

    return image.quantize(256, method=Image.Quantize.FASTOCTREE)


def full_size(image: Any, params: Mapping[str, Any]) -> Any:
    """The image at exactly the size asked for: a scaled layout can fall a few pixels short of it."""
    size = (params["width"], params["height"])
    if image.size == size:
        return image
    from PIL import Image

    canvas = Image.new(image.mode, size, (0, 0, 0, 0) if image.mode == "RGBA" else params["background_color"])
    canvas.paste(image, (0, 0))
    return canvas


def cloud_svg(cloud: Any, counts: dict[str, float], params: Mapping[str, Any]) -> str:
    """SVG with one <text> per word and a <title> tooltip giving its count."""
    width, height = params["width"], params["height"]
    scale = cloud.scale
    background = params["background_color"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="DejaVu Sans, Arial, sans-serif" role="img" aria-label="word cloud">'
    ]
    if background != "transparent":
        parts.append(f'<rect width="100%" height="100%" fill="{background}"/>')
    for (word, _weight), layout_size, (layout_y, layout_x), orientation, color in cloud.layout_:
        font_size, y, x = layout_size * scale, layout_y * scale, layout_x * scale
        count = counts.get(word, 0)
        label = html.escape(word)
        shown = int(count) if float(count).is_integer() else round(count, 3)
        if orientation is None:
            placement = f'x="{x}" y="{y + font_size * 0.85:.1f}"'
        else:
            placement = f'transform="translate({x + font_size * 0.85:.1f},{y}) rotate(90)"'
        parts.append(
            f'<text {placement} font-size="{font_size}" fill="{color}" class="word">'
            f"<title>{label}: {shown}</title>{label}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def cloud_page(svg: str, words: int) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Word cloud ({words} words)</title>"
        "<style>body{margin:0;display:flex;justify-content:center}"
        ".word{cursor:default}.word:hover{opacity:.6}</style>"
        f"</head><body>{svg}</body></html>\n"
    )


plugin = Plugin(
    id="wordcloud_viz",
    kind="visualizer",
    version="1.2.0",
    description="Draws the word frequencies as a word cloud (PNG, SVG or offline HTML with counts on hover).",
    requires=("word_frequencies",),
    provides=("wordcloud",),
    run=run,
    parameters=(
        Parameter("max_words", "int", 100, "Most words to draw.", minimum=1, maximum=2000),
        Parameter(
            "width", "int", 800, "Width in pixels (width x height at most 16,000,000).", minimum=100, maximum=8000
        ),
        Parameter(
            "height", "int", 400, "Height in pixels (width x height at most 16,000,000).", minimum=100, maximum=8000
        ),
        Parameter("background_color", "choice", "white", "Background.", choices=("white", "black", "transparent")),
        Parameter("colormap", "str", "viridis", "Any matplotlib colormap name (viridis, plasma, Blues, ...)."),
        Parameter("format", "choice", "png", "Output format.", choices=("png", "svg", "html")),
        Parameter(
            "relative_scaling",
            "float",
            0.5,
            "How much font size follows frequency (0 = rank only).",
            minimum=0.0,
            maximum=1.0,
        ),
    ),
)
