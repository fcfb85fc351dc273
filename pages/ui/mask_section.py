"""The Threshold and Morphology sections of the Preprocessing page."""

from __future__ import annotations

import numpy as np
import streamlit as st

from imgproc import OPS, PipelineError
from pages.ui.compute import auto_threshold_value, clamp_state, run_many, run_steps
from pages.ui.link_state import Control
from pages.ui.visuals import histogram_chart, image_row

__all__ = ["CHANNEL_NAMES", "CONTROLS", "MORPHOLOGY", "mask_section"]

CHANNEL_NAMES = ["Red", "Green", "Blue"]
MORPHOLOGY = ["erosion", "dilation", "opening", "closing"]
TOPHATS = ["white_tophat", "black_tophat"]
TITLES = {
    "erosion": "Erosion",
    "dilation": "Dilation",
    "opening": "Opening",
    "closing": "Closing",
    "white_tophat": "White top-hat",
    "black_tophat": "Black top-hat",
}
METHOD_TITLES = {
    "manual": "Manual",
    "otsu": "Otsu",
    "li": "Li",
    "yen": "Yen",
    "triangle": "Triangle",
    "mean": "Mean",
}
MODES = ["The mask (binary)", "The grayscale picture"]
IMAGE_DTYPES = ("bool", "uint8", "uint16", "int16", "int32", "float32", "float64")
"""Every dtype a loaded picture can have; each keeps its own threshold slider."""


def _threshold_methods() -> list[str]:
    """The threshold methods the pipeline knows, manual first."""
    param = OPS["threshold"].params.get("method")
    return list(param.choices) if param is not None else ["manual"]


def _value_range(array: np.ndarray) -> tuple[float, float, float]:
    """Slider bounds and step in the image's own units."""
    if array.dtype == bool:
        return 0, 1, 1
    if array.dtype == np.uint8:
        return 0, 255, 1
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        return low, max(high, low + 1), 1
    low, high = float(min(0.0, array.min())), float(max(1.0, array.max()))
    return low, high, round((high - low) / 200, 4) or 0.01


def _middle(low, high):
    """The threshold slider's starting value: half its maximum, in its type."""
    return min(max(type(high)(high / 2), low), high)


def _threshold_key(dtype) -> str:
    """Each dtype has its own slider, so a 16-bit value never lands on 8 bits."""
    return f"pp_threshold_{dtype}"


def _threshold_control(dtype: str) -> Control:
    """The threshold slider for pictures of ``dtype``.

    Only booleans and 8-bit pictures have a range known before the picture is
    loaded; the others are clamped to the picture's values where drawn.
    """
    kind = "float" if np.dtype(dtype).kind == "f" else "int"
    key = _threshold_key(dtype)
    if dtype in ("bool", "uint8"):
        low, high, _ = _value_range(np.zeros(1, dtype=dtype))
        return Control.number(key, kind, _middle(low, high), low, high)
    return Control.number(key, kind)


SOURCE = Control.choice(
    "pp_threshold_source",
    ["Luminance", *CHANNEL_NAMES],
    words=["luminance", *(name.lower() for name in CHANNEL_NAMES)],
)
METHOD = Control.choice("pp_threshold_method", _threshold_methods())
TRY_ALL = Control.switch("pp_try_all")
MODE = Control.choice("pp_morph_mode", MODES, words=["mask", "gray"])
RADIUS = Control.number("pp_radius", "int", 3, 0, 50)
FOOTPRINT = Control.choice("pp_footprint", ["disk", "square", "diamond"])
OPERATION = Control.choice("pp_morphology", ["none", *MORPHOLOGY, *TOPHATS])
CONTROLS = (
    SOURCE,
    METHOD,
    *(_threshold_control(dtype) for dtype in IMAGE_DTYPES),
    TRY_ALL,
    MODE,
    RADIUS,
    FOOTPRINT,
    OPERATION,
)
"""The widgets of both sections, as a link carries them."""


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _threshold_controls(image: np.ndarray, is_colour: bool) -> dict:
    """Widgets of the threshold section; returns what they chose."""
    source_options = SOURCE.options if is_colour else SOURCE.options[:1]
    source = st.selectbox("Threshold on", source_options, key=SOURCE.key)
    source_steps = (
        [{"op": "grayscale"}]
        if source == "Luminance"
        else [{"op": "channel", "index": CHANNEL_NAMES.index(source)}]
    )
    method = st.selectbox(
        "Method",
        METHOD.options,
        format_func=lambda name: METHOD_TITLES.get(name, name),
        key=METHOD.key,
        help="Manual uses the slider; the others read the histogram and pick "
        "the cut-off themselves.",
    )
    low, high, step = _value_range(image)
    threshold_key = _threshold_key(image.dtype)
    clamp_state(threshold_key, low, high)
    value = st.slider(
        "Threshold value",
        min_value=low,
        max_value=high,
        value=_middle(low, high),
        step=step,
        key=threshold_key,
        disabled=method != "manual",
        help="Pixels strictly above this value become 1.",
    )
    return {
        "source": source,
        "source_steps": source_steps,
        "method": method,
        "value": value,
    }


def _threshold_step(method: str, value: float) -> dict:
    step = {"op": "threshold", "value": value}
    if "method" in OPS["threshold"].params:
        step["method"] = method
    return step


def _gallery(channel_image: np.ndarray, source: str) -> None:
    """Every automatic method side by side, each with the value it picked."""
    pictures = []
    for method in _threshold_methods():
        if method == "manual":
            continue
        found = auto_threshold_value(channel_image, method)
        title = METHOD_TITLES.get(method, method)
        if found is None:
            caption = f"{title}: no cut-off (one intensity only)"
        else:
            caption = f"{title}: {source} > {found:.4g}"
        mask = run_steps(channel_image, [_threshold_step(method, 0)])
        pictures.append((caption, mask))
    if pictures:
        image_row(pictures)


