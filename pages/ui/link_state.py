"""Keep the image and the pipeline in the address bar, so a link reproduces them."""

from __future__ import annotations

import json

import streamlit as st

from imgproc import PipelineError
from imgproc.pipeline import pipeline_from_json
from pages.ui.controls import apply_source_link, source_link
from pages.ui.pipeline_editor import compact_steps, replace_steps

__all__ = ["publish_link", "restore_link"]

SOURCE_FIELDS = ("src", "sample", "root", "dataset", "class", "file")
PIPELINE_FIELD = "pipeline"
_RESTORED = "_link_restored"


def restore_link(prefix: str) -> list[str]:
    """Read the link once per session; returns sentences about what failed.

    The pipeline in a link replaces the page's own steps, which then stay
    out of it until the user adds them again.
    """
    if st.session_state.get(_RESTORED):
        return []
    st.session_state[_RESTORED] = True
    problems = []
    fields = {
        key: st.query_params[key] for key in SOURCE_FIELDS if key in st.query_params
    }
    if fields:
        problem = apply_source_link(fields)
        if problem:
            problems.append(problem)
    text = st.query_params.get(PIPELINE_FIELD)
    if text:
        try:
            data = json.loads(text)
            if isinstance(data, list):
                data = {"version": 1, "steps": data}
            pipeline = pipeline_from_json(json.dumps(data), name="The link's pipeline")
        except (json.JSONDecodeError, PipelineError) as error:
            message = str(error) if isinstance(error, PipelineError) else error.msg
            problems.append(
                f"The pipeline in the link could not be read ({message}); the "
                "page starts with its own steps."
            )
        else:
            replace_steps(prefix, pipeline)
            st.session_state[f"{prefix}include_mask"] = False
            st.session_state[f"{prefix}include_normalize"] = False
    return problems


def publish_link(pipeline: dict | None) -> None:
    """Write the current image and pipeline into the query string."""
    wanted = dict(source_link() or {})
    if pipeline is not None:
        wanted[PIPELINE_FIELD] = compact_steps(pipeline)
    for key in SOURCE_FIELDS + (PIPELINE_FIELD,):
        value = wanted.get(key)
        if value and st.query_params.get(key) != value:
            st.query_params[key] = value
        elif not value and key in st.query_params:
            del st.query_params[key]
    if source_link() is None:
        st.caption(
            "An uploaded file stays in this browser tab, so the address bar keeps "
            "only the pipeline: a link opens it on the page's first sample."
        )
