"""Pipelines: a list of operations and their settings, stored as plain JSON data."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import ops

__all__ = [
    "OPS",
    "PIPELINE_VERSION",
    "OpSpec",
    "Param",
    "PipelineError",
    "apply_pipeline",
    "load_pipeline",
    "make_pipeline",
    "pipeline_from_json",
    "pipeline_to_json",
    "validate_pipeline",
]

PIPELINE_VERSION = 1

_PARAM_KINDS = ("int", "float", "bool", "choice")


class PipelineError(ValueError):
    """A pipeline is malformed or one of its steps failed.

    The message is one sentence that names the step (counted from 1) and what
    is wrong. ``step`` holds that number, or ``None`` when the problem is with
    the pipeline as a whole.
    """

    def __init__(self, message: str, step: int | None = None) -> None:
        super().__init__(message)
        self.step = step


@dataclass(frozen=True)
class Param:
    """Description of one setting of an operation, enough to build a widget.

    Attributes
    ----------
    kind : {"int", "float", "bool", "choice"}
        The type of value.
    default : object
        The value used when a step leaves the setting out.
    minimum, maximum : float, optional
        Inclusive bounds for numbers.
    choices : tuple of str, optional
        The allowed values of a ``"choice"``.
    help : str
        One sentence for the user about what the setting changes.
    nullable : bool
        Whether ``None`` (JSON ``null``) is accepted, meaning "automatic".
    """

    kind: str
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""
    nullable: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _PARAM_KINDS:
            raise ValueError(f"Unknown parameter kind '{self.kind}'.")
        if self.kind == "choice" and not self.choices:
            raise ValueError("A choice parameter needs its list of choices.")


@dataclass(frozen=True)
class OpSpec:
    """One operation a pipeline step can name.

    Attributes
    ----------
    function : callable
        ``function(image, **params) -> image``.
    params : dict of str to Param
        The settings the step accepts, in display order.
    summary : str
        One sentence on what the operation does to the picture.
    check : callable, optional
        Receives the step's complete settings and returns a sentence when
        they do not fit together (for example ``low`` above ``high``), else
        ``None``.
    """

    function: Callable[..., np.ndarray]
    params: Mapping[str, Param]
    summary: str
    check: Callable[[Mapping[str, Any]], str | None] | None = None


def _number_text(value: float) -> str:
    """Format a number for a sentence without a trailing ``.0``."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _check_normalize(settings: Mapping[str, Any]) -> str | None:
    """Report percentile bounds in the wrong order and a zero divisor."""
    low, high = settings["low"], settings["high"]
    if settings["method"] == "percentile" and low >= high:
        return (
            f"'low' must be below 'high' (got {_number_text(low)} and "
            f"{_number_text(high)})."
        )
    divisor = settings["divisor"]
    if divisor is not None and divisor <= 0:
        return f"'divisor' must be above 0 (got {_number_text(divisor)})."
    return None


def _morphology_params() -> dict[str, Param]:
    """Settings shared by the six morphological operations."""
    return {
        "radius": Param(
            "int",
            3,
            minimum=0,
            maximum=100,
            help="Size of the neighbourhood in pixels; 0 changes nothing.",
        ),
        "footprint": Param(
            "choice",
            "disk",
            choices=ops.FOOTPRINTS,
            help="Shape of the neighbourhood each pixel looks at.",
        ),
    }


_MAX_SIDE = 4096
"""Largest side a resize, crop or CLAHE tile may ask for, in pixels."""
MAX_STEPS = 64
"""Most steps a pipeline may hold; a longer one is refused with a sentence."""

_STEP_KEYS = ("op", "enabled")

