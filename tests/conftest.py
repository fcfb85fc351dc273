"""Shared fixtures: where the real test images live, and how a missing set fails."""

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

SHARED_DATA = Path(
    os.environ.get("CNN_LAB_TEST_DATA", REPO_ROOT.parent / "shared" / "data")
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
