"""Image operations: one pure function per step of a preprocessing pipeline."""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np
from scipy import ndimage
from skimage import exposure, filters, morphology, transform
from threadpoolctl import ThreadpoolController

__all__ = [
    "FILL_MODES",
    "FOOTPRINTS",
    "MAX_SHIFT",
    "NORMALIZE_METHODS",
    "THRESHOLD_METHODS",
    "affine",
    "affine_matrix",
    "auto_threshold",
    "black_tophat",
    "brightness",
    "center_crop",
    "closing",
    "dilation",
    "erosion",
    "flip",
    "normalize",
    "opening",
    "resize",
    "select_channel",
    "threshold",
    "to_grayscale",
    "white_tophat",
    "window",
]

FOOTPRINTS = ("disk", "square", "diamond")
NORMALIZE_METHODS = ("scale", "minmax", "percentile", "zscore", "equalize", "clahe")
THRESHOLD_METHODS = ("manual", "otsu", "li", "yen", "triangle", "mean")
FILL_MODES = ("constant", "reflect", "edge", "wrap")

_LUMA_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])

_AUTO_THRESHOLDS = {
    "otsu": filters.threshold_otsu,
    "li": filters.threshold_li,
    "yen": filters.threshold_yen,
    "triangle": filters.threshold_triangle,
    "mean": filters.threshold_mean,
}

# Dtypes that OpenCV accepts for square footprints; others use the running extremes.
_OPENCV_MORPHOLOGY_DTYPES = (
    np.dtype(np.uint8),
    np.dtype(np.uint16),
    np.dtype(np.int16),
    np.dtype(np.float32),
    np.dtype(np.float64),
)

_SKIMAGE_OPERATIONS = {
    "erosion": morphology.erosion,
    "dilation": morphology.dilation,
    "opening": morphology.opening,
    "closing": morphology.closing,
    "white_tophat": morphology.white_tophat,
    "black_tophat": morphology.black_tophat,
}

_OPERATION_TITLES = {
    "erosion": "Erosion",
    "dilation": "Dilation",
    "opening": "Opening",
    "closing": "Closing",
    "white_tophat": "The white top-hat",
    "black_tophat": "The black top-hat",
}

# Dtypes whose bilinear warp the NumPy path of ``affine`` reproduces to the last
# bit. scikit-image warps float32 in single precision, so float32 and any other
# dtype keep using scikit-image.
_EXACT_WARP_DTYPES = frozenset(
    np.dtype(kind)
    for kind in (
        np.uint8,
        np.int8,
        np.uint16,
        np.int16,
        np.uint32,
        np.int32,
        np.float64,
    )
)
# Widest range of source rows or columns, in pixels, that the lookup tables of
# the NumPy warp cover; a more extreme zoom-out uses scikit-image instead.
_MAX_WARP_SPAN = 1 << 20
# The NumPy warp fills the output in square tiles of this many pixels a side,
# this many tiles (or rows, when rows and columns separate) per batch, so that
# its temporary arrays stay in the processor cache.
_WARP_TILE = 32
_WARP_BATCH = 32
MAX_SHIFT = 100_000.0
"""Largest shift of the affine step, in pixels: far more than any picture is
wide, and small enough that source coordinates keep the precision an exact
warp needs."""
# The zoom range of the affine step, for the same reason.
_SCALE_RANGE = (0.001, 1000.0)


def _restore_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast float results back to ``dtype``, rounding and clipping integers."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return values >= 0.5
    if np.issubdtype(dtype, np.integer):
        limits = np.iinfo(dtype)
        return np.clip(np.rint(values), limits.min, limits.max).astype(dtype)
    return values.astype(dtype, copy=False)


def _is_colour(image: np.ndarray) -> bool:
    """Tell whether ``image`` has a channel axis."""
    return image.ndim == 3


def _check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a 2-D or 3-D array; ``(H, W, 1)`` becomes ``(H, W)``."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3):
        raise ValueError(
            f"An image must be 2-D (grayscale) or 3-D (colour); got an array "
            f"with shape {image.shape}."
        )
    return image


