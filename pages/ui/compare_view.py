"""Compare the original and the processed picture: side by side, split, pixels."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from imgproc import to_display
from pages.ui.compute import clamp_state
from pages.ui.link_state import Control
from pages.ui.visuals import PREVIEW_SIDE, image_row

__all__ = ["CONTROLS", "compare_view"]

VIEWS = ["Side by side", "Split slider", "Pixels (hover for values)"]
CROP_SIDES = [32, 64, 128]

VIEW = Control.choice("pp_compare_view", VIEWS, words=["side", "split", "pixels"])
SPLIT = Control.number("pp_split_position", "int", 50, 0, 100)
CROP_SIDE = Control.choice("pp_zoom_side", CROP_SIDES, default=64)
CENTRE_X = Control.number("pp_zoom_x", "int", low=0)
CENTRE_Y = Control.number("pp_zoom_y", "int", low=0)
CONTROLS = (VIEW, SPLIT, CROP_SIDE, CENTRE_X, CENTRE_Y)
"""The comparison's widgets, as a link carries them; the pixel window's centre
depends on the picture's size, so it is clamped where it is drawn."""


def _as_rgb(picture: np.ndarray) -> np.ndarray:
    return np.repeat(picture[..., None], 3, axis=-1) if picture.ndim == 2 else picture


def _split(original: np.ndarray, processed: np.ndarray) -> None:
    if original.shape[:2] != processed.shape[:2]:
        st.info(
            "The pipeline changes the picture's size, so the two cannot be split "
            "on one canvas; use the side-by-side view."
        )
        return
    position = st.slider(
        "Split position (% from the left)",
        SPLIT.low,
        SPLIT.high,
        SPLIT.default,
        key=SPLIT.key,
    )
    left, _ = to_display(original, max_side=PREVIEW_SIDE)
    right, _ = to_display(processed, max_side=PREVIEW_SIDE)
    left, right = _as_rgb(left), _as_rgb(right)
    column = round(left.shape[1] * position / 100)
    composed = np.concatenate([left[:, :column], right[:, column:]], axis=1)
    if 0 < column < composed.shape[1]:
        composed[:, column - 1 : column + 1] = (255, 64, 64)
    st.image(
        composed,
        caption=f"Left of the red line: original; right: processed ({position}%).",
        width="stretch",
    )


def _pixel_chart(values: np.ndarray, title: str, top: int, left: int) -> go.Figure:
    """A heatmap whose hover shows the stored value of each pixel."""
    rows = np.arange(top, top + values.shape[0])
    columns = np.arange(left, left + values.shape[1])
    if values.ndim == 3:
        picture, _ = to_display(values)
        trace = go.Image(z=picture, x0=left, y0=top, hoverinfo="x+y+z")
    else:
        shown = values.astype(np.float64)
        if values.dtype == bool:
            zmin, zmax = 0.0, 1.0
        elif np.issubdtype(values.dtype, np.floating):
            zmin, zmax = 0.0, 1.0
        elif values.dtype == np.uint8:
            zmin, zmax = 0.0, 255.0
        elif values.dtype == np.uint16:
            zmin, zmax = 0.0, 65535.0
        else:
            zmin, zmax = float(shown.min()), float(shown.max())
        trace = go.Heatmap(
            z=shown,
            x=columns,
            y=rows,
            colorscale="gray",
            zmin=zmin,
            zmax=zmax,
            showscale=False,
            hovertemplate="x %{x}, y %{y}: value %{z}<extra></extra>",
        )
    figure = go.Figure(trace)
    figure.update_layout(title=title, height=420, margin=dict(l=10, r=10, t=40, b=10))
    figure.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    return figure


def _pixels(original: np.ndarray, processed: np.ndarray) -> None:
    height, width = original.shape[:2]
    columns = st.columns(3)
    with columns[0]:
        side = st.select_slider(
            "Window side (pixels)",
            CROP_SIDE.options,
            value=CROP_SIDE.default,
            key=CROP_SIDE.key,
        )
    clamp_state(CENTRE_X.key, 0, width - 1)
    clamp_state(CENTRE_Y.key, 0, height - 1)
    with columns[1]:
        centre_x = st.slider("Centre x", 0, width - 1, width // 2, key=CENTRE_X.key)
    with columns[2]:
        centre_y = st.slider("Centre y", 0, height - 1, height // 2, key=CENTRE_Y.key)
    top = min(max(centre_y - side // 2, 0), max(height - side, 0))
    left = min(max(centre_x - side // 2, 0), max(width - side, 0))
    window = (slice(top, top + side), slice(left, left + side))
    charts = st.columns(2)
    with charts[0]:
        st.plotly_chart(
            _pixel_chart(original[window], "Original values", top, left),
            key="pp_zoom_original",
        )
    with charts[1]:
        if processed.shape[:2] == original.shape[:2]:
            st.plotly_chart(
                _pixel_chart(processed[window], "Processed values", top, left),
                key="pp_zoom_processed",
            )
        else:
            st.info("The pipeline changes the picture's size; no pixel-by-pixel view.")
    st.caption(
        "Each square is one pixel at full resolution; hover to read its stored "
        "value, drag to zoom further, double-click to zoom out."
    )


def compare_view(original: np.ndarray, processed: np.ndarray, label: str) -> None:
    """Draw the comparison chosen with a radio button."""
    st.subheader("Compare")
    st.markdown(
        "Put the picture before and after the pipeline next to each other, "
        "slide a line across to see one turn into the other, or look at a small "
        "window pixel by pixel, where the hover shows the value the computer "
        "actually stores rather than the grey the screen shows."
    )
    view = st.radio("View", VIEW.options, key=VIEW.key, horizontal=True)
    if view == VIEWS[0]:
        image_row([(f"Original: {label}", original), ("Processed", processed)])
    elif view == VIEWS[1]:
        _split(original, processed)
    else:
        _pixels(original, processed)
