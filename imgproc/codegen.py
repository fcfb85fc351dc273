"""Write a pipeline as a standalone Python script using NumPy and scikit-image."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from .pipeline import validate_pipeline

__all__ = ["pipeline_to_python"]

_HEADER = '''"""Preprocessing exported from CNN Image Lab.

preprocess(image) reproduces the app's preview exactly: same dtype, same values.
Run it as: python preprocess.py INPUT_IMAGE [OUTPUT.npy]
"""

import math
import sys

import numpy as np
from skimage import exposure, filters, morphology, transform


def _restore_dtype(values, dtype):
    """Cast float results back to dtype, rounding and clipping integers."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return values >= 0.5
    if np.issubdtype(dtype, np.integer):
        limits = np.iinfo(dtype)
        return np.clip(np.rint(values), limits.min, limits.max).astype(dtype)
    return values.astype(dtype, copy=False)
'''

_AUTO_THRESHOLD_HELPER = '''

def _auto_threshold_mask(image, method):
    """Foreground mask above an automatic cut-off; all background if flat."""
    values = image.view(np.uint8) if image.dtype == np.bool_ else image
    sample = values
    if np.issubdtype(values.dtype, np.floating):
        sample = values[~np.isnan(values)]
    if sample.size == 0 or sample.min() == sample.max():
        return np.zeros(image.shape, dtype=bool)
    return values > float(method(sample))
'''

_AFFINE_HELPER = '''

def _cos_sin_degrees(angle):
    """Cosine and sine of angle degrees, exact for quarter turns."""
    quarter_turns = angle / 90.0
    if quarter_turns == round(quarter_turns):
        return [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)][
            round(quarter_turns) % 4
        ]
    radians = math.radians(angle)
    return math.cos(radians), math.sin(radians)


def _affine(image, rotation, scale, translate_x, translate_y, shear, fill):
    """Shear, zoom, turn (counter-clockwise) and shift about the centre."""
    height, width = image.shape[0], image.shape[1]
    centre_x, centre_y = (width - 1) / 2.0, (height - 1) / 2.0
    to_origin = np.array([[1.0, 0.0, -centre_x], [0.0, 1.0, -centre_y], [0, 0, 1]])
    shearing = np.array(
        [[1.0, -math.tan(math.radians(shear)), 0.0], [0.0, 1.0, 0.0], [0, 0, 1]]
    )
    cosine, sine = _cos_sin_degrees(rotation)
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
    forward = back_and_shift @ turn_and_zoom @ shearing @ to_origin
    inverse = np.linalg.inv(forward)
    if image.dtype == np.bool_:
        warped = transform.warp(image, inverse, order=0, mode=fill, cval=0)
        return warped.astype(bool)
    warped = transform.warp(
        image, inverse, order=1, mode=fill, cval=0.0, preserve_range=True
    )
    return _restore_dtype(warped, image.dtype)