def _threshold(image: np.ndarray, is_colour: bool) -> tuple[list[dict], np.ndarray]:
    """Draw the threshold section; returns its steps and the channel image."""
    st.header("Threshold")
    st.markdown(
        "Thresholding turns a picture into a mask: every pixel strictly brighter "
        "than a cut-off becomes 1 (white), every other pixel 0 (black). It picks "
        "out bright structures, such as bone on an X-ray or a flower against dark "
        "leaves, and is the usual first step before measuring shapes. The "
        "automatic methods read the histogram: **Otsu** splits it where the two "
        "groups are most distinct, **Li** and **Yen** use information measures, "
        "**Triangle** suits one large peak with a long tail, and **Mean** takes "
        "the average brightness."
    )
    columns = st.columns([1, 2])
    with columns[0]:
        chosen = _threshold_controls(image, is_colour)
    source, method = chosen["source"], chosen["method"]
    channel_image = run_steps(image, chosen["source_steps"])
    value = chosen["value"]
    title = METHOD_TITLES.get(method, method)
    flat = False
    if method != "manual":
        found = auto_threshold_value(channel_image, method)
        flat = found is None
        value = found if found is not None else value
    step = _threshold_step(method, chosen["value"])
    mask = run_steps(channel_image, [step])
    with columns[0]:
        if flat:
            st.info(
                f"Every pixel of the {source.lower()} has the same value, so "
                f"{title} has nothing to separate: the mask is all background."
            )
        elif method != "manual":
            st.caption(f"{title} picks the threshold {value:.4g} for this image.")
        try_all = st.toggle("Try all automatic methods", key=TRY_ALL.key)
    chart_slot = columns[1].empty()
    cut = "(none)" if flat else _number(value)
    mask_title = f"Mask: {source} > {cut}"
    if method != "manual":
        mask_title += f" ({title})"
    image_row([(f"{source}", channel_image), (mask_title, mask)])
    st.caption(
        f"{int(mask.sum()):,} of {mask.size:,} pixels ({mask.mean():.1%}) are 1."
    )
    with chart_slot:
        st.plotly_chart(
            histogram_chart(
                channel_image, f"{source} histogram", marker=None if flat else value
            ),
            key="pp_threshold_hist",
        )
    if try_all:
        _gallery(channel_image, source)
    return chosen["source_steps"] + [step], channel_image


def _morphology(mask: np.ndarray, channel_image: np.ndarray) -> tuple[str, dict | None]:
    """Draw the morphology section; returns its mode and chosen step."""
    st.header("Morphology")
    st.markdown(
        "Morphology slides a small shape, the footprint, over the picture. "
        "**Erosion** keeps the darkest value under it, so bright regions shrink "
        "and thin bridges break; **dilation** keeps the brightest, so regions "
        "grow and small holes fill. **Opening** (erosion then dilation) removes "
        "bright specks smaller than the footprint; **closing** (dilation then "
        "erosion) fills dark gaps smaller than it. The **white top-hat** keeps "
        "only the small bright details that opening removed, the **black "
        "top-hat** the small dark ones that closing filled: handy for spots on "
        "an uneven background."
    )
    columns = st.columns(4)
    with columns[0]:
        mode = st.radio("Work on", MODE.options, key=MODE.key)
    with columns[1]:
        radius = st.slider(
            "Footprint radius (pixels)",
            RADIUS.low,
            RADIUS.high,
            RADIUS.default,
            key=RADIUS.key,
        )
    with columns[2]:
        footprint = st.selectbox("Footprint", FOOTPRINT.options, key=FOOTPRINT.key)
    with columns[3]:
        chosen = st.selectbox(
            "Operation for the pipeline",
            OPERATION.options,
            format_func=lambda name: TITLES.get(name, "none"),
            key=OPERATION.key,
        )
    binary = mode == MODES[0]
    target = mask if binary else channel_image
    if target.ndim != 2:
        st.info("Morphology needs one channel; choose a channel above.")
        return mode, None
    settings = {"radius": radius, "footprint": footprint}
    names = MORPHOLOGY + TOPHATS
    results = run_many(target, [[{"op": name, **settings}] for name in names])
    pairs = zip(names, results, strict=True)
    pictures = [(TITLES[name], result) for name, result in pairs]
    image_row(pictures[:4])
    image_row(pictures[4:] + [("", None), ("", None)])
    if chosen == "none":
        return mode, None
    return mode, {"op": chosen, **settings}


def mask_section(image: np.ndarray) -> list[tuple[str, dict]]:
    """Draw Threshold and Morphology; returns their steps for the pipeline.

    The steps come back as ``(name, step)`` pairs in pipeline order: the
    channel choice, the threshold, and the chosen morphology, which works
    on the mask (after the threshold) or on the grayscale picture (before
    it).
    """
    is_colour = image.ndim == 3
    try:
        steps, channel_image = _threshold(image, is_colour)
    except PipelineError as error:
        st.warning(str(error))
        return []
    mask = run_steps(channel_image, steps[-1:])
    mode, morphology_step = _morphology(mask, channel_image)
    named = [("source", steps[0]), ("threshold", steps[1])]
    if morphology_step is None:
        return named
    if mode == MODES[0]:
        return named + [("morphology", morphology_step)]
    return [named[0], ("morphology_gray", morphology_step), named[1]]
