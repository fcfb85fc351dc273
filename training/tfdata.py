"""Feed images to Keras with tf.data: decode in parallel, cache, augment, batch.

The images go through the same :func:`training.data.prepare_image` as the
preprocessing preview, so what a learner sees on the preprocessing pages is
what the network trains on. TensorFlow is imported inside the functions, so
importing this module stays fast.
"""

import logging
import math
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from training.data import _check_image_size, _load_one

__all__ = ["make_dataset", "input_stats"]

logger = logging.getLogger(__name__)

# Shifts are given as a fraction of the image side; these keys are rescaled.
_SHIFT_KEYS = ("shift_x", "shift_y")

_UINT64_MASK = (1 << 64) - 1


def _pixel_ranges(augmentation: Mapping[str, Any], image_size: int) -> dict:
    """Check the augmentation ranges and turn the shift fractions into pixels."""
    from imgproc.augment import sample_augmentation

    ranges = dict(augmentation)
    for key in _SHIFT_KEYS:
        if key not in ranges or ranges[key] is None:
            continue
        fraction = ranges[key]
        is_number = isinstance(fraction, (int, float)) and not isinstance(
            fraction, bool
        )
        if not is_number or not math.isfinite(fraction) or not 0 <= fraction <= 1:
            raise ValueError(
                f"'{key}' is a fraction of the image side and must be between 0 "
                f"and 1 (got {fraction!r})."
            )
        ranges[key] = float(fraction) * image_size

    # Drawing once checks every name and range with the shared rules.
    sample_augmentation(ranges, np.random.default_rng(0))
    return ranges


def _augmented(
    image: np.ndarray, ranges: Mapping[str, Any], seed: int, key: int
) -> np.ndarray:
    """One random variation of a prepared image, drawn from ``(seed, key)``."""
    from imgproc.augment import sample_augmentation
    from imgproc.pipeline import PIPELINE_VERSION, apply_pipeline

    rng = np.random.default_rng([seed & _UINT64_MASK, int(key) & _UINT64_MASK])
    steps = sample_augmentation(ranges, rng)
    if not steps:
        return image
    varied = apply_pipeline(image, {"version": PIPELINE_VERSION, "steps": steps})
    return np.asarray(varied, dtype=np.float32).reshape(image.shape)


class _SkipRecorder:
    """Collects unreadable files from many decoding threads, each file once."""

    def __init__(self, target: list | None) -> None:
        self._target = target
        self._seen: set[Path] = set()
        self._lock = threading.Lock()

    def add(self, path: Path, reason: str) -> None:
        with self._lock:
            if path in self._seen:
                return
            self._seen.add(path)
            logger.info("Skipped %s: %s", path, reason)
            if self._target is not None:
                self._target.append((path, reason))


