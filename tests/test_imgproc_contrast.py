"""Tests for automatic thresholds, contrast methods and the DICOM window."""

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_windowing
from skimage import color, exposure, filters

from imgproc import ops
from imgproc.display import clipped_fraction, to_display
from imgproc.pipeline import PipelineError, apply_pipeline, make_pipeline

SKIMAGE_THRESHOLDS = {
    "otsu": filters.threshold_otsu,
    "li": filters.threshold_li,
    "yen": filters.threshold_yen,
    "triangle": filters.threshold_triangle,
    "mean": filters.threshold_mean,
}


@pytest.mark.parametrize("method", sorted(SKIMAGE_THRESHOLDS))
def test_auto_threshold_equals_skimage_on_xray_and_flower_luminance(
    xray, flower, method
):
    luminance = color.rgb2gray(flower)
    for image in (xray, luminance):
        expected = SKIMAGE_THRESHOLDS[method](image)
        assert ops.auto_threshold(image, method) == pytest.approx(expected, abs=0)
        mask = ops.threshold(image, method=method)
        np.testing.assert_array_equal(mask, image > expected)
        assert 0 < mask.mean() < 1


def test_auto_threshold_on_one_channel_of_the_flower(flower):
    green = ops.select_channel(flower, 1)
    pipeline = make_pipeline(
        [{"op": "channel", "index": 1}, {"op": "threshold", "method": "otsu"}]
    )
    expected = green > filters.threshold_otsu(green)
    np.testing.assert_array_equal(apply_pipeline(flower, pipeline), expected)


@pytest.mark.parametrize("method", sorted(SKIMAGE_THRESHOLDS))
def test_single_intensity_gives_no_threshold_and_an_empty_mask(xray, method):
    flat = np.full_like(xray, 77)
    assert ops.auto_threshold(flat, method) is None
    mask = ops.threshold(flat, method=method)
    assert mask.dtype == np.bool_ and mask.shape == flat.shape and not mask.any()


def test_manual_threshold_ignores_method_defaults_and_bad_method(xray):
    np.testing.assert_array_equal(ops.threshold(xray, 90), xray > 90)
    with pytest.raises(ValueError, match="threshold method"):
        ops.threshold(xray, method="kapur")
    with pytest.raises(PipelineError, match="method"):
        make_pipeline([{"op": "threshold", "method": "kapur"}])


def test_zscore_is_the_textbook_formula(xray, flower):
    for image in (xray, flower):
        values = image.astype(np.float64)
        expected = (values - values.mean()) / values.std()
        result = ops.normalize(image, "zscore")
        np.testing.assert_allclose(result, expected, rtol=0, atol=1e-12)
        assert abs(result.mean()) < 1e-9 and abs(result.std() - 1) < 1e-9
    flat = np.full_like(xray, 3)
    assert not ops.normalize(flat, "zscore").any()


@pytest.mark.parametrize("bins", [256, 64])
def test_equalize_equals_skimage(xray, flower, bins):
    for image in (xray, flower):
        result = ops.normalize(image, "equalize", bins=bins)
        assert result.dtype == np.float64
        np.testing.assert_array_equal(result, exposure.equalize_hist(image, nbins=bins))


@pytest.mark.parametrize(("clip_limit", "kernel_size"), [(0.01, None), (0.03, 64)])
def test_clahe_equals_skimage(xray, clip_limit, kernel_size):
    image = xray[::2, ::2]
    result = ops.normalize(
        image, "clahe", clip_limit=clip_limit, kernel_size=kernel_size
    )
    expected = exposure.equalize_adapthist(
        image, kernel_size=kernel_size, clip_limit=clip_limit
    )
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, expected)
    assert np.abs(result - image / 255.0).max() > 0.05


def test_percentile_25_75_through_the_pipeline(xray):
    pipeline = make_pipeline(
        [{"op": "normalize", "method": "percentile", "low": 25, "high": 75}]
    )
    values = xray.astype(np.float64)
    p25, p75 = np.percentile(values, [25, 75])
    result = apply_pipeline(xray, pipeline)
    np.testing.assert_allclose(result, (values - p25) / (p75 - p25), atol=1e-12)
    below, above = clipped_fraction(result)
    assert below == np.count_nonzero(values < p25)
    assert above == np.count_nonzero(values > p75)
    assert to_display(result)[1] == below + above


def _pydicom_window(values, center, width):
    dataset = Dataset()
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsStored = 16
    dataset.PixelRepresentation = 1
    dataset.WindowCenter = center
    dataset.WindowWidth = width
    dataset.VOILUTFunction = "LINEAR"
    return apply_windowing(values.astype(np.float64), dataset)


@pytest.mark.parametrize(("center", "width"), [(120.0, 80.0), (40.5, 1.0), (200, 2)])
def test_window_equals_pydicom_linear_voi(xray, center, width):
    stored = xray.astype(np.int16) * 16 - 1000
    scaled_center, scaled_width = center * 16 - 1000, width * 16
    result = ops.window(stored, scaled_center, scaled_width)
    # pydicom maps onto the stored bit range; rescale that to 0..1.
    expected = _pydicom_window(stored, scaled_center, scaled_width)
    expected = (expected + 32768.0) / 65535.0
    assert result.dtype == np.float64
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(
        ops.window(stored, scaled_center, scaled_width, invert=True), 1 - result
    )
    small = ops.window(xray, center, width)
    np.testing.assert_allclose(
        small, (_pydicom_window(xray, center, width) + 32768.0) / 65535.0, atol=1e-9
    )


def test_window_refuses_narrow_width(xray):
    with pytest.raises(ValueError, match="at least 1"):
        ops.window(xray, 100, 0.5)
    with pytest.raises(PipelineError, match="width"):
        make_pipeline([{"op": "window", "center": 10, "width": 0}])


def test_clipped_fraction_counts_each_side(flower):
    values = flower / 200.0 - 0.1
    assert clipped_fraction(values) == (
        int(np.count_nonzero(values < 0)),
        int(np.count_nonzero(values > 1)),
    )
    assert clipped_fraction(flower) == (0, 0)
