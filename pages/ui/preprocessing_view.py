"""The body of the Preprocessing page, drawn below its title.

Each section is a fragment: moving one of its sliders reruns that section
only. A section whose steps are in the pipeline asks for a full rerun, so
the pipeline's output always shows what the pipeline computes. Every
fragment writes the page's controls into the address bar when it ends.
"""

import functools
import logging
import time

import streamlit as st

from imgproc import OPS, ImageLoadError, PipelineError, pipeline_to_json
from imgproc.codegen import pipeline_to_python
from imgproc.dicom import dicom_pipeline_steps
from pages.ui import compare_view as compare
from pages.ui import contrast_section as contrast
from pages.ui import mask_section as mask
from pages.ui import practice_section as practice
from pages.ui.compute import run_steps
from pages.ui.controls import current_dicom, image_source, report_unexpected
from pages.ui.link_state import (
    Control,
    publish_link,
    publish_view,
    restore_link,
    set_unless_linked,
)
from pages.ui.pipeline_editor import pipeline_editor, sync_live_steps
from pages.ui.visuals import image_row

logger = logging.getLogger(__name__)

PREFIX = "pp_"
LIVE_MASK = "_pp_live_mask"
LIVE_CONTRAST = "_pp_live_contrast"
FULL_RUN = "_pp_full_run"
NEEDS_FULL_RUN = "_pp_needs_full_run"
HIDDEN_TAG_WORDS = ("patient", "physician", "operator", "institution", "birth")
SECTION_OF = {
    "source": "Threshold section",
    "threshold": "Threshold section",
    "morphology": "Morphology section",
    "morphology_gray": "Morphology section",
    "contrast": "Contrast section",
}
INCLUDE_MASK = "pp_include_mask"
INCLUDE_CONTRAST = "pp_include_normalize"
LIVE_SWITCHES = {
    "source": INCLUDE_MASK,
    "threshold": INCLUDE_MASK,
    "morphology": INCLUDE_MASK,
    "morphology_gray": INCLUDE_MASK,
    "contrast": INCLUDE_CONTRAST,
}
"""For each step a section keeps in the pipeline, the toggle that includes it."""
CONTROLS = (
    mask.CONTROLS
    + contrast.CONTROLS
    + compare.CONTROLS
    + practice.CONTROLS
    + (Control.choice(f"{PREFIX}new_op", list(OPS)),)
)
"""Every control whose position a link carries. The steps of the pipeline and
of each practice exercise travel in their own fields."""


def _guarded(section):
    """Run a fragment's body; a failure becomes a sentence, not a traceback.

    A fragment rerun happens outside the page-wide guard in ``app.py``.
    Afterwards the controls go into the address bar, so the link follows
    every slider without another rerun.
    """

    @functools.wraps(section)
    def run(*args):
        started = time.perf_counter()
        try:
            section(*args)
        except Exception as error:
            report_unexpected(error, "Preprocessing")
        publish_view(PREFIX, CONTROLS)
        logger.debug(
            "%s took %.0f ms", section.__name__, 1000 * (time.perf_counter() - started)
        )

    return run


def _ask_full_run_if(key: str, steps, included: bool) -> None:
    """Store a section's steps; rerun everything if the pipeline uses them."""
    changed = key in st.session_state and st.session_state[key] != steps
    st.session_state[key] = steps
    if changed and included and not st.session_state.get(FULL_RUN):
        st.rerun(scope="app")


@st.fragment
@_guarded
def _mask_fragment(image):
    steps = mask.mask_section(image)
    _ask_full_run_if(LIVE_MASK, steps, st.session_state.get(INCLUDE_MASK, False))


@st.fragment
@_guarded
def _contrast_fragment(image, windows):
    step = contrast.contrast_section(image, windows)
    included = st.session_state.get(INCLUDE_CONTRAST, True)
    _ask_full_run_if(LIVE_CONTRAST, step, included)


def _forget_live(entry_id: str) -> None:
    """A live step was removed in the editor: stop offering it."""
    if entry_id in ("source", "threshold"):
        st.session_state[INCLUDE_MASK] = False
    elif entry_id.startswith("morphology"):
        st.session_state[mask.OPERATION.key] = "none"
        st.session_state[LIVE_MASK] = [
            pair for pair in st.session_state.get(LIVE_MASK, []) if pair[0] != entry_id
        ]
        st.session_state[NEEDS_FULL_RUN] = True
    else:
        st.session_state[INCLUDE_CONTRAST] = False


def _keep_imported() -> None:
    st.session_state[INCLUDE_MASK] = False
    st.session_state[INCLUDE_CONTRAST] = False


def _code_view(pipeline: dict) -> None:
    tabs = st.tabs(["JSON", "Python"])
    with tabs[0]:
        st.code(pipeline_to_json(pipeline), language="json")
    with tabs[1]:
        st.caption(
            "Runnable Python with NumPy and scikit-image that computes exactly "
            "the pipeline's output: paste it into a notebook and call "
            "`preprocess(image)`."
        )
        st.code(pipeline_to_python(pipeline), language="python")


