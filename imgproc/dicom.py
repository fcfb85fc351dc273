"""Read DICOM radiographs: stored values, display window and technical tags."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .ops import window

__all__ = [
    "TECHNICAL_TAGS",
    "DicomImage",
    "dicom_display_image",
    "dicom_pipeline_steps",
    "is_dicom",
    "read_dicom",
]

logger = logging.getLogger(__name__)

# Acquisition and image-geometry tags a learner may see. Nothing that names or
# identifies a person, an institution or an examination is ever listed here.
TECHNICAL_TAGS = (
    "Modality",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "WindowCenter",
    "WindowWidth",
    "NumberOfFrames",
    "ViewPosition",
    "BodyPartExamined",
    "Manufacturer",
    "ManufacturerModelName",
    "KVP",
    "ExposureTime",
    "XRayTubeCurrent",
    "Exposure",
    "SliceThickness",
)

_MAGIC_OFFSET = 128


@dataclass(frozen=True)
class DicomImage:
    """The pixels and display settings of one DICOM image.

    Attributes
    ----------
    values : ndarray
        ``(H, W)`` values after the modality LUT (rescale slope and
        intercept), in the file's units such as Hounsfield units. Integer
        when the rescale keeps whole numbers, else ``float64``.
    monochrome1 : bool
        True when low values are meant to be shown white
        (PhotometricInterpretation MONOCHROME1).
    windows : list of (float, float)
        Every (centre, width) pair stored in the file, first one first.
    tags : dict of str to str
        Technical tags only (see :data:`TECHNICAL_TAGS`); never patient or
        institution identifiers.
    """

    values: np.ndarray
    monochrome1: bool
    windows: list[tuple[float, float]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    def default_window(self) -> tuple[float, float]:
        """The window a viewer opens with: the file's first one.

        Returns
        -------
        center, width : float
            The first window stored in the file; when there is none, the
            window that spans the smallest to the largest value.
        """
        if self.windows:
            return self.windows[0]
        lowest, highest = float(self.values.min()), float(self.values.max())
        return (lowest + highest + 1.0) / 2.0, max(highest - lowest + 1.0, 1.0)


def is_dicom(source: str | Path | bytes | BinaryIO) -> bool:
    """Tell whether ``source`` is a DICOM file, by extension or content.

    Parameters
    ----------
    source : str, Path, bytes or binary file object
        A path, raw bytes, or an open binary file (its position is kept).

    Returns
    -------
    dicom : bool
        True for a ``.dcm`` name or the ``DICM`` marker at byte 128.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix.lower() == ".dcm":
            return True
        try:
            with path.open("rb") as handle:
                head = handle.read(_MAGIC_OFFSET + 4)
        except OSError:
            return False
    elif isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[: _MAGIC_OFFSET + 4])
    else:
        name = getattr(source, "name", None)
        if isinstance(name, str) and name.lower().endswith(".dcm"):
            return True
        try:
            position = source.tell()
            head = source.read(_MAGIC_OFFSET + 4)
            source.seek(position)
        except (AttributeError, OSError, ValueError):
            return False
    return head[_MAGIC_OFFSET : _MAGIC_OFFSET + 4] == b"DICM"