def make_dataset(
    items: Sequence[tuple[Path, int]],
    *,
    image_size: int,
    channels: int,
    batch_size: int,
    training: bool,
    seed: int,
    pipeline: dict[str, Any] | None = None,
    augmentation: Mapping[str, Any] | None = None,
    skipped: list | None = None,
):
    """Build the tf.data input for one split: decoded once, then served fast.

    Every file is decoded by the shared image reader and passed through
    :func:`training.data.prepare_image` (the learner's preprocessing
    pipeline, channel conversion and area resize) on parallel threads, in a
    fixed order. The prepared images are cached in memory, so from the
    second epoch on no file is read again.

    For training, the cached images are shuffled again every epoch and,
    when ``augmentation`` is given, each one gets a fresh random variation
    (flips, turns, zoom, shifts, shear, brightness) at training size. A
    validation split is served in file order and never augmented, so it
    scores the network on the same pixels every epoch.

    Args:
        items: ``(path, label)`` pairs, e.g. one side of
            :func:`training.data.stratified_split`.
        image_size: Side of the square images in pixels.
        channels: 1 (grayscale) or 3 (colour).
        batch_size: Images per batch; the last batch may be smaller.
        training: Shuffle and augment (``True``) or serve as is (``False``).
        seed: Same seed, same shuffles and same augmentation in every run.
        pipeline: Preprocessing steps (``imgproc.make_pipeline`` format) run
            on every full-size picture first; ``None`` scales values to
            [0, 1] by their type.
        augmentation: Ranges as in ``imgproc.augment.AUGMENTATION_RANGES``,
            except that ``shift_x`` and ``shift_y`` are a fraction (0 to 1)
            of the image side. Ignored when ``training`` is ``False``.
        skipped: A list that receives ``(path, sentence)`` for every file
            that cannot be decoded or prepared, once per file; those files
            are left out of the batches.

    Returns:
        A ``tf.data.Dataset`` of ``(x, y)``: x float32
        ``(batch, image_size, image_size, channels)``, y int32 ``(batch,)``.

    Raises:
        ValueError: A setting is out of range, or the pipeline or the
            augmentation ranges are invalid (``imgproc.PipelineError`` is a
            ``ValueError``).

    Notes:
        The cache holds ``N * image_size**2 * channels * 4`` bytes: 5000
        grayscale X-rays at 256 pixels take about 1.3 GB. Files are first
        read while the first epoch runs, so that epoch is the slow one;
        ``skipped`` is complete once the first epoch is over. Decoding and
        augmentation run Python code (Pillow, OpenCV, scikit-image) through
        ``tf.numpy_function``, so the dataset cannot be saved or moved to
        another process. Each augmentation draw is seeded from ``seed`` and
        a per-epoch, per-position key from ``tf.data.Dataset.random``, so a
        run repeats exactly when it iterates the dataset the same way.

        Because unreadable files are dropped, the number of batches is not
        known before the first pass: Keras learns it at the end of the first
        epoch of each ``fit`` call and warns once that the input "ran out of
        data"; the warning is harmless. Once the number of readable images
        is known, ``dataset.apply(tf.data.experimental.assert_cardinality(
        math.ceil(n / batch_size)))`` tells Keras the number of batches.
    """
    import tensorflow as tf

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels}")
    image_size = _check_image_size(image_size)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ValueError(
            f"batch_size must be a whole number. Received: batch_size={batch_size!r}"
        )
    if batch_size < 1:
        raise ValueError(
            f"batch_size must be at least 1. Received: batch_size={batch_size}"
        )
    seed = int(seed)
    if pipeline is not None:
        from imgproc.pipeline import validate_pipeline

        pipeline = validate_pipeline(pipeline)
    ranges = None
    if training and augmentation:
        ranges = _pixel_ranges(augmentation, image_size)

    items = [(Path(path), int(label)) for path, label in items]
    recorder = _SkipRecorder(skipped)
    shape = (image_size, image_size, channels)

    def decode(encoded_path: bytes) -> tuple[np.ndarray, np.bool_]:
        path = Path(os.fsdecode(encoded_path))
        array, reason = _load_one(path, image_size, channels, pipeline)
        if array is None:
            recorder.add(path, reason)
            return np.zeros(shape, dtype=np.float32), np.bool_(False)
        return array.astype(np.float32, copy=False), np.bool_(True)

    def decode_op(path, label):
        image, readable = tf.numpy_function(
            decode, [path], [tf.float32, tf.bool], name="decode_and_prepare"
        )
        image.set_shape(shape)
        readable.set_shape(())
        return image, label, readable

    paths = tf.constant([os.fsencode(path) for path, _ in items], dtype=tf.string)
    labels = tf.constant([label for _, label in items], dtype=tf.int32)
    dataset = (
        tf.data.Dataset.from_tensor_slices((paths, labels))
        .map(decode_op, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .filter(lambda image, label, readable: readable)
        .map(lambda image, label, readable: (image, label))
        .cache()
    )

    if training:
        dataset = dataset.shuffle(
            max(1, len(items)), seed=seed, reshuffle_each_iteration=True
        )
    if ranges is not None:

        def augment(image: np.ndarray, key: np.int64) -> np.ndarray:
            return _augmented(image, ranges, seed, int(key))

        def augment_op(pair, key):
            image, label = pair
            varied = tf.numpy_function(
                augment, [image, key], tf.float32, name="augment"
            )
            varied.set_shape(shape)
            return varied, label

        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip((dataset, keys)).map(
            augment_op, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    return dataset.batch(int(batch_size)).prefetch(tf.data.AUTOTUNE)


def _first_images(data: Any, batches: int) -> np.ndarray:
    """The images of an array, an ``(x, y)`` pair or the first dataset batches."""
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, tuple) and len(data) == 2:
        return np.asarray(data[0])

    import tensorflow as tf

    if not isinstance(data, tf.data.Dataset):
        return np.asarray(data)
    chunks = []
    for element in data.take(batches):
        images = element[0] if isinstance(element, (tuple, list)) else element
        chunks.append(np.asarray(images))
    if not chunks:
        return np.zeros((0,), dtype=np.float32)
    return np.concatenate(chunks)


def input_stats(data: Any, batches: int = 1) -> dict[str, float]:
    """Mean, spread and range of the pixel values a network is about to see.

    A network trains best on inputs of roughly zero mean and unit spread, or
    at least within [0, 1]; raw 0..255 values make the first layers saturate
    and the loss jump. These numbers make that visible before training.

    Args:
        data: A batched ``tf.data.Dataset`` of ``(x, y)`` (such as one from
            :func:`make_dataset`), an ``(x, y)`` pair, or an image array.
        batches: How many batches of a dataset to look at.

    Returns:
        ``{"mean", "std", "min", "max"}`` as floats, over every pixel of
        every channel; NaN when the values hold NaN.

    Raises:
        ValueError: There are no images to look at.

    Notes:
        A training dataset fills its whole shuffle buffer (every image)
        before the first batch, and that work is not cached when only part
        of an epoch is read; look at the validation dataset when time
        matters.
    """
    images = np.asarray(_first_images(data, max(1, int(batches))), dtype=np.float64)
    if images.size == 0:
        raise ValueError("There are no images to compute input statistics from.")
    return {
        "mean": float(images.mean()),
        "std": float(images.std()),
        "min": float(images.min()),
        "max": float(images.max()),
    }