OPS: dict[str, OpSpec] = {
    "grayscale": OpSpec(
        ops.to_grayscale,
        {},
        "Turns a colour picture into shades of grey by perceived brightness.",
    ),
    "channel": OpSpec(
        ops.select_channel,
        {
            "index": Param(
                "int",
                0,
                minimum=0,
                maximum=3,
                help="Channel to keep: 0 red, 1 green, 2 blue (0 for grayscale).",
            )
        },
        "Keeps one colour channel as a grayscale picture.",
    ),
    "threshold": OpSpec(
        ops.threshold,
        {
            "value": Param(
                "float",
                128.0,
                help="Pixels brighter than this become foreground (white); "
                "used by the manual method only.",
            ),
            "method": Param(
                "choice",
                "manual",
                choices=ops.THRESHOLD_METHODS,
                help="Use the value above, or find the cut-off automatically "
                "(Otsu, Li, Yen, Triangle or the mean brightness).",
            ),
        },
        "Splits a grayscale picture into a black-and-white mask.",
    ),
    "erosion": OpSpec(
        ops.erosion,
        _morphology_params(),
        "Shrinks bright regions and removes bright specks.",
    ),
    "dilation": OpSpec(
        ops.dilation,
        _morphology_params(),
        "Grows bright regions and fills small dark holes.",
    ),
    "opening": OpSpec(
        ops.opening,
        _morphology_params(),
        "Removes bright details smaller than the footprint.",
    ),
    "closing": OpSpec(
        ops.closing,
        _morphology_params(),
        "Fills dark details smaller than the footprint.",
    ),
    "white_tophat": OpSpec(
        ops.white_tophat,
        _morphology_params(),
        "Keeps only the bright details smaller than the footprint.",
    ),
    "black_tophat": OpSpec(
        ops.black_tophat,
        _morphology_params(),
        "Shows the dark details smaller than the footprint as bright spots.",
    ),
    "normalize": OpSpec(
        ops.normalize,
        {
            "method": Param(
                "choice",
                "scale",
                choices=ops.NORMALIZE_METHODS,
                help="Divide by a fixed number, stretch min..max or between two "
                "percentiles, centre on the mean (z-score), or equalise the "
                "histogram globally or in tiles (CLAHE).",
            ),
            "low": Param(
                "float",
                5.0,
                minimum=0.0,
                maximum=100.0,
                help="Percentile that becomes 0 (percentile method).",
            ),
            "high": Param(
                "float",
                95.0,
                minimum=0.0,
                maximum=100.0,
                help="Percentile that becomes 1 (percentile method).",
            ),
            "divisor": Param(
                "float",
                None,
                nullable=True,
                help="Number to divide by (scale method); empty means the "
                "largest value of the image type, such as 255.",
            ),
            "bins": Param(
                "int",
                256,
                minimum=2,
                maximum=65536,
                help="Histogram bins used by histogram equalisation.",
            ),
            "clip_limit": Param(
                "float",
                0.01,
                minimum=0.0,
                maximum=1.0,
                help="How strongly CLAHE may boost contrast (0 to 1).",
            ),
            "kernel_size": Param(
                "int",
                None,
                minimum=2,
                maximum=_MAX_SIDE,
                nullable=True,
                help="CLAHE tile size in pixels; empty means 1/8 of the image.",
            ),
        },
        "Maps pixel values to floating-point numbers around 0..1.",
        check=_check_normalize,
    ),
    "window": OpSpec(
        ops.window,
        {
            "center": Param(
                "float", 128.0, help="The value shown as mid-grey (window centre)."
            ),
            "width": Param(
                "float",
                256.0,
                minimum=1.0,
                help="The range of values spread from black to white.",
            ),
            "invert": Param(
                "bool", False, help="Swap black and white (MONOCHROME1 images)."
            ),
        },
        "Shows one band of values from black to white, as a radiology viewer does.",
    ),
    "flip": OpSpec(
        ops.flip,
        {
            "horizontal": Param("bool", True, help="Swap left and right."),
            "vertical": Param("bool", False, help="Swap top and bottom."),
        },
        "Mirrors the picture left-right and/or upside down.",
    ),
    "affine": OpSpec(
        ops.affine,
        {
            "rotation": Param(
                "float",
                0.0,
                minimum=-360.0,
                maximum=360.0,
                help="Counter-clockwise turn in degrees.",
            ),
            "scale": Param(
                "float",
                1.0,
                minimum=0.01,
                maximum=100.0,
                help="Zoom factor: 2 shows the content twice as large.",
            ),
            "translate_x": Param(
                "float",
                0.0,
                minimum=-ops.MAX_SHIFT,
                maximum=ops.MAX_SHIFT,
                help="Shift of the content to the right, in pixels.",
            ),
            "translate_y": Param(
                "float",
                0.0,
                minimum=-ops.MAX_SHIFT,
                maximum=ops.MAX_SHIFT,
                help="Shift of the content downwards, in pixels.",
            ),
            "shear": Param(
                "float",
                0.0,
                minimum=-89.0,
                maximum=89.0,
                help="Slant in degrees: rows slide sideways.",
            ),
            "fill": Param(
                "choice",
                "constant",
                choices=ops.FILL_MODES,
                help="What fills areas with no content: black, a mirror image, "
                "the edge pixels, or a repeat.",
            ),
        },
        "Rotates, zooms, shifts and shears the picture in one resampling.",
    ),
    "brightness": OpSpec(
        ops.brightness,
        {
            "factor": Param(
                "float",
                1.0,
                minimum=0.0,
                maximum=10.0,
                help="Multiplier for every value: below 1 darkens, above 1 brightens.",
            )
        },
        "Makes the picture darker or brighter.",
    ),
    "resize": OpSpec(
        ops.resize,
        {
            "height": Param(
                "int", 224, minimum=1, maximum=_MAX_SIDE, help="New height."
            ),
            "width": Param("int", 224, minimum=1, maximum=_MAX_SIDE, help="New width."),
        },
        "Changes the number of pixels, stretching or squeezing the picture.",
    ),
    "center_crop": OpSpec(
        ops.center_crop,
        {
            "height": Param(
                "int", 224, minimum=1, maximum=_MAX_SIDE, help="Window height."
            ),
            "width": Param(
                "int", 224, minimum=1, maximum=_MAX_SIDE, help="Window width."
            ),
        },
        "Cuts the central window out of the picture.",
    ),
}


