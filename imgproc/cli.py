"""Command line: apply a saved pipeline to image files and write the results."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .display import to_display
from .io import ImageLoadError, load_image
from .pipeline import PipelineError, apply_pipeline, load_pipeline

__all__ = ["build_parser", "main", "encode_png"]

_DESCRIPTION = """\
Apply a preprocessing pipeline (a JSON file saved from CNN Image Lab) to one or
more images and write one output file per image into OUT_DIR.
"""

_EPILOG = """\
output files:
  png  OUT_DIR/<name>.png: uint8 results are written as 8-bit, uint16 results
       as 16-bit PNG, masks as 0/255, float results clipped to 0..1 and
       scaled to 0..255; other integer results are stretched from their
       minimum to their maximum.
  npy  OUT_DIR/<name>.npy: the exact array the pipeline returns, with its
       dtype, for numpy.load.
  When two inputs share a name, later ones get -2, -3, ... appended.

exit status:
  0  every image was written
  1  at least one image could not be read or processed (the others were
     written; each failure is reported on one line of standard error)
  2  the pipeline or the arguments are invalid; nothing was written

example:
  python -m imgproc --pipeline pipeline.json --out processed scans/*.png
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``python -m imgproc``.

    Returns
    -------
    parser : argparse.ArgumentParser
        The parser, with the help text shown by ``--help``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m imgproc",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--pipeline",
        required=True,
        type=Path,
        metavar="PIPELINE.json",
        help="pipeline file, as exported from the app",
    )
    parser.add_argument(
        "--out",
        required=True,
        type=Path,
        metavar="OUT_DIR",
        help="folder for the results (created if missing)",
    )
    parser.add_argument(
        "--format",
        choices=("png", "npy"),
        default="png",
        help="output file type (default: png)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="print the path of each written file",
    )
    parser.add_argument(
        "images", nargs="+", type=Path, metavar="IMAGE", help="input image files"
    )
    return parser


def encode_png(result: np.ndarray) -> bytes:
    """Encode a pipeline result as PNG bytes.

    ``uint16`` images keep their 16 bits; everything else is converted to
    8 bits the way the app displays it (see :func:`imgproc.display.to_display`).

    Parameters
    ----------
    result : ndarray
        ``(H, W)`` or ``(H, W, 3)`` image of any dtype.

    Returns
    -------
    data : bytes
        The PNG file contents.

    Raises
    ------
    ValueError
        If the image cannot be encoded.
    """
    picture = result if result.dtype == np.uint16 else to_display(result)[0]
    if picture.ndim == 3:
        picture = np.ascontiguousarray(picture[..., ::-1])
    encoded, buffer = cv2.imencode(".png", picture)
    if not encoded:
        raise ValueError("The result could not be encoded as PNG.")
    return buffer.tobytes()


def _unique_stem(stem: str, used: set[str]) -> str:
    """Return ``stem``, or ``stem-2``, ``stem-3``... if already taken."""
    candidate, counter = stem, 1
    while candidate.lower() in used:
        counter += 1
        candidate = f"{stem}-{counter}"
    used.add(candidate.lower())
    return candidate


def _report(message: str) -> None:
    """Write one line to standard error."""
    print(f"imgproc: {message}", file=sys.stderr)


def _process(image_path: Path, pipeline: dict, target: Path, file_format: str) -> None:
    """Load, process and write one image; errors propagate to the caller."""
    result = apply_pipeline(load_image(image_path, name=str(image_path)), pipeline)
    if file_format == "npy":
        with target.open("wb") as handle:
            np.save(handle, result, allow_pickle=False)
    else:
        target.write_bytes(encode_png(result))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments; by default those of the process.

    Returns
    -------
    status : int
        0 when all images were written, 1 when some failed, 2 when the
        pipeline or the output folder is unusable.
    """
    arguments = build_parser().parse_args(argv)
    try:
        pipeline = load_pipeline(arguments.pipeline)
    except PipelineError as error:
        message = str(error)
        if arguments.pipeline.name not in message:
            message = f"Pipeline '{arguments.pipeline}': {message}"
        _report(message)
        return 2
    try:
        arguments.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        _report(
            f"Could not create the output folder '{arguments.out}': "
            f"{error.strerror or error}."
        )
        return 2

    failures = 0
    used_stems: set[str] = set()
    for image_path in arguments.images:
        stem = _unique_stem(image_path.stem, used_stems)
        target = arguments.out / f"{stem}.{arguments.format}"
        try:
            _process(image_path, pipeline, target, arguments.format)
        except ImageLoadError as error:
            failures += 1
            _report(str(error))
            continue
        except (PipelineError, ValueError, OSError) as error:
            failures += 1
            _report(f"Could not process '{image_path}': {error}")
            continue
        except Exception as error:  # any failure: one line, no traceback
            failures += 1
            _report(
                f"Could not process '{image_path}': unexpected "
                f"{type(error).__name__}: {error}"
            )
            continue
        if arguments.verbose:
            print(target)
    return 1 if failures else 0
