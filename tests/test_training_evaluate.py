"""Evaluation report, inference loading, prediction and Grad-CAM heatmaps."""

import json
import textwrap

import cv2
import numpy as np
import pytest
from conftest import run_python
from PIL import Image
from sklearn.metrics import roc_auc_score, roc_curve

from training.evaluate import evaluation_report, overlay_heatmap

# A fixed two-class validation set: 10 images, class 1 = "rose".
BINARY_LABELS = [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
BINARY_PROBABILITIES = [
    [0.9, 0.1],
    [0.8, 0.2],
    [0.6, 0.4],
    [0.3, 0.7],
    [0.55, 0.45],
    [0.2, 0.8],
    [0.45, 0.55],
    [0.7, 0.3],
    [0.1, 0.9],
    [0.35, 0.65],
]


def _sklearn_curve(is_positive, scores):
    """sklearn's ROC curve with the infinite first threshold written as None."""
    fpr, tpr, thresholds = roc_curve(is_positive, scores)
    thresholds = [None if np.isinf(value) else float(value) for value in thresholds]
    return fpr.tolist(), tpr.tolist(), thresholds


def test_binary_report_matches_hand_counts_and_sklearn():
    report = evaluation_report(BINARY_LABELS, BINARY_PROBABILITIES, ["daisy", "rose"])

    # Predicted rose where p(rose) > 0.5: images 3, 5, 6, 8, 9.
    # daisy: 4 right (0, 1, 2, 4), 1 called rose (3).
    # rose: 4 right (5, 6, 8, 9), 1 called daisy (7).
    assert report["confusion_matrix"] == [[4, 1], [1, 4]]
    assert report["accuracy"] == pytest.approx(8 / 10)
    assert report["count"] == 10
    for name in ("daisy", "rose"):
        metrics = report["per_class"][name]
        assert metrics["precision"] == pytest.approx(4 / 5)
        assert metrics["recall"] == pytest.approx(4 / 5)
        assert metrics["f1"] == pytest.approx(4 / 5)
        assert metrics["support"] == 5

    # AUC by hand: the share of (rose, daisy) pairs in which the rose image
    # has the higher rose probability (ties count half).
    rose = [
        p[1] for p, y in zip(BINARY_PROBABILITIES, BINARY_LABELS, strict=True) if y == 1
    ]
    daisy = [
        p[1] for p, y in zip(BINARY_PROBABILITIES, BINARY_LABELS, strict=True) if y == 0
    ]
    wins = sum((r > d) + 0.5 * (r == d) for r in rose for d in daisy)
    assert report["auc"] == pytest.approx(wins / 25)

    (curve,) = report["roc"]
    fpr, tpr, thresholds = _sklearn_curve(
        np.array(BINARY_LABELS) == 1, np.array(BINARY_PROBABILITIES)[:, 1]
    )
    assert curve["positive"] == "rose"
    assert curve["fpr"] == pytest.approx(fpr)
    assert curve["tpr"] == pytest.approx(tpr)
    assert curve["thresholds"][0] is None
    assert curve["thresholds"][1:] == pytest.approx(thresholds[1:])
    assert curve["auc"] == pytest.approx(report["auc"])

    json.dumps(report, allow_nan=False)


def test_multiclass_report_is_one_against_rest():
    rng = np.random.default_rng(7)
    labels = np.repeat([0, 1, 2], [6, 5, 7])
    logits = rng.normal(size=(18, 3)) + 1.5 * np.eye(3)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    classes = ["effusion", "nofinding", "other"]

    report = evaluation_report(labels.tolist(), probabilities, classes)

    predicted = probabilities.argmax(axis=1)
    matrix = [[0] * 3 for _ in range(3)]
    for true, guess in zip(labels, predicted, strict=True):
        matrix[true][guess] += 1
    assert report["confusion_matrix"] == matrix
    for index, name in enumerate(classes):
        hits = matrix[index][index]
        column = sum(row[index] for row in matrix)
        assert report["per_class"][name]["recall"] == pytest.approx(
            hits / sum(matrix[index])
        )
        assert report["per_class"][name]["precision"] == pytest.approx(
            hits / column if column else 0.0
        )

    assert [curve["positive"] for curve in report["roc"]] == classes
    for index, curve in enumerate(report["roc"]):
        fpr, tpr, thresholds = _sklearn_curve(labels == index, probabilities[:, index])
        assert curve["fpr"] == pytest.approx(fpr)
        assert curve["tpr"] == pytest.approx(tpr)
        assert curve["thresholds"][1:] == pytest.approx(thresholds[1:])
        assert curve["auc"] == pytest.approx(
            roc_auc_score(labels == index, probabilities[:, index])
        )
    assert report["auc"] == pytest.approx(
        roc_auc_score(labels, probabilities, multi_class="ovr", average="macro")
    )
    json.dumps(report, allow_nan=False)


def test_a_class_missing_from_validation_has_no_roc_curve():
    labels = [0, 0, 1, 1]
    probabilities = [[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]

    report = evaluation_report(labels, probabilities, ["a", "b", "c"])

    missing = report["roc"][2]
    assert missing["auc"] is None
    assert missing["fpr"] == []
    assert "none of this class" in missing["note"]
    assert report["per_class"]["c"]["support"] == 0
    defined = [
        roc_auc_score(np.array(labels) == k, np.array(probabilities)[:, k])
        for k in (0, 1)
    ]
    assert report["auc"] == pytest.approx(np.mean(defined))
    json.dumps(report, allow_nan=False)


@pytest.mark.parametrize(
    ("labels", "probabilities", "message"),
    [
        ([0, 1], [[0.5, 0.5]], "one class number per row"),
        ([0, 2], [[0.5, 0.5], [0.4, 0.6]], "between 0 and 1"),
        ([0, 1], [[0.5, 0.5, 0.0], [0.4, 0.6, 0.0]], "one column per class"),
        ([0, 1], [[np.nan, np.nan], [0.4, 0.6]], "NaN"),
        ([], np.zeros((0, 2)), "no validation images"),
    ],
)
def test_report_rejects_bad_input_with_a_sentence(labels, probabilities, message):
    with pytest.raises(ValueError, match=message):
        evaluation_report(labels, probabilities, ["daisy", "rose"])


def test_overlay_blends_jet_colours_over_the_picture():
    ramp = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1024).astype(np.uint16)
    heatmap = np.zeros((4, 4), dtype=np.float32)
    heatmap[:2, :2] = 1.0

    plain = overlay_heatmap(ramp, heatmap, alpha=0.0)
    assert plain.dtype == np.uint8 and plain.shape == (8, 8, 3)
    # 16-bit values are shown divided by 257, not saturated.
    np.testing.assert_array_equal(plain[..., 0], np.rint(ramp / 257.0))
    np.testing.assert_array_equal(plain[..., 0], plain[..., 2])

    colours = overlay_heatmap(ramp, heatmap, alpha=1.0)
    assert (colours[0, 0, 0] > 100) and colours[0, 0, 2] == 0  # hot: red
    assert (colours[7, 7, 2] > 100) and colours[7, 7, 0] == 0  # cold: blue

    half = overlay_heatmap(ramp, heatmap, alpha=0.5)
    big = cv2.resize(heatmap, (8, 8), interpolation=cv2.INTER_LINEAR)
    jet = cv2.applyColorMap(np.rint(big * 255).astype(np.uint8), cv2.COLORMAP_JET)
    jet = jet[..., ::-1].astype(np.float64)
    expected = np.rint(0.5 * plain.astype(np.float64) + 0.5 * jet)
    np.testing.assert_allclose(half, expected, atol=1)

    with pytest.raises(ValueError, match="alpha=2"):
        overlay_heatmap(ramp, heatmap, alpha=2)


# Tests below build Keras models.

keras = pytest.importorskip("keras")

from training.evaluate import (  # noqa: E402
    grad_cam,
    load_for_inference,
    predict_image,
)
from training.models import build_resnet  # noqa: E402

SIDE = 32
RED_BOX = (slice(2, 10), slice(3, 11))
GREEN_BOX = (slice(20, 30), slice(18, 28))


def _colour_model(scale):
    """A model whose class 1 score is the amount of red, class 0 the green.

    A 1x1 convolution copies the red and green planes into two feature maps;
    global average pooling and a dense layer make the score of class 1
    ``scale * mean(red)`` and of class 0 ``scale * mean(green)``. Where the
    picture is red is what speaks for class 1, so Grad-CAM must light up there.
    """
    inputs = keras.Input((SIDE, SIDE, 3), name="image")
    x = keras.layers.Conv2D(2, 1, use_bias=False, name="detectors")(inputs)
    x = keras.layers.Activation("relu", name="detector_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="colours")

    detector = np.zeros((1, 1, 3, 2), dtype=np.float32)
    detector[0, 0, 0, 0] = 1.0
    detector[0, 0, 1, 1] = 1.0
    model.get_layer("detectors").set_weights([detector])
    dense = np.array([[0.0, scale], [scale, 0.0]], dtype=np.float32)
    model.get_layer("predictions").set_weights([dense, np.zeros(2, np.float32)])
    return model


def _red_and_green_picture():
    picture = np.zeros((SIDE, SIDE, 3), dtype=np.float32)
    picture[RED_BOX + (0,)] = 1.0
    picture[GREEN_BOX + (1,)] = 1.0
    return picture


def _peak(heatmap):
    return np.unravel_index(np.argmax(heatmap), heatmap.shape)


def _inside(point, box):
    return all(
        part.start <= value < part.stop for value, part in zip(point, box, strict=True)
    )


@pytest.mark.parametrize("scale", [4.0, 5000.0], ids=["unsure", "saturated"])
def test_grad_cam_lights_up_the_region_that_drives_the_class(scale):
    model = _colour_model(scale)
    picture = _red_and_green_picture()

    red = grad_cam(model, picture, class_index=1)
    green = grad_cam(model, picture, class_index=0)

    assert red.shape == green.shape == (SIDE, SIDE)
    assert red.dtype == np.float32
    for heatmap in (red, green):
        assert heatmap.min() >= 0.0 and heatmap.max() == pytest.approx(1.0)
    assert _inside(_peak(red), RED_BOX)
    assert _inside(_peak(green), GREEN_BOX)
    assert red[GREEN_BOX].max() == 0.0
    assert green[RED_BOX].max() == 0.0

    # Without a class, the most probable one is explained: the green box is
    # larger than the red one, so class 0 wins.
    np.testing.assert_allclose(grad_cam(model, picture), green)


def test_grad_cam_batches_and_named_layers():
    model = _colour_model(4.0)
    picture = _red_and_green_picture()
    swapped = picture[..., [1, 0, 2]]

    heatmaps = grad_cam(model, np.stack([picture, swapped]), class_index=1)

    assert heatmaps.shape == (2, SIDE, SIDE)
    assert _inside(_peak(heatmaps[0]), RED_BOX)
    assert _inside(_peak(heatmaps[1]), GREEN_BOX)
    np.testing.assert_allclose(
        grad_cam(model, picture, class_index=1, layer_name="detectors"), heatmaps[0]
    )
    with pytest.raises(ValueError, match="layer_name='conv9'"):
        grad_cam(model, picture, layer_name="conv9")
    with pytest.raises(ValueError, match="class_index=2"):
        grad_cam(model, picture, class_index=2)


def test_grad_cam_sees_through_nested_models():
    inner = _colour_model(4.0)
    picture = _red_and_green_picture()
    expected = grad_cam(inner, picture, class_index=1)

    sequential = keras.Sequential(
        [keras.Input((SIDE, SIDE, 3)), keras.layers.Rescaling(2.0), inner]
    )
    inputs = keras.Input((SIDE, SIDE, 3))
    functional = keras.Model(inputs, inner(keras.layers.Rescaling(2.0)(inputs)))

    for outer in (sequential, functional):
        heatmap = grad_cam(outer, picture, class_index=1)
        np.testing.assert_allclose(heatmap, expected, atol=1e-6)


@pytest.fixture(scope="module")
def flower_batch(flowers_dir):
    """Eight real 64x64 flower photos (4 daisy, 4 rose) and their labels."""
    images, labels = [], []
    for label, name in enumerate(("daisy", "rose")):
        for path in sorted((flowers_dir / name).glob("*.jpg"))[:4]:
            with Image.open(path) as picture:
                rgb = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0
            images.append(cv2.resize(rgb, (64, 64), interpolation=cv2.INTER_AREA))
            labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int32)


_LOSS_MODULE = '''
import keras


@keras.saving.register_keras_serializable(package="evaluate_test")
class CostMatrixLoss(keras.losses.Loss):
    """Expected misclassification cost under a fixed cost matrix."""

    def __init__(self, costs=((0.0, 1.0), (5.0, 0.0)), **kwargs):
        super().__init__(**kwargs)
        self.costs = [list(row) for row in costs]

    def call(self, y_true, y_pred):
        rows = keras.ops.take(
            keras.ops.convert_to_tensor(self.costs),
            keras.ops.cast(keras.ops.reshape(y_true, (-1,)), "int32"),
            axis=0,
        )
        return keras.ops.sum(rows * y_pred, axis=-1)

    def get_config(self):
        return {**super().get_config(), "costs": self.costs}
'''

_RELOAD_SCRIPT = """
import sys

import numpy as np

from training.evaluate import grad_cam, load_for_inference

folder = sys.argv[1]
batch = np.load(f"{folder}/batch.npy")
results = {}
for name in ("flat", "nested"):
    model = load_for_inference(f"{folder}/{name}.keras")
    results[f"{name}_probabilities"] = np.asarray(model(batch, training=False))
    results[f"{name}_heatmaps"] = grad_cam(model, batch, class_index=1)

sys.path.insert(0, folder)
import keras  # noqa: E402
import cost_loss  # noqa: E402, F401

compiled = keras.saving.load_model(f"{folder}/flat.keras")
results["loss_name"] = np.array(type(compiled.loss).__name__)
results["loss_costs"] = np.array(compiled.loss.costs)
np.savez(f"{folder}/reloaded.npz", **results)
"""


def test_grad_cam_is_the_same_after_reloading_in_a_fresh_process(
    tmp_path, flower_batch, monkeypatch
):
    (tmp_path / "cost_loss.py").write_text(textwrap.dedent(_LOSS_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    import cost_loss

    images, labels = flower_batch
    model = build_resnet((64, 64, 3), 2, depth=18, preact=False)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=cost_loss.CostMatrixLoss(costs=((0.0, 1.0), (3.0, 0.0))),
    )
    model.fit(images, labels, batch_size=4, epochs=1, verbose=0)
    model.save(tmp_path / "flat.keras")
    nested = keras.Sequential([keras.Input((64, 64, 3)), model], name="wrapped")
    nested.save(tmp_path / "nested.keras")

    batch = images[[0, 5]]
    np.save(tmp_path / "batch.npy", batch)
    expected = grad_cam(model, batch, class_index=1)
    assert expected.shape == (2, 64, 64)
    assert all(heatmap.std() > 0.01 for heatmap in expected)

    # The fresh process never imports the loss before load_for_inference. The
    # nested model holds the compiled one, whose loss Keras would restore.
    result = run_python(_RELOAD_SCRIPT, str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    reloaded = np.load(tmp_path / "reloaded.npz")

    probabilities = np.asarray(model(batch, training=False))
    for name in ("flat", "nested"):
        np.testing.assert_allclose(
            reloaded[f"{name}_probabilities"], probabilities, atol=1e-6
        )
        np.testing.assert_allclose(reloaded[f"{name}_heatmaps"], expected, atol=1e-5)
    assert str(reloaded["loss_name"]) == "CostMatrixLoss"
    np.testing.assert_array_equal(reloaded["loss_costs"], [[0.0, 1.0], [3.0, 0.0]])


def test_load_for_inference_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_for_inference(tmp_path / "best.keras")


@pytest.fixture(scope="module")
def gray_and_colour_models():
    return (
        build_resnet((48, 48, 1), 2, depth=18),
        build_resnet((48, 48, 3), 2, depth=18, preact=False),
    )


def test_predict_image_prepares_like_training(flower, xray, gray_and_colour_models):
    gray_model, colour_model = gray_and_colour_models

    colour = cv2.resize(
        flower.astype(np.float32) / 255.0, (48, 48), interpolation=cv2.INTER_AREA
    )
    expected = np.asarray(colour_model(colour[np.newaxis], training=False))[0]
    config = {"image_size": 48, "channels": 3, "pipeline": None}
    probabilities = predict_image(colour_model, flower, config)
    assert probabilities.shape == (2,)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)

    gray = cv2.resize(
        xray.astype(np.float32) / 255.0, (48, 48), interpolation=cv2.INTER_AREA
    )
    expected = np.asarray(gray_model(gray[np.newaxis, ..., np.newaxis]))[0]
    config = {"image_size": 48, "channels": 1}
    np.testing.assert_allclose(
        predict_image(gray_model, xray, config), expected, atol=1e-5
    )


def test_predict_image_runs_the_run_pipeline(flower, gray_and_colour_models):
    from imgproc.pipeline import make_pipeline

    _, colour_model = gray_and_colour_models
    pipeline = make_pipeline([{"op": "flip"}])

    # The pipeline has no normalise step, so the network sees 0..255 values.
    flipped = np.ascontiguousarray(flower[:, ::-1]).astype(np.float32)
    prepared = cv2.resize(flipped, (48, 48), interpolation=cv2.INTER_AREA)
    expected = np.asarray(colour_model(prepared[np.newaxis], training=False))[0]
    config = {"image_size": 48, "channels": 3, "pipeline": pipeline}

    np.testing.assert_allclose(
        predict_image(colour_model, flower, config), expected, atol=1e-5
    )


def test_predict_image_says_when_the_settings_do_not_fit(
    flower, gray_and_colour_models
):
    _, colour_model = gray_and_colour_models
    with pytest.raises(ValueError, match="expects inputs of shape"):
        predict_image(colour_model, flower, {"image_size": 32, "channels": 3})
