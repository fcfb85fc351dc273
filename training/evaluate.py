"""Judge a trained classifier: metrics on the validation split, predictions, Grad-CAM.

The report functions work on plain arrays and return JSON-ready dicts. The
model functions import TensorFlow and Keras only when they are called, so
``import training.evaluate`` stays cheap.
"""

import json
import logging
import math
import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "evaluation_report",
    "grad_cam",
    "load_for_inference",
    "overlay_heatmap",
    "predict_image",
]

logger = logging.getLogger(__name__)


def _finite_or_none(value: float) -> float | None:
    """A plain float, or ``None`` where JSON has no number (NaN, infinity)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _float_list(values: np.ndarray) -> list[float | None]:
    """Numbers as a JSON-ready list, with non-finite entries as ``None``."""
    return [_finite_or_none(value) for value in np.asarray(values).ravel()]


def _check_predictions(
    labels: Sequence[int], probabilities: np.ndarray, classes: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert labels and probabilities, or raise a sentence."""
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    count = len(classes)

    if count < 2:
        raise ValueError(
            f"An evaluation needs at least 2 classes. Received: classes={classes}"
        )
    if probabilities.ndim != 2 or probabilities.shape[1] != count:
        raise ValueError(
            f"probabilities must have one column per class ({count}). "
            f"Received: shape {probabilities.shape}"
        )
    if labels.ndim != 1 or labels.shape[0] != probabilities.shape[0]:
        raise ValueError(
            "labels must hold one class number per row of probabilities. "
            f"Received: {labels.shape[0] if labels.ndim else 0} labels for "
            f"{probabilities.shape[0]} rows"
        )
    if labels.size == 0:
        raise ValueError("There are no validation images to evaluate.")
    if not np.issubdtype(labels.dtype, np.integer):
        rounded = np.rint(labels.astype(np.float64))
        if not np.array_equal(rounded, labels):
            raise ValueError("labels must be whole class numbers.")
        labels = rounded
    labels = labels.astype(np.int64)
    if labels.min() < 0 or labels.max() >= count:
        raise ValueError(
            f"labels must lie between 0 and {count - 1}. "
            f"Received: {labels.min()} to {labels.max()}"
        )
    if not np.all(np.isfinite(probabilities)):
        raise ValueError(
            "The model produced NaN or infinite probabilities, so there is "
            "nothing to evaluate; training probably diverged."
        )
    return labels, probabilities


def _roc_entry(is_positive: np.ndarray, scores: np.ndarray, positive: str) -> dict:
    """One ROC curve (positive class against the rest) with its area."""
    from sklearn.metrics import roc_auc_score, roc_curve

    entry = {"positive": positive, "fpr": [], "tpr": [], "thresholds": []}
    if is_positive.all() or not is_positive.any():
        entry["auc"] = None
        entry["note"] = (
            f"The ROC curve for {positive} is undefined: the validation split "
            "holds "
            + ("only this class." if is_positive.all() else "none of this class.")
        )
        return entry

    fpr, tpr, thresholds = roc_curve(is_positive, scores)
    entry["fpr"] = _float_list(fpr)
    entry["tpr"] = _float_list(tpr)
    entry["thresholds"] = _float_list(thresholds)
    entry["auc"] = float(roc_auc_score(is_positive, scores))
    return entry


