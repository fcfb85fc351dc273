"""Read image files into NumPy arrays whose dtype tells the value range."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .dicom import dicom_display_image, is_dicom, read_dicom

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "SAMPLES",
    "ImageLoadError",
    "load_image",
    "load_sample",
    "sample_names",
]

MAX_PIXELS = 100_000_000

IMAGE_EXTENSIONS = (
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".bmp",
    ".gif",
    ".dcm",
)

SAMPLES: dict[str, str] = {
    "astronaut": "Colour portrait of astronaut Eileen Collins (512x512).",
    "coffee": "Colour photo of a cup of coffee on a saucer (400x600).",
    "chelsea": "Colour photo of Chelsea the cat (300x451).",
    "rocket": "Colour photo of a rocket on its launch pad (427x640).",
    "camera": "Grayscale photo of a man with a camera on a tripod (512x512).",
    "moon": "Grayscale photo of the lunar surface, low contrast (512x512).",
    "coins": "Grayscale photo of Greek coins on a dark background (303x384).",
    "retina": "Colour fundus photo of a human retina (1411x1411).",
    "hubble_deep_field": "Colour Hubble deep-field photo of galaxies (872x1000).",
    "immunohistochemistry": "Colour microscopy of stained tissue (512x512).",
    "page": "Grayscale scan of a printed page, unevenly lit (191x384).",
    "text": "Grayscale photo of handwritten text on a board (172x448).",
    "cell": "Grayscale microscopy of a single cell (660x550).",
    "brick": "Grayscale texture of a brick wall (512x512).",
}

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_TO_RGB_MODES = ("CMYK", "YCbCr", "LAB", "HSV", "RGBX")
_WITH_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")


class ImageLoadError(ValueError):
    """An image file could not be turned into an array; the message names it."""


def _describe_source(source: object, name: str | None) -> str:
    """Return the name to use for ``source`` in messages."""
    if name:
        return name
    if isinstance(source, (str, Path)):
        return Path(source).name
    source_name = getattr(source, "name", None)
    if isinstance(source_name, str) and source_name:
        return Path(source_name).name
    return "the uploaded image"


def _open(source: str | Path | bytes | BinaryIO) -> Image.Image:
    """Open ``source`` lazily with Pillow (headers only, no pixels yet)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return Image.open(io.BytesIO(bytes(source)))
    return Image.open(source)


def _bomb_sentence(label: str, error: Exception, max_pixels: int) -> str:
    """Explain Pillow's decompression-bomb refusal as a plain sentence."""
    found = re.search(r"\((\d+) pixels\)", str(error))
    size = f" ({int(found.group(1)):,} pixels)" if found else ""
    return (
        f"Could not read '{label}': the image is too large{size}; the limit is "
        f"{max_pixels:,} pixels."
    )


def _composite_over_white(array: np.ndarray) -> np.ndarray:
    """Blend an 8-bit image with an alpha channel (last axis) onto white."""
    colour = array[..., :-1].astype(np.float64)
    alpha = array[..., -1:].astype(np.float64) / 255.0
    blended = colour * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def _drop_alpha(picture: Image.Image) -> np.ndarray:
    """Remove the alpha channel, compositing over white where it is not opaque."""
    if picture.mode in ("PA", "RGBa"):
        picture = picture.convert("RGBA")
    elif picture.mode == "La":
        picture = picture.convert("LA")
    array = np.asarray(picture)
    if np.all(array[..., -1] == 255):
        colour = array[..., :-1]
    else:
        colour = _composite_over_white(array)
    if colour.shape[-1] == 1:
        return np.ascontiguousarray(colour[..., 0])
    return np.ascontiguousarray(colour)


def _integer_array(array: np.ndarray) -> np.ndarray:
    """Store 32-bit integer pixels in the smallest dtype that keeps every value."""
    if array.size == 0:
        return array.astype(np.uint16)
    low, high = int(array.min()), int(array.max())
    if low >= 0 and high <= np.iinfo(np.uint16).max:
        return array.astype(np.uint16)
    if low >= np.iinfo(np.int16).min and high <= np.iinfo(np.int16).max:
        return array.astype(np.int16)
    return array.astype(np.int32)


def _collapse_gray(array: np.ndarray) -> np.ndarray:
    """Return a 2-D array when the three colour channels are identical."""
    if array.ndim == 3 and array.shape[-1] == 3:
        red = array[..., 0]
        if np.array_equal(red, array[..., 1]) and np.array_equal(red, array[..., 2]):
            return np.ascontiguousarray(red)
    return array


def _to_array(picture: Image.Image) -> np.ndarray:
    """Turn a decoded Pillow image into an array following the dtype rules."""
    mode = picture.mode
    if mode == "P":
        has_alpha = picture.has_transparency_data
        picture = picture.convert("RGBA" if has_alpha else "RGB")
        mode = picture.mode

    if mode in ("1", "L", "F"):
        return np.array(picture)
    if mode in _SIXTEEN_BIT_MODES:
        return np.asarray(picture).astype(np.uint16)
    if mode == "I":
        return _integer_array(np.asarray(picture))
    if mode in _WITH_ALPHA_MODES:
        return _collapse_gray(_drop_alpha(picture))
    if mode != "RGB":
        picture = picture.convert("RGB")
    return _collapse_gray(np.array(picture))


