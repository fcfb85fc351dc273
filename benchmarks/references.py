"""Reference transforms built from scikit-image's own classes, for checks."""

from __future__ import annotations

import math

import numpy as np
from skimage import transform

__all__ = ["skimage_affine"]


def skimage_affine(shape, rotation, scale, translate_x, translate_y, shear):
    """The forward map of the affine step, composed from scikit-image classes.

    About the centre ``((W - 1) / 2, (H - 1) / 2)``: shear first, then zoom
    and a counter-clockwise turn on screen (scikit-image turns clockwise in
    row-down coordinates, hence the minus sign), then the shift.
    """
    height, width = shape[:2]
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    return (
        transform.SimilarityTransform(translation=-centre)
        + transform.AffineTransform(shear=math.radians(shear))
        + transform.SimilarityTransform(
            scale=scale,
            rotation=-math.radians(rotation),
            translation=(translate_x, translate_y),
        )
        + transform.SimilarityTransform(translation=centre)
    )
