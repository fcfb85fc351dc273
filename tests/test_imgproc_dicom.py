"""Tests for DICOM reading against pydicom's own LUT and windowing functions."""

import io

import numpy as np
import pydicom
import pytest
from conftest import write_radiograph
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from imgproc import ImageLoadError, load_image
from imgproc.dicom import dicom_pipeline_steps, read_dicom
from imgproc.io import IMAGE_EXTENSIONS
from imgproc.pipeline import apply_pipeline, make_pipeline

IDENTIFIERS = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "InstitutionName",
    "InstitutionAddress",
    "AccessionNumber",
    "ReferringPhysicianName",
)


def _radiograph(path, pixels, photometric="MONOCHROME1", frames=1):
    """A DX radiograph with two windows and a decimal rescale."""
    return write_radiograph(path, pixels, photometric=photometric, frames=frames)


@pytest.fixture(scope="module")
def xray_12bit(xray_path):
    """A real NIH X-ray spread over 12 bits and inverted (MONOCHROME1 storage)."""
    with Image.open(xray_path) as picture:
        pixels = np.asarray(picture).astype(np.uint16) * 16
    return (4095 - pixels).astype(np.uint16)


def _pydicom_display(path):
    dataset = pydicom.dcmread(path)
    values = apply_modality_lut(dataset.pixel_array, dataset)
    windowed = apply_voi_lut(values, dataset, index=0)
    # pydicom maps the window onto the rescaled range of the stored bits.
    slope, intercept = float(dataset.RescaleSlope), float(dataset.RescaleIntercept)
    low, high = intercept, (2.0**dataset.BitsStored - 1) * slope + intercept
    windowed = (windowed - low) / (high - low)
    if dataset.PhotometricInterpretation == "MONOCHROME1":
        windowed = 1.0 - windowed
    return values, windowed


def test_radiograph_matches_pydicom_reference(tmp_path, xray_12bit):
    path = _radiograph(tmp_path / "chest.dcm", xray_12bit)
    values, expected = _pydicom_display(path)

    dicom = read_dicom(path)
    assert dicom.monochrome1
    assert dicom.values.dtype == np.float64
    np.testing.assert_array_equal(dicom.values, values)
    assert dicom.windows == [(600.5, 900.0), (300.0, 400.0)]
    assert dicom.default_window() == (600.5, 900.0)

    image = load_image(path)
    assert image.dtype == np.float64 and image.shape == xray_12bit.shape
    np.testing.assert_allclose(image, expected, rtol=0, atol=1e-9)
    # MONOCHROME1 storage of an inverted X-ray shows the original: bones white.
    original = (4095 - xray_12bit) / 4095.0
    assert np.corrcoef(image.ravel(), original.ravel())[0, 1] > 0.9


def test_pipeline_steps_reproduce_the_display(tmp_path, xray_12bit):
    path = _radiograph(tmp_path / "chest.dcm", xray_12bit)
    dicom = read_dicom(path)
    steps = dicom_pipeline_steps(dicom)
    assert steps == [{"op": "window", "center": 600.5, "width": 900.0, "invert": True}]
    result = apply_pipeline(dicom.values, make_pipeline(steps))
    np.testing.assert_array_equal(result, load_image(path))


def test_technical_tags_only(tmp_path, xray_12bit):
    path = _radiograph(tmp_path / "chest.dcm", xray_12bit)
    tags = read_dicom(path).tags
    for keyword in IDENTIFIERS:
        assert keyword not in tags
    text = " ".join(tags.values())
    for secret in ("Doe", "XR-123456", "19700101", "General Hospital", "ACC42"):
        assert secret not in text
    assert tags["Modality"] == "DX"
    assert tags["ViewPosition"] == "PA"
    assert tags["PhotometricInterpretation"] == "MONOCHROME1"
    assert tags["WindowCenter"] == "600.5, 300"
    assert tags["RescaleSlope"] == "0.5"


def test_monochrome2_and_magic_without_extension(tmp_path, xray_12bit):
    path = _radiograph(tmp_path / "plain.dcm", xray_12bit, "MONOCHROME2")
    renamed = tmp_path / "no_extension"
    renamed.write_bytes(path.read_bytes())
    values, expected = _pydicom_display(path)
    np.testing.assert_allclose(load_image(renamed), expected, atol=1e-9)
    data = path.read_bytes()
    np.testing.assert_allclose(load_image(data), expected, atol=1e-9)
    np.testing.assert_allclose(load_image(io.BytesIO(data)), expected, atol=1e-9)


def test_multi_frame_gives_first_frame(tmp_path, xray_12bit):
    small = xray_12bit[::4, ::4]
    frames = np.stack([small, 4095 - small])
    path = _radiograph(tmp_path / "frames.dcm", frames, frames=2)
    dicom = read_dicom(path)
    np.testing.assert_array_equal(dicom.values, small * 0.5 - 100.25)


def test_ct_rescale_gives_signed_integers():
    path = get_testdata_file("CT_small.dcm")
    dataset = pydicom.dcmread(path)
    expected = apply_modality_lut(dataset.pixel_array, dataset)
    dicom = read_dicom(path)
    assert np.issubdtype(dicom.values.dtype, np.signedinteger)
    np.testing.assert_array_equal(dicom.values, expected)
    assert dicom.values.min() < 0
    assert dicom.windows == []
    center, width = dicom.default_window()
    shown = load_image(path)
    assert shown.min() == 0.0 and shown.max() == 1.0
    assert (center, width) == (
        (expected.min() + expected.max() + 1) / 2,
        expected.max() - expected.min() + 1.0,
    )


def test_mr_window_from_tags():
    path = get_testdata_file("MR_small.dcm")
    dataset = pydicom.dcmread(path)
    dicom = read_dicom(path)
    assert dicom.windows == [(600.0, 1600.0)]
    expected = apply_voi_lut(apply_modality_lut(dataset.pixel_array, dataset), dataset)
    low, high = -(2.0 ** (dataset.BitsStored - 1)), 2.0 ** (dataset.BitsStored - 1) - 1
    np.testing.assert_allclose(
        load_image(path), (expected - low) / (high - low), atol=1e-9
    )


def test_broken_dicom_is_refused_with_a_sentence(tmp_path, xray_12bit):
    path = _radiograph(tmp_path / "chest.dcm", xray_12bit)
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ImageLoadError, match="broken.dcm"):
        load_image(broken)
    text = tmp_path / "notes.dcm"
    text.write_text("not a DICOM file at all")
    with pytest.raises(ImageLoadError, match="notes.dcm"):
        load_image(text)


def test_dcm_is_an_accepted_extension():
    assert ".dcm" in IMAGE_EXTENSIONS