def evaluation_report(
    labels: Sequence[int],
    probabilities: np.ndarray,
    classes: Sequence[str],
) -> dict[str, Any]:
    """Measure how well predicted class probabilities match the true classes.

    Each image counts as predicted for its most probable class. The confusion
    matrix counts, for every true class (row), how often each class was
    predicted (column); precision, recall and F1 follow from it per class. The
    ROC curve shows, for every threshold on one class's probability, which
    share of that class is found (true positive rate) against which share of
    the other images is wrongly flagged (false positive rate); its area (AUC)
    is 1 for a perfect ranking and 0.5 for guessing.

    Args:
        labels: True class number of every image, ``0 .. len(classes) - 1``.
        probabilities: ``(N, len(classes))`` predicted probabilities, e.g. the
            softmax output of the model for the validation split.
        classes: Class names in label order.

    Returns:
        A dict that ``json.dumps`` accepts as it is:

        - ``classes``, ``count`` (images) and ``accuracy``;
        - ``confusion_matrix``: list of rows, rows true, columns predicted;
        - ``per_class``: ``{name: {precision, recall, f1, support}}`` and
          ``macro_avg``: their unweighted mean over classes;
        - ``roc``: a list of curves, each ``{positive, fpr, tpr, thresholds,
          auc}``. With two classes there is one curve, class 1 against class
          0; with more there is one curve per class against all others;
        - ``auc``: the area of the binary curve, or the mean over the defined
          one-against-rest areas; ``None`` when no curve is defined.

    Raises:
        ValueError: With a plain sentence when the shapes do not fit, a label
            is out of range, there are no images, or a probability is NaN.

    Notes:
        A class without validation images has precision, recall and F1 of 0
        and an undefined ROC curve (``auc`` ``None`` and a ``note``). The
        first ROC threshold is infinite (nothing is flagged) and is stored as
        ``None``, because JSON has no infinity.

    Example:
        >>> report = evaluation_report(
        ...     [0, 1, 1], [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], ["cat", "dog"]
        ... )
        >>> report["confusion_matrix"], report["auc"]
        ([[1, 0], [1, 1]], 1.0)
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        precision_recall_fscore_support,
    )

    classes = [str(name) for name in classes]
    labels, probabilities = _check_predictions(labels, probabilities, classes)
    predicted = probabilities.argmax(axis=1)
    indices = list(range(len(classes)))

    matrix = confusion_matrix(labels, predicted, labels=indices)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=indices, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(precision[index]),
            "recall": float(recall[index]),
            "f1": float(f1[index]),
            "support": int(support[index]),
        }
        for index, name in enumerate(classes)
    }

    if len(classes) == 2:
        roc = [_roc_entry(labels == 1, probabilities[:, 1], classes[1])]
    else:
        roc = [
            _roc_entry(labels == index, probabilities[:, index], name)
            for index, name in enumerate(classes)
        ]
    areas = [entry["auc"] for entry in roc if entry["auc"] is not None]

    return {
        "classes": classes,
        "count": int(labels.size),
        "accuracy": float(accuracy_score(labels, predicted)),
        "confusion_matrix": matrix.astype(int).tolist(),
        "per_class": per_class,
        "macro_avg": {
            "precision": float(np.mean(precision)),
            "recall": float(np.mean(recall)),
            "f1": float(np.mean(f1)),
        },
        "roc": roc,
        "auc": float(np.mean(areas)) if areas else None,
    }


def _drop_nested_compile_configs(config: Any, nested: bool = False) -> bool:
    """Remove the training settings saved with models nested in ``config``.

    Returns whether a nested model carried any. The outermost entry is left
    alone: ``compile=False`` already skips it.
    """
    found = False
    if isinstance(config, dict):
        if nested and config.get("compile_config") is not None:
            config["compile_config"] = None
            found = True
        for value in config.values():
            found |= _drop_nested_compile_configs(value, nested=True)
    elif isinstance(config, list):
        for value in config:
            found |= _drop_nested_compile_configs(value, nested=True)
    return found


def load_for_inference(path: str | os.PathLike):
    """Load a saved ``.keras`` model for predictions and Grad-CAM only.

    The optimiser, loss and metrics saved with the model are not restored, so
    a model trained with a custom loss (a class-weighted or cost-matrix loss)
    loads in any process, whether or not the code that defined the loss has
    been imported there. This holds for models nested inside the saved one
    too, whose own training settings Keras would otherwise try to restore.

    Args:
        path: A ``.keras`` file, e.g. ``best.keras`` of a run.

    Returns:
        The uncompiled ``keras.Model``.

    Raises:
        FileNotFoundError: If there is no file at ``path``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"There is no saved model at {path}.")

    import keras

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError):
        config = None
    if config is None or not _drop_nested_compile_configs(config):
        return keras.saving.load_model(path, compile=False)

    config.pop("compile_config", None)
    model = keras.saving.deserialize_keras_object(config)
    model.load_weights(path)
    return model


def predict_image(model, image: np.ndarray, config_dict: Mapping[str, Any]):
    """Class probabilities for one decoded picture, prepared as in training.

    The picture goes through :func:`training.data.prepare_image` with the
    run's image size, channels and preprocessing pipeline, so the network sees
    it exactly as it saw the validation images.

    Args:
        model: A classifier, e.g. from :func:`load_for_inference`.
        image: A decoded picture, ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.
        config_dict: The run's ``config.json`` contents; ``image_size``,
            ``channels`` and ``pipeline`` (may be missing or ``None``) are
            used. When ``channels`` is ``None`` (the run followed the data),
            the model's input decides.

    Returns:
        float32 ``(num_classes,)`` probabilities in class order.

    Raises:
        ValueError: If the prepared picture does not fit the model's input.
    """
    from training.data import prepare_image

    channels = config_dict.get("channels") or model.input_shape[-1]
    prepared = prepare_image(
        image,
        int(config_dict["image_size"]),
        int(channels),
        config_dict.get("pipeline"),
    )
    expected = tuple(model.input_shape[1:])
    if len(expected) != prepared.ndim or any(
        want is not None and want != got
        for want, got in zip(expected, prepared.shape, strict=True)
    ):
        raise ValueError(
            f"The model expects inputs of shape {expected}, but the run's "
            f"settings prepare pictures of shape {prepared.shape}."
        )
    probabilities = model(prepared[np.newaxis], training=False)
    return np.asarray(probabilities, dtype=np.float32)[0]


