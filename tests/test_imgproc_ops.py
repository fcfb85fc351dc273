"""Tests for imgproc.ops against textbook formulas, NumPy slicing and scikit-image."""

import warnings

import numpy as np
import pytest
from skimage import color, morphology, transform

from benchmarks.references import skimage_affine as _skimage_affine
from imgproc import ops
from imgproc.display import histogram, to_display

MORPHOLOGY_OPS = (
    "erosion",
    "dilation",
    "opening",
    "closing",
    "white_tophat",
    "black_tophat",
)

SKIMAGE_FOOTPRINTS = {
    "disk": morphology.disk,
    "square": lambda radius: morphology.footprint_rectangle(
        (2 * radius + 1, 2 * radius + 1)
    ),
    "diamond": morphology.diamond,
}


@pytest.fixture(scope="module")
def xray_mask(xray):
    return xray > 128


def _skimage_reference(name, image, footprint, radius):
    element = SKIMAGE_FOOTPRINTS[footprint](radius)
    return getattr(morphology, name)(image, element)


# Morphology


# Every operation at radii 1 to 15 on both images; at radius 25 (seconds per
# scikit-image reference) each operation once, on the mask or the X-ray.
DISK_CASES = [
    (kind, name, radius)
    for radius in (1, 2, 7, 15)
    for name in MORPHOLOGY_OPS
    for kind in ("mask", "gray")
] + [
    ("mask", "erosion", 25),
    ("gray", "dilation", 25),
    ("mask", "opening", 25),
    ("gray", "closing", 25),
    ("mask", "white_tophat", 25),
    ("gray", "black_tophat", 25),
]


@pytest.mark.parametrize(("kind", "name", "radius"), DISK_CASES)
def test_morphology_disk_equals_skimage(xray, xray_mask, kind, name, radius):
    image = xray_mask if kind == "mask" else xray
    result = getattr(ops, name)(image, radius, "disk")
    expected = _skimage_reference(name, image, "disk", radius)
    assert result.dtype == image.dtype
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize(
    ("footprint", "radius"),
    [("square", 1), ("square", 7), ("square", 25), ("diamond", 2), ("diamond", 15)],
)
@pytest.mark.parametrize("name", MORPHOLOGY_OPS)
@pytest.mark.parametrize("kind", ["mask", "gray"])
def test_morphology_square_and_diamond_equal_skimage(
    xray, xray_mask, kind, name, footprint, radius
):
    image = xray_mask if kind == "mask" else xray
    result = getattr(ops, name)(image, radius, footprint)
    expected = _skimage_reference(name, image, footprint, radius)
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize(
    "convert",
    [
        lambda x: x.astype(np.uint16) * 257,
        lambda x: x.astype(np.int16) - 1000,
        lambda x: x.astype(np.float32) / 255,
        lambda x: x.astype(np.float64) / 255 - 0.5,
        lambda x: x.astype(np.int32) * 70_000 - 5_000_000,
        lambda x: (x.astype(np.int16) - 128).astype(np.int8),
    ],
    ids=["uint16", "int16", "float32", "float64", "int32", "int8"],
)
@pytest.mark.parametrize("name", MORPHOLOGY_OPS)
def test_morphology_keeps_dtype_and_equals_skimage(xray, convert, name):
    image = convert(xray[300:700, 200:800])
    result = getattr(ops, name)(image, 4, "disk")
    expected = _skimage_reference(name, image, "disk", 4)
    assert result.dtype == image.dtype
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("name", MORPHOLOGY_OPS)
def test_morphology_on_image_smaller_than_footprint(xray_mask, xray, name):
    for image in (xray_mask[500:505, 400:407], xray[500:505, 400:407]):
        result = getattr(ops, name)(image, 7, "disk")
        np.testing.assert_array_equal(
            result, _skimage_reference(name, image, "disk", 7)
        )


def test_morphology_with_nan_equals_skimage(xray):
    image = xray[100:400, 100:400].astype(np.float64)
    image[::37, ::41] = np.nan
    for name in MORPHOLOGY_OPS:
        result = getattr(ops, name)(image, 3, "disk")
        expected = _skimage_reference(name, image, "disk", 3)
        np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("footprint", ["disk", "square", "diamond"])