def _check_size(name: str, value: object) -> int:
    """Return ``value`` as a positive int, or raise a sentence naming it."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"The {name} must be a whole number; got {value!r}.")
    if value < 1:
        raise ValueError(f"The {name} must be at least 1 pixel; got {value}.")
    return int(value)


def _cos_sin_degrees(angle: float) -> tuple[float, float]:
    """Cosine and sine of ``angle`` degrees, exact for quarter turns."""
    quarter_turns = angle / 90.0
    if quarter_turns == round(quarter_turns):
        return [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)][
            int(round(quarter_turns)) % 4
        ]
    radians = math.radians(angle)
    return math.cos(radians), math.sin(radians)


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """Turn a colour picture into shades of grey by its perceived brightness.

    Each pixel becomes the luminance ``Y = 0.2125 R + 0.7154 G + 0.0721 B``:
    green counts most because the eye is most sensitive to it, blue least. A
    picture that is already grayscale is returned unchanged.

    Parameters
    ----------
    image : ndarray
        ``(H, W, 3)`` colour image or ``(H, W)`` grayscale image.

    Returns
    -------
    gray : ndarray
        ``(H, W)`` image with the dtype of ``image`` (integers are rounded).

    Raises
    ------
    ValueError
        If the image has a number of channels other than 3.

    Notes
    -----
    The weights are those of :func:`skimage.color.rgb2gray` (ITU-R BT.709
    primaries), applied to the stored values without gamma correction. Like
    every operation here, an ``(H, W, 1)`` array is treated as the
    ``(H, W)`` grayscale image it holds.

    Examples
    --------
    >>> to_grayscale(np.array([[[255, 0, 0]]], dtype=np.uint8))
    array([[54]], dtype=uint8)
    """
    image = _check_image(image)
    if not _is_colour(image):
        return image
    if image.shape[-1] != 3:
        raise ValueError(
            f"Grayscale conversion needs 3 colour channels (RGB); this image has "
            f"{image.shape[-1]}."
        )
    luminance = image.astype(np.float64) @ _LUMA_WEIGHTS
    return _restore_dtype(luminance, image.dtype)


def select_channel(image: np.ndarray, index: int) -> np.ndarray:
    """Keep one colour channel as a grayscale picture.

    Channel 0 is red, 1 green and 2 blue for an RGB picture. Looking at a
    single channel shows where that colour is strong (bright) or absent
    (dark).

    Parameters
    ----------
    image : ndarray
        ``(H, W, C)`` colour image or ``(H, W)`` grayscale image.
    index : int
        The channel to keep. A grayscale image only has channel 0.

    Returns
    -------
    channel : ndarray
        ``(H, W)`` image with the dtype of ``image``.

    Raises
    ------
    ValueError
        If the image has no channel ``index``.

    Examples
    --------
    >>> select_channel(np.array([[[10, 20, 30]]], dtype=np.uint8), 2)
    array([[30]], dtype=uint8)
    """
    image = _check_image(image)
    channels = image.shape[-1] if _is_colour(image) else 1
    valid_index = not isinstance(index, bool) and isinstance(index, (int, np.integer))
    if not valid_index or not 0 <= index < channels:
        if channels == 1:
            raise ValueError(
                f"This grayscale image has only channel 0; channel {index!r} "
                "does not exist."
            )
        raise ValueError(
            f"This image has channels 0 to {channels - 1}; channel {index!r} "
            "does not exist."
        )
    if not _is_colour(image):
        return image.copy()
    return np.ascontiguousarray(image[..., index])


def _luminance_or_values(image: np.ndarray) -> np.ndarray:
    """The values an automatic threshold looks at (a mask counts as 0/1)."""
    return image.view(np.uint8) if image.dtype == np.bool_ else image


def auto_threshold(image: np.ndarray, method: str) -> float | None:
    """Find a cut-off that separates dark from bright pixels automatically.

    Each method looks at the histogram of the picture: Otsu maximises the
    contrast between the two classes, Li minimises their cross-entropy, Yen
    maximises their combined entropy, Triangle finds the point farthest from a
    line drawn across the histogram's peak, and mean simply takes the average
    brightness.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` grayscale image (a channel or the luminance).
    method : {"otsu", "li", "yen", "triangle", "mean"}
        The algorithm.

    Returns
    -------
    value : float or None
        The cut-off in the units of the image; pixels above it are
        foreground. ``None`` when the picture has a single intensity, so no
        cut-off can separate anything.

    Raises
    ------
    ValueError
        If ``method`` is unknown or the image has colour channels.

    Notes
    -----
    Uses :func:`skimage.filters.threshold_otsu`, ``threshold_li``,
    ``threshold_yen``, ``threshold_triangle`` and ``threshold_mean`` with
    their default settings; NaN values are ignored.

    Examples
    --------
    >>> auto_threshold(np.array([[10, 10, 200, 200]], dtype=np.uint8), "mean")
    105.0
    """
    image = _check_image(image)
    if _is_colour(image):
        raise ValueError(
            "Thresholding needs one channel: add a grayscale or channel step first."
        )
    if method not in _AUTO_THRESHOLDS:
        choices = ", ".join(_AUTO_THRESHOLDS)
        raise ValueError(f"Unknown threshold method '{method}'; choose {choices}.")
    values = _luminance_or_values(image)
    if np.issubdtype(values.dtype, np.floating):
        values = values[~np.isnan(values)]
    if values.size == 0 or values.min() == values.max():
        return None
    return float(_AUTO_THRESHOLDS[method](values))


def threshold(
    image: np.ndarray, value: float = 128.0, method: str = "manual"
) -> np.ndarray:
    """Split a grayscale picture into foreground and background.

    Pixels brighter than the cut-off become ``True`` (white, foreground) and
    all others ``False`` (black, background). The cut-off is ``value``, or is
    found from the picture's histogram by an automatic method. The result is
    a binary mask that the morphology steps can clean up.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` grayscale image.
    value : float
        The manual cut-off, in the units of the image (0-255 for ``uint8``,
        0-1 for a normalised float image). A pixel equal to it is background.
        Ignored by the automatic methods.
    method : {"manual", "otsu", "li", "yen", "triangle", "mean"}
        Where the cut-off comes from (see :func:`auto_threshold`).

    Returns
    -------
    mask : ndarray of bool
        ``True`` where ``image`` is above the cut-off. When an automatic
        method finds no cut-off because the picture has a single intensity,
        the mask is all background.

    Raises
    ------
    ValueError
        If the image has colour channels or ``method`` is unknown.

    Examples
    --------
    >>> threshold(np.array([[10, 128, 200]], dtype=np.uint8), 128)
    array([[False, False,  True]])
    >>> threshold(np.array([[10, 10, 200]], dtype=np.uint8), method="mean")
    array([[False, False,  True]])
    """
    image = _check_image(image)
    if _is_colour(image):
        raise ValueError(
            "Thresholding needs one channel: add a grayscale or channel step first."
        )
    if method == "manual":
        return image > value
    cut_off = auto_threshold(image, method)
    if cut_off is None:
        return np.zeros(image.shape, dtype=bool)
    return _luminance_or_values(image) > cut_off


def _footprint(shape: str, radius: int) -> np.ndarray:
    """Build the flat structuring element ``shape`` of the given radius."""
    if shape == "disk":
        element = morphology.disk(radius)
    elif shape == "square":
        element = morphology.footprint_rectangle((2 * radius + 1, 2 * radius + 1))
    elif shape == "diamond":
        element = morphology.diamond(radius)
    else:
        choices = ", ".join(FOOTPRINTS)
        raise ValueError(f"Unknown footprint '{shape}'; choose one of {choices}.")
    return element.astype(np.uint8)


def _staircase(element: np.ndarray) -> list[tuple[int, int]]:
    """Describe a symmetric convex footprint as nested rectangles.

    Returns ``(half_height, half_width)`` pairs, widest first: the footprint is
    the union of these centred rectangles.
    """
    radius = element.shape[0] // 2
    half_widths = [int(element[radius + row].sum()) // 2 for row in range(radius + 1)]
    rectangles = []
    for row, half_width in enumerate(half_widths):
        if row == radius or half_widths[row + 1] != half_width:
            rectangles.append((row, half_width))
    return rectangles


def _grow_window(
    values: np.ndarray, spare: np.ndarray, axis: int, first: bool, reduce
) -> np.ndarray:
    """Widen a running minimum or maximum by one pixel on each side of ``axis``.

    The result is written into ``spare``; the outermost line on each side is
    left stale and must lie in the padding.
    """
    inner = (slice(None),) * axis + (slice(1, -1),)
    before = (slice(None),) * axis + (slice(None, -2),)
    after = (slice(None),) * axis + (slice(2, None),)
    reduce(values[before], values[after], out=spare[inner])
    if first:
        reduce(spare[inner], values[inner], out=spare[inner])
    return spare


def _flat_filter(image: np.ndarray, element: np.ndarray, reduce) -> np.ndarray:
    """Minimum (``np.minimum``) or maximum over a disk, diamond or square.

    The image is mirrored by the footprint radius at its edges, as
    :func:`scipy.ndimage.grey_erosion` does with ``mode="reflect"``. The
    footprint is split into nested rectangles; each rectangle is a vertical
    then a horizontal running extreme grown one pixel at a time, and the
    rectangles are combined Horner-style, so the cost grows linearly with the
    radius instead of with its square.
    """
    radius = element.shape[0] // 2
    padded = np.pad(image, radius, mode="symmetric")
    column_buffers = [np.empty_like(padded), np.empty_like(padded)]
    row_buffers = [np.empty_like(padded), np.empty_like(padded)]
    columns, rows, height = padded, None, 0
    previous_width = 0

    for half_height, half_width in _staircase(element):
        while height < half_height:
            buffer = column_buffers[height % 2]
            columns = _grow_window(columns, buffer, 0, height == 0, reduce)
            height += 1
        if rows is None:
            rows = columns.copy()
        else:
            for step in range(previous_width - half_width):
                buffer = (
                    row_buffers[0] if rows is not row_buffers[0] else row_buffers[1]
                )
                rows = _grow_window(rows, buffer, 1, step == 0, reduce)
            buffer = row_buffers[0] if rows is not row_buffers[0] else row_buffers[1]
            rows = reduce(rows, columns, out=buffer)
        previous_width = half_width

    for step in range(previous_width):
        buffer = row_buffers[0] if rows is not row_buffers[0] else row_buffers[1]
        rows = _grow_window(rows, buffer, 1, step == 0, reduce)
    height_end, width_end = padded.shape[0] - radius, padded.shape[1] - radius
    return np.ascontiguousarray(rows[radius:height_end, radius:width_end])


def _erode_or_dilate(
    image: np.ndarray, element: np.ndarray, footprint: str, dilate: bool
) -> np.ndarray:
    """One flat erosion or dilation with mirrored borders, any real dtype."""
    if element.shape[0] == 1:
        return image.copy()
    is_mask = image.dtype == np.bool_
    work = image.view(np.uint8) if is_mask else image
    if footprint == "square" and work.dtype in _OPENCV_MORPHOLOGY_DTYPES:
        apply = cv2.dilate if dilate else cv2.erode
        result = apply(
            np.ascontiguousarray(work), element, borderType=cv2.BORDER_REFLECT
        )
    else:
        result = _flat_filter(work, element, np.maximum if dilate else np.minimum)
    return result.view(np.bool_) if is_mask else result


def _morphology(
    operation: str, image: np.ndarray, radius: int, footprint: str
) -> np.ndarray:
    """Run one morphological ``operation`` with scikit-image's border rule."""
    image = _check_image(image)
    if _is_colour(image):
        raise ValueError(
            f"{_OPERATION_TITLES[operation]} needs one channel: add a grayscale "
            "or channel step first."
        )
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)):
        raise ValueError(f"The radius must be a whole number; got {radius!r}.")
    if radius < 0:
        raise ValueError(f"The radius must be 0 or more; got {radius}.")
    element = _footprint(footprint, int(radius))

    real = image.dtype == np.bool_ or np.issubdtype(image.dtype, np.number)
    real = real and not np.issubdtype(image.dtype, np.complexfloating)
    fits = element.shape[0] <= min(image.shape)
    has_nan = np.issubdtype(image.dtype, np.floating) and bool(np.isnan(image).any())
    if not real or not fits or has_nan:
        return _SKIMAGE_OPERATIONS[operation](image, element.astype(bool))

    first_dilate = operation in ("dilation", "closing", "black_tophat")
    result = _erode_or_dilate(image, element, footprint, first_dilate)
    if operation in ("erosion", "dilation"):
        return result
    result = _erode_or_dilate(result, element, footprint, not first_dilate)
    if operation in ("opening", "closing"):
        return result
    if image.dtype == np.bool_:
        return np.logical_xor(image, result)
    if operation == "white_tophat":
        return image - result
    return result - image


def erosion(image: np.ndarray, radius: int, footprint: str = "disk") -> np.ndarray:
    """Shrink bright regions and grow dark ones.

    Each pixel takes the minimum value found in its neighbourhood, so bright
    objects lose a border ``radius`` pixels wide and bright specks smaller than
    the footprint vanish. On a mask, white areas shrink.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` binary mask (``bool``) or grayscale image of any dtype.
    radius : int
        Size of the neighbourhood in pixels; 0 leaves the image unchanged.
    footprint : {"disk", "square", "diamond"}
        Shape of the neighbourhood: a disk of that radius, a square of side
        ``2 * radius + 1``, or a diamond (points within ``radius`` steps).

    Returns
    -------
    eroded : ndarray
        Same shape and dtype as ``image``.

    Raises
    ------
    ValueError
        If the image has colour channels, or the radius or footprint is
        invalid.

    Notes
    -----
    The result equals :func:`skimage.morphology.erosion` with its default
    border handling: the image is mirrored at its edges, so an all-white mask
    stays all-white and no dark frame appears. A disk or diamond is split
    into nested rectangles whose running minima are grown one pixel at a time,
    so the cost rises linearly with the radius (about 10 ms for a radius-25
    disk on a 1024x1024 image, against seconds for scikit-image); a square
    uses OpenCV. Images containing NaN and images smaller than the footprint
    are handed to scikit-image, which gives the same result more slowly.

    Examples
    --------
    >>> mask = np.zeros((5, 5), dtype=bool)
    >>> mask[1:4, 1:4] = True
    >>> int(erosion(mask, 1, "square").sum())
    1
    """
    return _morphology("erosion", image, radius, footprint)