def _numbers(value: Any) -> list[float]:
    """Read a DICOM decimal string tag, single or multi-valued, as floats."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        items = [value]
    else:
        items = list(value)
    numbers = []
    for item in items:
        try:
            numbers.append(float(item))
        except (TypeError, ValueError):
            continue
    return numbers


def _windows(dataset: Any) -> list[tuple[float, float]]:
    """Pair the window centres and widths stored in the file."""
    centres = _numbers(dataset.get("WindowCenter"))
    widths = _numbers(dataset.get("WindowWidth"))
    return [
        (centre, width)
        for centre, width in zip(centres, widths, strict=False)
        if np.isfinite(centre) and np.isfinite(width) and width >= 1
    ]


def _tag_text(value: Any) -> str:
    """Write a tag value as short text; several values are joined by commas."""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return ", ".join(str(item) for item in value)
    return str(value)


def _rescaled(pixels: np.ndarray, dataset: Any) -> np.ndarray:
    """Apply the modality LUT (slope and intercept), keeping integers if exact."""
    slope_values = _numbers(dataset.get("RescaleSlope"))
    intercept_values = _numbers(dataset.get("RescaleIntercept"))
    slope = slope_values[0] if slope_values else 1.0
    intercept = intercept_values[0] if intercept_values else 0.0
    if slope == 1.0 and intercept == 0.0:
        return pixels
    if slope.is_integer() and intercept.is_integer() and pixels.dtype.kind in "iu":
        wide = pixels.astype(np.int64) * int(slope) + int(intercept)
        for dtype in (np.int16, np.uint16, np.int32):
            limits = np.iinfo(dtype)
            if wide.min() >= limits.min and wide.max() <= limits.max:
                return wide.astype(dtype)
        return wide
    return pixels.astype(np.float64) * slope + intercept


def read_dicom(
    source: str | Path | bytes | BinaryIO, name: str | None = None
) -> DicomImage:
    """Read a DICOM image with the values and window a radiology viewer uses.

    The stored numbers are turned into real units by the modality LUT
    (rescale slope and intercept), the file's window centres and widths are
    collected, and a short list of technical tags is kept for display. A
    multi-frame file gives its first frame. Patient identifiers are never
    read into the result.

    Parameters
    ----------
    source : str, Path, bytes or binary file object
        The DICOM file.
    name : str, optional
        What to call the file in error messages.

    Returns
    -------
    dicom : DicomImage
        Values, MONOCHROME1 flag, windows and technical tags.

    Raises
    ------
    imgproc.io.ImageLoadError
        If the file cannot be read as a DICOM image; the message is one
        sentence naming it.

    Notes
    -----
    The values still need a window to be shown: see
    :meth:`DicomImage.default_window` and :func:`dicom_pipeline_steps`.
    Palette-colour and RGB DICOM files are returned as they are decoded,
    without a window.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    from .io import ImageLoadError, _describe_source

    label = _describe_source(source, name)
    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = io.BytesIO(bytes(source))
        dataset = pydicom.dcmread(source, force=True)
        pixels = dataset.pixel_array
    except FileNotFoundError:
        raise ImageLoadError(
            f"Could not read '{label}': the file does not exist."
        ) from None
    except InvalidDicomError:
        raise ImageLoadError(
            f"Could not read '{label}': it is not a DICOM file."
        ) from None
    except Exception as error:  # pydicom raises many kinds for broken files
        logger.info("DICOM decoding of %s failed: %r", label, error)
        raise ImageLoadError(
            f"Could not read '{label}': the DICOM file has no image pydicom can "
            f"decode ({type(error).__name__})."
        ) from None

    frame_counts = _numbers(dataset.get("NumberOfFrames"))
    frames = int(frame_counts[0]) if frame_counts else 1
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    if frames > 1 and pixels.ndim == (3 if samples == 1 else 4):
        pixels = pixels[0]
    pixels = np.ascontiguousarray(pixels)
    photometric = str(dataset.get("PhotometricInterpretation", "")).upper()
    tags = {
        keyword: _tag_text(dataset.get(keyword))
        for keyword in TECHNICAL_TAGS
        if keyword in dataset and dataset.get(keyword) not in (None, "")
    }
    if samples != 1:
        return DicomImage(pixels, False, [], tags)
    return DicomImage(
        values=_rescaled(pixels, dataset),
        monochrome1=photometric == "MONOCHROME1",
        windows=_windows(dataset),
        tags=tags,
    )


def dicom_pipeline_steps(dicom: DicomImage) -> list[dict[str, Any]]:
    """The pipeline step that shows DICOM values the way the file asks.

    A page that lets the learner adjust the window works on
    ``read_dicom(...).values`` and puts this step first in its pipeline, so
    the window centre and width become ordinary, editable settings.

    Parameters
    ----------
    dicom : DicomImage
        The result of :func:`read_dicom`.

    Returns
    -------
    steps : list of dict
        ``[{"op": "window", "center": c, "width": w, "invert": monochrome1}]``
        with the default window; empty for a colour DICOM file.
    """
    if dicom.values.ndim != 2:
        return []
    center, width = dicom.default_window()
    return [
        {
            "op": "window",
            "center": float(center),
            "width": float(width),
            "invert": dicom.monochrome1,
        }
    ]


def dicom_display_image(dicom: DicomImage) -> np.ndarray:
    """Values after modality LUT, default window, then MONOCHROME1 inversion.

    Parameters
    ----------
    dicom : DicomImage
        The result of :func:`read_dicom`.

    Returns
    -------
    image : ndarray of float64
        ``(H, W)`` in 0..1 (a colour file is returned as decoded).
    """
    if dicom.values.ndim != 2:
        return dicom.values
    center, width = dicom.default_window()
    return window(dicom.values, center, width, invert=dicom.monochrome1)