def load_image(
    source: str | Path | bytes | BinaryIO,
    *,
    name: str | None = None,
    max_pixels: int = MAX_PIXELS,
) -> np.ndarray:
    """Read an image file into an array, keeping its real values.

    The picture is turned the way the camera meant it to be seen (the EXIF
    orientation tag is applied), transparency is flattened onto white, and a
    picture whose red, green and blue are the same everywhere comes back as one
    grayscale channel. Pixel values are never rescaled: a 16-bit X-ray keeps
    all of its 65,536 possible grey levels.

    Parameters
    ----------
    source : str, Path, bytes or binary file object
        A path, the raw bytes of a file, or an open binary file such as an
        uploaded file.
    name : str, optional
        The name to use for the file in error messages. By default the file
        name of ``source`` is used.
    max_pixels : int, optional
        Largest accepted width x height. Larger images are refused from their
        header, before any pixel is decoded, so a tiny file that declares a
        huge picture cannot exhaust memory.

    Returns
    -------
    image : ndarray
        ``(H, W)`` for grayscale or ``(H, W, 3)`` for colour. The dtype tells
        the range: ``bool`` for 1-bit images, ``uint8`` for 8-bit, ``uint16``
        for 16-bit, ``int16``/``int32`` for signed integer data, ``float32``
        for floating-point files, ``float64`` in 0..1 for DICOM files.

    Raises
    ------
    ImageLoadError
        If the file is missing, is not an image Pillow can decode, is
        truncated, or is larger than ``max_pixels``. The message is one
        sentence naming the file.

    Notes
    -----
    A DICOM file (``.dcm`` or the ``DICM`` marker) is read with pydicom and
    returned as ``float64`` in 0..1: rescale slope and intercept first, then
    the file's first window (or its full range), then the MONOCHROME1
    inversion; see :mod:`imgproc.dicom` for the raw values. Only the first
    frame of an animated GIF, multi-page TIFF or multi-frame DICOM is read.
    Palette images are expanded to their colours (the stored numbers are
    palette indices, not brightness). CMYK, YCbCr, LAB and HSV images are
    converted to RGB by Pillow. Pillow decodes 16-bit colour PNGs to 8 bits
    per channel, so only grayscale files keep a 16-bit depth. Pillow has its
    own safety limit (about 179 million pixels); images above it are refused
    even when ``max_pixels`` is larger.

    Examples
    --------
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.new("L", (4, 3), 200).save(buffer, "PNG")
    >>> load_image(buffer.getvalue()).shape
    (3, 4)
    """
    label = _describe_source(source, name)
    if is_dicom(source):
        return _load_dicom(source, label, max_pixels)
    try:
        with _open(source) as picture:
            width, height = picture.size
            if width * height > max_pixels:
                raise ImageLoadError(
                    f"Could not read '{label}': the image is {width}x{height} "
                    f"pixels ({width * height:,}), more than the limit of "
                    f"{max_pixels:,} pixels."
                )
            picture.seek(0)
            upright = ImageOps.exif_transpose(picture)
            upright.load()
            return _to_array(upright)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageLoadError(_bomb_sentence(label, error, max_pixels)) from None
    except FileNotFoundError:
        raise ImageLoadError(
            f"Could not read '{label}': the file does not exist."
        ) from None
    except IsADirectoryError:
        raise ImageLoadError(
            f"Could not read '{label}': it is a folder, not an image file."
        ) from None
    except UnidentifiedImageError:
        raise ImageLoadError(
            f"Could not read '{label}': it is not an image file Pillow can decode."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as error:
        raise ImageLoadError(
            f"Could not read '{label}': the file is damaged or truncated ({error})."
        ) from None


def _load_dicom(
    source: str | Path | bytes | BinaryIO, label: str, max_pixels: int
) -> np.ndarray:
    """Read a DICOM file as the picture its default window shows."""
    dicom = read_dicom(source, name=label)
    height, width = dicom.values.shape[:2]
    if height * width > max_pixels:
        raise ImageLoadError(
            f"Could not read '{label}': the image is {width}x{height} pixels "
            f"({width * height:,}), more than the limit of {max_pixels:,} pixels."
        )
    return dicom_display_image(dicom)


def sample_names() -> list[str]:
    """Return the names of the sample photographs bundled with scikit-image.

    Returns
    -------
    names : list of str
        Keys of :data:`SAMPLES`, in display order.

    Examples
    --------
    >>> "camera" in sample_names()
    True
    """
    return list(SAMPLES)


def _sample_loader(name: str) -> Callable[[], np.ndarray]:
    """Return scikit-image's loader for the sample called ``name``."""
    from skimage import data

    return getattr(data, name)


def load_sample(name: str) -> np.ndarray:
    """Load one of the sample photographs that ship with scikit-image.

    The samples need no download. They follow the same rules as
    :func:`load_image`: grayscale pictures are 2-D ``uint8``, colour pictures
    are ``(H, W, 3)`` ``uint8``.

    Parameters
    ----------
    name : str
        One of :func:`sample_names`.

    Returns
    -------
    image : ndarray
        The photograph.

    Raises
    ------
    ValueError
        If ``name`` is not a known sample.

    Examples
    --------
    >>> load_sample("camera").shape
    (512, 512)
    """
    if name not in SAMPLES:
        known = ", ".join(SAMPLES)
        raise ValueError(f"There is no sample called '{name}'; choose one of {known}.")
    image = np.asarray(_sample_loader(name)())
    return _collapse_gray(image)
