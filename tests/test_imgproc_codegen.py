"""Tests for the generated Python code and the practice exercises."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from imgproc.codegen import pipeline_to_python
from imgproc.pipeline import (
    OPS,
    PipelineError,
    apply_pipeline,
    make_pipeline,
    pipeline_from_json,
)
from imgproc.practice import EXERCISES, check_exercise


@pytest.fixture(scope="module")
def xray(xray_path):
    with Image.open(xray_path) as picture:
        return np.asarray(picture)[::2, ::2].copy()


PIPELINES = {
    "mask": [
        {"op": "grayscale"},
        {"op": "threshold", "method": "otsu"},
        {"op": "opening", "radius": 4, "footprint": "disk"},
        {"op": "closing", "radius": 2, "footprint": "square"},
        {"op": "white_tophat", "radius": 3, "footprint": "diamond"},
    ],
    "gray": [
        {"op": "grayscale"},
        {"op": "erosion", "radius": 2},
        {"op": "dilation", "radius": 3, "footprint": "diamond"},
        {"op": "black_tophat", "radius": 5},
        {"op": "brightness", "factor": 1.7},
        {"op": "threshold", "value": 20.5},
    ],
    "geometry": [
        {
            "op": "affine",
            "rotation": 33.0,
            "scale": 1.2,
            "translate_x": 5.5,
            "shear": 7.0,
            "fill": "reflect",
        },
        {"op": "flip", "horizontal": True, "vertical": True},
        {"op": "resize", "height": 150, "width": 170},
        {"op": "center_crop", "height": 100, "width": 120},
        {"op": "affine", "rotation": -90.0, "fill": "wrap"},
    ],
    "contrast": [
        {"op": "grayscale"},
        {"op": "normalize", "method": "percentile", "low": 25.0, "high": 75.0},
        {"op": "window", "center": 0.4, "width": 1.5, "invert": True},
        {"op": "brightness", "factor": 0.9},
    ],
    "equalize": [
        {"op": "grayscale"},
        {"op": "normalize", "method": "clahe", "clip_limit": 0.02},
        {"op": "affine", "scale": 0.8, "fill": "edge"},
    ],
    "scale": [
        {"op": "normalize"},
        {"op": "grayscale"},
        {"op": "threshold", "method": "li"},
        {"op": "affine", "rotation": 10.0},
    ],
    "other": [
        {"op": "normalize", "method": "zscore"},
        {"op": "flip", "enabled": False},
        {"op": "normalize", "method": "equalize", "bins": 64},
        {"op": "normalize", "method": "minmax"},
        {"op": "normalize", "divisor": 3.0},
        {"op": "window", "center": 0.1, "width": 1.0},
    ],
    "auto": [
        {"op": "channel", "index": 0},
        {"op": "threshold", "method": "triangle"},
        {"op": "erosion", "radius": 1},
        {"op": "threshold", "method": "yen"},
        {"op": "threshold", "method": "mean"},
    ],
}


def _run_generated(code, image):
    namespace = {"__name__": "generated"}
    exec(compile(code, "preprocess.py", "exec"), namespace)
    return namespace["preprocess"](image)


def test_pipelines_cover_every_op():
    used = {step["op"] for steps in PIPELINES.values() for step in steps}
    assert used == set(OPS)


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_generated_code_reproduces_the_pipeline_exactly(xray, flower, name):
    pipeline = make_pipeline(PIPELINES[name])
    code = pipeline_to_python(pipeline)
    assert "imgproc" not in code
    for image in (flower, xray) if name != "auto" else (flower,):
        expected = apply_pipeline(image, pipeline)
        result = _run_generated(code, image)
        assert result.dtype == expected.dtype
        assert result.shape == expected.shape
        np.testing.assert_array_equal(result, expected)


def test_generated_code_has_a_comment_per_step_and_runs_as_a_script(
    tmp_path, xray_path
):
    pipeline = make_pipeline(PIPELINES["gray"])
    code = pipeline_to_python(pipeline)
    for number in range(1, len(PIPELINES["gray"]) + 1):
        assert f"# Step {number}: " in code
    script = tmp_path / "preprocess.py"
    script.write_text(code)
    target = tmp_path / "out.npy"
    completed = subprocess.run(
        [sys.executable, str(script), str(xray_path), str(target)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    with Image.open(xray_path) as picture:
        image = np.asarray(picture).copy()
    np.testing.assert_array_equal(np.load(target), apply_pipeline(image, pipeline))


def test_generated_code_is_lint_clean(tmp_path):
    ruff = [sys.executable, "-m", "ruff"]
    if subprocess.run([*ruff, "--version"], capture_output=True).returncode != 0:
        pytest.skip("ruff is not installed in this environment")
    steps = [step for steps in PIPELINES.values() for step in steps]
    script = tmp_path / "preprocess.py"
    script.write_text(pipeline_to_python(make_pipeline(steps)))
    checked = subprocess.run(
        [*ruff, "check", "--isolated", "--select", "E,F,W,I,B,UP", str(script)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout
    formatted = subprocess.run(
        [*ruff, "format", "--isolated", "--check", str(script)],
        capture_output=True,
        text=True,
    )
    assert formatted.returncode == 0, formatted.stdout


# Importing pipelines


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"version": 1, "steps": [{"op": "window", "width": 0.5}]}', "width"),
        ('{"version": 1, "steps": [{"op": "threshold", "method": 3}]}', "method"),
        ('{"version": 1, "steps": [{"op": "normalize", "bins": 1.5}]}', "bins"),
        ('{"version": 1, "steps": [{"op": "window", "level": 3}]}', "level"),
        ('{"version": 1, "steps": [{"op": "window", "invert": "yes"}]}', "invert"),
        ('{"version": 1, "steps": {"op": "flip"}}', "steps"),
        ('[{"op": "flip"}]', "object"),
        ('{"version": 1, "steps": [{"op": "normalize", "clip_limit": 2}]}', "clip"),
        ('{"version": 1, "steps": [{"op": "affine", "scale": NaN}]}', "scale"),
    ],
)
def test_imported_pipeline_with_bad_content_gives_a_sentence(text, fragment):
    with pytest.raises(PipelineError) as caught:
        pipeline_from_json(text)
    message = str(caught.value)
    assert fragment in message and message.endswith(".")


def test_new_settings_survive_a_json_round_trip():
    steps = PIPELINES["contrast"] + PIPELINES["auto"] + PIPELINES["other"]
    pipeline = make_pipeline(steps)
    assert pipeline_from_json(json.dumps(pipeline)) == pipeline


# Practice


def test_exercises_are_described():
    assert [exercise.id for exercise in EXERCISES] == [
        "flip_lr_ud",
        "percentile_25_75",
        "rotate_90_zoom_4",
    ]
    for exercise in EXERCISES:
        assert exercise.instruction.endswith(".")
        make_pipeline(exercise.steps)


@pytest.mark.parametrize(
    ("exercise_id", "steps"),
    [
        (
            "flip_lr_ud",
            [{"op": "flip"}, {"op": "flip", "horizontal": False, "vertical": True}],
        ),
        ("flip_lr_ud", [{"op": "flip", "horizontal": True, "vertical": True}]),
        ("flip_lr_ud", [{"op": "affine", "rotation": 180.0}]),
        (
            "percentile_25_75",
            [{"op": "normalize", "method": "percentile", "low": 25, "high": 75}],
        ),
        (
            "rotate_90_zoom_4",
            [{"op": "affine", "rotation": 90.0}, {"op": "affine", "scale": 4.0}],
        ),
        ("rotate_90_zoom_4", [{"op": "affine", "rotation": 90.0, "scale": 4.0}]),
    ],
)
def test_right_and_equivalent_pipelines_pass(xray, exercise_id, steps):
    right, message = check_exercise(exercise_id, make_pipeline(steps), xray)
    assert right, message
    assert message.startswith("Right")


@pytest.mark.parametrize(
    ("exercise_id", "steps", "hint"),
    [
        ("flip_lr_ud", [{"op": "flip"}], "flipped left-right but not up-down"),
        (
            "flip_lr_ud",
            [{"op": "flip", "horizontal": False, "vertical": True}],
            "flipped up-down but not left-right",
        ),
        ("flip_lr_ud", [{"op": "flip"}, {"op": "flip"}], "unchanged"),
        (
            "percentile_25_75",
            [{"op": "normalize", "method": "percentile"}],
            "low 25 and high 75",
        ),
        ("percentile_25_75", [], "decimal numbers"),
        ("rotate_90_zoom_4", [{"op": "affine", "rotation": 90.0}], "not zoomed"),
        ("rotate_90_zoom_4", [{"op": "affine", "scale": 4.0}], "not turned"),
        (
            "rotate_90_zoom_4",
            [{"op": "affine", "rotation": -90.0, "scale": 4.0}],
            "wrong way",
        ),
        (
            "rotate_90_zoom_4",
            [{"op": "resize", "height": 10, "width": 10}],
            "keeps the image size",
        ),
    ],
)
def test_wrong_pipelines_get_a_hint(xray, exercise_id, steps, hint):
    right, message = check_exercise(exercise_id, make_pipeline(steps), xray)
    assert not right
    assert hint in message


def test_a_result_with_other_channels_is_named(flower):
    right, message = check_exercise(
        "flip_lr_ud", make_pipeline([{"op": "grayscale"}]), flower
    )
    assert not right
    assert "1 channel(s) where the image has 3" in message


def test_unknown_exercise_and_failing_pipeline(flower):
    with pytest.raises(ValueError, match="no exercise"):
        check_exercise("blur", make_pipeline([]), flower)
    right, message = check_exercise(
        "flip_lr_ud", make_pipeline([{"op": "threshold"}]), flower
    )
    assert not right and "cannot run" in message
