"""The Contrast and normalisation section of the Preprocessing page."""

from __future__ import annotations

import numpy as np
import streamlit as st

from imgproc import OPS, PipelineError
from imgproc.display import clipped_fraction
from pages.ui.compute import clamp_state, fingerprint, run_steps
from pages.ui.visuals import histogram_chart, show_image

__all__ = ["WINDOW", "contrast_section"]

WINDOW = "window"
LABELS = {
    "scale": "Divide by the maximum",
    "minmax": "Min-max",
    "percentile": "Percentile",
    "zscore": "Z-score",
    "equalize": "Histogram equalisation",
    "clahe": "CLAHE (local equalisation)",
    WINDOW: "Window (centre and width)",
}
EXPLANATION = (
    "A network learns best when its inputs sit in a small, similar range, and "
    "an eye sees more when the interesting grey levels fill the screen. **Divide "
    "by the maximum** (255 for 8-bit) maps values onto 0-1 and keeps their "
    "relations. **Min-max** stretches this image's darkest pixel to 0 and its "
    "brightest to 1, so a single hot pixel can squash everything else. "
    "**Percentile** uses two percentiles as 0 and 1 instead, so a few outliers "
    "cannot compress the rest; values beyond them fall outside 0-1. **Z-score** "
    "subtracts the mean and divides by the standard deviation, so every image "
    "ends up centred on 0 with the same spread. **Histogram equalisation** "
    "spreads the grey levels so each is used about equally, which brings out "
    "faint detail; **CLAHE** does the same in small tiles and limits how much "
    "it may boost, so noise in flat areas stays quiet. A **window** (as in a "
    "DICOM viewer) shows only the values between centre - width/2 and centre + "
    "width/2 from black to white: a narrow window makes soft tissue or bone "
    "stand out in a 16-bit radiograph."
)


def _methods() -> list[str]:
    methods = list(OPS["normalize"].params["method"].choices)
    if WINDOW in OPS:
        methods.append(WINDOW)
    return methods


def _help(name: str) -> str | None:
    param = OPS["normalize"].params.get(name)
    return param.help if param is not None else None


def _method_settings(method: str, image: np.ndarray) -> dict:
    """Sliders for the settings of equalisation and CLAHE."""
    side = min(image.shape[:2])
    bins = st.slider(
        "Equalisation bins",
        2,
        1024,
        256,
        key="pp_bins",
        disabled=method != "equalize",
        help=_help("bins"),
    )
    clip_limit = st.slider(
        "CLAHE clip limit",
        0.0,
        0.2,
        0.01,
        0.005,
        format="%.3f",
        key="pp_clip_limit",
        disabled=method != "clahe",
        help=_help("clip_limit"),
    )
    clamp_state("pp_kernel", 0, max(side, 2))
    kernel = st.slider(
        "CLAHE tile (pixels; 0 = an eighth of the image)",
        0,
        max(side, 2),
        0,
        key="pp_kernel",
        disabled=method != "clahe",
        help=_help("kernel_size"),
    )
    if method == "equalize":
        return {"bins": bins}
    if method == "clahe":
        tile = max(kernel, 2) if kernel else None
        return {"clip_limit": clip_limit, "kernel_size": tile}
    return {}


def _window_range(image: np.ndarray) -> tuple[float, float, float]:
    low, high = float(image.min()), float(image.max())
    if high == low:
        high = low + 1
    if np.issubdtype(image.dtype, np.integer) or image.dtype == bool:
        return int(low), int(high), 1
    return low, high, round((high - low) / 1000, 6) or 1e-6


def _window_controls(image: np.ndarray, default_window) -> dict:
    """Centre, width and invert sliders in the image's own units."""
    low, high, step = _window_range(image)
    kind = type(step)
    span = kind(high - low)
    token = fingerprint(image)
    narrowest, widest = kind(1), max(kind(2 * span), kind(2))
    if st.session_state.get("pp_window_for") != token:
        centre, width = default_window or ((low + high) / 2, high - low + 1)
        st.session_state["pp_window_for"] = token
        st.session_state["pp_window_center"] = min(max(kind(centre), low), high)
        st.session_state["pp_window_width"] = min(max(kind(width), narrowest), widest)
    clamp_state("pp_window_center", low, high)
    clamp_state("pp_window_width", narrowest, widest)
    centre = st.slider("Window centre", low, high, step=step, key="pp_window_center")
    width = st.slider(
        "Window width", narrowest, widest, step=step, key="pp_window_width"
    )
    if high - low < 2:
        st.caption(
            "A window is at least 1 unit wide, and this picture's values span "
            "less than that; the percentile method suits it better."
        )
    invert = st.checkbox(
        "Invert (white = low values)",
        key="pp_window_invert",
        help="A MONOCHROME1 radiograph stores bone dark; inverting shows it white.",
    )
    return {"op": WINDOW, "center": centre, "width": width, "invert": invert}