def test_all_white_mask_stays_white_under_erosion(footprint):
    mask = np.ones((1024, 1024), dtype=bool)
    assert ops.erosion(mask, 5, footprint).all()
    assert ops.opening(mask, 5, footprint).all()
    assert not ops.dilation(~mask, 5, footprint).any()


def test_0_255_mask_stays_0_255(xray):
    mask = np.where(xray > 128, 255, 0).astype(np.uint8)
    for name in MORPHOLOGY_OPS:
        result = getattr(ops, name)(mask, 3, "disk")
        assert result.dtype == np.uint8
        assert set(np.unique(result)) <= {0, 255}
        np.testing.assert_array_equal(result, _skimage_reference(name, mask, "disk", 3))
    assert set(np.unique(ops.erosion(mask, 3))) == {0, 255}


def test_radius_zero(xray, xray_mask):
    for image in (xray, xray_mask):
        for name in ("erosion", "dilation", "opening", "closing"):
            np.testing.assert_array_equal(getattr(ops, name)(image, 0), image)
        for name in ("white_tophat", "black_tophat"):
            assert not getattr(ops, name)(image, 0).any()


def test_morphology_refuses_colour_and_bad_settings(flower, xray):
    with pytest.raises(ValueError, match="one channel"):
        ops.erosion(flower, 3)
    with pytest.raises(ValueError, match="footprint"):
        ops.dilation(xray, 3, "star")
    with pytest.raises(ValueError, match="radius"):
        ops.opening(xray, -1)
    with pytest.raises(ValueError, match="radius"):
        ops.closing(xray, 2.5)


# Channels and threshold


def test_grayscale_uses_rgb2gray_weights(flower):
    as_float = flower / 255.0
    np.testing.assert_allclose(
        ops.to_grayscale(as_float), color.rgb2gray(as_float), rtol=0, atol=1e-12
    )
    result = ops.to_grayscale(flower)
    assert result.dtype == np.uint8 and result.shape == flower.shape[:2]
    exact = flower.astype(np.float64) @ np.array([0.2125, 0.7154, 0.0721])
    difference = np.abs(result.astype(int) - np.rint(exact).astype(int))
    near_half = np.abs(exact - np.floor(exact) - 0.5) < 1e-9
    assert np.all(difference[~near_half] == 0)
    assert np.all(difference <= 1)


def test_grayscale_of_grayscale_is_unchanged(xray):
    np.testing.assert_array_equal(ops.to_grayscale(xray), xray)


def test_select_channel(flower, xray):
    for index in range(3):
        np.testing.assert_array_equal(
            ops.select_channel(flower, index), flower[:, :, index]
        )
    np.testing.assert_array_equal(ops.select_channel(xray, 0), xray)
    with pytest.raises(ValueError, match="channel 3"):
        ops.select_channel(flower, 3)
    with pytest.raises(ValueError, match="only channel 0"):
        ops.select_channel(xray, 1)


def test_threshold_is_strictly_greater(xray):
    value = int(np.median(xray))
    mask = ops.threshold(xray, value)
    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, xray > value)
    assert np.any(xray == value) and not mask[xray == value].any()


def test_threshold_refuses_colour(flower):
    with pytest.raises(ValueError) as caught:
        ops.threshold(flower, 100)
    assert str(caught.value) == (
        "Thresholding needs one channel: add a grayscale or channel step first."
    )


# Normalisation


def test_scale_divides_by_dtype_maximum(xray):
    result = ops.normalize(xray)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, xray / 255.0)
    wide = xray.astype(np.uint16) * 257
    np.testing.assert_array_equal(ops.normalize(wide), wide / 65535.0)
    np.testing.assert_array_equal(ops.normalize(xray, divisor=1000.0), xray / 1000.0)
    as_float = xray.astype(np.float32) / 300
    np.testing.assert_array_equal(ops.normalize(as_float), as_float.astype(np.float64))


def test_minmax(xray):
    values = xray.astype(np.float64)
    expected = (values - values.min()) / (values.max() - values.min())
    np.testing.assert_allclose(ops.normalize(xray, "minmax"), expected, atol=1e-15)


