"""Random data augmentation expressed as ordinary pipeline steps."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .ops import FILL_MODES

__all__ = ["AUGMENTATION_RANGES", "sample_augmentation"]

# Name -> (kind, largest allowed value) of each augmentation range.
AUGMENTATION_RANGES: dict[str, tuple[str, float | None]] = {
    "flip_horizontal": ("bool", None),
    "flip_vertical": ("bool", None),
    "rotation": ("float", 360.0),
    "zoom": ("float", 100.0),
    "shift_x": ("float", None),
    "shift_y": ("float", None),
    "shear": ("float", 89.0),
    "brightness": ("float", 9.0),
    "fill": ("choice", None),
}


def _checked_ranges(ranges: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the ranges and fill in "no augmentation" for missing ones."""
    unknown = [name for name in ranges if name not in AUGMENTATION_RANGES]
    if unknown:
        known = ", ".join(AUGMENTATION_RANGES)
        raise ValueError(
            f"Unknown augmentation setting {unknown[0]!r}; known settings are {known}."
        )
    checked: dict[str, Any] = {}
    for name, (kind, largest) in AUGMENTATION_RANGES.items():
        value = ranges.get(name)
        if kind == "bool":
            value = False if value is None else value
            if not isinstance(value, bool):
                raise ValueError(f"'{name}' must be true or false (got {value!r}).")
        elif kind == "choice":
            value = "constant" if value is None else value
            if value not in FILL_MODES:
                raise ValueError(
                    f"'fill' must be one of {', '.join(FILL_MODES)} (got {value!r})."
                )
        else:
            smallest = 1.0 if name == "zoom" else 0.0
            value = smallest if value is None else value
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if not is_number or not math.isfinite(value) or value < smallest:
                raise ValueError(
                    f"'{name}' must be a number of at least {smallest:g} "
                    f"(got {value!r})."
                )
            if largest is not None and value > largest:
                raise ValueError(
                    f"'{name}' must be at most {largest:g} (got {value!r})."
                )
            value = float(value)
        checked[name] = value
    return checked


def _spread(draw: float, half_width: float) -> float:
    """Map a uniform draw in [0, 1) onto [-half_width, half_width)."""
    return float((2.0 * draw - 1.0) * half_width)


def sample_augmentation(
    ranges: Mapping[str, Any], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """Draw one random variation of a picture as concrete pipeline steps.

    Augmentation shows a network slightly different versions of each training
    picture (mirrored, turned, zoomed, shifted, slanted, darker or brighter)
    so it learns the content rather than the exact pixels. This function
    draws the amounts within the given ranges and returns them as ``flip``,
    ``affine`` and ``brightness`` steps, so the variation can be previewed,
    saved and replayed like any other pipeline.

    Parameters
    ----------
    ranges : dict
        Any of: ``flip_horizontal``, ``flip_vertical`` (bool: flip with
        probability 0.5); ``rotation`` (degrees, turn uniform in
        ``[-r, r]``); ``zoom`` (factor of at least 1, scale log-uniform in
        ``[1/z, z]``); ``shift_x``, ``shift_y`` (pixels, uniform in
        ``[-s, s]``); ``shear`` (degrees, uniform in ``[-s, s]``);
        ``brightness`` (fraction, factor uniform in ``[1 - b, 1 + b]``,
        negative factors drawn for ``b > 1`` become 0, a black picture);
        ``fill`` (how the affine step fills empty
        areas). Missing settings mean no change.
    rng : numpy.random.Generator
        Source of randomness; the same seed gives the same steps.

    Returns
    -------
    steps : list of dict
        Pipeline steps; a step is left out when its ranges ask for nothing
        (for example no flip drawn, or all geometric ranges 0).

    Raises
    ------
    ValueError
        If a setting is unknown or out of range.

    Notes
    -----
    The same number of random values is drawn whatever the ranges, so
    changing one range does not change the draws of the others.

    Examples
    --------
    >>> steps = sample_augmentation({"rotation": 10}, np.random.default_rng(0))
    >>> steps[0]["op"], -10 <= steps[0]["rotation"] <= 10
    ('affine', True)
    """
    settings = _checked_ranges(ranges)
    draws = rng.random(8)
    steps: list[dict[str, Any]] = []

    horizontal = settings["flip_horizontal"] and bool(draws[0] < 0.5)
    vertical = settings["flip_vertical"] and bool(draws[1] < 0.5)
    if horizontal or vertical:
        steps.append({"op": "flip", "horizontal": horizontal, "vertical": vertical})

    zoom = settings["zoom"]
    log_zoom = math.log(zoom)
    geometry = {
        "rotation": _spread(draws[2], settings["rotation"]),
        "scale": float(np.clip(math.exp(_spread(draws[3], log_zoom)), 1 / zoom, zoom)),
        "translate_x": _spread(draws[4], settings["shift_x"]),
        "translate_y": _spread(draws[5], settings["shift_y"]),
        "shear": _spread(draws[6], settings["shear"]),
    }
    moves = [settings[name] for name in ("rotation", "shift_x", "shift_y", "shear")]
    if any(moves) or log_zoom > 0:
        steps.append({"op": "affine", **geometry, "fill": settings["fill"]})

    if settings["brightness"] > 0:
        factor = 1.0 + _spread(draws[7], settings["brightness"])
        steps.append({"op": "brightness", "factor": max(factor, 0.0)})
    return steps