def _bound_text(param: Param) -> str:
    """Describe the allowed range of a numeric parameter."""
    if param.minimum is not None and param.maximum is not None:
        return (
            f"between {_number_text(param.minimum)} and {_number_text(param.maximum)}"
        )
    if param.minimum is not None:
        return f"at least {_number_text(param.minimum)}"
    return f"at most {_number_text(param.maximum)}"


def _coerce(name: str, param: Param, value: Any) -> Any:
    """Return ``value`` in the parameter's type, or raise a sentence."""
    if value is None:
        if param.nullable:
            return None
        raise ValueError(f"'{name}' needs a value.")

    if param.kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"'{name}' must be true or false (got {value!r}).")
        return value

    if param.kind == "choice":
        if value not in param.choices:
            choices = ", ".join(param.choices)
            raise ValueError(f"'{name}' must be one of {choices} (got {value!r}).")
        return value

    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"'{name}' must be a number (got {value!r}).")
    if not math.isfinite(value):
        raise ValueError(f"'{name}' must be a finite number (got {value!r}).")
    if param.kind == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"'{name}' must be a whole number (got {value!r}).")
        value = int(value)
    else:
        value = float(value)

    too_low = param.minimum is not None and value < param.minimum
    too_high = param.maximum is not None and value > param.maximum
    if too_low or too_high:
        raise ValueError(
            f"'{name}' must be {_bound_text(param)} (got {_number_text(value)})."
        )
    return value