@st.fragment
@_guarded
def _pipeline_fragment(image, label):
    if st.session_state.pop(NEEDS_FULL_RUN, False):
        st.rerun(scope="app")
    st.header("Pipeline")
    st.markdown(
        "The pipeline is the list of steps below, applied in order to the "
        "picture. Steps from the sections above follow their sliders; switch a "
        "step off to see what it contributes, move it to change the order, or "
        "add one from the list. Download the steps as JSON to run them on a "
        "folder with `python -m imgproc` or use them for training, and copy the "
        "address bar to share exactly this view."
    )
    columns = st.columns(2)
    with columns[0]:
        include_mask = st.toggle(
            "Include the mask steps (channel, threshold, morphology)",
            value=False,
            key=INCLUDE_MASK,
        )
    with columns[1]:
        include_normalize = st.toggle(
            "Include the contrast step", value=True, key=INCLUDE_CONTRAST
        )
    live = list(st.session_state.get(LIVE_MASK, [])) if include_mask else []
    contrast = st.session_state.get(LIVE_CONTRAST)
    if include_normalize and contrast is not None:
        live.append(("contrast", contrast))
    sync_live_steps(PREFIX, live)
    pipeline = pipeline_editor(
        PREFIX,
        on_remove_live=_forget_live,
        on_import=_keep_imported,
        live_note=lambda entry_id: f"set in the {SECTION_OF[entry_id]}",
    )
    publish_link(pipeline)
    if pipeline is None:
        return
    _code_view(pipeline)
    try:
        output = run_steps(image, pipeline["steps"])
    except PipelineError as error:
        st.warning(str(error))
        return
    compare.compare_view(image, output, label)


@st.fragment
@_guarded
def _practice_fragment(image, label):
    practice.practice_section(image, label)


def render() -> None:
    """Draw everything below the title; reruns redo only what changed."""
    st.session_state[FULL_RUN] = True
    for problem in restore_link(
        PREFIX, CONTROLS, LIVE_SWITCHES, practice.EXERCISE_PREFIXES
    ):
        st.warning(problem)

    loaded = image_source()
    if loaded is None:
        st.info("Pick an image in the sidebar to start.")
        st.stop()
    image, label = loaded

    try:
        dicom = current_dicom()
    except ImageLoadError as error:
        st.warning(str(error))
        dicom = None
    windows = []
    if dicom is not None and dicom.values.ndim == 2:
        image = dicom.values
        (shown,) = dicom_pipeline_steps(dicom)
        windows = list(dicom.windows) or [(shown["center"], shown["width"])]
        if st.session_state.get("_pp_dicom_for") != label:
            st.session_state["_pp_dicom_for"] = label
            set_unless_linked(
                {
                    contrast.METHOD.key: contrast.LABELS[contrast.WINDOW],
                    contrast.WINDOW_INVERT.key: bool(shown["invert"]),
                }
            )

    is_colour = image.ndim == 3
    height, width = image.shape[:2]
    st.caption(
        f"**{label}**: {width} x {height} pixels, "
        f"{'3 colour channels' if is_colour else 'one channel'}, {image.dtype}, "
        f"values {image.min()} to {image.max()}."
    )

    if dicom is not None:
        with st.expander("DICOM file", expanded=True):
            st.markdown(
                "A DICOM file stores raw detector values plus how to show them. The "
                "rescale slope and intercept have been applied, "
                + (
                    "the file is MONOCHROME1 (low values mean white), so the window "
                    "starts inverted, "
                    if dicom.monochrome1
                    else ""
                )
                + "and the window below starts at the centre and width stored in the "
                "file. Identifying details about the patient are never shown."
            )
            rows = [
                {"Tag": name, "Value": str(value)}
                for name, value in dicom.tags.items()
                if not any(word in name.lower() for word in HIDDEN_TAG_WORDS)
            ]
            st.dataframe(rows, hide_index=True, key="pp_dicom_tags")
            if not dicom.windows and "WindowWidth" in dicom.tags:
                st.caption(
                    f"The file's window (width {dicom.tags['WindowWidth']}) is not "
                    "usable, since a width must be at least 1, so the window starts "
                    "at the full range of values."
                )

    # -- Channels -----------------------------------------------------------
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
            [(name, image[..., index]) for index, name in enumerate(mask.CHANNEL_NAMES)]
            + [("Grayscale (luminance)", gray)]
        )
    else:
        image_row([("The single channel", image), ("", None), ("", None)])

    _mask_fragment(image)
    _contrast_fragment(image, windows)
    _pipeline_fragment(image, label)
    _practice_fragment(image, label)
    st.session_state[FULL_RUN] = False