def dilation(image: np.ndarray, radius: int, footprint: str = "disk") -> np.ndarray:
    """Grow bright regions and shrink dark ones.

    Each pixel takes the maximum value found in its neighbourhood, so bright
    objects gain a border ``radius`` pixels wide and small dark holes inside
    them fill in. On a mask, white areas grow.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` binary mask (``bool``) or grayscale image of any dtype.
    radius : int
        Size of the neighbourhood in pixels; 0 leaves the image unchanged.
    footprint : {"disk", "square", "diamond"}
        Shape of the neighbourhood (see :func:`erosion`).

    Returns
    -------
    dilated : ndarray
        Same shape and dtype as ``image``.

    Raises
    ------
    ValueError
        If the image has colour channels, or the radius or footprint is
        invalid.

    Notes
    -----
    Equals :func:`skimage.morphology.dilation` with its default (mirrored)
    borders; computed as described in :func:`erosion`.

    Examples
    --------
    >>> mask = np.zeros((5, 5), dtype=bool)
    >>> mask[2, 2] = True
    >>> int(dilation(mask, 1, "square").sum())
    9
    """
    return _morphology("dilation", image, radius, footprint)


def opening(image: np.ndarray, radius: int, footprint: str = "disk") -> np.ndarray:
    """Remove bright details smaller than the footprint.

    An erosion followed by a dilation: bright specks and thin bright lines
    that the footprint cannot fit inside disappear, while larger bright
    objects keep roughly their shape. On a mask it removes small white noise.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` binary mask (``bool``) or grayscale image of any dtype.
    radius : int
        Size of the neighbourhood in pixels; 0 leaves the image unchanged.
    footprint : {"disk", "square", "diamond"}
        Shape of the neighbourhood (see :func:`erosion`).

    Returns
    -------
    opened : ndarray
        Same shape and dtype as ``image``.

    Raises
    ------
    ValueError
        If the image has colour channels, or the radius or footprint is
        invalid.

    Notes
    -----
    Equals :func:`skimage.morphology.opening` with its default (mirrored)
    borders; computed as described in :func:`erosion`.

    Examples
    --------
    >>> mask = np.zeros((7, 7), dtype=bool)
    >>> mask[1:6, 1:6] = True
    >>> mask[0, 0] = True
    >>> bool(opening(mask, 1, "square")[0, 0])
    False
    """
    return _morphology("opening", image, radius, footprint)


def closing(image: np.ndarray, radius: int, footprint: str = "disk") -> np.ndarray:
    """Fill dark details smaller than the footprint.

    A dilation followed by an erosion: small dark holes and thin dark gaps
    are filled, while larger dark areas keep roughly their shape. On a mask
    it closes small black holes inside white objects.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` binary mask (``bool``) or grayscale image of any dtype.
    radius : int
        Size of the neighbourhood in pixels; 0 leaves the image unchanged.
    footprint : {"disk", "square", "diamond"}
        Shape of the neighbourhood (see :func:`erosion`).

    Returns
    -------
    closed : ndarray
        Same shape and dtype as ``image``.

    Raises
    ------
    ValueError
        If the image has colour channels, or the radius or footprint is
        invalid.

    Notes
    -----
    Equals :func:`skimage.morphology.closing` with its default (mirrored)
    borders; computed as described in :func:`erosion`.

    Examples
    --------
    >>> mask = np.ones((5, 5), dtype=bool)
    >>> mask[2, 2] = False
    >>> bool(closing(mask, 1, "square")[2, 2])
    True
    """
    return _morphology("closing", image, radius, footprint)


def white_tophat(image: np.ndarray, radius: int, footprint: str = "disk") -> np.ndarray:
    """Keep only the bright details smaller than the footprint.

    The image minus its opening, that is, what the opening removed. Large
    bright areas and a slowly varying background turn dark, so small bright
    spots stand out. On a mask it keeps the white bits the opening removed.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` binary mask (``bool``) or grayscale image of any dtype.
    radius : int
        Size of the neighbourhood in pixels; with 0 the result is all zeros.
    footprint : {"disk", "square", "diamond"}
        Shape of the neighbourhood (see :func:`erosion`).

    Returns
    -------
    details : ndarray
        Same shape and dtype as ``image``.

    Raises
    ------
    ValueError
        If the image has colour channels, or the radius or footprint is
        invalid.

    Notes
    -----
    Equals :func:`skimage.morphology.white_tophat` with its default
    (mirrored) borders; for a mask that is the exclusive or of the mask and
    its opening. Computed as described in :func:`erosion`.

    Examples
    --------
    >>> image = np.full((5, 5), 10, dtype=np.uint8)
    >>> image[2, 2] = 50
    >>> int(white_tophat(image, 1, "square")[2, 2])
    40
    """
    return _morphology("white_tophat", image, radius, footprint)


def black_tophat(image: np.ndarray, radius: int, footprint: str = "disk") -> np.ndarray:
    """Show the dark details smaller than the footprint, as bright spots.

    The closing minus the image, that is, what the closing filled in. Small
    dark spots and thin dark lines become bright on a dark background. On a
    mask it keeps the black holes the closing filled.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` binary mask (``bool``) or grayscale image of any dtype.
    radius : int
        Size of the neighbourhood in pixels; with 0 the result is all zeros.
    footprint : {"disk", "square", "diamond"}
        Shape of the neighbourhood (see :func:`erosion`).

    Returns
    -------
    details : ndarray
        Same shape and dtype as ``image``.

    Raises
    ------
    ValueError
        If the image has colour channels, or the radius or footprint is
        invalid.

    Notes
    -----
    Equals :func:`skimage.morphology.black_tophat` with its default
    (mirrored) borders; for a mask that is the exclusive or of the mask and
    its closing. Computed as described in :func:`erosion`.

    Examples
    --------
    >>> image = np.full((5, 5), 50, dtype=np.uint8)
    >>> image[2, 2] = 10
    >>> int(black_tophat(image, 1, "square")[2, 2])
    40
    """
    return _morphology("black_tophat", image, radius, footprint)


def _number_text(value: float) -> str:
    """Format a number for a sentence without a trailing ``.0``."""
    return f"{value:g}"


