"""Augmentation: flips, rotation, zoom, shift, shear and brightness, live."""

import numpy as np
import streamlit as st

from imgproc import PipelineError, make_pipeline, pipeline_to_json
from imgproc.augment import sample_augmentation
from pages.ui.compute import clamp_state, run_steps
from pages.ui.controls import image_source
from pages.ui.session import enter_through_app
from pages.ui.visuals import image_row, show_image

GRID_SIZE = 8
GRID_SIDE = 256

enter_through_app()
st.title("Augmentation")
st.markdown(
    "Augmentation shows the network a slightly different version of each training "
    "image every epoch, so it learns what a daisy or an effusion looks like rather "
    "than memorising exact pixels. Each change should be one that could happen to "
    "a real picture of the same class: a flower photographed upside down is still "
    "a flower, while a chest X-ray flipped left-right puts the heart on the wrong "
    "side."
)

loaded = image_source()
if loaded is None:
    st.info("Pick an image in the sidebar to start.")
    st.stop()
image, label = loaded
height, width = image.shape[:2]
# The Training page turns the shift sliders into a share of this picture's side.
st.session_state["aug_image_size"] = (height, width)

controls, preview = st.columns([1, 2])
with controls:
    st.subheader("Flips")
    st.caption(
        "A flip mirrors the picture. Left-right flips suit most photographs; "
        "up-down flips suit images with no natural 'up', such as cells or "
        "satellite views."
    )
    flip_horizontal = st.checkbox("Flip left-right", key="aug_flip_h")
    flip_vertical = st.checkbox("Flip up-down", key="aug_flip_v")

    st.subheader("Geometry")
    st.caption(
        "All four turn about the image centre. Rotation turns the picture "
        "counter-clockwise; zoom above 1 enlarges the content (2 shows everything "
        "twice as large); shift moves the content right and down; shear slants it "
        "sideways, as a camera seen at an angle would. Corners that come from "
        "outside the picture are filled as chosen below."
    )
    rotation = st.slider("Rotation (degrees)", -180, 180, 0, key="aug_rotation")
    zoom = st.slider("Zoom (x)", 0.25, 4.0, 1.0, 0.05, key="aug_zoom")
    clamp_state("aug_shift_x", -width, width)
    clamp_state("aug_shift_y", -height, height)
    shift_x = st.slider("Shift right (pixels)", -width, width, 0, key="aug_shift_x")
    shift_y = st.slider("Shift down (pixels)", -height, height, 0, key="aug_shift_y")
    shear = st.slider("Shear (degrees)", -45, 45, 0, key="aug_shear")
    fill = st.selectbox(
        "Fill outside the picture",
        ["constant", "reflect", "edge", "wrap"],
        key="aug_fill",
        help="constant: black; reflect: mirror the picture; edge: repeat the "
        "border pixels; wrap: tile the picture.",
    )

    st.subheader("Brightness")
    st.caption(
        "Brightness multiplies every value: 1.2 is 20% brighter, 0.8 20% darker. "
        "It teaches the network to ignore exposure and lighting."
    )
    brightness = st.slider("Brightness (x)", 0.0, 3.0, 1.0, 0.05, key="aug_brightness")

steps = []
if flip_horizontal or flip_vertical:
    steps.append(
        {"op": "flip", "horizontal": flip_horizontal, "vertical": flip_vertical}
    )
if (rotation, zoom, shift_x, shift_y, shear) != (0, 1.0, 0, 0, 0):
    steps.append(
        {
            "op": "affine",
            "rotation": rotation,
            "scale": zoom,
            "translate_x": shift_x,
            "translate_y": shift_y,
            "shear": shear,
            "fill": fill,
        }
    )
if brightness != 1.0:
    steps.append({"op": "brightness", "factor": brightness})

with preview:
    try:
        augmented = run_steps(image, steps)
    except PipelineError as error:
        st.warning(str(error))
        augmented = None
    if augmented is not None:
        image_row([(label, image), ("Augmented", augmented)])
    st.subheader("Pipeline")
    pipeline = make_pipeline(steps)
    st.code(pipeline_to_json(pipeline), language="json")
    st.download_button(
        "Download pipeline.json",
        pipeline_to_json(pipeline),
        file_name="augmentation.json",
        mime="application/json",
        key="btn_aug_download",
    )


# -- Random draws -----------------------------------------------------------
st.header("Random augmentations")
st.markdown(
    "During training every image gets its own random draw inside the ranges set "
    "above: a rotation between minus and plus the angle, a zoom between 1/zoom and "
    "zoom, shifts and shear up to the values set, brightness within the same "
    "distance from 1, and each enabled flip half of the time. Here are a few "
    "draws, computed on a copy shrunk to the preview size."
)
ranges = {
    "flip_horizontal": flip_horizontal,
    "flip_vertical": flip_vertical,
    "rotation": abs(rotation),
    "zoom": max(zoom, 1 / zoom),
    "shift_x": abs(shift_x),
    "shift_y": abs(shift_y),
    "shear": abs(shear),
    "brightness": abs(brightness - 1.0),
}
if st.button("New random draws", key="btn_new_draws"):
    st.session_state["aug_seed"] = st.session_state.get("aug_seed", 0) + 1
seed = st.session_state.get("aug_seed", 0)

shrink = min(1.0, GRID_SIDE / max(height, width))
small = run_steps(
    image,
    [
        {
            "op": "resize",
            "height": round(height * shrink),
            "width": round(width * shrink),
        }
    ],
)
rng = np.random.default_rng(seed)
draws = []
for _ in range(GRID_SIZE):
    draw_steps = sample_augmentation(ranges, rng)
    for step in draw_steps:
        if step["op"] == "affine":
            step["translate_x"] *= shrink
            step["translate_y"] *= shrink
            step["fill"] = fill
    draws.append(draw_steps)


def _describe(draw_steps: list[dict]) -> str:
    """A short caption naming what one random draw did."""
    parts = []
    for step in draw_steps:
        if step["op"] == "flip":
            parts += ["flip LR"] * step["horizontal"] + ["flip UD"] * step["vertical"]
        elif step["op"] == "affine":
            parts.append(f"rot {step['rotation']:+.0f}°, zoom {step['scale']:.2f}")
            parts.append(
                f"shift {step['translate_x'] / shrink:+.0f},"
                f"{step['translate_y'] / shrink:+.0f} px"
            )
            parts.append(f"shear {step['shear']:+.0f}°")
        elif step["op"] == "brightness":
            parts.append(f"brightness {step['factor']:.2f}")
    return "; ".join(parts) or "unchanged"


try:
    results = [run_steps(small, draw_steps) for draw_steps in draws]
except PipelineError as error:
    st.warning(str(error))
else:
    columns = st.columns(4)
    for number, (result, draw_steps) in enumerate(zip(results, draws, strict=True)):
        with columns[number % 4]:
            show_image(result, _describe(draw_steps), max_side=GRID_SIDE)
