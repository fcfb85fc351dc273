"""Tests for ``python -m imgproc``, run as a real subprocess on real images."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgproc.io import load_image
from imgproc.pipeline import apply_pipeline, make_pipeline, pipeline_to_json

REPO_ROOT = Path(__file__).resolve().parent.parent


def _run(*arguments):
    """Run the command line from the repository root and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "imgproc", *map(str, arguments)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _write_pipeline(path, steps):
    pipeline = make_pipeline(steps)
    path.write_text(pipeline_to_json(pipeline))
    return pipeline


def _png_pixels(path):
    with Image.open(path) as picture:
        return np.asarray(picture)


@pytest.fixture()
def two_images(xray_path, flower_path):
    return [xray_path, flower_path]


def test_npy_output_is_the_exact_pipeline_result(tmp_path, two_images):
    pipeline = _write_pipeline(
        tmp_path / "pipeline.json",
        [
            {"op": "grayscale"},
            {"op": "resize", "height": 128, "width": 96},
            {"op": "normalize", "method": "percentile", "low": 2, "high": 98},
        ],
    )
    out = tmp_path / "out" / "nested"
    completed = _run(
        "--pipeline",
        tmp_path / "pipeline.json",
        "--out",
        out,
        "--format",
        "npy",
        *two_images,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == "" and completed.stdout == ""
    for path in two_images:
        written = np.load(out / f"{path.stem}.npy")
        expected = apply_pipeline(load_image(path), pipeline)
        assert written.dtype == expected.dtype == np.float64
        np.testing.assert_array_equal(written, expected)


def test_png_output_of_float_results_is_clipped_and_scaled(tmp_path, two_images):
    pipeline = _write_pipeline(
        tmp_path / "p.json",
        [{"op": "normalize", "method": "percentile", "low": 10, "high": 90}],
    )
    completed = _run("--pipeline", tmp_path / "p.json", "--out", tmp_path, *two_images)
    assert completed.returncode == 0, completed.stderr
    for path in two_images:
        result = apply_pipeline(load_image(path), pipeline)
        expected = np.rint(np.clip(result, 0.0, 1.0) * 255.0).astype(np.uint8)
        np.testing.assert_array_equal(
            _png_pixels(tmp_path / f"{path.stem}.png"), expected
        )


def test_png_output_of_uint8_mask_and_colour(tmp_path, xray_path, flower_path):
    _write_pipeline(
        tmp_path / "crop.json",
        [{"op": "center_crop", "height": 150, "width": 120}, {"op": "flip"}],
    )
    completed = _run(
        "--pipeline",
        tmp_path / "crop.json",
        "--out",
        tmp_path / "crop",
        "--verbose",
        flower_path,
    )
    assert completed.returncode == 0, completed.stderr
    written = tmp_path / "crop" / f"{flower_path.stem}.png"
    assert completed.stdout.strip() == str(written)
    with Image.open(flower_path) as picture:
        flower = np.asarray(picture.convert("RGB"))
    top = (flower.shape[0] - 150) // 2
    left = (flower.shape[1] - 120) // 2
    expected = flower[top : top + 150, left : left + 120][:, ::-1]
    np.testing.assert_array_equal(_png_pixels(written), expected)

    _write_pipeline(tmp_path / "mask.json", [{"op": "threshold", "value": 100}])
    completed = _run(
        "--pipeline", tmp_path / "mask.json", "--out", tmp_path / "mask", xray_path
    )
    assert completed.returncode == 0, completed.stderr
    with Image.open(xray_path) as picture:
        xray = np.asarray(picture)
    mask_png = _png_pixels(tmp_path / "mask" / f"{xray_path.stem}.png")
    np.testing.assert_array_equal(mask_png, np.where(xray > 100, 255, 0))


def test_png_output_keeps_16_bits(tmp_path, xray_path):
    with Image.open(xray_path) as picture:
        wide = np.asarray(picture).astype(np.uint16) * 257 + 3
    source = tmp_path / "wide.png"
    Image.fromarray(wide).save(source)
    _write_pipeline(
        tmp_path / "flip.json", [{"op": "flip", "horizontal": False, "vertical": True}]
    )
    completed = _run(
        "--pipeline", tmp_path / "flip.json", "--out", tmp_path / "o", source
    )
    assert completed.returncode == 0, completed.stderr
    written = _png_pixels(tmp_path / "o" / "wide.png")
    assert written.dtype == np.uint16
    np.testing.assert_array_equal(written, np.flipud(wide))


@pytest.mark.parametrize(
    "content",
    [
        json.dumps({"version": 1, "steps": [{"op": "blur"}]}),
        '{"version": 1, "steps": [',
        json.dumps({"version": 3, "steps": []}),
    ],
)
def test_bad_pipeline_exits_2_with_one_line(tmp_path, xray_path, content):
    pipeline = tmp_path / "bad.json"
    pipeline.write_text(content)
    completed = _run("--pipeline", pipeline, "--out", tmp_path / "out", xray_path)
    assert completed.returncode == 2
    assert len(completed.stderr.strip().splitlines()) == 1
    assert "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()


def test_failing_image_is_reported_and_the_others_written(tmp_path, two_images):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(two_images[0].read_bytes()[:5000])
    pipeline = _write_pipeline(tmp_path / "p.json", [{"op": "grayscale"}])
    inputs = [two_images[0], corrupt, two_images[1]]
    completed = _run(
        "--pipeline", tmp_path / "p.json", "--out", tmp_path / "o", *inputs
    )
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and "corrupt.png" in lines[0]
    assert "Traceback" not in completed.stderr
    for path in two_images:
        expected = apply_pipeline(load_image(path), pipeline)
        written = _png_pixels(tmp_path / "o" / f"{path.stem}.png")
        np.testing.assert_array_equal(written, expected)
    assert not (tmp_path / "o" / "corrupt.png").exists()


def test_step_failure_names_the_image(tmp_path, xray_path, flower_path):
    _write_pipeline(tmp_path / "p.json", [{"op": "center_crop", "height": 600}])
    completed = _run(
        "--pipeline",
        tmp_path / "p.json",
        "--out",
        tmp_path / "o",
        xray_path,
        flower_path,
    )
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1
    assert flower_path.name in lines[0] and "Step 1 (center_crop)" in lines[0]
    assert (tmp_path / "o" / f"{xray_path.stem}.png").exists()


def test_same_names_do_not_overwrite(tmp_path, xray_path):
    copy = tmp_path / "copy" / xray_path.name
    copy.parent.mkdir()
    Image.open(xray_path).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(copy)
    _write_pipeline(tmp_path / "p.json", [])
    completed = _run(
        "--pipeline", tmp_path / "p.json", "--out", tmp_path / "o", xray_path, copy
    )
    assert completed.returncode == 0, completed.stderr
    first = _png_pixels(tmp_path / "o" / f"{xray_path.stem}.png")
    second = _png_pixels(tmp_path / "o" / f"{xray_path.stem}-2.png")
    np.testing.assert_array_equal(second, first[:, ::-1])


def test_help_describes_the_command():
    completed = _run("--help")
    assert completed.returncode == 0
    for word in ("--pipeline", "--out", "--format", "exit status"):
        assert word in completed.stdout


def test_importing_imgproc_pulls_in_neither_streamlit_nor_tensorflow():
    check = (
        "import sys, imgproc, imgproc.cli, imgproc.augment; "
        "heavy = {'streamlit', 'tensorflow', 'keras'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", check],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
