"""Preprocessing: channels, threshold, morphology and normalisation, all live."""

import numpy as np
import streamlit as st

from imgproc import PipelineError, make_pipeline, pipeline_to_json
from pages.compute import clamp_state, run_steps
from pages.controls import image_source
from pages.visuals import histogram_chart, image_row, show_image

MORPHOLOGY = ["erosion", "dilation", "opening", "closing"]
CHANNEL_NAMES = ["Red", "Green", "Blue"]

st.title("Preprocessing")

loaded = image_source()
if loaded is None:
    st.info("Pick an image in the sidebar to start.")
    st.stop()
image, label = loaded
is_colour = image.ndim == 3
height, width = image.shape[:2]
st.caption(
    f"**{label}**: {width} x {height} pixels, "
    f"{'3 colour channels' if is_colour else 'one channel'}, {image.dtype}, "
    f"values {image.min()} to {image.max()}."
)


def _value_range(array: np.ndarray) -> tuple[float, float, float]:
    """Slider bounds and step in the image's own units."""
    if array.dtype == bool:
        return 0, 1, 1
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        return int(max(info.min, array.min())), int(info.max), 1
    return 0.0, 1.0, 0.01


# -- Channels ---------------------------------------------------------------
st.header("Channels")
st.markdown(
    "A colour photograph is three pictures stacked: how much red, green and blue "
    "light each pixel holds. Looking at them one by one shows where the contrast "
    "lives; the grayscale (luminance) view weighs green most because the eye is "
    "most sensitive to it. An X-ray has a single channel already."
)
if is_colour:
    gray = run_steps(image, [{"op": "grayscale"}])
    image_row(
        [(name, image[..., index]) for index, name in enumerate(CHANNEL_NAMES)]
        + [("Grayscale (luminance)", gray)]
    )
else:
    image_row([("The single channel", image)])

# -- Threshold --------------------------------------------------------------
st.header("Threshold")
st.markdown(
    "Thresholding turns a picture into a mask: every pixel strictly brighter "
    "than the value becomes 1 (white), every other pixel 0 (black). It separates "
    "bright structures, such as bone on an X-ray or a flower against dark leaves, "
    "from the rest, and is the usual first step before measuring shapes."
)
source_options = ["Luminance"] + (CHANNEL_NAMES if is_colour else [])
columns = st.columns([1, 2])
with columns[0]:
    source = st.selectbox("Threshold on", source_options, key="pp_threshold_source")
    source_steps = (
        [{"op": "grayscale"}]
        if source == "Luminance"
        else [{"op": "channel", "index": CHANNEL_NAMES.index(source)}]
    )
    low, high, step = _value_range(image)
    threshold_key = f"pp_threshold_{image.dtype}"
    clamp_state(threshold_key, low, high)
    value = st.slider(
        "Threshold value",
        min_value=low,
        max_value=high,
        value=min(max(type(high)(high / 2), low), high),
        step=step,
        key=threshold_key,
        help="Pixels strictly above this value become 1.",
    )
mask_steps = source_steps + [{"op": "threshold", "value": value}]
channel_image = run_steps(image, source_steps)
mask = run_steps(image, mask_steps)
with columns[1]:
    st.plotly_chart(
        histogram_chart(channel_image, f"{source} histogram", marker=value),
        key="pp_threshold_hist",
    )
image_row([(f"{source}", channel_image), (f"Mask: {source} > {value}", mask)])
st.caption(f"{int(mask.sum()):,} of {mask.size:,} pixels ({mask.mean():.1%}) are 1.")

# -- Morphology -------------------------------------------------------------
st.header("Morphology")
st.markdown(
    "Morphology slides a small shape, here a disk, over the mask. **Erosion** keeps "
    "a pixel only if the whole disk around it is white, so bright regions shrink "
    "and thin bridges break. **Dilation** whitens every pixel the disk touches, "
    "so regions grow and small holes fill. **Opening** (erosion then dilation) "
    "removes bright specks smaller than the disk and keeps larger shapes; "
    "**closing** (dilation then erosion) fills dark gaps and holes smaller than "
    "the disk."
)
columns = st.columns(3)
with columns[0]:
    radius = st.slider("Disk radius (pixels)", 0, 50, 3, key="pp_radius")
with columns[1]:
    footprint = st.selectbox("Shape", ["disk", "square", "diamond"], key="pp_footprint")