@pytest.mark.parametrize(("low", "high"), [(5.0, 95.0), (25.0, 75.0)])
def test_percentile_over_the_whole_colour_image(flower, low, high):
    values = flower.astype(np.float64)
    p_low, p_high = np.percentile(values, [low, high])
    expected = (values - p_low) / (p_high - p_low)
    result = ops.normalize(flower, "percentile", low=low, high=high)
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12)
    assert result.min() < 0 and result.max() > 1  # not clipped


def test_constant_image_normalises_to_zeros_without_warnings(xray):
    constant = np.full_like(xray, xray[512, 512])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in ("minmax", "percentile"):
            result = ops.normalize(constant, method)
            assert result.dtype == np.float64
            assert not result.any() and np.isfinite(result).all()


def test_percentile_order_is_checked(xray):
    with pytest.raises(ValueError) as caught:
        ops.normalize(xray, "percentile", low=95, high=5)
    assert str(caught.value) == (
        "The low percentile (95) must be below the high percentile (5)."
    )
    with pytest.raises(ValueError, match="between 0 and 100"):
        ops.normalize(xray, "percentile", low=-1, high=50)
    with pytest.raises(ValueError, match="method"):
        ops.normalize(xray, "robust")
    with pytest.raises(ValueError, match="divisor"):
        ops.normalize(xray, divisor=0.0)


def test_signed_data_does_not_wrap(xray):
    signed = xray.astype(np.int16) * 100 - 12_000
    assert signed.min() < 0
    np.testing.assert_array_equal(ops.normalize(signed), signed / 32767.0)
    values = signed.astype(np.float64)
    expected = (values - values.min()) / (values.max() - values.min())
    np.testing.assert_allclose(ops.normalize(signed, "minmax"), expected, atol=1e-15)


# Geometry


def test_flip_matches_numpy(flower):
    np.testing.assert_array_equal(ops.flip(flower, horizontal=True), np.fliplr(flower))
    np.testing.assert_array_equal(ops.flip(flower, vertical=True), np.flipud(flower))
    np.testing.assert_array_equal(
        ops.flip(flower, horizontal=True, vertical=True), flower[::-1, ::-1]
    )
    np.testing.assert_array_equal(ops.flip(flower), flower)


AFFINE_CASES = [
    (30.0, 1.3, 12.5, -7.0, 10.0),
    (-75.0, 0.6, -20.0, 33.0, -25.0),
    (0.0, 1.0, 40.0, 0.0, 30.0),
]


