"""Widget builders shared by the pages: where the image and the data come from."""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import numpy as np
import streamlit as st

from imgproc import ImageLoadError, load_image
from imgproc.io import IMAGE_EXTENSIONS, SAMPLES, load_sample
from training.data import (
    BUILTIN_NAME,
    DatasetError,
    builtin_dataset,
    default_data_root,
    find_datasets,
    scan_dataset,
)

__all__ = [
    "KEPT_PREFIXES",
    "MAX_UPLOAD_MB",
    "data_root",
    "dataset_choices",
    "image_source",
    "keep_widget_state",
    "report_unexpected",
]

logger = logging.getLogger(__name__)

UNEXPECTED = "Something unexpected went wrong"
"""Start of the sentence shown when a page fails in a way no check foresaw."""

KEPT_PREFIXES = ("src_", "pp_", "aug_", "tr_")
"""Widget keys with these prefixes keep their values when the user changes page."""

MAX_UPLOAD_MB = 200
"""Matches ``server.maxUploadSize`` in ``.streamlit/config.toml``."""


def keep_widget_state() -> None:
    """Keep widget values alive while their page is not shown.

    Streamlit forgets the value of a widget that is not drawn in a run, so
    moving to another page and back would reset every slider. Writing each
    value back to session state at the start of a run keeps it.
    """
    for key in list(st.session_state.keys()):
        if isinstance(key, str) and key.startswith(KEPT_PREFIXES):
            st.session_state[key] = st.session_state[key]


def report_unexpected(error: Exception, where: str) -> None:
    """Log ``error`` with its traceback and show the user one sentence instead."""
    logger.exception("Unexpected error on %s", where)
    st.error(
        f"{UNEXPECTED} on the {where} page ({type(error).__name__}: {error}). "
        "Your settings are kept: change a setting or reload the page, and see the "
        "server log for details."
    )


def data_root() -> Path:
    """The folder searched for datasets, set in the sidebar."""
    default = str(default_data_root())
    text = st.sidebar.text_input(
        "Data folder",
        value=default,
        key="src_data_root",
        help="A folder whose sub-folders are datasets, each with one sub-folder "
        "per class (for example data/flowers/daisy and data/flowers/rose). "
        "The CNN_LAB_DATA environment variable sets the default.",
    )
    return Path(os.path.expanduser(text.strip() or default))


@st.cache_data(show_spinner=False)
def _builtin_path() -> str:
    return str(builtin_dataset())


def dataset_choices(root: Path) -> dict[str, Path]:
    """The bundled set first, then every dataset found under ``root``."""
    choices = {BUILTIN_NAME: Path(_builtin_path())}
    choices.update(find_datasets(root))
    return choices


@st.cache_data(show_spinner=False, max_entries=16)
def _load_path(path: str, modified: float) -> np.ndarray:
    return load_image(path)


@st.cache_data(show_spinner=False, max_entries=4)
def _load_bytes(data: bytes, name: str) -> np.ndarray:
    return load_image(data, name=name)


@st.cache_data(show_spinner=False)
def _load_sample(name: str) -> np.ndarray:
    return load_sample(name)


def _sample_source() -> tuple[np.ndarray, str]:
    names = list(SAMPLES)
    name = st.sidebar.selectbox(
        "Photograph",
        names,
        key="src_sample",
        format_func=lambda n: f"{n}: {SAMPLES[n]}",
    )
    return _load_sample(name), name


def _upload_source() -> tuple[np.ndarray, str] | None:
    upload = st.sidebar.file_uploader(
        "Image file",
        type=[ext.lstrip(".") for ext in IMAGE_EXTENSIONS],
        key="upload",
        help=f"PNG, JPEG, TIFF, BMP or GIF up to {MAX_UPLOAD_MB} MB; 8 or 16 bit, "
        "grayscale, RGB, RGBA or palette.",
    )
    if upload is None:
        st.sidebar.info("Choose a file to open it here.")
        return None
    return _load_bytes(upload.getvalue(), upload.name), upload.name


def _dataset_source() -> tuple[np.ndarray, str] | None:
    choices = dataset_choices(data_root())
    name = st.sidebar.selectbox("Dataset", list(choices), key="src_dataset")
    try:
        index = scan_dataset(choices[name])
    except DatasetError as error:
        st.sidebar.warning(str(error))
        return None

    class_name = st.sidebar.selectbox("Class", index.classes, key="src_class")
    files = index.files[class_name]
    file_names = [path.name for path in files]
    if st.sidebar.button("Random image", key="btn_random_image"):
        st.session_state["src_file"] = random.choice(file_names)
    if st.session_state.get("src_file") not in file_names:
        st.session_state["src_file"] = file_names[0]
    chosen = st.sidebar.selectbox("Image", file_names, key="src_file")
    path = files[file_names.index(chosen)]
    return _load_path(str(path), path.stat().st_mtime), f"{name}/{class_name}/{chosen}"


def image_source() -> tuple[np.ndarray, str] | None:
    """Sidebar controls that choose the image; returns it with a label.

    Returns None, after telling the user why, when no image is available
    (nothing uploaded yet, an unreadable file, an empty dataset folder).
    """
    st.sidebar.header("Image")
    kind = st.sidebar.radio(
        "Source",
        ["Sample photograph", "Upload a file", "Dataset folder"],
        key="src_kind",
        horizontal=False,
    )
    try:
        if kind == "Sample photograph":
            return _sample_source()
        if kind == "Upload a file":
            return _upload_source()
        return _dataset_source()
    except ImageLoadError as error:
        st.sidebar.error(str(error))
        return None