def _validate_step(number: int, step: Any) -> dict[str, Any]:
    """Check one step and return it with every setting filled in."""
    if not isinstance(step, Mapping):
        raise PipelineError(
            f"Step {number}: a step must be an object with an 'op' name "
            f"(got {step!r}).",
            step=number,
        )
    op = step.get("op")
    if op not in OPS:
        if op is None:
            problem = "it has no 'op' name"
        else:
            problem = f"unknown op {op!r}"
        raise PipelineError(
            f"Step {number}: {problem}; known ops are {', '.join(OPS)}.",
            step=number,
        )
    spec = OPS[op]
    prefix = f"Step {number} ({op})"

    enabled = step.get("enabled", True)
    if not isinstance(enabled, bool):
        raise PipelineError(
            f"{prefix}: 'enabled' must be true or false (got {enabled!r}).",
            step=number,
        )
    unknown = [key for key in step if key not in spec.params and key not in _STEP_KEYS]
    if unknown:
        known = ", ".join(spec.params) or "no settings"
        raise PipelineError(
            f"{prefix}: unknown setting {unknown[0]!r}; it accepts {known}.",
            step=number,
        )

    settings: dict[str, Any] = {}
    for name, param in spec.params.items():
        try:
            settings[name] = _coerce(name, param, step.get(name, param.default))
        except ValueError as error:
            raise PipelineError(f"{prefix}: {error}", step=number) from None
    if spec.check is not None:
        problem = spec.check(settings)
        if problem:
            raise PipelineError(f"{prefix}: {problem}", step=number)
    return {"op": op, "enabled": enabled, **settings}


def validate_pipeline(data: Any) -> dict[str, Any]:
    """Check a pipeline and return a complete copy of it.

    Every step must name a known operation, and every setting must be known,
    of the right type and within its range. Settings a step leaves out get
    their defaults, so the returned pipeline spells out exactly what will be
    applied.

    Parameters
    ----------
    data : dict
        ``{"version": 1, "steps": [{"op": ..., setting: value, ...}, ...]}``.
        A step may carry ``"enabled": false`` to be skipped.

    Returns
    -------
    pipeline : dict
        A new dict; each step holds ``op``, ``enabled`` and all settings.

    Raises
    ------
    PipelineError
        With one sentence naming the step and the problem.

    Examples
    --------
    >>> validate_pipeline({"version": 1, "steps": [{"op": "grayscale"}]})
    {'version': 1, 'steps': [{'op': 'grayscale', 'enabled': True}]}
    """
    if not isinstance(data, Mapping):
        raise PipelineError(
            "A pipeline must be an object with 'version' and 'steps' "
            f"(got {type(data).__name__})."
        )
    unknown = [key for key in data if key not in ("version", "steps")]
    if unknown:
        raise PipelineError(
            f"Unknown pipeline key {unknown[0]!r}; a pipeline has only 'version' "
            "and 'steps'."
        )
    version = data.get("version")
    if version != PIPELINE_VERSION or isinstance(version, bool):
        raise PipelineError(
            f"Unsupported pipeline version {version!r}; this app reads version "
            f"{PIPELINE_VERSION}."
        )
    steps = data.get("steps")
    if not isinstance(steps, list):
        raise PipelineError(
            f"'steps' must be a list of steps (got {type(steps).__name__})."
        )
    if len(steps) > MAX_STEPS:
        raise PipelineError(
            f"A pipeline holds at most {MAX_STEPS} steps; this one has {len(steps)}."
        )
    checked = [_validate_step(number, step) for number, step in enumerate(steps, 1)]
    return {"version": PIPELINE_VERSION, "steps": checked}


def apply_pipeline(image: np.ndarray, pipeline: Mapping[str, Any]) -> np.ndarray:
    """Run every enabled step of a pipeline on an image, in order.

    Each step receives the output of the one before it. Disabled steps are
    skipped, so a learner can switch a step off and compare.

    Parameters
    ----------
    image : ndarray
        The input picture (see :func:`imgproc.io.load_image`).
    pipeline : dict
        A pipeline; it is validated first.

    Returns
    -------
    result : ndarray
        The output of the last enabled step (``image`` itself when no step is
        enabled).

    Raises
    ------
    PipelineError
        If the pipeline is invalid or a step cannot work on the image it
        receives (for example thresholding a colour image); the message names
        the step.

    Examples
    --------
    >>> image = np.array([[0, 200]], dtype=np.uint8)
    >>> apply_pipeline(image, make_pipeline([{"op": "threshold", "value": 100}]))
    array([[False,  True]])
    """
    checked = validate_pipeline(pipeline)
    result = np.asarray(image)
    for number, step in enumerate(checked["steps"], 1):
        if not step["enabled"]:
            continue
        op = step["op"]
        spec = OPS[op]
        settings = {name: step[name] for name in spec.params}
        try:
            result = spec.function(result, **settings)
        except PipelineError:
            raise
        except ValueError as error:
            raise PipelineError(f"Step {number} ({op}): {error}", step=number) from None
    return result


