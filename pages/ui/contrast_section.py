"""The Contrast and normalisation section of the Preprocessing page."""

from __future__ import annotations

import math

import numpy as np
import streamlit as st

from imgproc import OPS, PipelineError
from imgproc.display import clipped_fraction
from pages.ui.compute import clamp_state, fingerprint, run_steps
from pages.ui.link_state import Control, set_unless_linked
from pages.ui.visuals import histogram_chart, show_image

__all__ = ["CONTROLS", "LABELS", "METHOD", "WINDOW", "contrast_section"]

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


METHOD = Control.choice(
    "pp_norm_method", [LABELS.get(m, m) for m in _methods()], words=_methods()
)
PERCENTILE_LOW = Control.number("pp_percentile_low", "float", 5.0, 0.0, 100.0, 0.5)
PERCENTILE_HIGH = Control.number("pp_percentile_high", "float", 95.0, 0.0, 100.0, 0.5)
BINS = Control.number("pp_bins", "int", 256, 2, 1024)
CLIP_LIMIT = Control.number("pp_clip_limit", "float", 0.01, 0.0, 0.2, 0.005)
KERNEL = Control.number("pp_kernel", "int", 0, 0)
WINDOW_PRESET = Control.text("pp_window_preset")
WINDOW_CENTER = Control.number("pp_window_center", "float")
WINDOW_WIDTH = Control.number("pp_window_width", "float", low=1.0)
WINDOW_INVERT = Control.switch("pp_window_invert")
CONTROLS = (
    METHOD,
    PERCENTILE_LOW,
    PERCENTILE_HIGH,
    BINS,
    CLIP_LIMIT,
    KERNEL,
    WINDOW_PRESET,
    WINDOW_CENTER,
    WINDOW_WIDTH,
    WINDOW_INVERT,
)
"""The section's widgets, as a link carries them. The window's centre and width
depend on the picture, so their range is checked where they are drawn."""


def _slider(label: str, control: Control, **options):
    """A slider whose bounds, start and step come from ``control``."""
    return st.slider(
        label,
        control.low,
        control.high,
        control.default,
        control.step,
        key=control.key,
        **options,
    )


def _help(name: str) -> str | None:
    param = OPS["normalize"].params.get(name)
    return param.help if param is not None else None


def _method_settings(method: str, image: np.ndarray) -> dict:
    """Sliders for the settings of equalisation and CLAHE."""
    side = min(image.shape[:2])
    bins = _slider(
        "Equalisation bins",
        BINS,
        disabled=method != "equalize",
        help=_help("bins"),
    )
    clip_limit = _slider(
        "CLAHE clip limit",
        CLIP_LIMIT,
        format="%.3f",
        disabled=method != "clahe",
        help=_help("clip_limit"),
    )
    clamp_state(KERNEL.key, KERNEL.low, max(side, 2))
    kernel = st.slider(
        "CLAHE tile (pixels; 0 = an eighth of the image)",
        KERNEL.low,
        max(side, 2),
        KERNEL.default,
        key=KERNEL.key,
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
    """Slider bounds and a step fine enough to hold a file's window exactly.

    DICOM windows are often half-integers (centre 2047.5) or decimals, so
    integer images step by 0.5 and float images by a power of ten at most a
    ten-thousandth of their span; the lower bound sits on that grid.
    """
    low, high = float(image.min()), float(image.max())
    if high == low:
        high = low + 1
    if np.issubdtype(image.dtype, np.integer) or image.dtype == bool:
        step = 0.5
    else:
        step = 10.0 ** math.floor(math.log10((high - low) / 10_000))
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _window_controls(image: np.ndarray, windows: list[tuple[float, float]]) -> dict:
    """Centre, width and invert sliders in the image's own units."""
    low, high, step = _window_range(image)
    span = high - low
    token = fingerprint(image)
    narrowest, widest = 1.0, max(2 * span, 2.0)
    if len(windows) > 1:
        labels = [f"centre {c:g}, width {w:g}" for c, w in windows]
        chosen = st.selectbox(
            "Window stored in the file",
            labels,
            key=WINDOW_PRESET.key,
            help="The file suggests several windows; pick one to start from.",
        )
        if st.session_state.get("pp_window_preset_for") != (token, chosen):
            st.session_state["pp_window_preset_for"] = (token, chosen)
            st.session_state["pp_window_for"] = None
            windows = [windows[labels.index(chosen)]]
    if st.session_state.get("pp_window_for") != token:
        centre, width = windows[0] if windows else ((low + high) / 2, span + 1)
        st.session_state["pp_window_for"] = token
        set_unless_linked(
            {
                WINDOW_CENTER.key: float(min(max(centre, low), high)),
                WINDOW_WIDTH.key: float(min(max(width, narrowest), widest)),
            }
        )
    clamp_state(WINDOW_CENTER.key, low, high)
    clamp_state(WINDOW_WIDTH.key, narrowest, widest)
    centre = st.slider(
        "Window centre", float(low), float(high), step=step, key=WINDOW_CENTER.key
    )
    width = st.slider(
        "Window width", narrowest, float(widest), step=step, key=WINDOW_WIDTH.key
    )
    if span < 2:
        st.caption(
            "A window is at least 1 unit wide, and this picture's values span "
            "less than that; the percentile method suits it better."
        )
    invert = st.checkbox(
        "Invert (white = low values)",
        key=WINDOW_INVERT.key,
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
    image: np.ndarray, windows: list[tuple[float, float]] | None = None
) -> dict | None:
    """Draw the section; returns the chosen step, or None when it cannot run.

    Parameters
    ----------
    image : ndarray
        The picture as loaded (for DICOM: the values after rescale).
    windows : list of (float, float), optional
        ``(centre, width)`` pairs from the file's tags; the first one is used
        the first time a window is drawn for this image, and the others are
        offered as presets.
    """
    st.header("Contrast and normalisation")
    st.markdown(EXPLANATION)
    columns = st.columns(3)
    with columns[0]:
        label = st.radio("Method", METHOD.options, key=METHOD.key)
    method = _methods()[METHOD.options.index(label)]
    with columns[1]:
        if method == WINDOW:
            step = _window_controls(image, windows or [])
        else:
            low = _slider(
                "Low percentile", PERCENTILE_LOW, disabled=method != "percentile"
            )
            high = _slider(
                "High percentile", PERCENTILE_HIGH, disabled=method != "percentile"
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
