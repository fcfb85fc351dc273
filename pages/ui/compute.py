"""Cached calls into ``imgproc`` so that reruns only redo what changed.

Every array the pages handle gets a short fingerprint, computed once per
array. Pipeline results, encoded previews, histograms and automatic
thresholds are then looked up by fingerprint, so a rerun after a slider move
recomputes and re-encodes only the pictures whose inputs changed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import weakref
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
import streamlit as st

from imgproc import apply_pipeline, histogram, make_pipeline, to_display

__all__ = [
    "auto_threshold_value",
    "clamp_state",
    "fingerprint",
    "histogram_counts",
    "preview_png",
    "previews_png",
    "run_many",
    "run_steps",
]

_FINGERPRINTS: dict[int, tuple[weakref.ref, str]] = {}
_MAX_REMEMBERED = 512


def _remember(array: np.ndarray, token: str) -> None:
    """Record ``token`` as the fingerprint of ``array`` while it is alive."""
    if len(_FINGERPRINTS) > _MAX_REMEMBERED:
        for key, (ref, _) in list(_FINGERPRINTS.items()):
            if ref() is None:
                _FINGERPRINTS.pop(key, None)
    _FINGERPRINTS[id(array)] = (weakref.ref(array), token)


def fingerprint(image: np.ndarray) -> str:
    """A short text that changes whenever the pixels, shape or dtype change."""
    known = _FINGERPRINTS.get(id(image))
    if known is not None and known[0]() is image:
        return known[1]
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{image.dtype.str}{image.shape}".encode())
    digest.update(np.ascontiguousarray(image).view(np.uint8).reshape(-1).data)
    token = digest.hexdigest()
    _remember(image, token)
    return token


def _frozen(array: np.ndarray, token: str) -> np.ndarray:
    """Make a shared result read-only and remember its fingerprint."""
    array = np.asarray(array)
    array.setflags(write=False)
    _remember(array, token)
    return array


class _ResultCache:
    """Pipeline results by fingerprint and steps, least recently used out first.

    The bound is on bytes, so memory plateaus however many reruns a session
    makes; one lock keeps it consistent across the server's threads.
    """

    def __init__(self, max_bytes: int, size=lambda value: value.nbytes) -> None:
        self._max_bytes = max_bytes
        self._size = size
        self._items: OrderedDict[tuple, object] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple):
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple, value) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = value
            self._bytes += self._size(value)
            while self._bytes > self._max_bytes and len(self._items) > 1:
                _, old = self._items.popitem(last=False)
                self._bytes -= self._size(old)


_RESULTS = _ResultCache(max_bytes=384 * 2**20)
_PREVIEWS = _ResultCache(max_bytes=64 * 2**20, size=lambda value: len(value[0]))
_WORKERS = ThreadPoolExecutor(
    max_workers=max(2, min(6, (os.cpu_count() or 2) - 1)), thread_name_prefix="preview"
)


def _compute(image: np.ndarray, key: tuple[str, str]) -> np.ndarray:
    result = apply_pipeline(image, make_pipeline(json.loads(key[1])))
    if result is not image:
        derived = hashlib.blake2b("".join(key).encode(), digest_size=16)
        result = _frozen(result, derived.hexdigest())
    _RESULTS.put(key, result)
    return result


def run_steps(image: np.ndarray, steps: list[dict]) -> np.ndarray:
    """Apply pipeline ``steps`` to ``image``, reusing a result already computed.

    The result is shared between reruns and must not be changed in place.

    Raises
    ------
    imgproc.PipelineError
        When a step cannot run on this image; its message is a sentence for
        the user.
    """
    if not steps:
        return image
    key = (fingerprint(image), json.dumps(steps, sort_keys=True))
    found = _RESULTS.get(key)
    return found if found is not None else _compute(image, key)


def run_many(image: np.ndarray, variants: list[list[dict]]) -> list[np.ndarray]:
    """Apply several alternative step lists to ``image`` at the same time.

    The operations release Python's lock while they work, so a row of
    previews (say, six morphological operations) takes about as long as the
    slowest one instead of their sum.

    Raises
    ------
    imgproc.PipelineError
        When one of the variants cannot run; the first such sentence.
    """
    token = fingerprint(image)
    keys = [(token, json.dumps(steps, sort_keys=True)) for steps in variants]
    results = [_RESULTS.get(key) for key in keys]
    missing = [index for index, found in enumerate(results) if found is None]
    futures = {
        index: _WORKERS.submit(_compute, image, keys[index]) for index in missing
    }
    for index, future in futures.items():
        results[index] = future.result()
    return results


def _encode(image: np.ndarray, key: tuple[str, int]) -> tuple[str, int]:
    picture, clipped = to_display(image, max_side=key[1])
    if picture.ndim == 3:
        picture = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
    _, encoded = cv2.imencode(".png", picture, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    text = base64.b64encode(encoded.tobytes()).decode("ascii")
    found = (f"data:image/png;base64,{text}", clipped)
    _PREVIEWS.put(key, found)
    return found


def preview_png(image: np.ndarray, max_side: int) -> tuple[str, int]:
    """The display-size PNG of ``image`` as a data URL, and its clipped count.

    A data URL travels with the page update itself, so the browser shows the
    new picture without fetching it in a second request.
    """
    return previews_png([image], max_side)[0]


def previews_png(images: list[np.ndarray], max_side: int) -> list[tuple[str, int]]:
    """Display-size PNGs of several images, encoded at the same time.

    PNG is lossless, so the browser shows exactly the 8-bit picture
    ``imgproc.to_display`` made; each is shrunk to ``max_side`` first.
    """
    keys = [(fingerprint(image), max_side) for image in images]
    found = [_PREVIEWS.get(key) for key in keys]
    futures = {
        index: _WORKERS.submit(_encode, images[index], keys[index])
        for index, known in enumerate(found)
        if known is None
    }
    for index, future in futures.items():
        found[index] = future.result()
    return found


@st.cache_resource(show_spinner=False, max_entries=64)
def _histogram(
    token: str, bins: int, value_range, _image: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    return histogram(_image, bins=bins, value_range=value_range)


def histogram_counts(
    image: np.ndarray, bins: int = 128, value_range=None
) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of the pixel values of ``image`` (cached)."""
    return _histogram(fingerprint(image), bins, value_range, image)


@st.cache_resource(show_spinner=False, max_entries=64)
def _auto_threshold(token: str, method: str, _image: np.ndarray) -> float | None:
    from imgproc.ops import auto_threshold

    return auto_threshold(_image, method)


def auto_threshold_value(image: np.ndarray, method: str) -> float | None:
    """The cut-off an automatic method picks for ``image``; None if it is flat."""
    return _auto_threshold(fingerprint(image), method, image)


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