def _clipped_sentence(image: np.ndarray, step: dict, result: np.ndarray) -> str:
    """How many pixels fall outside the displayed range, in one sentence."""
    if step["op"] == WINDOW:
        values = image if image.ndim == 2 else image.mean(axis=-1)
        lower = step["center"] - 0.5 - (step["width"] - 1) / 2
        upper = step["center"] - 0.5 + (step["width"] - 1) / 2
        below = int(np.count_nonzero(values <= lower))
        above = int(np.count_nonzero(values > upper))
        where = "at or below the window", "above it"
        if step["invert"]:
            where = where[0] + " (white)", where[1] + " (black)"
        else:
            where = where[0] + " (black)", where[1] + " (white)"
    else:
        below, above = clipped_fraction(result)
        where = "below 0 (shown black)", "above 1 (shown white)"
    total = result.size
    return (
        f"Clipped: {below:,} values ({below / total:.1%}) {where[0]} and "
        f"{above:,} ({above / total:.1%}) {where[1]}."
    )


def contrast_section(
    image: np.ndarray, default_window: tuple[float, float] | None = None
) -> dict | None:
    """Draw the section; returns the chosen step, or None when it cannot run.

    Parameters
    ----------
    image : ndarray
        The picture as loaded (for DICOM: the values after rescale).
    default_window : tuple of float, optional
        ``(centre, width)`` from the file's tags, used the first time a
        window is drawn for this image.
    """
    st.header("Contrast and normalisation")
    st.markdown(EXPLANATION)
    methods = _methods()
    columns = st.columns(3)
    with columns[0]:
        label = st.radio(
            "Method", [LABELS.get(m, m) for m in methods], key="pp_norm_method"
        )
    method = methods[[LABELS.get(m, m) for m in methods].index(label)]
    with columns[1]:
        if method == WINDOW:
            step = _window_controls(image, default_window)
        else:
            low = st.slider(
                "Low percentile",
                0.0,
                100.0,
                5.0,
                0.5,
                key="pp_percentile_low",
                disabled=method != "percentile",
            )
            high = st.slider(
                "High percentile",
                0.0,
                100.0,
                95.0,
                0.5,
                key="pp_percentile_high",
                disabled=method != "percentile",
            )
            step = {"op": "normalize", "method": method}
            if method == "percentile":
                step.update(low=low, high=high)
    with columns[2]:
        settings = _method_settings(method, image)
    step.update(settings)

    if method == "percentile" and step["low"] >= step["high"]:
        st.warning(
            f"The low percentile ({step['low']:g}) must be below the high "
            f"percentile ({step['high']:g}); move one of the sliders."
        )
        return None
    try:
        result = run_steps(image, [step])
    except PipelineError as error:
        st.warning(str(error))
        return None
    if method == "minmax" and image.min() == image.max():
        st.info(
            "Every pixel has the same value, so min-max normalisation gives an "
            "all-zero image instead of dividing by zero."
        )
    band = None
    if method == WINDOW:
        band = (step["center"] - step["width"] / 2, step["center"] + step["width"] / 2)
    columns = st.columns(2)
    with columns[0]:
        show_image(image, "Before")
        st.plotly_chart(
            histogram_chart(image, "Before: pixel values", band=band),
            key="pp_hist_before",
        )
    with columns[1]:
        show_image(result, "After")
        st.plotly_chart(
            histogram_chart(result, "After: normalised values"),
            key="pp_hist_after",
        )
    st.caption(
        f"After: minimum {result.min():.3f}, maximum {result.max():.3f}, "
        f"mean {result.mean():.3f}."
    )
    st.caption(_clipped_sentence(image, step, result))
    return step