def _is_softmax_dense(layer) -> bool:
    """Whether ``layer`` is a dense layer that ends in a softmax."""
    import keras

    return (
        isinstance(layer, keras.layers.Dense)
        and layer.get_config().get("activation") == "softmax"
    )


def _logits(layer, inputs):
    """The scores of a softmax dense layer before the softmax."""
    from keras import ops

    scores = ops.matmul(inputs, layer.kernel)
    if layer.bias is not None:
        scores = scores + layer.bias
    return scores


def _contains_layer(model, layer_name: str) -> bool:
    """Whether ``model`` or a model nested in it has a layer ``layer_name``."""
    import keras

    for layer in model.layers:
        if layer.name == layer_name:
            return True
        if isinstance(layer, keras.Model) and _contains_layer(layer, layer_name):
            return True
    return False


def _graph_trace(model, inputs, layer_name: str):
    """Run a functional model that owns ``layer_name`` and keep its output."""
    import keras

    target = model.get_layer(layer_name)
    last = model.layers[-1]
    output = model.outputs[0]
    if _is_softmax_dense(last) and last.output is output:
        extractor = keras.Model(model.inputs, [target.output, last.input, output])
        features, head_inputs, probabilities = extractor(inputs, training=False)
        return features, _logits(last, head_inputs), probabilities

    extractor = keras.Model(model.inputs, [target.output, output])
    features, probabilities = extractor(inputs, training=False)
    return features, probabilities, probabilities


def _chain_trace(model, inputs, layer_name: str):
    """Run a model layer after layer, descending into the nested model."""
    import keras

    chain = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    features = scores = None
    x = inputs
    for position, layer in enumerate(chain):
        is_last = position == len(chain) - 1
        if layer.name == layer_name:
            x = layer(x, training=False)
            features = x
        elif isinstance(layer, keras.Model) and _contains_layer(layer, layer_name):
            features, inner_scores, x = _trace(layer, x, layer_name)
            if is_last:
                scores = inner_scores
        elif is_last and _is_softmax_dense(layer):
            scores = _logits(layer, x)
            x = layer(x, training=False)
        else:
            x = layer(x, training=False)
    if scores is None:
        scores = x
    return features, scores, x


def _trace(model, inputs, layer_name: str):
    """The feature map, class scores and probabilities of ``model`` for inputs.

    Scores are the values before the final softmax where the model ends in a
    softmax dense layer (they do not saturate the way probabilities do), and
    the probabilities otherwise.
    """
    import keras

    if len(model.outputs) != 1:
        raise ValueError(
            f"Grad-CAM needs a model with one output; {model.name!r} has "
            f"{len(model.outputs)}."
        )
    if not isinstance(model, keras.Sequential) and any(
        layer.name == layer_name for layer in model.layers
    ):
        return _graph_trace(model, inputs, layer_name)

    features, scores, probabilities = _chain_trace(model, inputs, layer_name)
    if not isinstance(model, keras.Sequential):
        reference = model(inputs, training=False)
        if not np.allclose(
            np.asarray(reference), np.asarray(probabilities), rtol=1e-4, atol=1e-5
        ):
            raise ValueError(
                f"Grad-CAM cannot follow {model.name!r}: the layer "
                f"{layer_name!r} sits in a nested model, and the outer model is "
                "not a plain chain of layers."
            )
    return features, scores, probabilities