@pytest.mark.parametrize("fill", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("case", AFFINE_CASES)
def test_affine_equals_skimage_warp(flower, fill, case):
    image = flower.astype(np.float64) / 255.0
    tform = _skimage_affine(image.shape, *case)
    expected = transform.warp(
        image, tform.inverse, order=1, mode=fill, preserve_range=True
    )
    result = ops.affine(image, *case, fill=fill)
    assert result.shape == image.shape and result.dtype == np.float64
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("case", AFFINE_CASES)
def test_affine_on_uint8_rounds_like_skimage(flower, xray, case):
    for image in (flower, xray[::2, ::2]):
        tform = _skimage_affine(image.shape, *case)
        warped = transform.warp(image, tform.inverse, order=1, preserve_range=True)
        expected = np.clip(np.rint(warped), 0, 255).astype(np.uint8)
        result = ops.affine(image, *case)
        assert result.dtype == np.uint8
        difference = np.abs(result.astype(int) - expected.astype(int))
        assert difference.max() <= 1
        assert np.count_nonzero(difference) <= image.size * 1e-4


@pytest.mark.parametrize("case", AFFINE_CASES)
def test_affine_matrix_matches_skimage_composition(flower, case):
    tform = _skimage_affine(flower.shape, *case)
    np.testing.assert_allclose(
        ops.affine_matrix(flower.shape, *case), tform.params, atol=1e-12
    )


def test_rotation_is_counter_clockwise_on_screen(flower):
    side = min(flower.shape[:2])
    square = flower[:side, :side]
    np.testing.assert_array_equal(ops.affine(square, rotation=90), np.rot90(square, 1))
    np.testing.assert_array_equal(
        ops.affine(square, rotation=-90), np.rot90(square, -1)
    )
    np.testing.assert_array_equal(ops.affine(square, rotation=180), square[::-1, ::-1])
    centre = (side - 1) / 2
    forward = ops.affine_matrix(square.shape, rotation=90)
    right_of_centre = forward @ [centre + 10, centre, 1]
    np.testing.assert_allclose(right_of_centre, [centre, centre - 10, 1], atol=1e-12)


def test_translation_shifts_right_and_down(flower):
    expected = np.zeros_like(flower)
    expected[:, 10:] = flower[:, :-10]
    np.testing.assert_array_equal(ops.affine(flower, translate_x=10), expected)
    expected = np.zeros_like(flower)
    expected[:-5] = flower[5:]
    np.testing.assert_array_equal(ops.affine(flower, translate_y=-5), expected)


def test_zoom_keeps_centre_and_doubles_distances(flower):
    patch = flower[: 2 * (min(flower.shape[:2]) // 2) - 1, :201]
    assert patch.shape[0] % 2 == 1
    zoomed = ops.affine(patch, scale=2.0)
    centre_row, centre_col = patch.shape[0] // 2, patch.shape[1] // 2
    for d_row, d_col in [(0, 0), (7, -5), (-20, 13), (30, 30)]:
        np.testing.assert_array_equal(
            zoomed[centre_row + 2 * d_row, centre_col + 2 * d_col],
            patch[centre_row + d_row, centre_col + d_col],
        )


def test_affine_on_mask_and_errors(xray_mask, xray):
    square = xray_mask[:512, :512]
    result = ops.affine(square, rotation=90)
    assert result.dtype == np.bool_
    np.testing.assert_array_equal(result, np.rot90(square))
    with pytest.raises(ValueError, match="zoom"):
        ops.affine(xray, scale=0.0)
    with pytest.raises(ValueError, match="fill"):
        ops.affine(xray, fill="mirror")
    # Absurd geometry is refused with a sentence, not an IndexError deep in
    # the warp.
    for settings in (
        {"translate_x": 1e20},
        {"translate_y": -1e300},
        {"translate_x": float("nan")},
        {"scale": 1e-15},
        {"scale": 1e5},
    ):
        with pytest.raises(ValueError, match="shift|zoom"):
            ops.affine(xray_mask[:40, :40], rotation=28.3, fill="reflect", **settings)


# Settings that exercise each way ``affine`` computes a warp: rows and columns
# mapping separately (zooms, shifts, quarter turns) and the general tiled path
# (turns, shear, mixes), including zoom-outs that repeat the picture.
WARP_CASES = {
    "zoom_out_turn": (17.0, 0.25, 0.0, 0.0, 0.0),
    "turn": (30.0, 1.0, 0.0, 0.0, 0.0),
    "shear": (0.0, 1.0, 0.0, 0.0, 30.0),
    "shift": (0.0, 1.0, 40.5, -13.25, 0.0),
    "zoom_in": (0.0, 4.0, 0.0, 0.0, 0.0),
    "zoom_out_shift": (0.0, 0.3, 7.0, 3.0, 0.0),
    "quarter_turn": (90.0, 1.0, 0.0, 0.0, 0.0),
    "mixed": (-75.0, 0.6, -20.0, 33.0, -25.0),
}


def _warp_pictures(xray, flower):
    """Real pictures in every dtype the pipeline hands to ``affine``."""
    return {
        "uint8 X-ray": xray,
        "float64 X-ray": xray / 255.0,
        "uint16 X-ray": xray[::2, 1::2].astype(np.uint16) * 257,
        "signed X-ray": xray[1::2, ::2].astype(np.int16) - 300,
        "uint8 flower": flower,
        "float64 flower": flower / 255.0,
    }


def _skimage_warp(image, inverse, fill):
    """scikit-image's bilinear warp, rounded and clipped to the dtype."""
    warped = transform.warp(image, inverse, order=1, mode=fill, preserve_range=True)
    if image.dtype.kind == "f":
        return warped.astype(image.dtype)
    limits = np.iinfo(image.dtype)
    return np.clip(np.rint(warped), limits.min, limits.max).astype(image.dtype)


@pytest.mark.parametrize("fill", ops.FILL_MODES)
@pytest.mark.parametrize("case", WARP_CASES.values(), ids=WARP_CASES.keys())
def test_affine_is_skimage_warp_to_the_last_bit(xray, flower, fill, case):
    for name, image in _warp_pictures(xray, flower).items():
        inverse = np.linalg.inv(ops.affine_matrix(image.shape, *case))
        result = ops.affine(image, *case, fill=fill)
        assert result.dtype == image.dtype, name
        np.testing.assert_array_equal(
            result, _skimage_warp(image, inverse, fill), err_msg=name
        )


@pytest.mark.parametrize("fill", ops.FILL_MODES)
@pytest.mark.parametrize("case", WARP_CASES.values(), ids=WARP_CASES.keys())
def test_affine_matches_skimage_transform_classes(xray, flower, fill, case):
    # The reference composes the map from scikit-image's own classes, so its
    # matrix differs in the last bits: floats agree to 1e-9 and integers
    # everywhere except where the reference value is a rounding tie (x.5).
    for name, image in _warp_pictures(xray, flower).items():
        tform = _skimage_affine(image.shape, *case)
        warped = transform.warp(
            image, tform.inverse, order=1, mode=fill, preserve_range=True
        )
        result = ops.affine(image, *case, fill=fill)
        assert result.dtype == image.dtype, name
        if image.dtype.kind == "f":
            np.testing.assert_allclose(result, warped, rtol=0, atol=1e-9, err_msg=name)
            continue
        limits = np.iinfo(image.dtype)
        expected = np.clip(np.rint(warped), limits.min, limits.max)
        ties = np.abs(warped - np.floor(warped) - 0.5) < 1e-9
        assert not np.any((result != expected) & ~ties), name


@pytest.mark.parametrize("fill", ops.FILL_MODES)
def test_affine_edge_cases_equal_skimage(xray, fill):
    brighter = np.maximum(xray[:300, :200], 7)
    pictures = {
        # An input range without 0: border pixels blended with the fill are
        # clipped to the input range unless some pixel becomes 0.
        "no zero in range": brighter,
        "float without zero": brighter / 255.0 + 0.25,
        "strided view": xray[5:900:3, ::2],
        "two rows": xray[:2, :9],
        "one column": xray[:40, :1],
        "float32": (xray[:200, :300] / 255.0).astype(np.float32),
        "int32": xray[:100, :120].astype(np.int32) * -1000,
    }
    with_nan = xray[:64, :64] / 255.0
    with_nan[10, 20] = np.nan
    pictures["float with NaN"] = with_nan
    for name, image in pictures.items():
        for case in [(0.0, 1.0, 0.5, 0.0, 0.0), (33.0, 1.2, 5.5, 0.0, 7.0)]:
            inverse = np.linalg.inv(ops.affine_matrix(image.shape, *case))
            result = ops.affine(image, *case, fill=fill)
            assert result.dtype == image.dtype, name
            np.testing.assert_array_equal(
                result, _skimage_warp(image, inverse, fill), err_msg=name
            )


# Half-pixel shifts and zooms put source coordinates exactly halfway between
# pixels, where the nearest pixel depends on how the coordinate is rounded.
MASK_CASES = {
    **WARP_CASES,
    "half_pixel_shift": (0.0, 1.0, 0.5, -0.5, 0.0),
    "zoom_in_two": (0.0, 2.0, 0.0, 0.0, 0.0),
    "zoom_out_half_turn": (270.0, 0.5, 0.5, 0.0, 0.0),
}


@pytest.mark.parametrize("fill", ops.FILL_MODES)
@pytest.mark.parametrize("case", MASK_CASES.values(), ids=MASK_CASES.keys())
def test_affine_on_mask_is_skimage_nearest_warp(xray_mask, fill, case):
    masks = {
        "X-ray mask": xray_mask,
        "strided mask": xray_mask[3:1000:3, ::2],
        "one row": xray_mask[500:501, :300],
        "one column": xray_mask[:300, 400:401],
    }
    for name, mask in masks.items():
        inverse = np.linalg.inv(ops.affine_matrix(mask.shape, *case))
        expected = transform.warp(mask, inverse, order=0, mode=fill, cval=0)
        result = ops.affine(mask, *case, fill=fill)
        assert result.dtype == np.bool_, name
        np.testing.assert_array_equal(result, expected.astype(bool), err_msg=name)


def test_affine_on_mask_matches_skimage_for_random_settings(xray_mask):
    # Half-pixel shifts and quarter-degree turns land many coordinates on
    # rounding ties and on the border, where the fill rules decide.
    rng = np.random.default_rng(3)
    mask = xray_mask[::2, ::3]
    for _ in range(12):
        case = (
            float(rng.integers(-720, 721)) / 4,
            float(rng.choice([0.05, 0.25, 0.5, 1.0, 1.5, 3.0])),
            float(rng.integers(-400, 401)) / 2,
            float(rng.integers(-400, 401)) / 2,
            float(rng.integers(-40, 41)),
        )
        inverse = np.linalg.inv(ops.affine_matrix(mask.shape, *case))
        for fill in ops.FILL_MODES:
            expected = transform.warp(mask, inverse, order=0, mode=fill, cval=0)
            np.testing.assert_array_equal(
                ops.affine(mask, *case, fill=fill),
                expected.astype(bool),
                err_msg=f"{case} {fill}",
            )


def test_masks_warped_in_several_threads_at_once(xray_mask):
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    def blas_threads():
        return [info["num_threads"] for info in threadpool_info()]

    before = blas_threads()
    cases = [(30.0, 1.0, 0.0, 0.0, 0.0, fill) for fill in ops.FILL_MODES] * 3
    expected = [ops.affine(xray_mask, *case[:5], fill=case[5]) for case in cases]
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda case: ops.affine(xray_mask, *case[:5], fill=case[5]), cases)
        )
    for result, reference in zip(results, expected, strict=True):
        np.testing.assert_array_equal(result, reference)
    assert blas_threads() == before, "the one-thread limit is lifted afterwards"


# Intensity and size


def test_brightness(flower):
    expected = np.clip(np.rint(flower * 1.5), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(ops.brightness(flower, 1.5), expected)
    np.testing.assert_array_equal(
        ops.brightness(flower, 0.3), np.rint(flower * 0.3).astype(np.uint8)
    )
    as_float = flower / 255.0
    brighter = ops.brightness(as_float, 1.5)
    np.testing.assert_allclose(brighter, as_float * 1.5)
    assert brighter.max() > 1.0  # floats are not clipped
    with pytest.raises(ValueError, match="factor"):
        ops.brightness(flower, -0.5)


@pytest.mark.parametrize(("height", "width"), [(100, 80), (500, 700)])
def test_resize_colour_matches_skimage(flower, height, width):
    shrinking = height < flower.shape[0] or width < flower.shape[1]
    reference = transform.resize(
        flower,
        (height, width, 3),
        order=1,
        anti_aliasing=shrinking,
        preserve_range=True,
    )
    result = ops.resize(flower, height, width)
    assert result.shape == (height, width, 3) and result.dtype == np.uint8
    np.testing.assert_array_equal(
        result, np.clip(np.rint(reference), 0, 255).astype(np.uint8)
    )


def test_resize_grayscale_and_mask(xray, xray_mask):
    reference = transform.resize(
        xray.astype(np.float64), (256, 256), anti_aliasing=True, preserve_range=True
    )
    result = ops.resize(xray, 256, 256)
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(
        result, np.clip(np.rint(reference), 0, 255).astype(np.uint8)
    )
    small_mask = ops.resize(xray_mask, 128, 100)
    assert small_mask.dtype == np.bool_ and small_mask.shape == (128, 100)
    np.testing.assert_array_equal(
        small_mask, transform.resize(xray_mask, (128, 100), order=0)
    )
    with pytest.raises(ValueError, match="height"):
        ops.resize(xray, 0, 10)


def test_center_crop(flower):
    height, width = flower.shape[:2]
    top, left = (height - 128) // 2, (width - 100) // 2
    np.testing.assert_array_equal(
        ops.center_crop(flower, 128, 100),
        flower[top : top + 128, left : left + 100],
    )
    np.testing.assert_array_equal(ops.center_crop(flower, height, width), flower)


def test_center_crop_refuses_small_image(xray):
    small = xray[:100, :80]
    with pytest.raises(ValueError) as caught:
        ops.center_crop(small, 128, 128)
    assert str(caught.value) == (
        "The image is 100x80 pixels, smaller than the 128x128 crop."
    )


# Display


def test_to_display_by_dtype(xray, xray_mask):
    picture, clipped = to_display(xray_mask)
    np.testing.assert_array_equal(picture, np.where(xray_mask, 255, 0))
    assert picture.dtype == np.uint8 and clipped == 0

    picture, clipped = to_display(xray)
    np.testing.assert_array_equal(picture, xray)

    wide = xray.astype(np.uint16) * 257 + 100
    picture, _ = to_display(wide)
    np.testing.assert_array_equal(picture, np.rint(wide / 257).astype(np.uint8))

    signed = xray.astype(np.int16) * 3 - 400
    values = signed.astype(np.float64)
    stretched = (values - values.min()) / (values.max() - values.min()) * 255
    picture, clipped = to_display(signed)
    np.testing.assert_array_equal(picture, np.rint(stretched).astype(np.uint8))
    assert clipped == 0


def test_to_display_clips_floats_and_counts_them(flower):
    values = flower / 200.0 - 0.1
    outside = np.count_nonzero((values < 0) | (values > 1))
    assert outside > 0
    picture, clipped = to_display(values)
    assert clipped == outside
    expected = np.rint(np.clip(values, 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(picture, expected)


def test_to_display_stretches_float_measurements(xray):
    # A real X-ray in DICOM-like units: slope 0.5, intercept -100.
    measured = xray.astype(np.float64) * 0.5 - 100.0
    picture, clipped = to_display(measured)

    expected = np.rint(
        (measured - measured.min()) * 255.0 / (measured.max() - measured.min())
    )
    assert clipped == 0
    np.testing.assert_array_equal(picture, expected.astype(np.uint8))

    normalised = (xray.astype(np.float64) - 30.0) / 180.0  # a percentile-like range
    picture, clipped = to_display(normalised)
    assert clipped == np.count_nonzero((normalised < 0) | (normalised > 1))
    assert clipped > 0


def test_to_display_shrinks_to_max_side(xray, flower):
    picture, _ = to_display(xray, max_side=256)
    blocks = xray.reshape(256, 4, 256, 4).mean(axis=(1, 3))
    assert picture.shape == (256, 256)
    assert np.abs(picture.astype(float) - blocks).max() <= 1.0
    picture, _ = to_display(flower, max_side=100)
    assert max(picture.shape[:2]) == 100 and picture.shape[2] == 3
    height, width = flower.shape[:2]
    assert picture.shape[:2] == (round(height * 100 / max(height, width)), 100)
    np.testing.assert_array_equal(to_display(flower, max_side=5000)[0], flower)


def test_histogram(xray, xray_mask, flower):
    counts, edges = histogram(xray)
    expected_counts, expected_edges = np.histogram(xray.ravel(), bins=256)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(edges, expected_edges)
    counts, _ = histogram(xray_mask, bins=2)
    assert counts.tolist() == [int((~xray_mask).sum()), int(xray_mask.sum())]
    counts, _ = histogram(flower, bins=16, value_range=(0, 256))
    assert counts.sum() == flower.size
    np.testing.assert_array_equal(
        counts, np.bincount(flower.ravel() // 16, minlength=16)
    )


def test_single_channel_axis_is_treated_as_grayscale(xray):
    column = xray[:, :, np.newaxis]
    np.testing.assert_array_equal(ops.to_grayscale(column), xray)
    np.testing.assert_array_equal(ops.threshold(column, 90), xray > 90)
    np.testing.assert_array_equal(ops.erosion(column, 2), ops.erosion(xray, 2))
    picture, _ = to_display(column)
    assert picture.shape == xray.shape
