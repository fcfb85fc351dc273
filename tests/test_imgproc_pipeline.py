"""Tests for pipelines (validation, JSON, application) and random augmentation."""

import copy
import inspect
import json
import math

import numpy as np
import pytest

from imgproc import ops
from imgproc.augment import sample_augmentation
from imgproc.pipeline import (
    OPS,
    PipelineError,
    apply_pipeline,
    load_pipeline,
    make_pipeline,
    pipeline_from_json,
    pipeline_to_json,
    validate_pipeline,
)


def _error(data):
    with pytest.raises(PipelineError) as caught:
        validate_pipeline(data)
    return caught.value


# Registry


def test_every_op_describes_its_function():
    for name, spec in OPS.items():
        signature = inspect.signature(spec.function)
        accepted = list(signature.parameters)[1:]
        assert list(spec.params) == accepted, name
        assert spec.summary.endswith("."), name
        for param_name, param in spec.params.items():
            assert param.help, (name, param_name)
            if param.kind == "choice":
                assert param.default in param.choices
        make_pipeline([{"op": name}])  # the defaults are valid


def test_registry_has_the_documented_ops():
    assert set(OPS) == {
        "grayscale",
        "channel",
        "threshold",
        "erosion",
        "dilation",
        "opening",
        "closing",
        "white_tophat",
        "black_tophat",
        "normalize",
        "window",
        "flip",
        "affine",
        "brightness",
        "resize",
        "center_crop",
    }
    assert OPS["normalize"].params["low"].default == 5.0
    assert OPS["normalize"].params["high"].default == 95.0
    assert OPS["affine"].params["scale"].minimum == 0.01
    assert OPS["erosion"].params["footprint"].choices == ("disk", "square", "diamond")


# Validation


def test_defaults_are_filled_in_and_input_is_not_changed():
    data = {"version": 1, "steps": [{"op": "erosion"}, {"op": "normalize"}]}
    original = copy.deepcopy(data)
    checked = validate_pipeline(data)
    assert data == original
    assert checked["steps"][0] == {
        "op": "erosion",
        "enabled": True,
        "radius": 3,
        "footprint": "disk",
    }
    assert checked["steps"][1]["divisor"] is None
    assert checked["steps"][1]["low"] == 5.0


def test_unknown_op_names_the_step():
    error = _error({"version": 1, "steps": [{"op": "blur"}]})
    assert error.step == 1
    assert str(error).startswith("Step 1: unknown op 'blur'; known ops are grayscale")


@pytest.mark.parametrize("version", [2, "1", None, True])
def test_bad_version(version):
    error = _error({"version": version, "steps": []})
    assert "version" in str(error)
    assert error.step is None


def test_low_above_high_names_the_step():
    steps = [
        {"op": "grayscale"},
        {"op": "flip"},
        {"op": "normalize", "method": "percentile", "low": 95, "high": 5},
    ]
    error = _error({"version": 1, "steps": steps})
    assert (
        str(error) == "Step 3 (normalize): 'low' must be below 'high' (got 95 and 5)."
    )
    assert error.step == 3


def test_unknown_setting_is_an_error():
    error = _error(
        {"version": 1, "steps": [{"op": "grayscale"}, {"op": "threshold", "level": 3}]}
    )
    assert str(error).startswith("Step 2 (threshold): unknown setting 'level'")


@pytest.mark.parametrize(
    ("step", "fragment"),
    [
        ({"op": "erosion", "radius": "3"}, "'radius' must be a number"),
        ({"op": "erosion", "radius": 2.5}, "'radius' must be a whole number"),
        ({"op": "erosion", "radius": True}, "'radius' must be a number"),
        ({"op": "erosion", "radius": 101}, "'radius' must be between 0 and 100"),
        ({"op": "erosion", "footprint": "star"}, "'footprint' must be one of disk"),
        ({"op": "flip", "horizontal": 1}, "'horizontal' must be true or false"),
        ({"op": "threshold", "value": math.nan}, "'value' must be a finite number"),
        ({"op": "affine", "scale": 0}, "'scale' must be between 0.01 and 100"),
        ({"op": "normalize", "divisor": 0}, "'divisor' must be above 0"),
        ({"op": "threshold", "value": None}, "'value' needs a value"),
        ({"op": "resize", "height": 0}, "'height' must be between 1"),
        ({"op": "grayscale", "enabled": "no"}, "'enabled' must be true or false"),
    ],
)
def test_wrong_types_and_ranges(step, fragment):
    error = _error({"version": 1, "steps": [{"op": "grayscale"}, step]})
    assert str(error).startswith(f"Step 2 ({step['op']}): {fragment}")
    assert error.step == 2