def grad_cam(
    model,
    batch: np.ndarray,
    class_index: int | None = None,
    layer_name: str | None = None,
) -> np.ndarray:
    """Show which parts of a picture made the network choose a class.

    Grad-CAM takes the last convolutional feature map, weighs each of its
    channels by how strongly the class score grows with that channel
    (the gradient, averaged over the map), adds the weighted channels up and
    keeps the positive part. Bright areas of the resulting heatmap are where
    the features that speak for the class were found.

    Args:
        model: A classifier, e.g. from :func:`training.models.build_resnet` or
            :func:`load_for_inference`; a backbone nested in an outer
            ``Sequential`` or chain of layers works too.
        batch: One prepared picture ``(H, W, C)`` or a batch ``(N, H, W, C)``
            as the model is fed, e.g. from
            :func:`training.data.prepare_image`.
        class_index: The class to explain; ``None`` explains the most
            probable class of each picture.
        layer_name: The feature-map layer; ``None`` picks the last layer with
            a spatial output (:func:`training.models.find_feature_layer`),
            ``post_relu`` or ``conv5_block<N>_out`` in a ResNet.

    Returns:
        float32 heatmap in [0, 1] at the input's resolution: ``(H, W)`` for a
        single picture or a batch of one, ``(N, H, W)`` for larger batches.
        Its maximum is 1 unless nothing speaks for the class, in which case
        it is all 0.

    Raises:
        ValueError: If the batch shape, ``class_index`` or ``layer_name`` does
            not fit the model.

    Notes:
        The class score is the value before the final softmax when the model
        ends in a softmax dense layer, so a very confident prediction still
        gives a heatmap. The map is as coarse as the feature map (1/32 of the
        input side in a ResNet), is enlarged by bilinear interpolation and
        then scaled so that its largest value is 1. A map of one pixel (a
        ResNet fed pictures of 32 pixels or less) is the same everywhere, so
        it cannot point at a region.
    """
    import cv2
    import tensorflow as tf

    from training.models import find_feature_layer

    images = np.asarray(batch, dtype=np.float32)
    if images.ndim == 3:
        images = images[np.newaxis]
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            "Grad-CAM needs one picture (H, W, C) or a batch (N, H, W, C). "
            f"Received: shape {np.asarray(batch).shape}"
        )
    if layer_name is None:
        layer_name = find_feature_layer(model)
    elif not _contains_layer(model, layer_name):
        raise ValueError(
            f"Model {model.name!r} has no layer named {layer_name!r}. "
            f"Received: layer_name={layer_name!r}"
        )

    inputs = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        features, scores, _ = _trace(model, inputs, layer_name)
        num_classes = int(scores.shape[-1])
        if class_index is None:
            chosen = tf.argmax(scores, axis=-1, output_type=tf.int32)
        elif 0 <= int(class_index) < num_classes:
            chosen = tf.fill([tf.shape(scores)[0]], int(class_index))
        else:
            raise ValueError(
                f"class_index must lie between 0 and {num_classes - 1}. "
                f"Received: class_index={class_index}"
            )
        target = tf.gather(scores, chosen, axis=1, batch_dims=1)
    gradients = tape.gradient(target, features)
    if gradients is None or len(features.shape) != 4:
        raise ValueError(
            f"Layer {layer_name!r} does not give a spatial feature map that the "
            "class score depends on."
        )

    features = np.asarray(features, dtype=np.float64)
    weights = np.asarray(gradients, dtype=np.float64).mean(axis=(1, 2))
    maps = np.maximum(np.einsum("nhwc,nc->nhw", features, weights), 0.0)

    height, width = images.shape[1:3]
    heatmaps = np.zeros((images.shape[0], height, width), dtype=np.float32)
    for index, cam in enumerate(maps):
        peak = cam.max()
        if not np.isfinite(peak) or peak <= 0:
            continue
        resized = cv2.resize(
            (cam / peak).astype(np.float32),
            (width, height),
            interpolation=cv2.INTER_LINEAR,
        )
        heatmaps[index] = np.clip(resized / resized.max(), 0.0, 1.0)
    return heatmaps[0] if heatmaps.shape[0] == 1 else heatmaps


def overlay_heatmap(
    image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.4
) -> np.ndarray:
    """Colour a heatmap and blend it over the picture it explains.

    The heatmap is coloured from blue (0) through green and yellow to red (1)
    with the jet colour map, enlarged to the picture's size and mixed in with
    weight ``alpha``; the picture keeps weight ``1 - alpha``.

    Args:
        image: The picture, ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` of any
            dtype; it is made displayable by :func:`imgproc.display.to_display`.
        heatmap: ``(h, w)`` values in [0, 1], e.g. from :func:`grad_cam`;
            values outside are clipped and NaN counts as 0.
        alpha: Weight of the colours, from 0 (picture only) to 1 (heatmap
            only).

    Returns:
        uint8 RGB ``(H, W, 3)``.

    Example:
        >>> overlay_heatmap(np.zeros((4, 4), np.uint8), np.ones((2, 2))).shape
        (4, 4, 3)
    """
    import cv2

    from imgproc.display import to_display

    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must lie between 0 and 1. Received: alpha={alpha}")
    heatmap = np.asarray(heatmap, dtype=np.float32)
    if heatmap.ndim != 2:
        raise ValueError(
            f"heatmap must be 2-D (rows, columns). Received: shape {heatmap.shape}"
        )

    picture, _ = to_display(image)
    if picture.ndim == 2:
        picture = np.repeat(picture[..., np.newaxis], 3, axis=-1)
    height, width = picture.shape[:2]

    heatmap = np.clip(np.nan_to_num(heatmap, nan=0.0), 0.0, 1.0)
    if heatmap.shape != (height, width):
        heatmap = cv2.resize(heatmap, (width, height), interpolation=cv2.INTER_LINEAR)
    levels = np.rint(heatmap * 255.0).astype(np.uint8)
    colours = cv2.cvtColor(
        cv2.applyColorMap(levels, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB
    )

    blended = (1.0 - alpha) * picture.astype(np.float32) + alpha * colours
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)