def normalize(
    image: np.ndarray,
    method: str = "scale",
    low: float = 5.0,
    high: float = 95.0,
    divisor: float | None = None,
    bins: int = 256,
    clip_limit: float = 0.01,
    kernel_size: int | None = None,
) -> np.ndarray:
    """Map pixel values to floating-point numbers around 0..1.

    Networks train best on small numbers. ``"scale"`` divides every value by a
    fixed number (255 for an 8-bit picture), keeping the look of the picture.
    ``"minmax"`` stretches the darkest pixel to 0 and the brightest to 1;
    ``"percentile"`` does the same with the ``low`` and ``high`` percentiles,
    so a few extreme pixels do not squash the contrast of everything else.
    ``"zscore"`` centres the values on 0 with a spread of 1. ``"equalize"``
    spreads the grey levels so each is used about equally often, and
    ``"clahe"`` does the same within small tiles, limiting how strongly
    contrast is boosted, which brings out local detail such as the lung
    texture of an X-ray.

    Parameters
    ----------
    image : ndarray
        Grayscale or colour image of any dtype.
    method : {"scale", "minmax", "percentile", "zscore", "equalize", "clahe"}
        How to map the values.
    low, high : float
        Percentiles (0 to 100, ``low < high``) used by ``"percentile"``. They
        are taken over the whole image, all channels together.
    divisor : float, optional
        For ``"scale"``: the number to divide by. By default the largest value
        of an integer dtype (255 for ``uint8``, 65535 for ``uint16``, 1 for a
        mask); a float image is then returned unchanged as ``float64``.
    bins : int
        For ``"equalize"``: the number of histogram bins.
    clip_limit : float
        For ``"clahe"``: between 0 and 1; higher values give more contrast.
    kernel_size : int, optional
        For ``"clahe"``: the tile size in pixels; by default 1/8 of the image
        height and width.

    Returns
    -------
    normalised : ndarray of float64
        Same shape as ``image``. Values are not clipped: with ``"percentile"``
        the pixels outside the percentiles fall below 0 or above 1, and
        ``"zscore"`` gives negative values.

    Raises
    ------
    ValueError
        If ``method`` is unknown, the percentiles are out of order or out of
        range, or ``divisor`` is not a positive number.

    Notes
    -----
    A constant image (``max == min``, or equal percentiles) gives all zeros
    rather than a division by zero, and so does ``"zscore"`` when the
    standard deviation is 0. Signed integer data keeps its negative values.
    Percentiles use :func:`numpy.percentile` with linear interpolation.
    ``"equalize"`` and ``"clahe"`` are :func:`skimage.exposure.equalize_hist`
    and :func:`skimage.exposure.equalize_adapthist`; they return values in
    0..1 and take all channels of a colour image together (CLAHE works on the
    brightness of an RGB picture).

    Examples
    --------
    >>> normalize(np.array([[0, 51, 255]], dtype=np.uint8))
    array([[0. , 0.2, 1. ]])
    >>> normalize(np.array([[10, 20, 30]], dtype=np.uint8), method="minmax")
    array([[0. , 0.5, 1. ]])
    """
    image = _check_image(image)
    values = image.astype(np.float64)

    if method == "scale":
        if divisor is None:
            if image.dtype == np.bool_:
                return values
            if not np.issubdtype(image.dtype, np.integer):
                return values
            divisor = float(np.iinfo(image.dtype).max)
        if not math.isfinite(divisor) or divisor <= 0:
            raise ValueError(
                f"The divisor must be a positive number; got {_number_text(divisor)}."
            )
        return values / divisor

    if method == "minmax":
        lowest, highest = values.min(), values.max()
        if highest == lowest:
            return np.zeros_like(values)
        return (values - lowest) / (highest - lowest)

    if method == "percentile":
        if not 0 <= low <= 100 or not 0 <= high <= 100:
            raise ValueError(
                f"Percentiles must lie between 0 and 100; got "
                f"{_number_text(low)} and {_number_text(high)}."
            )
        if low >= high:
            raise ValueError(
                f"The low percentile ({_number_text(low)}) must be below the high "
                f"percentile ({_number_text(high)})."
            )
        p_low, p_high = np.percentile(values, [low, high])
        if p_high == p_low:
            return np.zeros_like(values)
        return (values - p_low) / (p_high - p_low)

    if method == "zscore":
        spread = values.std()
        if spread == 0 or not math.isfinite(spread):
            return np.zeros_like(values)
        return (values - values.mean()) / spread

    if method == "equalize":
        bins = _check_size("number of bins", bins)
        source = image.view(np.uint8) if image.dtype == np.bool_ else image
        return exposure.equalize_hist(source, nbins=bins).astype(np.float64)

    if method == "clahe":
        if not 0 <= clip_limit <= 1:
            raise ValueError(
                f"The clip limit must lie between 0 and 1; got "
                f"{_number_text(clip_limit)}."
            )
        if kernel_size is not None:
            kernel_size = _check_size("kernel size", kernel_size)
        source = image.view(np.uint8) if image.dtype == np.bool_ else image
        return exposure.equalize_adapthist(
            source, kernel_size=kernel_size, clip_limit=clip_limit
        ).astype(np.float64)

    choices = ", ".join(NORMALIZE_METHODS)
    raise ValueError(f"Unknown normalisation method '{method}'; choose {choices}.")


def window(
    image: np.ndarray, center: float, width: float, invert: bool = False
) -> np.ndarray:
    """Show one band of values, such as the soft-tissue range of a radiograph.

    Values below the window turn black, values above it white, and the
    values inside it are spread linearly over the grey levels in between. A
    narrow window gives strong contrast within a small range; a wide one shows
    everything with less contrast. ``invert`` swaps black and white, as a
    MONOCHROME1 radiograph needs.

    Parameters
    ----------
    image : ndarray
        Grayscale or colour image of any dtype, in its stored units (such as
        the rescaled values of a DICOM file).
    center : float
        The value shown as mid-grey.
    width : float
        The range of values spread between black and white, at least 1.
    invert : bool
        Return ``1 - y`` so that low values are white.

    Returns
    -------
    windowed : ndarray of float64
        Same shape, values in 0..1.

    Raises
    ------
    ValueError
        If ``width`` is below 1 or either setting is not finite.

    Notes
    -----
    The DICOM linear VOI function (PS3.3 C.11.2.1.2.1): a value ``x`` at or
    below ``center - 0.5 - (width - 1) / 2`` gives 0, one above
    ``center - 0.5 + (width - 1) / 2`` gives 1, and in between
    ``y = (x - (center - 0.5)) / (width - 1) + 0.5``.

    Examples
    --------
    >>> window(np.array([[0, 40, 80, 200]]), center=40, width=81)
    array([[0.00625, 0.50625, 1.     , 1.     ]])
    """
    image = _check_image(image)
    if not (math.isfinite(center) and math.isfinite(width)):
        raise ValueError("The window centre and width must be finite numbers.")
    if width < 1:
        raise ValueError(f"The window width must be at least 1; got {width!r}.")
    values = image.astype(np.float64)
    bottom = center - 0.5 - (width - 1) / 2
    top = center - 0.5 + (width - 1) / 2
    if width > 1:
        result = (values - (center - 0.5)) / (width - 1) + 0.5
    else:
        result = np.zeros_like(values)
    result[values <= bottom] = 0.0
    result[values > top] = 1.0
    return 1.0 - result if invert else result


def flip(
    image: np.ndarray, horizontal: bool = False, vertical: bool = False
) -> np.ndarray:
    """Mirror the picture left-right and/or upside down.

    A horizontal flip swaps the left and right sides, as in a mirror; a
    vertical flip swaps top and bottom. Both together turn the picture by
    180 degrees.

    Parameters
    ----------
    image : ndarray
        Grayscale or colour image.
    horizontal : bool
        Swap left and right.
    vertical : bool
        Swap top and bottom.

    Returns
    -------
    flipped : ndarray
        A new array with the shape and dtype of ``image``.

    Examples
    --------
    >>> flip(np.array([[1, 2, 3]]), horizontal=True)
    array([[3, 2, 1]])
    """
    image = _check_image(image)
    axes = [axis for axis, wanted in ((1, horizontal), (0, vertical)) if wanted]
    if not axes:
        return image.copy()
    return np.ascontiguousarray(np.flip(image, axis=tuple(axes)))


def affine_matrix(
    shape: tuple[int, ...],
    rotation: float = 0.0,
    scale: float = 1.0,
    translate_x: float = 0.0,
    translate_y: float = 0.0,
    shear: float = 0.0,
) -> np.ndarray:
    """Build the 3x3 matrix that moves content the way :func:`affine` does.

    The matrix maps a point ``(x, y, 1)`` of the input (``x`` = column,
    ``y`` = row, rows counted downwards) to where it lands in the output.
    About the centre of the picture it first shears, then zooms by ``scale``
    and turns by ``rotation`` degrees counter-clockwise as seen on screen, and
    finally shifts the content right by ``translate_x`` and down by
    ``translate_y`` pixels.

    Parameters
    ----------
    shape : tuple of int
        Shape of the image, ``(H, W)`` or ``(H, W, C)``; the centre is
        ``((W - 1) / 2, (H - 1) / 2)``.
    rotation : float
        Counter-clockwise turn in degrees.
    scale : float
        Zoom factor, greater than 0: 2 shows the content twice as large.
    translate_x, translate_y : float
        Shift in pixels, to the right and down.
    shear : float
        Shear angle in degrees: rows slide sideways in proportion to their
        distance from the centre, with scikit-image's
        :class:`~skimage.transform.AffineTransform` convention (rows below
        the centre move left for a positive angle).

    Returns
    -------
    matrix : ndarray of shape (3, 3)
        Forward map in homogeneous pixel coordinates.

    Raises
    ------
    ValueError
        If ``scale`` is not positive or the shear is not between -90 and 90
        degrees.

    Examples
    --------
    >>> affine_matrix((3, 5), translate_x=2.0)
    array([[1., 0., 2.],
           [0., 1., 0.],
           [0., 0., 1.]])
    """
    if not scale > 0 or not math.isfinite(scale):
        raise ValueError(f"The scale must be a number above 0; got {scale!r}.")
    if not -90 < shear < 90:
        raise ValueError(
            f"The shear angle must be between -90 and 90 degrees; got {shear!r}."
        )
    height, width = shape[0], shape[1]
    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0

    to_origin = np.array([[1.0, 0.0, -centre_x], [0.0, 1.0, -centre_y], [0, 0, 1]])
    shearing = np.array(
        [[1.0, -math.tan(math.radians(shear)), 0.0], [0.0, 1.0, 0.0], [0, 0, 1]]
    )
    cosine, sine = _cos_sin_degrees(rotation)
    # On screen (rows downwards) a counter-clockwise turn is x' = x cos + y sin.
    turn_and_zoom = np.array(
        [
            [scale * cosine, scale * sine, 0.0],
            [-scale * sine, scale * cosine, 0.0],
            [0.0, 0.0, 1.0],
        ]
    )
    back_and_shift = np.array(
        [
            [1.0, 0.0, centre_x + translate_x],
            [0.0, 1.0, centre_y + translate_y],
            [0.0, 0.0, 1.0],
        ]
    )
    return back_and_shift @ turn_and_zoom @ shearing @ to_origin