def test_structure_errors():
    assert "object" in str(_error([1, 2]))
    assert "list" in str(_error({"version": 1, "steps": {"op": "flip"}}))
    assert str(_error({"version": 1, "steps": ["flip"]})).startswith("Step 1:")
    assert "no 'op'" in str(_error({"version": 1, "steps": [{"radius": 3}]}))
    assert "extra" in str(_error({"version": 1, "steps": [], "extra": 1}))


def test_integral_floats_are_accepted_for_whole_numbers():
    checked = make_pipeline([{"op": "erosion", "radius": 4.0}])
    assert checked["steps"][0]["radius"] == 4
    assert isinstance(checked["steps"][0]["radius"], int)


# JSON


def test_json_round_trip(tmp_path):
    pipeline = make_pipeline(
        [
            {"op": "grayscale"},
            {"op": "affine", "rotation": 12.5, "fill": "reflect"},
            {"op": "normalize", "method": "percentile", "low": 2, "high": 98},
            {"op": "threshold", "value": 0.5, "enabled": False},
        ]
    )
    text = pipeline_to_json(pipeline)
    assert text.startswith('{\n  "version": 1,')
    assert json.loads(text) == pipeline
    path = tmp_path / "pipeline.json"
    path.write_text(text)
    assert load_pipeline(path) == pipeline
    assert pipeline_from_json(text.encode()) == pipeline


