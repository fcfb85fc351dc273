"""Shared fixtures: where the real test images live, and how a missing set fails."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent

SHARED_DATA = Path(
    os.environ.get("CNN_LAB_TEST_DATA", REPO_ROOT.parent / "shared" / "data")
)


def run_python(code: str, *args: str, timeout: float = 300):
    """Run ``code`` in a fresh interpreter from the repository root.

    A fresh process is how a model saved by one server is loaded by another,
    and the only place to see what importing a module really loads.
    """
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO_ROOT)},
    )


def _require(path: Path) -> Path:
    """Return ``path`` if it exists; otherwise skip, or fail when ``CI=true``."""
    if path.exists():
        return path
    message = (
        f"Test data {path} is missing. Set CNN_LAB_TEST_DATA to the folder that "
        "holds flowers/, chest_xray/ and chest_xray_pneumonia/."
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The root of the real image sets (flowers, chest X-rays)."""
    return _require(SHARED_DATA)


@pytest.fixture(scope="session")
def flowers_dir(shared_data) -> Path:
    """Colour JPEG photos in ``daisy/`` and ``rose/``."""
    return _require(shared_data / "flowers")


@pytest.fixture(scope="session")
def xray_dir(shared_data) -> Path:
    """NIH chest X-ray PNGs (1024x1024) in ``effusion/`` and ``nofinding/``."""
    return _require(shared_data / "chest_xray")


@pytest.fixture(scope="session")
def xray_path(xray_dir) -> Path:
    """One 8-bit grayscale 1024x1024 chest X-ray."""
    return sorted((xray_dir / "nofinding").glob("*.png"))[0]


@pytest.fixture(scope="session")
def xray_rgba_path(xray_dir) -> Path:
    """The NIH X-ray that ships as an RGBA PNG."""
    return _require(xray_dir / "effusion" / "00000100_000.png")


@pytest.fixture(scope="session")
def flower_path(flowers_dir) -> Path:
    """One colour JPEG photo of a daisy."""
    return sorted((flowers_dir / "daisy").glob("*.jpg"))[0]


@pytest.fixture(scope="session")
def xray(xray_path) -> np.ndarray:
    """A real 1024x1024 uint8 chest X-ray, decoded by Pillow alone."""
    with Image.open(xray_path) as picture:
        return np.asarray(picture).copy()


@pytest.fixture(scope="session")
def flower(flower_path) -> np.ndarray:
    """A real RGB photograph, decoded by Pillow alone."""
    with Image.open(flower_path) as picture:
        return np.asarray(picture.convert("RGB")).copy()


def write_radiograph(
    path,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME1",
    rescale: tuple[str, str] = ("0.5", "-100.25"),
    window: tuple = (["600.5", "300"], ["900.0", "400"]),
    frames: int = 1,
    patient_name: str = "Doe^Jane",
):
    """Write a DX chest radiograph holding ``pixels`` (uint16, 12 bits stored).

    The file carries patient identifiers (name, ``XR-123456``, birth date,
    institution, accession number) so tests can check they never surface.
    """
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = pydicom.Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "DX"
    dataset.PatientName = patient_name
    dataset.PatientID = "XR-123456"
    dataset.PatientBirthDate = "19700101"
    dataset.InstitutionName = "General Hospital"
    dataset.AccessionNumber = "ACC42"
    dataset.ViewPosition = "PA"
    dataset.BodyPartExamined = "CHEST"
    dataset.KVP = "120"
    dataset.ImagerPixelSpacing = [0.143, 0.143]
    dataset.PhotometricInterpretation = photometric
    dataset.SamplesPerPixel = 1
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 12, 11
    dataset.PixelRepresentation = 0
    dataset.Rows, dataset.Columns = pixels.shape[-2:]
    dataset.RescaleSlope, dataset.RescaleIntercept = rescale
    dataset.WindowCenter, dataset.WindowWidth = window
    if frames > 1:
        dataset.NumberOfFrames = frames
    dataset.PixelData = pixels.astype("<u2").tobytes()
    dataset.save_as(path, enforce_file_format=True)
    return path
