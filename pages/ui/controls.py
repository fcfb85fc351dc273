"""Widget builders shared by the pages: where the image and the data come from."""

from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path

import numpy as np
import streamlit as st

from imgproc import MAX_PIXELS as LIBRARY_MAX_PIXELS
from imgproc import ImageLoadError, load_image
from imgproc.io import IMAGE_EXTENSIONS, SAMPLES, load_sample
from pages.ui.session import (
    KEPT_PREFIXES,
    UNEXPECTED,
    forget_unknown,
    keep_widget_state,
    report_unexpected,
)
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
    "MAX_PIXELS",
    "MAX_UPLOAD_MB",
    "apply_source_link",
    "current_dicom",
    "data_root",
    "dataset_choices",
    "image_source",
    "keep_widget_state",
    "report_unexpected",
    "source_link",
    "UNEXPECTED",
]


MAX_UPLOAD_MB = 200
"""Matches ``server.maxUploadSize`` in ``.streamlit/config.toml``."""

MAX_PIXELS = LIBRARY_MAX_PIXELS
"""Largest width x height the pages open; larger pictures get a sentence."""

SOURCE_KINDS = ["Sample photograph", "Upload a file", "Dataset folder"]

_SOURCE = "_image_source_file"
_KEPT_UPLOAD = "_kept_upload"
"""Name and bytes of the last upload that loaded, kept across page changes."""
"""Session key naming the file behind the current image (path or upload)."""