def _fold(coordinates: np.ndarray, size: int, fill: str) -> np.ndarray:
    """Map whole-pixel source coordinates onto pixel indices like scikit-image.

    Inside the picture a coordinate is its own index. Outside, ``constant``
    gives -1 (no pixel), ``edge`` the nearest border pixel, ``wrap`` repeats
    the picture like a tile, and ``reflect`` mirrors it about its first and
    last pixels, so that the pattern repeats every ``2 * (size - 1)`` pixels.
    """
    last = size - 1
    if fill == "constant":
        return np.where((coordinates < 0) | (coordinates > last), -1, coordinates)
    if fill == "edge":
        return np.clip(coordinates, 0, last)
    if fill == "wrap":
        return np.mod(coordinates, size)
    phase = np.mod(coordinates, 2 * last)
    return np.where(phase > last, 2 * last - phase, phase)


def _source_coordinates(
    inverse: np.ndarray, rows: np.ndarray | float, columns: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Return the source row and column that output pixels read from.

    scikit-image computes the source column of output pixel ``(y, x)`` as
    ``(m00 * x + m01 * y) + m02`` and the source row with the second row of
    the matrix. The same floating-point steps here give the same coordinates
    to the last bit. ``rows`` and ``columns`` broadcast against each other.
    """
    source_rows = inverse[1, 0] * columns + inverse[1, 1] * rows + inverse[1, 2]
    source_columns = inverse[0, 0] * columns + inverse[0, 1] * rows + inverse[0, 2]
    return source_rows, source_columns


def _split(coordinates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split source coordinates into whole pixels (as indices) and fractions."""
    whole = np.floor(coordinates)
    return whole.astype(np.intp), coordinates - whole


def _batch_finisher(
    dtype: np.dtype, low: float, high: float, fill: str
) -> Callable[[np.ndarray], np.ndarray]:
    """Return the step that turns a batch of warped values into output values.

    scikit-image clips a warp to the range ``[low, high]`` of the input,
    widened to include the fill value 0 for ``constant`` fill; integer
    pictures are then rounded. The step works in place on a float64 batch.
    """
    if fill == "constant":
        low, high = min(low, 0.0), max(high, 0.0)
    if dtype.kind == "f":
        return lambda values: np.clip(values, low, high, out=values)
    return lambda values: np.rint(values, out=values)


def _keep_values(values: np.ndarray) -> np.ndarray:
    """Leave a batch of warped values as they are."""
    return values


def _finish_deferred(
    warped: np.ndarray, dtype: np.dtype, low: float, high: float
) -> np.ndarray:
    """Clip and round a whole ``constant`` warp whose input range excludes 0.

    scikit-image widens the clipping range to include the fill value 0 only
    when the output reaches 0; otherwise values blended with the fill are
    clipped to the input range. That needs the whole output first.
    """
    if warped.min() <= 0.0 <= warped.max():
        low, high = min(low, 0.0), max(high, 0.0)
    np.clip(warped, low, high, out=warped)
    return _restore_dtype(warped, dtype)


def _warp_workers() -> int:
    """Number of threads a warp may use: the processor cores, at most four."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


_WARP_POOL: ThreadPoolExecutor | None = None
_WARP_POOL_LOCK = threading.Lock()


_BLAS_CONTROLLER: ThreadpoolController | None = None
_BLAS_LIMIT = None
_BLAS_USERS = 0


@contextlib.contextmanager
def _single_threaded_blas():
    """A context in which NumPy's matrix products use one thread each.

    Threads that each call a BLAS which itself starts a thread per core
    oversubscribe the processor and run several times slower. The limit is
    process-wide, so it is set by the first warp that needs it and lifted
    by the last one to finish.
    """
    global _BLAS_CONTROLLER, _BLAS_LIMIT, _BLAS_USERS
    with _WARP_POOL_LOCK:
        if _BLAS_CONTROLLER is None:
            _BLAS_CONTROLLER = ThreadpoolController()
        if _BLAS_USERS == 0:
            _BLAS_LIMIT = _BLAS_CONTROLLER.limit(limits=1, user_api="blas")
        _BLAS_USERS += 1
    try:
        yield
    finally:
        with _WARP_POOL_LOCK:
            _BLAS_USERS -= 1
            if _BLAS_USERS == 0:
                _BLAS_LIMIT.restore_original_limits()
                _BLAS_LIMIT = None


def _in_parallel(work: Callable[[int, int], None], count: int, step: int) -> None:
    """Run ``work(first, last)`` over ``range(count)`` split between threads.

    The range is cut into one contiguous part per processor core, each a
    multiple of ``step`` long; the calling thread takes the first part. NumPy
    releases the interpreter lock inside its array loops, so the parts run at
    the same time. The parts must write disjoint outputs.
    """
    global _WARP_POOL
    workers = min(_warp_workers(), -(-count // step))
    if workers <= 1:
        work(0, count)
        return
    part = -(-count // (workers * step)) * step
    bounds = [(first, min(first + part, count)) for first in range(0, count, part)]
    with _WARP_POOL_LOCK:
        if _WARP_POOL is None:
            _WARP_POOL = ThreadPoolExecutor(
                max_workers=_warp_workers() - 1, thread_name_prefix="imgproc-warp"
            )
    others = [_WARP_POOL.submit(work, first, last) for first, last in bounds[1:]]
    try:
        work(*bounds[0])
    finally:
        for future in others:
            future.result()


def _warp_separable(
    planes: np.ndarray,
    source_rows: np.ndarray,
    source_columns: np.ndarray,
    fill: str,
    destination: np.ndarray,
    finish: Callable[[np.ndarray], np.ndarray],
) -> None:
    """Bilinear samples of ``planes`` where rows and columns map separately.

    Output row ``k`` of ``destination`` reads source row ``source_rows[k]``
    and output column ``l`` reads ``source_columns[l]``, as when the picture
    is only zoomed, shifted or turned by a multiple of 90 degrees. Like
    scikit-image it blends two neighbours along each source row first and
    then the two blended rows, so every floating-point step is the same; the
    gain is that each blended source row serves a whole output row.
    """
    channels, height, width = planes.shape
    whole_rows, row_fraction = _split(source_rows)
    whole_columns, column_fraction = _split(source_columns)
    upper = _fold(whole_rows, height, fill)
    lower = _fold(whole_rows + 1, height, fill)
    left = _fold(whole_columns, width, fill)
    right = _fold(whole_columns + 1, width, fill)
    left_outside = left < 0
    right_outside = right < 0
    left_weight = 1.0 - column_fraction
    upper_weight = (1.0 - row_fraction)[:, np.newaxis]
    lower_weight = row_fraction[:, np.newaxis]

    def blend_rows(first: int, last: int) -> None:
        """Compute output rows ``first`` to ``last`` batch by batch."""
        for start in range(first, last, _WARP_BATCH):
            stop = min(start + _WARP_BATCH, last)
            needed, position = np.unique(
                np.concatenate([upper[start:stop], lower[start:stop]]),
                return_inverse=True,
            )
            count = stop - start
            for channel in range(channels):
                source = np.take(planes[channel], needed, axis=0)
                if fill == "constant":
                    # Index -1 marks points outside; they read the fill value 0.
                    source[needed < 0] = 0
                neighbour = np.take(source, left, axis=1)
                if left_outside.any():
                    neighbour[:, left_outside] = 0
                blended = neighbour * left_weight
                neighbour = np.take(source, right, axis=1)
                if right_outside.any():
                    neighbour[:, right_outside] = 0
                blended += neighbour * column_fraction

                result = np.take(blended, position[:count], axis=0)
                result *= upper_weight[start:stop]
                below = np.take(blended, position[count:], axis=0)
                below *= lower_weight[start:stop]
                result += below
                destination[channel, start:stop] = finish(result)

    _in_parallel(blend_rows, len(upper), _WARP_BATCH)


def _pair_view(flat: np.ndarray, start: int) -> np.ndarray:
    """View ``flat`` as overlapping complex pairs of neighbouring pixels.

    Item ``k`` is ``flat[start + k] + 1j * flat[start + k + 1]``: fetching one
    complex item reads a pixel together with its right-hand neighbour, which
    halves the number of gathers.
    """
    return np.lib.stride_tricks.as_strided(
        flat[start : start + 2].view(np.complex128),
        shape=(flat.size - start - 1,),
        strides=(flat.itemsize,),
        writeable=False,
    )


def _extended_planes(planes: np.ndarray, fill: str) -> np.ndarray:
    """Copy ``planes`` (channels, rows, columns) into float64 with a border.

    The border makes every pixel's right-hand and lower neighbour a plain
    array neighbour. ``constant`` adds two zero rows above, one below, one
    zero column on the left and two on the right; ``edge`` repeats the outer
    rows and columns once; ``wrap`` appends the first row and column.
    ``reflect`` needs no border: its neighbours are inside the picture.
    """
    channels, height, width = planes.shape
    if fill == "constant":
        extended = np.zeros((channels, height + 3, width + 3))
        extended[:, 2:-1, 1:-2] = planes
    elif fill == "edge":
        extended = np.empty((channels, height + 2, width + 2))
        extended[:, 1:-1, 1:-1] = planes
        extended[:, 0, 1:-1] = planes[:, 0]
        extended[:, -1, 1:-1] = planes[:, -1]
        extended[:, :, 0] = extended[:, :, 1]
        extended[:, :, -1] = extended[:, :, -2]
    elif fill == "wrap":
        extended = np.empty((channels, height + 1, width + 1))
        extended[:, :-1, :-1] = planes
        extended[:, -1, :-1] = planes[:, 0]
        extended[:, :, -1] = extended[:, :, 0]
    else:
        extended = np.ascontiguousarray(planes, dtype=np.float64)
    return extended


def _extended_columns(
    coordinates: np.ndarray, size: int, fill: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Column of :func:`_extended_planes` whose pair starts at each coordinate.

    The pair holds the pixel at the coordinate and its right-hand neighbour.
    Where ``reflect`` runs backwards (the neighbour lies to the left) the
    pair starts at the neighbour instead, and the second array marks those
    coordinates so that the two weights can be swapped; it is None when no
    coordinate needs that.
    """
    last = size - 1
    if fill == "constant":
        inside = (coordinates >= -1) & (coordinates <= last)
        return np.where(inside, coordinates + 1, size + 1), None
    if fill == "edge":
        return np.clip(coordinates, -1, last) + 1, None
    if fill == "wrap":
        return np.mod(coordinates, size), None
    here = _fold(coordinates, size, fill)
    right = _fold(coordinates + 1, size, fill)
    backwards = right < here
    return np.minimum(here, right), backwards if backwards.any() else None


def _extended_rows(
    coordinates: np.ndarray, size: int, fill: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """Row of :func:`_extended_planes` for each coordinate, and the step down.

    The step to the row below is always +1 except for ``reflect``, where it
    is -1 wherever the mirror image runs upwards.
    """
    last = size - 1
    if fill == "constant":
        inside = (coordinates >= -1) & (coordinates <= last)
        return np.where(inside, coordinates + 2, 0), None
    if fill == "edge":
        return np.clip(coordinates, -1, last) + 1, None
    if fill == "wrap":
        return np.mod(coordinates, size), None
    first = _fold(coordinates, size, fill)
    return first, _fold(coordinates + 1, size, fill) - first


def _coordinate_range(
    inverse: np.ndarray, height: int, width: int
) -> tuple[int, int, int, int]:
    """Lowest and highest whole source row and column of an output grid.

    The map is affine, so the extremes lie at the corners; one pixel of
    margin on each side covers rounding.
    """
    corner_rows, corner_columns = _source_coordinates(
        inverse,
        np.array([0.0, 0.0, height - 1.0, height - 1.0]),
        np.array([0.0, width - 1.0, 0.0, width - 1.0]),
    )
    return (
        math.floor(corner_rows.min()) - 1,
        math.floor(corner_rows.max()) + 1,
        math.floor(corner_columns.min()) - 1,
        math.floor(corner_columns.max()) + 1,
    )


def _plan_tiles(
    inverse: np.ndarray,
    tile_rows: int,
    tile_columns: int,
    shape: tuple[int, int],
    fill: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Choose the order of the output tiles and find tiles that read nothing.

    Returns the tile rows and tile columns to compute, in visiting order, and
    a mask of tiles whose every pixel lies more than a pixel outside the
    picture; with ``constant`` fill those are 0 and need no computing. When a
    zoom-out repeats the picture (``wrap``, ``reflect``), tiles far apart in
    the output read the same source patch, so they are visited by patch to
    keep it in the processor cache.
    """
    height, width = shape
    row, column = np.divmod(np.arange(tile_rows * tile_columns), tile_columns)
    last = _WARP_TILE - 1
    corner_rows, corner_columns = _source_coordinates(
        inverse,
        row[:, np.newaxis] * _WARP_TILE + np.array([0.0, 0.0, last, last]),
        column[:, np.newaxis] * _WARP_TILE + np.array([0.0, last, 0.0, last]),
    )
    blank = np.zeros(len(row), bool)
    if fill == "constant":
        blank = (
            (corner_rows.max(axis=1) < -1.5)
            | (corner_rows.min(axis=1) > height + 0.5)
            | (corner_columns.max(axis=1) < -1.5)
            | (corner_columns.min(axis=1) > width + 0.5)
        )
    row, column = row[~blank], column[~blank]
    corner_rows, corner_columns = corner_rows[~blank], corner_columns[~blank]

    repeats = len(row) > 0 and (
        np.ptp(corner_rows) > 2 * height or np.ptp(corner_columns) > 2 * width
    )
    if fill in ("wrap", "reflect") and repeats:
        patch = 2 * _WARP_TILE
        patch_rows = np.floor(corner_rows[:, 0] / patch).astype(np.intp) * patch
        patch_columns = np.floor(corner_columns[:, 0] / patch).astype(np.intp) * patch
        order = np.lexsort(
            (_fold(patch_columns, width, fill), _fold(patch_rows, height, fill))
        )
        row, column = row[order], column[order]
    return row, column, blank


def _warp_general(
    planes: np.ndarray,
    inverse: np.ndarray,
    fill: str,
    destination: np.ndarray,
    finish: Callable[[np.ndarray], np.ndarray],
) -> None:
    """Bilinear warp of ``planes`` (channels, rows, columns) for any affine map.

    The output is filled tile by tile. For each pixel the source coordinates,
    the four neighbours and the weights are those scikit-image uses, and the
    blend runs in the same order, so the result is identical. ``destination``
    has the shape ``(channels, tile rows, tile size, tile columns, tile size)``.
    """
    channels, height, width = planes.shape
    tile_rows, tile_columns = destination.shape[1], destination.shape[3]
    padded_height, padded_width = tile_rows * _WARP_TILE, tile_columns * _WARP_TILE
    row_low, row_high, column_low, column_high = _coordinate_range(
        inverse, padded_height, padded_width
    )

    column_lookup, backwards = _extended_columns(
        np.arange(column_low, column_high + 1), width, fill
    )
    extended = _extended_planes(planes, fill)
    extended_width = extended.shape[2]
    first_row, row_step = _extended_rows(np.arange(row_low, row_high + 1), height, fill)
    row_lookup = first_row * extended_width
    flats = [extended[channel].ravel() for channel in range(channels)]
    upper_pairs = [_pair_view(flat, 0) for flat in flats]
    if row_step is None:
        lower_pairs = [_pair_view(flat, extended_width) for flat in flats]
    else:
        lower_pairs = upper_pairs
        step_lookup = row_step * extended_width

    rows = np.arange(padded_height, dtype=np.float64)
    columns = np.arange(padded_width, dtype=np.float64)
    by_row = np.stack([inverse[1, 1] * rows, inverse[0, 1] * rows])
    by_column = np.stack([inverse[1, 0] * columns, inverse[0, 0] * columns])
    by_row = by_row.reshape(2, tile_rows, _WARP_TILE, 1)
    by_column = by_column.reshape(2, tile_columns, 1, _WARP_TILE)
    order_rows, order_columns, blank = _plan_tiles(
        inverse, tile_rows, tile_columns, (height, width), fill
    )
    if blank.any():
        blank_rows, blank_columns = np.divmod(np.flatnonzero(blank), tile_columns)
        destination[:, blank_rows, :, blank_columns, :] = 0

    def warp_tiles(first: int, last: int) -> None:
        """Compute the tiles ``order_rows[first:last]`` batch by batch."""
        size = _WARP_BATCH * _WARP_TILE * _WARP_TILE
        row_fraction, column_fraction, whole, weight, term, value = np.empty((6, size))
        row_index, column_index = np.empty((2, size), np.intp)
        for start in range(first, last, _WARP_BATCH):
            batch_rows = order_rows[start : min(start + _WARP_BATCH, last)]
            batch_columns = order_columns[start : min(start + _WARP_BATCH, last)]
            shape = (len(batch_rows), _WARP_TILE, _WARP_TILE)
            count = math.prod(shape)
            dr, dc, fl = row_fraction[:count], column_fraction[:count], whole[:count]
            ri, ci = row_index[:count], column_index[:count]
            w, t, v = weight[:count], term[:count], value[:count]

            # Source coordinates, split into whole pixels and fractions.
            np.add(
                by_column[0, batch_columns],
                by_row[0, batch_rows],
                out=dr.reshape(shape),
            )
            dr += inverse[1, 2]
            np.add(
                by_column[1, batch_columns],
                by_row[1, batch_rows],
                out=dc.reshape(shape),
            )
            dc += inverse[0, 2]
            np.floor(dr, out=fl)
            np.subtract(dr, fl, out=dr)
            np.subtract(fl, row_low, out=ri, casting="unsafe")
            np.floor(dc, out=fl)
            np.subtract(dc, fl, out=dc)
            np.subtract(fl, column_low, out=ci, casting="unsafe")

            # Flat index of the upper-left and lower-left neighbours.
            upper = row_lookup[ri]
            upper += column_lookup[ci]
            if row_step is None:
                lower = upper
            else:
                lower = step_lookup[ri]
                lower += upper

            # Weights of the left and right pixel of each pair; scikit-image
            # adds the same two products, only in the other order, where they
            # swap.
            np.subtract(1.0, dc, out=w)
            left_weight, right_weight = w, dc
            if backwards is not None:
                swap = backwards[ci]
                left_weight = np.where(swap, dc, w)
                right_weight = np.where(swap, w, dc)
            for channel in range(channels):
                pair = upper_pairs[channel][upper]
                np.multiply(left_weight, pair.real, out=v)
                np.multiply(right_weight, pair.imag, out=t)
                v += t
                pair = lower_pairs[channel][lower]
                np.multiply(left_weight, pair.real, out=fl)
                np.multiply(right_weight, pair.imag, out=t)
                fl += t
                np.subtract(1.0, dr, out=t)
                v *= t
                fl *= dr
                v += fl
                destination[channel][batch_rows, :, batch_columns, :] = finish(
                    v
                ).reshape(shape)

    _in_parallel(warp_tiles, len(order_rows), _WARP_BATCH)


# Output rows per block of the nearest-pixel warp; a block's coordinates stay
# in the processor cache.
_NEAREST_ROWS = 64


def _fold_outside(coordinates: np.ndarray, size: int, fill: str) -> np.ndarray:
    """Fold coordinates outside the picture back in, as scipy's ndimage does.

    ``reflect`` (scipy's ``mirror``) mirrors about the first and last pixel
    centres, so the pattern repeats every ``2 * (size - 1)``; ``wrap``
    (``grid-wrap``) repeats the picture every ``size`` pixels. The steps are
    scipy's, in the same floating-point order. Within one repeat of the
    picture, the usual case, they reduce to a single addition or
    subtraction.
    """
    last = size - 1
    low, high = coordinates.min(), coordinates.max()
    if fill == "reflect":
        period = 2 * last
        if low > 1 - period and high < period - 1:
            below = np.where(
                coordinates <= 1 - size, coordinates + period, -coordinates
            )
            above = np.where(coordinates >= size, period - coordinates, coordinates)
        else:
            below = period * np.trunc(-coordinates / period) + coordinates
            below = np.where(below <= 1 - size, below + period, -below)
            above = coordinates - period * np.trunc(coordinates / period)
            above = np.where(above >= size, period - above, above)
    elif low > 1 - size and high < 2 * size - 1:
        below = coordinates + size
        above = np.where(coordinates >= size, coordinates - size, coordinates)
    else:
        below = coordinates + size * (np.trunc((-1 - coordinates) / size) + 1)
        above = coordinates - size * np.trunc(coordinates / size)
    return np.where(
        coordinates < 0, below, np.where(coordinates > last, above, coordinates)
    )


def _nearest_index(coordinates: np.ndarray, size: int, fill: str) -> np.ndarray:
    """Index of the pixel nearest each source coordinate, as scipy picks it.

    :func:`scipy.ndimage.map_coordinates` first folds a coordinate outside
    the picture back in (clamps it for ``edge``, mirrors it about the end
    pixels for ``reflect``, adds or takes away the side for ``wrap``), then
    rounds half up, ``floor(c + 0.5)``, and folds an index that rounding
    pushed past the last pixel once more. The same floating-point steps here
    give the same pixels. ``constant`` is clamped like ``edge``; the caller
    fixes the points outside.
    """
    last = size - 1
    if size == 1:
        return np.zeros(coordinates.shape, np.intp)
    if fill in ("edge", "constant"):
        folded = np.clip(coordinates, 0, last)
    elif coordinates.min() >= 0 and coordinates.max() <= last:
        folded = coordinates.copy()
    else:
        folded = _fold_outside(coordinates, size, fill)
    folded += 0.5
    index = np.floor(folded, out=folded).astype(np.intp)
    if fill == "reflect":
        index = np.where(index > last, 2 * last - index, index)
    elif fill == "wrap":
        np.mod(index, size, out=index)
    return index


def _warp_nearest(mask: np.ndarray, inverse: np.ndarray, fill: str) -> np.ndarray:
    """Nearest-pixel warp of a 2-D boolean mask, identical to scikit-image's.

    scikit-image warps with the nearest pixel by computing every source
    coordinate with one matrix product and handing them to
    :func:`scipy.ndimage.map_coordinates`. This computes the coordinates with
    the same product, block by block of output rows, so they are the same to
    the last bit, and picks the pixels with NumPy by scipy's rounding and
    folding rules. With ``constant`` fill, points further than a pixel
    outside the picture are 0 and only the band within a pixel of its border
    goes to scipy itself.
    """
    height, width = mask.shape
    source = mask.view(np.uint8)
    flat = source.ravel()
    warped = np.empty((height, width), np.uint8)

    def warp_rows(first: int, last: int) -> None:
        # Homogeneous (column, row, 1) points of one block; only rows change.
        points = np.empty((_NEAREST_ROWS, width, 3))
        points[..., 0] = np.arange(width)
        points[..., 2] = 1.0
        for top in range(first, last, _NEAREST_ROWS):
            bottom = min(top + _NEAREST_ROWS, last)
            block = points[: bottom - top]
            block[..., 1] = np.arange(top, bottom)[:, np.newaxis]
            mapped = (block.reshape(-1, 3) @ inverse.T).reshape(bottom - top, width, 3)
            rows = np.ascontiguousarray(mapped[..., 1])
            columns = np.ascontiguousarray(mapped[..., 0])
            target = warped[top:bottom]
            row_index = _nearest_index(rows, height, fill)
            column_index = _nearest_index(columns, width, fill)
            row_index *= width
            row_index += column_index
            np.take(flat, row_index, out=target)
            if fill != "constant":
                continue
            far = (rows < -1) | (rows > height) | (columns < -1) | (columns > width)
            target[far] = 0
            border = (rows < 0) | (rows > height - 1) | (columns < 0)
            border |= columns > width - 1
            border &= ~far
            if border.any():
                target[border] = ndimage.map_coordinates(
                    source,
                    np.stack([rows[border], columns[border]]),
                    order=0,
                    mode="grid-constant",
                    cval=0,
                )

    with _single_threaded_blas():
        _in_parallel(warp_rows, height, _NEAREST_ROWS)
    return warped.view(bool)


def _warp_bilinear(
    image: np.ndarray, inverse: np.ndarray, fill: str
) -> np.ndarray | None:
    """Bilinear warp identical to scikit-image's, or None where it cannot be.

    The result equals ``skimage.transform.warp(image, inverse, order=1,
    mode=fill, preserve_range=True)`` rounded and clipped to the dtype of
    ``image``, element for element. It is computed with whole-array NumPy
    steps instead of a per-pixel loop, and zooms, shifts and quarter turns,
    whose rows and columns map separately, blend whole rows at once. None
    means the input is outside what this path reproduces (float32 and other
    dtypes, NaN or infinite values, pictures narrower than 2 pixels, extreme
    zoom-outs).
    """
    if image.dtype not in _EXACT_WARP_DTYPES or min(image.shape[:2]) < 2:
        return None
    if not np.all(np.isfinite(inverse)) or tuple(inverse[2]) != (0.0, 0.0, 1.0):
        return None
    low, high = float(image.min()), float(image.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        return None
    height, width = image.shape[:2]
    row_low, row_high, column_low, column_high = _coordinate_range(
        inverse, height + 2 * _WARP_TILE, width + 2 * _WARP_TILE
    )
    if max(row_high - row_low, column_high - column_low) > _MAX_WARP_SPAN:
        return None

    # With constant fill and an input range that excludes 0, the clipping
    # depends on the whole output: keep floats and finish at the end.
    deferred = fill == "constant" and not low <= 0.0 <= high
    if deferred:
        warped = np.empty(image.shape)
        finish = _keep_values
    else:
        warped = np.empty(image.shape, image.dtype)
        finish = _batch_finisher(image.dtype, low, high, fill)
    planes = image[np.newaxis] if image.ndim == 2 else np.moveaxis(image, -1, 0)
    destination = warped[np.newaxis] if image.ndim == 2 else np.moveaxis(warped, -1, 0)
    rows = np.arange(height, dtype=np.float64)
    columns = np.arange(width, dtype=np.float64)
    if inverse[0, 1] == 0 and inverse[1, 0] == 0:
        # Each output row reads one source row, each column one source column.
        source_rows = _source_coordinates(inverse, rows, 0.0)[0]
        source_columns = _source_coordinates(inverse, 0.0, columns)[1]
        _warp_separable(planes, source_rows, source_columns, fill, destination, finish)
    elif inverse[0, 0] == 0 and inverse[1, 1] == 0:
        # A quarter turn: output columns read source rows and vice versa.
        source_rows = _source_coordinates(inverse, 0.0, columns)[0]
        source_columns = _source_coordinates(inverse, rows, 0.0)[1]
        _warp_separable(
            planes,
            source_rows,
            source_columns,
            fill,
            destination.transpose(0, 2, 1),
            finish,
        )
    else:
        tile_rows, tile_columns = -(-height // _WARP_TILE), -(-width // _WARP_TILE)
        tiles = (len(planes), tile_rows, _WARP_TILE, tile_columns, _WARP_TILE)
        if warped.ndim == 2 and height % _WARP_TILE == 0 and width % _WARP_TILE == 0:
            _warp_general(planes, inverse, fill, warped.reshape(tiles), finish)
        else:
            padded = np.empty(tiles, warped.dtype)
            _warp_general(planes, inverse, fill, padded, finish)
            padded = padded.reshape(len(planes), tiles[1] * _WARP_TILE, -1)
            destination[...] = padded[:, :height, :width]
    if deferred:
        return _finish_deferred(warped, image.dtype, low, high)
    return warped


def affine(
    image: np.ndarray,
    rotation: float = 0.0,
    scale: float = 1.0,
    translate_x: float = 0.0,
    translate_y: float = 0.0,
    shear: float = 0.0,
    fill: str = "constant",
) -> np.ndarray:
    """Rotate, zoom, shift and shear the picture in one resampling.

    The content turns counter-clockwise by ``rotation`` degrees about the
    centre, grows by ``scale``, slides by ``translate_x`` pixels right and
    ``translate_y`` pixels down, and is sheared by ``shear`` degrees. The
    output keeps the size of the input: content moved out of the frame is
    lost, and areas that come from outside the original are filled as
    ``fill`` says.

    Parameters
    ----------
    image : ndarray
        Grayscale or colour image; colour channels are warped one by one.
    rotation, scale, translate_x, translate_y, shear : float
        See :func:`affine_matrix`.
    fill : {"constant", "reflect", "edge", "wrap"}
        What appears where the picture has no content: black (0), a mirror
        image of the picture, the nearest edge pixel repeated, or the picture
        repeated like a tile.

    Returns
    -------
    warped : ndarray
        Same shape and dtype as ``image`` (integers rounded and clipped).

    Raises
    ------
    ValueError
        If ``fill`` is unknown or the geometry is invalid or absurd: a shift
        beyond 100,000 pixels, a zoom outside 0.001 to 1000.

    Notes
    -----
    Pixels are interpolated bilinearly, which softens fine detail slightly;
    a boolean mask uses the nearest pixel instead so it stays a mask. Quarter
    turns (90, 180, 270 degrees) on a square image move pixels exactly
    without any blur.

    The result is element for element that of
    :func:`skimage.transform.warp` (``order=1``, ``preserve_range=True``),
    rounded and clipped to the dtype. For integer and float64 pictures it is
    computed with whole-array NumPy steps that repeat scikit-image's
    arithmetic in the same order: zooms, shifts and quarter turns blend
    whole rows at once (a few milliseconds for a 1024x1024 X-ray), and other
    settings work through the output in small tiles (about as fast as
    scikit-image, and faster where the fill repeats the picture many times).
    float32 pictures, pictures with NaN or infinite values, pictures
    narrower than 2 pixels and zoom-outs beyond about a million pixels of
    source are handed to scikit-image itself. The work is shared between up
    to four threads, one per processor core.

    A 2-D boolean mask is warped with the nearest pixel exactly as
    :func:`skimage.transform.warp` does with ``order=0``, from the same
    source coordinates and with the same rounding and border rules, mostly
    in NumPy: about 10 to 30 ms for a 1024x1024 mask where scikit-image
    takes 50 to 80. A colour boolean image goes through scikit-image itself.

    Examples
    --------
    >>> affine(np.array([[1, 2], [3, 4]], dtype=np.uint8), rotation=90)
    array([[2, 4],
           [1, 3]], dtype=uint8)
    """
    image = _check_image(image)
    if fill not in FILL_MODES:
        choices = ", ".join(FILL_MODES)
        raise ValueError(f"Unknown fill '{fill}'; choose one of {choices}.")
    for name, shift in (("translate_x", translate_x), ("translate_y", translate_y)):
        if not abs(shift) <= MAX_SHIFT:
            raise ValueError(
                f"The shift {name} must be within ±{MAX_SHIFT:,.0f} pixels; "
                f"got {shift!r}."
            )
    if not _SCALE_RANGE[0] <= scale <= _SCALE_RANGE[1]:
        raise ValueError(
            f"The zoom must be between {_SCALE_RANGE[0]:g} and "
            f"{_SCALE_RANGE[1]:g}; got {scale!r}."
        )
    matrix = affine_matrix(
        image.shape, rotation, scale, translate_x, translate_y, shear
    )
    inverse = np.linalg.inv(matrix)

    if image.dtype == np.bool_:
        if image.ndim == 2 and np.all(np.isfinite(inverse)):
            return _warp_nearest(image, inverse, fill)
        warped = transform.warp(image, inverse, order=0, mode=fill, cval=0)
        return warped.astype(bool)
    warped = _warp_bilinear(image, inverse, fill)
    if warped is not None:
        return warped
    warped = transform.warp(
        image, inverse, order=1, mode=fill, cval=0.0, preserve_range=True
    )
    return _restore_dtype(warped, image.dtype)


def brightness(image: np.ndarray, factor: float) -> np.ndarray:
    """Make the picture darker or brighter by multiplying every value.

    A factor below 1 darkens, above 1 brightens, and 0 gives black. Integer
    pictures saturate: values pushed past the top of their range (255 for
    ``uint8``) are clipped, so bright areas can wash out to white.

    Parameters
    ----------
    image : ndarray
        Grayscale or colour image.
    factor : float
        Multiplier, 0 or more.

    Returns
    -------
    adjusted : ndarray
        Same shape and dtype; integers are rounded and clipped, floats are
        not clipped.

    Raises
    ------
    ValueError
        If ``factor`` is negative or not finite.

    Examples
    --------
    >>> brightness(np.array([[100, 200]], dtype=np.uint8), 1.5)
    array([[150, 255]], dtype=uint8)
    """
    image = _check_image(image)
    if not math.isfinite(factor) or factor < 0:
        raise ValueError(
            f"The brightness factor must be 0 or more; got {_number_text(factor)}."
        )
    if np.issubdtype(image.dtype, np.floating):
        return (image * factor).astype(image.dtype, copy=False)
    return _restore_dtype(image.astype(np.float64) * factor, image.dtype)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Change the number of pixels to ``height`` x ``width``.

    The picture is stretched or squeezed to exactly that size (the aspect
    ratio changes if the new size has a different shape). When shrinking, the
    picture is first blurred just enough that fine patterns do not turn into
    false stripes (aliasing).

    Parameters
    ----------
    image : ndarray
        Grayscale or colour image; the colour axis is left as it is.
    height, width : int
        New size in pixels, at least 1.

    Returns
    -------
    resized : ndarray
        ``(height, width)`` or ``(height, width, C)`` with the dtype of
        ``image`` (integers rounded).

    Raises
    ------
    ValueError
        If a size is not a whole number of at least 1.

    Notes
    -----
    Uses :func:`skimage.transform.resize` with bilinear interpolation and
    Gaussian anti-aliasing when shrinking. Masks use the nearest pixel and
    no anti-aliasing, so they stay masks.

    Examples
    --------
    >>> resize(np.zeros((4, 6, 3), dtype=np.uint8), 2, 3).shape
    (2, 3, 3)
    """
    image = _check_image(image)
    height = _check_size("height", height)
    width = _check_size("width", width)
    output_shape = (height, width) + image.shape[2:]

    if image.dtype == np.bool_:
        return transform.resize(
            image, output_shape, order=0, anti_aliasing=False
        ).astype(bool)
    shrinking = height < image.shape[0] or width < image.shape[1]
    resized = transform.resize(
        image,
        output_shape,
        order=1,
        anti_aliasing=shrinking,
        preserve_range=True,
    )
    return _restore_dtype(resized, image.dtype)


def center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Cut the central ``height`` x ``width`` window out of the picture.

    The borders are discarded evenly on both sides (one pixel more on the
    bottom or right when the difference is odd); nothing is resampled, so
    the remaining pixels keep their exact values.

    Parameters
    ----------
    image : ndarray
        Grayscale or colour image.
    height, width : int
        Size of the window in pixels.

    Returns
    -------
    cropped : ndarray
        A new array of ``(height, width)`` (plus the colour axis).

    Raises
    ------
    ValueError
        If the image is smaller than the window in either direction.

    Examples
    --------
    >>> center_crop(np.arange(25).reshape(5, 5), 3, 3)[0]
    array([6, 7, 8])
    """
    image = _check_image(image)
    height = _check_size("crop height", height)
    width = _check_size("crop width", width)
    image_height, image_width = image.shape[:2]
    if image_height < height or image_width < width:
        raise ValueError(
            f"The image is {image_height}x{image_width} pixels, smaller than the "
            f"{height}x{width} crop."
        )
    top = (image_height - height) // 2
    left = (image_width - width) // 2
    return image[top : top + height, left : left + width].copy()
