"""Practice: the lesson's exercises, built step by step and checked."""

from __future__ import annotations

import numpy as np
import streamlit as st

from imgproc import PipelineError
from imgproc.practice import EXERCISES, check_exercise
from pages.ui.compute import run_steps
from pages.ui.link_state import Control, publish_exercise
from pages.ui.pipeline_editor import pipeline_editor
from pages.ui.session import forget_state
from pages.ui.visuals import image_row

__all__ = ["CONTROLS", "EXERCISE_PREFIXES", "practice_section"]

PRACTICE_OPS = ["flip", "affine", "normalize", "brightness", "resize", "center_crop"]
CONTROLS = tuple(Control.switch(f"pp_ex_open_{exercise.id}") for exercise in EXERCISES)
"""Whether each exercise is open; a link carries it in its view."""
EXERCISE_PREFIXES = {
    exercise.id: (f"pp_ex_{exercise.id}_", exercise.title) for exercise in EXERCISES
}
"""Each exercise's session prefix and title, for the link's ``ex_`` fields."""


def _start_over(prefix: str) -> None:
    st.session_state[f"{prefix}pipeline_entries"] = []
    forget_state(f"{prefix}verdict")


def _exercise(exercise, image: np.ndarray, label: str) -> None:
    prefix = f"pp_ex_{exercise.id}_"
    st.markdown(exercise.instruction)
    st.caption(
        "Start from an empty pipeline on the picture in the sidebar, add the "
        "steps with the list below, set them, then press Check."
    )
    pipeline = pipeline_editor(prefix, ops=PRACTICE_OPS, show_io=False)
    columns = st.columns([1, 1, 4])
    with columns[0]:
        check = st.button(
            "Check", key=f"btn_{prefix}check", type="primary", disabled=not pipeline
        )
    with columns[1]:
        st.button(
            "Start over", key=f"btn_{prefix}reset", on_click=_start_over, args=(prefix,)
        )
    if pipeline is None:
        return
    publish_exercise(exercise.id, pipeline)
    if st.session_state.pop(f"{prefix}check_on_load", False) and pipeline["steps"]:
        check = True
    if check:
        right, sentence = check_exercise(exercise.id, pipeline, image)
        st.session_state[f"{prefix}verdict"] = (right, sentence, pipeline)
    verdict = st.session_state.get(f"{prefix}verdict")
    checked = verdict is not None and verdict[2] == pipeline
    if checked:
        (st.success if verdict[0] else st.warning)(verdict[1])
    try:
        result = run_steps(image, pipeline["steps"])
    except PipelineError as error:
        # A verdict for these steps already says that they cannot run.
        if not checked:
            st.warning(str(error))
        return
    image_row([(f"Start: {label}", image), ("Your result", result), ("", None)])


def practice_section(image: np.ndarray, label: str) -> None:
    """One expander per exercise, each with its own small pipeline editor."""
    st.header("Practice")
    st.markdown(
        "Three small tasks from the lesson. Each has its own pipeline: build "
        "it here and the page tells you whether the picture comes out the way "
        "the task asks. Any steps that give the same picture count as right."
    )
    for exercise in EXERCISES:
        box = st.expander(
            exercise.title, key=f"pp_ex_open_{exercise.id}", on_change="rerun"
        )
        if box.open:
            with box:
                _exercise(exercise, image, label)
