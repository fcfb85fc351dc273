"""The lesson's practice exercises and a checker that compares results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .ops import affine, flip
from .pipeline import PipelineError, apply_pipeline, make_pipeline

__all__ = ["EXERCISES", "Exercise", "check_exercise"]


@dataclass(frozen=True)
class Exercise:
    """One practice task: what to do, and a pipeline that does it.

    Attributes
    ----------
    id : str
        Short name used by the page and by :func:`check_exercise`.
    title : str
        Heading for the task.
    instruction : str
        One sentence telling the learner what to build.
    steps : tuple of dict
        A pipeline that solves the task; any pipeline giving the same result
        counts as right.
    """

    id: str
    title: str
    instruction: str
    steps: tuple[Mapping[str, Any], ...]


EXERCISES: tuple[Exercise, ...] = (
    Exercise(
        "flip_lr_ud",
        "Flip twice",
        "Flip the image left-right, then up-down.",
        (
            {"op": "flip", "horizontal": True, "vertical": False},
            {"op": "flip", "horizontal": False, "vertical": True},
        ),
    ),
    Exercise(
        "percentile_25_75",
        "Normalise with percentiles",
        "Normalise the image so its 25th percentile becomes 0 and its 75th "
        "percentile becomes 1.",
        ({"op": "normalize", "method": "percentile", "low": 25.0, "high": 75.0},),
    ),
    Exercise(
        "rotate_90_zoom_4",
        "Turn and zoom",
        "Rotate the image by 90 degrees, then zoom in 4 times.",
        (
            {"op": "affine", "rotation": 90.0},
            {"op": "affine", "scale": 4.0},
        ),
    ),
)

_BY_ID = {exercise.id: exercise for exercise in EXERCISES}


def _same(result: np.ndarray, expected: np.ndarray) -> bool:
    """Equal pictures, allowing only the noise of a different calculation order.

    Floats may differ by 1e-9. Integer pictures may differ by one grey level
    at no more than 0.1 % of the pixels, where an interpolated value fell on
    a rounding tie (x.5) one way in one pipeline and the other way in another.
    """
    if result.shape != expected.shape:
        return False
    if np.issubdtype(result.dtype, np.floating) or np.issubdtype(
        expected.dtype, np.floating
    ):
        return bool(np.allclose(result, expected, rtol=0, atol=1e-9, equal_nan=True))
    if result.dtype == np.bool_ or expected.dtype == np.bool_:
        return bool(np.array_equal(result, expected))
    difference = np.abs(result.astype(np.int64) - expected.astype(np.int64))
    return bool(difference.max(initial=0) <= 1) and (
        np.count_nonzero(difference) <= 0.001 * difference.size
    )


def _hint(exercise: Exercise, image: np.ndarray, result: np.ndarray) -> str:
    """A sentence that tells the learner what their result looks like."""
    channels = (result.shape[2:] or (1,))[0], (image.shape[2:] or (1,))[0]
    if channels[0] != channels[1]:
        return (
            f"Not yet: the result has {channels[0]} channel(s) where the image "
            f"has {channels[1]}; this task keeps the colours as they are (no "
            "grayscale or threshold step)."
        )
    if result.shape != image.shape and exercise.id != "percentile_25_75":
        return (
            f"Not yet: the result is {result.shape[1]}x{result.shape[0]} pixels; "
            "this task keeps the image size."
        )
    if exercise.id == "flip_lr_ud":
        if _same(result, flip(image, horizontal=True)):
            return "Close: the image is flipped left-right but not up-down."
        if _same(result, flip(image, vertical=True)):
            return "Close: the image is flipped up-down but not left-right."
        if _same(result, image):
            return (
                "Not yet: the image is unchanged (two flips of the same kind "
                "cancel out)."
            )
        return "Not yet: the result is not the image flipped both ways."
    if exercise.id == "percentile_25_75":
        if not np.issubdtype(result.dtype, np.floating):
            return "Not yet: normalisation gives decimal numbers; add a normalize step."
        return (
            "Not yet: use the percentile method with low 25 and high 75, on the "
            "image as it is (no other steps)."
        )
    if _same(result, affine(image, rotation=90.0)):
        return "Close: the image is turned by 90 degrees but not zoomed in."
    if _same(result, affine(image, scale=4.0)):
        return "Close: the image is zoomed in but not turned by 90 degrees."
    if _same(result, affine(image, rotation=-90.0, scale=4.0)):
        return "Close: the zoom is right but the turn goes the wrong way."
    return "Not yet: turn by 90 degrees (counter-clockwise), then zoom by 4."


def check_exercise(
    exercise_id: str, pipeline: Mapping[str, Any], image: np.ndarray
) -> tuple[bool, str]:
    """Tell whether a learner's pipeline solves an exercise on this image.

    The learner's result is compared with the result of the exercise's own
    pipeline, so any pipeline that gives the same picture counts: flipping
    left-right then up-down is the same as turning by 180 degrees.

    Parameters
    ----------
    exercise_id : str
        The ``id`` of one of :data:`EXERCISES`.
    pipeline : dict
        The learner's pipeline.
    image : ndarray
        The image both pipelines run on.

    Returns
    -------
    right : bool
        Whether the results match (floats within 1e-9).
    message : str
        A sentence for the learner: praise, or a hint about what differs.

    Raises
    ------
    ValueError
        If ``exercise_id`` is unknown.

    Examples
    --------
    >>> image = np.arange(12, dtype=np.uint8).reshape(3, 4)
    >>> turn = {"version": 1, "steps": [{"op": "affine", "rotation": 180}]}
    >>> check_exercise("flip_lr_ud", turn, image)[0]
    True
    """
    if exercise_id not in _BY_ID:
        known = ", ".join(_BY_ID)
        raise ValueError(f"There is no exercise '{exercise_id}'; choose {known}.")
    exercise = _BY_ID[exercise_id]
    image = np.asarray(image)
    expected = apply_pipeline(image, make_pipeline(exercise.steps))
    try:
        result = apply_pipeline(image, pipeline)
    except PipelineError as error:
        return False, f"The pipeline cannot run: {error}"
    if _same(result, expected):
        return True, "Right: your pipeline gives exactly the expected result."
    return False, _hint(exercise, image, result)
