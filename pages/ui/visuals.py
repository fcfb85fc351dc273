"""Rendering helpers: images, histograms and training curves on a page."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from pages.ui.compute import histogram_counts, preview_png, previews_png

__all__ = [
    "PREVIEW_SIDE",
    "ROW_WIDTH",
    "epoch_chart",
    "histogram_chart",
    "image_row",
    "show_image",
]

PREVIEW_SIDE = 512
"""Longest side, in pixels, of an image sent to the browser."""

ROW_WIDTH = 1280
"""Width, in pixels, that a row of previews shares on a wide screen."""


def _show_encoded(encoded: tuple[bytes, int], image: np.ndarray, caption: str) -> None:
    picture, clipped = encoded
    st.image(picture, caption=caption, width="stretch", output_format="PNG")
    if clipped:
        share = clipped / image.size
        st.caption(
            f"{clipped:,} values ({share:.1%}) lie outside 0-1 and are shown "
            "clipped to black or white."
        )


def show_image(image: np.ndarray, caption: str, *, max_side: int = PREVIEW_SIDE):
    """Show ``image`` scaled for the screen, and say when values were clipped.

    Parameters
    ----------
    image : ndarray
        Any array the pipeline produces (bool, integer or float).
    caption : str
        Text under the picture.
    max_side : int
        The picture is shrunk so that its longer side is at most this many
        pixels; the computation itself always runs at full resolution.
    """
    _show_encoded(preview_png(image, max_side), image, caption)


def image_row(
    images: list[tuple[str, np.ndarray | None]], *, max_side: int | None = None
):
    """Show several captioned images side by side in equal columns.

    Each picture is sent at about the size of its column, so a row of four
    costs the browser no more than one large picture. A ``None`` image
    leaves its column empty, to line rows up.
    """
    if max_side is None:
        max_side = min(PREVIEW_SIDE, ROW_WIDTH // max(len(images), 1))
    shown = [image for _, image in images if image is not None]
    encoded = iter(previews_png(shown, max_side))
    columns = st.columns(len(images))
    for column, (caption, image) in zip(columns, images, strict=True):
        if image is not None:
            with column:
                _show_encoded(next(encoded), image, caption)


def histogram_chart(
    image: np.ndarray,
    title: str,
    *,
    marker: float | None = None,
    band: tuple[float, float] | None = None,
    bins: int = 128,
) -> go.Figure:
    """A bar histogram of all pixel values.

    ``marker`` draws a dashed line at one value (a threshold); ``band``
    shades the range between two values (a display window).
    """
    counts, edges = histogram_counts(image, bins)
    centres = (edges[:-1] + edges[1:]) / 2
    figure = go.Figure(go.Bar(x=centres, y=counts, marker_line_width=0))
    figure.update_layout(
        title=title,
        height=240,
        margin=dict(l=10, r=10, t=40, b=10),
        bargap=0,
        xaxis_title="pixel value",
        yaxis_title="pixels",
    )
    if marker is not None:
        figure.add_vline(x=marker, line_color="red", line_dash="dash")
    if band is not None:
        figure.add_vrect(
            x0=band[0], x1=band[1], fillcolor="orange", opacity=0.2, line_width=0
        )
    return figure


def epoch_chart(
    epochs: list[dict], keys: list[str], title: str, *, y_range=None
) -> go.Figure:
    """Lines of per-epoch metrics (one trace per key) against the epoch number."""
    figure = go.Figure()
    for key in keys:
        points = [
            (row["epoch"], row[key]) for row in epochs if row.get(key) is not None
        ]
        if points:
            x, y = zip(*points, strict=True)
            figure.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=key))
    figure.update_layout(
        title=title,
        height=280,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis_title="epoch",
        legend=dict(orientation="h", y=-0.3),
    )
    if y_range is not None:
        figure.update_yaxes(range=y_range)
    return figure