def data_root() -> Path:
    """The folder searched for datasets, set in the sidebar."""
    default = str(default_data_root())
    if "src_data_root" not in st.session_state:
        st.session_state["src_data_root"] = default
    text = st.sidebar.text_input(
        "Data folder",
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
def _load_path(path: str, modified: float, max_pixels: int) -> np.ndarray:
    return load_image(path, max_pixels=max_pixels)


@st.cache_data(show_spinner=False, max_entries=4)
def _load_bytes(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    return load_image(data, name=name, max_pixels=max_pixels)


def _is_dicom(name: str) -> bool:
    return name.lower().endswith((".dcm", ".dicom"))


@st.cache_resource(show_spinner=False, max_entries=4)
def _read_dicom(key: str, _source):
    from imgproc.dicom import read_dicom

    return read_dicom(_source)


def current_dicom():
    """The DICOM file behind the current image, read with its tags, or None.

    Raises
    ------
    imgproc.ImageLoadError
        When the file cannot be read as DICOM; the message is a sentence.
    """
    source = st.session_state.get(_SOURCE)
    if not source or not _is_dicom(source["name"]):
        return None
    if source["kind"] == "path":
        path = source["path"]
        return _read_dicom(f"{path}:{source['modified']}", path)
    if _KEPT_UPLOAD not in st.session_state:
        return None
    name, data = st.session_state[_KEPT_UPLOAD]
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    return _read_dicom(f"{name}:{digest}", io.BytesIO(data))


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
    st.session_state[_SOURCE] = None
    return _load_sample(name), name


def _forget_upload() -> None:
    """Drop the kept upload when the user removes or replaces the file.

    The uploader forgets its file whenever its page is not shown; the last
    good upload is kept in the session so that coming back shows it again,
    and only the user's own change to the uploader discards it.
    """
    st.session_state.pop(_KEPT_UPLOAD, None)


def _upload_source() -> tuple[np.ndarray, str] | None:
    upload = st.sidebar.file_uploader(
        "Image file",
        type=[ext.lstrip(".") for ext in IMAGE_EXTENSIONS],
        key="upload",
        on_change=_forget_upload,
        help=f"PNG, JPEG, TIFF, BMP, GIF or DICOM up to {MAX_UPLOAD_MB} MB; 8 or "
        "16 bit, grayscale, RGB, RGBA or palette.",
    )
    st.session_state[_SOURCE] = None
    if upload is not None:
        name, data = upload.name, upload.getvalue()
        image = _load_bytes(data, name, MAX_PIXELS)
        st.session_state[_KEPT_UPLOAD] = (name, data)
    elif _KEPT_UPLOAD in st.session_state:
        name, data = st.session_state[_KEPT_UPLOAD]
        image = _load_bytes(data, name, MAX_PIXELS)
        st.sidebar.caption(
            f"Showing {name}, uploaded earlier; choose a file to replace it."
        )
    else:
        st.sidebar.info("Choose a file to open it here.")
        return None
    st.session_state[_SOURCE] = {"kind": "upload", "name": name}
    return image, name


def _dataset_source() -> tuple[np.ndarray, str] | None:
    choices = dataset_choices(data_root())
    forget_unknown("src_dataset", choices)
    name = st.sidebar.selectbox("Dataset", list(choices), key="src_dataset")
    try:
        index = scan_dataset(choices[name])
    except DatasetError as error:
        st.sidebar.warning(str(error))
        return None

    forget_unknown("src_class", index.classes)
    class_name = st.sidebar.selectbox("Class", index.classes, key="src_class")
    files = index.files[class_name]
    file_names = [path.name for path in files]
    if st.sidebar.button("Random image", key="btn_random_image"):
        st.session_state["src_file"] = random.choice(file_names)
    if st.session_state.get("src_file") not in file_names:
        st.session_state["src_file"] = file_names[0]
    chosen = st.sidebar.selectbox("Image", file_names, key="src_file")
    path = files[file_names.index(chosen)]
    modified = path.stat().st_mtime
    st.session_state[_SOURCE] = None
    image = _load_path(str(path), modified, MAX_PIXELS)
    st.session_state[_SOURCE] = {
        "kind": "path",
        "name": path.name,
        "path": str(path),
        "modified": modified,
    }
    return image, f"{name}/{class_name}/{chosen}"


def image_source() -> tuple[np.ndarray, str] | None:
    """Sidebar controls that choose the image; returns it with a label.

    Returns None, after telling the user why, when no image is available
    (nothing uploaded yet, an unreadable file, an empty dataset folder).
    """
    st.sidebar.header("Image")
    kind = st.sidebar.radio(
        "Source",
        SOURCE_KINDS,
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
        st.session_state[_SOURCE] = None
        st.sidebar.error(str(error))
        return None


def source_link() -> dict[str, str] | None:
    """Query-string fields that bring the current image back, or None.

    An uploaded file lives only in this browser tab, so it has no link.
    """
    kind = st.session_state.get("src_kind", SOURCE_KINDS[0])
    if kind == SOURCE_KINDS[0]:
        return {"src": "sample", "sample": st.session_state.get("src_sample", "")}
    if kind == SOURCE_KINDS[2]:
        return {
            "src": "dataset",
            "root": st.session_state.get("src_data_root", ""),
            "dataset": st.session_state.get("src_dataset", ""),
            "class": st.session_state.get("src_class", ""),
            "file": st.session_state.get("src_file", ""),
        }
    return None


def _inside_data_root(folder: str) -> bool:
    """Whether ``folder`` is the server's data folder or lies inside it.

    A link may only move the sidebar within the folder the server was started
    with, so a shared link cannot make the app browse elsewhere on the disk.
    """
    allowed = default_data_root().resolve()
    try:
        Path(os.path.expanduser(folder)).resolve().relative_to(allowed)
    except (ValueError, OSError):
        return False
    return True


def apply_source_link(fields: dict[str, str]) -> str | None:
    """Set the sidebar to the image named by ``fields`` (from a link).

    Returns a sentence when the fields do not name an image, else None.
    """
    kind = fields.get("src")
    if kind == "sample":
        name = fields.get("sample", "")
        if name not in SAMPLES:
            return (
                f"The link names no known sample photograph ({name!r}); the first "
                "sample is shown instead."
            )
        st.session_state["src_kind"] = SOURCE_KINDS[0]
        st.session_state["src_sample"] = name
        return None
    if kind == "dataset":
        st.session_state["src_kind"] = SOURCE_KINDS[2]
        problem = None
        root = fields.get("root")
        if root and not _inside_data_root(root):
            problem = (
                "The link names a data folder outside this server's data folder, "
                "so the sidebar keeps its own."
            )
            fields = {key: value for key, value in fields.items() if key != "root"}
        for field, key in [
            ("root", "src_data_root"),
            ("dataset", "src_dataset"),
            ("class", "src_class"),
            ("file", "src_file"),
        ]:
            if fields.get(field):
                st.session_state[key] = fields[field]
        return problem
    return (
        f"The link's image source {kind!r} is not one this page knows; the first "
        "sample is shown instead."
    )