def make_pipeline(steps: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Build a validated pipeline from a list of steps.

    Parameters
    ----------
    steps : iterable of dict
        Steps such as ``{"op": "threshold", "value": 128}``.

    Returns
    -------
    pipeline : dict
        The complete pipeline (see :func:`validate_pipeline`).

    Raises
    ------
    PipelineError
        If a step is invalid.

    Examples
    --------
    >>> make_pipeline([{"op": "flip"}])["steps"][0]["horizontal"]
    True
    """
    return validate_pipeline({"version": PIPELINE_VERSION, "steps": list(steps)})


def pipeline_to_json(pipeline: Mapping[str, Any]) -> str:
    """Write a pipeline as indented JSON text, every setting spelled out.

    Parameters
    ----------
    pipeline : dict
        A pipeline; it is validated first.

    Returns
    -------
    text : str
        JSON with an indent of 2 spaces.

    Raises
    ------
    PipelineError
        If the pipeline is invalid.

    Examples
    --------
    >>> print(pipeline_to_json({"version": 1, "steps": []}))
    {
      "version": 1,
      "steps": []
    }
    """
    return json.dumps(validate_pipeline(pipeline), indent=2, allow_nan=False)


def pipeline_from_json(
    text: str | bytes, name: str = "The pipeline text", bare_steps: bool = False
) -> dict[str, Any]:
    """Read a pipeline from JSON text, such as an uploaded file.

    With ``bare_steps``, a bare list of steps, the short form a link
    carries, reads as a version 1 pipeline; a file must hold the whole
    object.

    Parameters
    ----------
    text : str or bytes
        JSON text (UTF-8 when bytes).
    name : str
        What to call the text in error messages.
    bare_steps : bool
        Accept a list of steps without ``version`` and ``steps``.

    Returns
    -------
    pipeline : dict
        The validated, complete pipeline.

    Raises
    ------
    PipelineError
        If the text is not JSON or not a valid pipeline.

    Examples
    --------
    >>> pipeline_from_json('{"version": 1, "steps": []}')
    {'version': 1, 'steps': []}
    """
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        data = json.loads(text)
    except UnicodeDecodeError:
        raise PipelineError(f"{name} is not UTF-8 text.") from None
    except json.JSONDecodeError as error:
        problem = error.msg.removesuffix(" at")
        raise PipelineError(
            f"{name} is not valid JSON (line {error.lineno}, column "
            f"{error.colno}: {problem})."
        ) from None
    except RecursionError:
        raise PipelineError(f"{name} is nested too deeply to be a pipeline.") from None
    except ValueError:
        # Python refuses to read integers of thousands of digits.
        raise PipelineError(f"{name} holds a number too long to read.") from None
    if bare_steps and isinstance(data, list):
        data = {"version": PIPELINE_VERSION, "steps": data}
    return validate_pipeline(data)


def load_pipeline(path: str | Path) -> dict[str, Any]:
    """Read and validate a pipeline stored as a JSON file.

    Parameters
    ----------
    path : str or Path
        The JSON file.

    Returns
    -------
    pipeline : dict
        The validated, complete pipeline.

    Raises
    ------
    PipelineError
        If the file cannot be read, is not JSON, or is not a valid pipeline.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PipelineError(
            f"Could not read pipeline file '{path}': it does not exist."
        ) from None
    except OSError as error:
        raise PipelineError(
            f"Could not read pipeline file '{path}': {error.strerror or error}."
        ) from None
    return pipeline_from_json(raw, name=f"The pipeline file '{path.name}'")
