"""Cached calls into ``imgproc`` so that reruns only redo what changed."""

from __future__ import annotations

import json

import numpy as np
import streamlit as st

from imgproc import apply_pipeline, make_pipeline

__all__ = ["clamp_state", "run_steps"]


@st.cache_data(show_spinner=False, max_entries=48)
def _run(image: np.ndarray, steps_json: str) -> np.ndarray:
    return apply_pipeline(image, make_pipeline(json.loads(steps_json)))


def run_steps(image: np.ndarray, steps: list[dict]) -> np.ndarray:
    """Apply pipeline ``steps`` to ``image``, reusing a result already computed.

    Raises
    ------
    imgproc.PipelineError
        When a step cannot run on this image; its message is a sentence for
        the user.
    """
    return _run(image, json.dumps(steps, sort_keys=True))


def clamp_state(key: str, low, high) -> None:
    """Pull a remembered slider value back inside ``[low, high]``.

    A slider whose range depends on the image (shift in pixels, threshold in
    the image's own units) may hold a value from a previous, larger image.
    """
    if key not in st.session_state:
        return
    value = st.session_state[key]
    if isinstance(value, tuple):
        st.session_state[key] = tuple(min(max(v, low), high) for v in value)
    else:
        st.session_state[key] = min(max(value, low), high)