def test_bad_json_file_gives_a_sentence(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"version": 1, "steps": [')
    with pytest.raises(PipelineError, match=r"broken.json' is not valid JSON \(line 1"):
        load_pipeline(path)
    with pytest.raises(PipelineError, match="does not exist"):
        load_pipeline(tmp_path / "absent.json")


def test_hostile_pipeline_text_gives_a_sentence():
    for text, expected in [
        ("[" * 3000 + "]" * 3000, "nested too deeply"),
        (
            '{"version": 1, "steps": [{"op": "resize", "height": 1'
            + "0" * 5000
            + "}]}",
            "number too long",
        ),
        (
            json.dumps({"version": 1, "steps": [{"op": "flip"}] * 65}),
            "at most 64 steps",
        ),
        (
            json.dumps({"version": 1, "steps": [{"op": "resize", "height": 10000}]}),
            "height",
        ),
        (
            json.dumps(
                {"version": 1, "steps": [{"op": "affine", "translate_x": 1e300}]}
            ),
            "translate_x",
        ),
    ]:
        with pytest.raises(PipelineError, match=expected):
            pipeline_from_json(text)
    assert len(make_pipeline([{"op": "flip"}] * 64)["steps"]) == 64


def test_a_bare_list_of_steps_reads_as_a_pipeline():
    bare = '[{"op": "flip"}]'
    assert pipeline_from_json(bare, bare_steps=True) == make_pipeline([{"op": "flip"}])
    with pytest.raises(PipelineError, match="must be an object"):
        pipeline_from_json(bare)


# Application


def test_apply_equals_calling_the_functions_in_order(flower):
    pipeline = make_pipeline(
        [
            {"op": "grayscale"},
            {"op": "resize", "height": 200, "width": 150},
            {"op": "opening", "radius": 2, "footprint": "diamond"},
            {"op": "normalize", "method": "percentile", "low": 10, "high": 90},
            {"op": "threshold", "value": 0.5},
            {"op": "closing", "radius": 3},
        ]
    )
    expected = ops.to_grayscale(flower)
    expected = ops.resize(expected, 200, 150)
    expected = ops.opening(expected, 2, "diamond")
    expected = ops.normalize(expected, "percentile", 10, 90)
    expected = ops.threshold(expected, 0.5)
    expected = ops.closing(expected, 3, "disk")
    result = apply_pipeline(flower, pipeline)
    assert result.dtype == np.bool_
    np.testing.assert_array_equal(result, expected)


def test_disabled_step_is_skipped(xray):
    with_disabled = {
        "version": 1,
        "steps": [
            {"op": "flip", "horizontal": True},
            {"op": "brightness", "factor": 0.5, "enabled": False},
            {"op": "center_crop", "height": 300, "width": 400},
        ],
    }
    expected = ops.center_crop(np.fliplr(xray), 300, 400)
    np.testing.assert_array_equal(apply_pipeline(xray, with_disabled), expected)
    np.testing.assert_array_equal(
        apply_pipeline(xray, {"version": 1, "steps": []}), xray
    )


def test_step_failure_is_reported_with_its_number(flower, xray):
    pipeline = make_pipeline([{"op": "flip"}, {"op": "threshold", "value": 10}])
    with pytest.raises(PipelineError) as caught:
        apply_pipeline(flower, pipeline)
    assert str(caught.value) == (
        "Step 2 (threshold): Thresholding needs one channel: add a grayscale or "
        "channel step first."
    )
    assert caught.value.step == 2
    crop = make_pipeline([{"op": "center_crop", "height": 2000, "width": 10}])
    with pytest.raises(PipelineError, match=r"^Step 1 \(center_crop\): The image is"):
        apply_pipeline(xray, crop)


def test_invalid_pipeline_is_refused_before_any_work(xray):
    with pytest.raises(PipelineError, match="Step 2"):
        apply_pipeline(xray, {"version": 1, "steps": [{"op": "flip"}, {"op": "x"}]})


# Augmentation

RANGES = {
    "flip_horizontal": True,
    "flip_vertical": True,
    "rotation": 20.0,
    "zoom": 1.5,
    "shift_x": 10.0,
    "shift_y": 5.0,
    "shear": 8.0,
    "brightness": 0.3,
}


def test_same_seed_gives_the_same_steps():
    first = sample_augmentation(RANGES, np.random.default_rng(42))
    second = sample_augmentation(RANGES, np.random.default_rng(42))
    other = sample_augmentation(RANGES, np.random.default_rng(43))
    assert first == second
    assert first != other


def test_sampled_steps_are_valid_and_within_ranges(xray):
    rng = np.random.default_rng(7)
    horizontal_flips = 0
    draws = 400
    for _ in range(draws):
        steps = sample_augmentation(RANGES, rng)
        checked = make_pipeline(steps)["steps"]
        by_op = {step["op"]: step for step in checked}
        affine = by_op["affine"]
        assert -20 <= affine["rotation"] <= 20
        assert 1 / 1.5 <= affine["scale"] <= 1.5
        assert abs(affine["translate_x"]) <= 10 and abs(affine["translate_y"]) <= 5
        assert abs(affine["shear"]) <= 8
        assert 0.7 <= by_op["brightness"]["factor"] <= 1.3
        horizontal_flips += "flip" in by_op and by_op["flip"]["horizontal"]
    assert 0.4 * draws < horizontal_flips < 0.6 * draws
    result = apply_pipeline(xray, make_pipeline(steps))
    assert result.shape == xray.shape and result.dtype == np.uint8


def test_zoom_is_log_uniform():
    rng = np.random.default_rng(3)
    scales = [sample_augmentation({"zoom": 2.0}, rng)[0]["scale"] for _ in range(2000)]
    logs = np.log(scales)
    assert abs(np.mean(logs)) < 0.05
    assert np.all(np.abs(logs) <= math.log(2.0))
    assert 0.45 < np.mean(np.array(scales) < 1.0) < 0.55


def test_no_ranges_gives_no_steps():
    assert sample_augmentation({}, np.random.default_rng(0)) == []
    only_brightness = sample_augmentation({"brightness": 0.1}, np.random.default_rng(0))
    assert [step["op"] for step in only_brightness] == ["brightness"]


def test_large_brightness_range_never_gives_a_negative_factor():
    rng = np.random.default_rng(11)
    factors = [
        sample_augmentation({"brightness": 2.0}, rng)[0]["factor"] for _ in range(200)
    ]
    assert min(factors) == 0.0 and max(factors) <= 3.0
    for value in factors:
        make_pipeline([{"op": "brightness", "factor": value}])


@pytest.mark.parametrize(
    "ranges",
    [{"rotate": 5}, {"zoom": 0.5}, {"rotation": -1}, {"brightness": 10}, {"shear": 90}],
)
def test_bad_ranges_are_refused(ranges):
    with pytest.raises(ValueError):
        sample_augmentation(ranges, np.random.default_rng(0))