'''

_MAIN = """

if __name__ == "__main__":
    from skimage import io

    if len(sys.argv) < 2:
        sys.exit("usage: python preprocess.py INPUT_IMAGE [OUTPUT.npy]")
    result = preprocess(io.imread(sys.argv[1]))
    target = sys.argv[2] if len(sys.argv) > 2 else "preprocessed.npy"
    np.save(target, result, allow_pickle=False)
    print(f"Wrote {target}: shape {result.shape}, dtype {result.dtype}.")
"""

_FOOTPRINT_CODE = {
    "disk": "morphology.disk({radius})",
    "square": "morphology.footprint_rectangle(({side}, {side}))",
    "diamond": "morphology.diamond({radius})",
}

_THRESHOLD_FUNCTIONS = {
    "otsu": "filters.threshold_otsu",
    "li": "filters.threshold_li",
    "yen": "filters.threshold_yen",
    "triangle": "filters.threshold_triangle",
    "mean": "filters.threshold_mean",
}

_MORPHOLOGY_WORDS = {
    "erosion": "shrink bright regions",
    "dilation": "grow bright regions",
    "opening": "remove bright details smaller than the footprint",
    "closing": "fill dark details smaller than the footprint",
    "white_tophat": "keep only bright details smaller than the footprint",
    "black_tophat": "show dark details smaller than the footprint",
}


def _float(value: float) -> str:
    """Write a float so that Python reads back exactly the same number."""
    return repr(float(value))


def _grayscale(step: Mapping[str, Any]) -> tuple[str, list[str]]:
    return "turn colour into grey by luminance (0.2125 R + 0.7154 G + 0.0721 B)", [
        "if image.ndim == 3:",
        "    luminance = image.astype(np.float64) @ np.array([0.2125, 0.7154, 0.0721])",
        "    image = _restore_dtype(luminance, image.dtype)",
    ]


def _channel(step: Mapping[str, Any]) -> tuple[str, list[str]]:
    index = step["index"]
    return f"keep colour channel {index} as a grey picture", [
        f"image = np.ascontiguousarray(image[..., {index}]) if image.ndim == 3 "
        "else image.copy()",
    ]


def _threshold(step: Mapping[str, Any]) -> tuple[str, list[str]]:
    method = step["method"]
    if method == "manual":
        value = _float(step["value"])
        return f"pixels above {value} become foreground (True)", [
            f"image = image > {value}"
        ]
    function = _THRESHOLD_FUNCTIONS[method]
    return f"pixels above the automatic {method} threshold become foreground", [
        f"image = _auto_threshold_mask(image, {function})"
    ]


def _morphology(step: Mapping[str, Any]) -> tuple[str, list[str]]:
    op, radius, shape = step["op"], step["radius"], step["footprint"]
    footprint = _FOOTPRINT_CODE[shape].format(radius=radius, side=2 * radius + 1)
    return f"{op}: {_MORPHOLOGY_WORDS[op]} ({shape}, radius {radius})", [
        f"image = morphology.{op}(image, {footprint})"
    ]


def _normalize(step: Mapping[str, Any]) -> tuple[str, list[str]]:
    method = step["method"]
    if method == "scale":
        divisor = step["divisor"]
        if divisor is None:
            return "divide by the largest value of the image type", [
                "values = image.astype(np.float64)",
                "integer = np.issubdtype(image.dtype, np.integer)",
                "if image.dtype != np.bool_ and integer:",
                "    values = values / float(np.iinfo(image.dtype).max)",
                "image = values",
            ]
        return f"divide every value by {_float(divisor)}", [
            f"image = image.astype(np.float64) / {_float(divisor)}"
        ]
    if method == "minmax":
        return "stretch the darkest value to 0 and the brightest to 1", [
            "values = image.astype(np.float64)",
            "lowest, highest = values.min(), values.max()",
            "if highest == lowest:",
            "    image = np.zeros_like(values)",
            "else:",
            "    image = (values - lowest) / (highest - lowest)",
        ]
    if method == "percentile":
        low, high = _float(step["low"]), _float(step["high"])
        return f"stretch the {low}th percentile to 0 and the {high}th to 1", [
            "values = image.astype(np.float64)",
            f"p_low, p_high = np.percentile(values, [{low}, {high}])",
            "if p_high == p_low:",
            "    image = np.zeros_like(values)",
            "else:",
            "    image = (values - p_low) / (p_high - p_low)",
        ]
    if method == "zscore":
        return "subtract the mean and divide by the standard deviation", [
            "values = image.astype(np.float64)",
            "spread = values.std()",
            "if spread == 0 or not np.isfinite(spread):",
            "    image = np.zeros_like(values)",
            "else:",
            "    image = (values - values.mean()) / spread",
        ]
    source = "image.view(np.uint8) if image.dtype == np.bool_ else image"
    if method == "equalize":
        bins = step["bins"]
        return f"equalise the histogram ({bins} bins)", [
            f"source = {source}",
            f"image = exposure.equalize_hist(source, nbins={bins}).astype(np.float64)",
        ]
    kernel = step["kernel_size"]
    clip = _float(step["clip_limit"])
    return f"adaptive histogram equalisation (CLAHE, clip limit {clip})", [
        f"source = {source}",
        "image = exposure.equalize_adapthist(",
        f"    source, kernel_size={kernel!r}, clip_limit={clip}",
        ").astype(np.float64)",
    ]


def _window(step: Mapping[str, Any]) -> tuple[str, list[str]]:
    center, width = _float(step["center"]), _float(step["width"])
    if step["width"] > 1:
        middle = f"windowed = (values - ({center} - 0.5)) / ({width} - 1) + 0.5"
    else:
        middle = "windowed = np.zeros_like(values)"
    lines = [
        "values = image.astype(np.float64)",
        middle,
        f"windowed[values <= {center} - 0.5 - ({width} - 1) / 2] = 0.0",
        f"windowed[values > {center} - 0.5 + ({width} - 1) / 2] = 1.0",
        "image = 1.0 - windowed" if step["invert"] else "image = windowed",
    ]
    words = f"window centre {center}, width {width} mapped to black..white"
    if step["invert"]:
        words += ", then inverted"
    return words, lines


def _flip(step: Mapping[str, Any]) -> tuple[str, list[str]]:
    axes = [axis for axis, key in ((1, "horizontal"), (0, "vertical")) if step[key]]
    if not axes:
        return "no flip", ["image = image.copy()"]
    words = " and ".join(
        name
        for name, key in (("left-right", "horizontal"), ("up-down", "vertical"))
        if step[key]
    )
    return f"mirror {words}", [
        f"image = np.ascontiguousarray(np.flip(image, axis={tuple(axes)!r}))"
    ]


def _affine(step: Mapping[str, Any]) -> tuple[str, list[str]]:
    values = [
        _float(step[key])
        for key in ("rotation", "scale", "translate_x", "translate_y", "shear")
    ]
    words = (
        f"turn {values[0]} degrees, zoom {values[1]}x, shift ({values[2]}, "
        f"{values[3]}) px, shear {values[4]} degrees; fill: {step['fill']}"
    )
    fill = step["fill"]
    return words, [f'image = _affine(image, {", ".join(values)}, "{fill}")']


def _brightness(step: Mapping[str, Any]) -> tuple[str, list[str]]:
    factor = _float(step["factor"])
    return f"multiply every value by {factor}", [
        "if np.issubdtype(image.dtype, np.floating):",
        f"    image = (image * {factor}).astype(image.dtype, copy=False)",
        "else:",
        f"    image = _restore_dtype(image.astype(np.float64) * {factor}, image.dtype)",
    ]


def _resize(step: Mapping[str, Any]) -> tuple[str, list[str]]:
    height, width = step["height"], step["width"]
    return f"resize to {height}x{width} pixels", [
        f"shape = ({height}, {width}) + image.shape[2:]",
        "if image.dtype == np.bool_:",
        "    image = transform.resize(image, shape, order=0, anti_aliasing=False)",
        "    image = image.astype(bool)",
        "else:",
        f"    shrinking = {height} < image.shape[0] or {width} < image.shape[1]",
        "    resized = transform.resize(",
        "        image, shape, order=1, anti_aliasing=shrinking, preserve_range=True",
        "    )",
        "    image = _restore_dtype(resized, image.dtype)",
    ]


def _center_crop(step: Mapping[str, Any]) -> tuple[str, list[str]]:
    height, width = step["height"], step["width"]
    return f"cut out the central {height}x{width} window", [
        f"top = (image.shape[0] - {height}) // 2",
        f"left = (image.shape[1] - {width}) // 2",
        f"image = image[top : top + {height}, left : left + {width}].copy()",
    ]


_WRITERS = {
    "grayscale": _grayscale,
    "channel": _channel,
    "threshold": _threshold,
    "erosion": _morphology,
    "dilation": _morphology,
    "opening": _morphology,
    "closing": _morphology,
    "white_tophat": _morphology,
    "black_tophat": _morphology,
    "normalize": _normalize,
    "window": _window,
    "flip": _flip,
    "affine": _affine,
    "brightness": _brightness,
    "resize": _resize,
    "center_crop": _center_crop,
}


def pipeline_to_python(pipeline: Mapping[str, Any]) -> str:
    """Write a pipeline as a Python script that reproduces it exactly.

    The script needs only NumPy and scikit-image. It defines
    ``preprocess(image)``, which gives the same array as
    :func:`imgproc.pipeline.apply_pipeline` (same dtype, same values), with
    one comment per step in plain words, and a ``__main__`` block that reads
    an image file named on the command line and saves the result as
    ``.npy``. Disabled steps are left out.

    Parameters
    ----------
    pipeline : dict
        A pipeline; it is validated first.

    Returns
    -------
    code : str
        The script's source text.

    Raises
    ------
    PipelineError
        If the pipeline is invalid.

    Notes
    -----
    The script does the morphology with :mod:`skimage.morphology` directly,
    which is slower than the app for large radii but gives the same result.
    Its ``__main__`` block reads files with :func:`skimage.io.imread`, which
    does not flatten transparency or apply EXIF orientation as the app's
    loader does; call ``preprocess`` on the app's array to match it.

    Examples
    --------
    >>> code = pipeline_to_python({"version": 1, "steps": [{"op": "flip"}]})
    >>> "def preprocess(image):" in code
    True
    """
    checked = validate_pipeline(pipeline)
    steps = [step for step in checked["steps"] if step["enabled"]]
    ops_used = {step["op"] for step in steps}
    auto = any(
        step["op"] == "threshold" and step["method"] != "manual" for step in steps
    )

    parts = [_HEADER]
    if auto:
        parts.append(_AUTO_THRESHOLD_HELPER)
    if "affine" in ops_used:
        parts.append(_AFFINE_HELPER)

    body = [
        "",
        "",
        "def preprocess(image):",
        '    """Apply the exported pipeline to an image array."""',
        "    image = np.asarray(image)",
        "    if image.ndim == 3 and image.shape[-1] == 1:",
        "        image = image[..., 0]",
    ]
    for number, step in enumerate(steps, 1):
        words, lines = _WRITERS[step["op"]](step)
        body.append("")
        body.extend(
            textwrap.wrap(
                f"Step {number}: {words}.",
                width=84,
                initial_indent="    # ",
                subsequent_indent="    #   ",
            )
        )
        body.extend(f"    {line}" for line in lines)
    body.append("    return image")
    parts.append("\n".join(body) + "\n")
    parts.append(_MAIN)
    return "".join(parts)