with columns[2]:
    chosen_morphology = st.selectbox(
        "Operation for the pipeline", ["none"] + MORPHOLOGY, key="pp_morphology"
    )
morphed = {
    name: run_steps(mask, [{"op": name, "radius": radius, "footprint": footprint}])
    for name in MORPHOLOGY
}
image_row([(name.capitalize(), morphed[name]) for name in MORPHOLOGY])
if chosen_morphology != "none":
    mask_steps = mask_steps + [
        {"op": chosen_morphology, "radius": radius, "footprint": footprint}
    ]

# -- Normalisation ----------------------------------------------------------
st.header("Normalisation")
st.markdown(
    "A network learns best when its inputs sit in a small, similar range. "
    "**Divide by the maximum** (255 for 8-bit) maps values onto 0-1 and keeps "
    "their relations. **Min-max** stretches this image's darkest pixel to 0 and "
    "its brightest to 1, so a single hot pixel can squash everything else. "
    "**Percentile** uses the low and high percentiles as 0 and 1 instead, so a "
    "few outliers cannot compress the rest; values beyond them fall outside 0-1."
)
columns = st.columns(3)
with columns[0]:
    method_label = st.radio(
        "Method",
        ["Divide by the maximum", "Min-max", "Percentile"],
        key="pp_norm_method",
    )
method = {
    "Divide by the maximum": "scale",
    "Min-max": "minmax",
    "Percentile": "percentile",
}[method_label]
with columns[1]:
    percentile_low = st.slider(
        "Low percentile",
        0.0,
        100.0,
        5.0,
        0.5,
        key="pp_percentile_low",
        disabled=method != "percentile",
    )
with columns[2]:
    percentile_high = st.slider(
        "High percentile",
        0.0,
        100.0,
        95.0,
        0.5,
        key="pp_percentile_high",
        disabled=method != "percentile",
    )
normalize_step = {"op": "normalize", "method": method}
if method == "percentile":
    normalize_step.update(low=percentile_low, high=percentile_high)

normalized = None
if method == "percentile" and percentile_low >= percentile_high:
    st.warning(
        f"The low percentile ({percentile_low:g}) must be below the high "
        f"percentile ({percentile_high:g}); move one of the sliders."
    )
else:
    try:
        normalized = run_steps(image, [normalize_step])
    except PipelineError as error:
        st.warning(str(error))
if normalized is not None:
    if method == "minmax" and image.min() == image.max():
        st.info(
            "Every pixel has the same value, so min-max normalisation gives an "
            "all-zero image instead of dividing by zero."
        )
    columns = st.columns(2)
    with columns[0]:
        show_image(image, "Before")
        st.plotly_chart(
            histogram_chart(image, "Before: pixel values"), key="pp_hist_before"
        )
    with columns[1]:
        show_image(normalized, "After")
        st.plotly_chart(
            histogram_chart(normalized, "After: normalised values"),
            key="pp_hist_after",
        )
    st.caption(
        f"After: minimum {normalized.min():.3f}, maximum {normalized.max():.3f}, "
        f"mean {normalized.mean():.3f}."
    )

# -- Pipeline ---------------------------------------------------------------
st.header("Pipeline")
st.markdown(
    "The steps below are what this page applies, written as data. Download them "
    "and run the same steps on a folder of images with `python -m imgproc`, or "
    "use them for training."
)
columns = st.columns(2)
with columns[0]:
    include_mask = st.toggle(
        "Include the mask steps (channel, threshold, morphology)",
        value=False,
        key="pp_include_mask",
    )
with columns[1]:
    include_normalize = st.toggle(
        "Include the normalisation step",
        value=True,
        key="pp_include_normalize",
        disabled=normalized is None,
    )
steps = (mask_steps if include_mask else []) + (
    [normalize_step] if include_normalize and normalized is not None else []
)
pipeline = make_pipeline(steps)
columns = st.columns([1, 1])
with columns[0]:
    st.code(pipeline_to_json(pipeline), language="json")
    st.download_button(
        "Download pipeline.json",
        pipeline_to_json(pipeline),
        file_name="pipeline.json",
        mime="application/json",
        key="btn_pp_download",
    )
with columns[1]:
    try:
        show_image(run_steps(image, steps), "The pipeline's output")
    except PipelineError as error:
        st.warning(str(error))
