"""Turn arrays of any dtype into 8-bit pictures and histograms for the screen."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["clipped_fraction", "histogram", "to_display"]


def _stretch(values: np.ndarray) -> np.ndarray:
    """Map the smallest value to 0 and the largest to 255."""
    values = values.astype(np.float64)
    lowest, highest = values.min(), values.max()
    if highest == lowest:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values - lowest) * (255.0 / (highest - lowest))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def clipped_fraction(result: np.ndarray) -> tuple[int, int]:
    """Count the values of a float result that the screen cannot show.

    A float picture is shown with 0 as black and 1 as white; values below 0
    are drawn black and values above 1 white, so detail there is lost. The
    counts let a page say how much of the picture is clipped.

    Parameters
    ----------
    result : ndarray
        Image of any dtype.

    Returns
    -------
    below, above : int
        How many values lie below 0 and above 1. Always ``(0, 0)`` for
        integer images and masks, whose whole range is shown. NaN values are
        in neither count.

    Examples
    --------
    >>> clipped_fraction(np.array([[-0.5, 0.5, 2.0, 3.0]]))
    (1, 2)
    """
    values = np.asarray(result)
    if not np.issubdtype(values.dtype, np.floating):
        return 0, 0
    return int(np.count_nonzero(values < 0.0)), int(np.count_nonzero(values > 1.0))


def _shrink(picture: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale ``picture`` so that its longer side is ``max_side`` pixels."""
    height, width = picture.shape[:2]
    longer = max(height, width)
    if longer <= max_side:
        return picture
    ratio = max_side / longer
    size = (max(1, round(width * ratio)), max(1, round(height * ratio)))
    return cv2.resize(picture, size, interpolation=cv2.INTER_AREA)


_MEASUREMENT_LIMIT = 64.0


def _is_measurement(image: np.ndarray) -> bool:
    """Whether a float image holds raw measurements rather than 0-1 values.

    Normalised pictures sit around 0-1, with values a few units beyond it
    after a percentile or z-score step. Values past 64 in size are
    measurements in their own units (rescaled DICOM values, Hounsfield units,
    a float TIFF of counts), which a 0-1 reading would paint all black or all
    white.
    """
    finite = image[np.isfinite(image)]
    return finite.size > 0 and float(np.abs(finite).max()) > _MEASUREMENT_LIMIT


def to_display(
    image: np.ndarray, max_side: int | None = None
) -> tuple[np.ndarray, int]:
    """Make an 8-bit copy of an image that a browser can show.

    Screens show 256 grey levels per channel, so every image is mapped onto
    0-255: a mask becomes black and white, a 16-bit image is divided by 257,
    other integer images are stretched from their darkest to their brightest
    value, and a float image is read as 0 = black, 1 = white. Float values
    outside 0-1 cannot be shown and are clipped; their number is returned so
    the page can say how much of the picture is saturated. A float image with
    values beyond 64 in size holds measurements in its own units (a rescaled
    DICOM, a float TIFF) and is stretched like an integer image instead, with
    nothing clipped.

    Parameters
    ----------
    image : ndarray
        ``(H, W)`` or ``(H, W, 3)`` image of any dtype; ``(H, W, 1)`` is
        shown as ``(H, W)``.
    max_side : int, optional
        If given and the image is larger, it is shrunk (averaging pixels, so
        fine detail does not flicker) until its longer side is ``max_side``.

    Returns
    -------
    picture : ndarray of uint8
        The displayable image.
    clipped : int
        How many float values lay outside 0-1 (NaN included) and were clipped;
        always 0 for integer images and masks.

    Raises
    ------
    ValueError
        If ``image`` is not 2-D or 3-D, or ``max_side`` is below 1.

    Examples
    --------
    >>> picture, clipped = to_display(np.array([[-0.5, 0.5, 2.0]]))
    >>> picture, clipped
    (array([[  0, 128, 255]], dtype=uint8), 2)
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3):
        raise ValueError(
            f"Only 2-D or 3-D images can be displayed; got shape {image.shape}."
        )
    if max_side is not None and max_side < 1:
        raise ValueError(f"The display size must be at least 1; got {max_side}.")
    clipped = 0

    if image.dtype == np.bool_:
        picture = image.astype(np.uint8) * 255
    elif image.dtype == np.uint8:
        picture = image
    elif image.dtype == np.uint16:
        picture = np.rint(image / 257.0).astype(np.uint8)
    elif np.issubdtype(image.dtype, np.integer):
        picture = _stretch(image)
    elif _is_measurement(image):
        finite = image[np.isfinite(image)]
        low, high = float(finite.min()), float(finite.max())
        picture = _stretch(np.nan_to_num(image, nan=low, posinf=high, neginf=low))
    else:
        values = image.astype(np.float64)
        below, above = clipped_fraction(values)
        clipped = below + above + int(np.count_nonzero(np.isnan(values)))
        values = np.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0)
        picture = np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)

    if max_side is not None:
        picture = _shrink(picture, max_side)
    return np.ascontiguousarray(picture), clipped


def histogram(
    image: np.ndarray,
    bins: int = 256,
    value_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Count how many pixel values fall into each brightness interval.

    The histogram shows how the brightness is spread: a dark picture piles up
    on the left, a washed-out one on the right, and a low-contrast picture
    fills only a narrow band. All channels of a colour image are counted
    together.

    Parameters
    ----------
    image : ndarray
        Image of any dtype; a mask counts as 0 and 1. NaN values are ignored.
    bins : int
        Number of intervals.
    value_range : tuple of float, optional
        ``(lowest, highest)`` edges. By default the smallest and largest
        value in the image.

    Returns
    -------
    counts : ndarray of int
        Number of values in each interval, length ``bins``.
    edges : ndarray of float
        Interval edges, length ``bins + 1``.

    Examples
    --------
    >>> counts, edges = histogram(np.array([[0, 0, 255]], dtype=np.uint8), bins=2)
    >>> counts
    array([2, 1])
    """
    values = np.asarray(image)
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    values = values.ravel()
    if np.issubdtype(values.dtype, np.floating):
        values = values[~np.isnan(values)]
    return np.histogram(values, bins=bins, range=value_range)
