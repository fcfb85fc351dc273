"""Time ResNet-18 epochs fed by a per-batch generator and by the tf.data pipeline.

Usage: python benchmarks/bench_input_pipeline.py [CHEST_XRAY_DIR] [--epochs 3]
                                                 [--batch-size 16] [--size 256]
                                                 [--depth 18] [--seed 0]

The images are the NIH chest X-rays (default: $CNN_LAB_TEST_DATA/chest_xray or
../shared/data/chest_xray), the training side of the seeded 80/20 split, as
one grayscale channel at SIZE x SIZE pixels. Both runs fit the same ResNet
(training.models.build_resnet, same initial weights from the seed) with the
same optimiser and batch size in this process, taking turns epoch by epoch
(the one that goes first alternates) so that a change in machine load falls
on both:

- lesson generator: a keras.utils.PyDataset in the pattern of Keras' own
  ``Sequence`` example and of the lessons: every batch reads its files with
  ``skimage.io.imread``, makes them grayscale, rescales them to SIZE with
  ``skimage.transform.resize`` (which smooths before shrinking), divides by
  255 and shuffles between epochs, with no worker threads;
- OpenCV generator: the same PyDataset with the fastest single-threaded
  decode and resize there is (``cv2.imread`` and ``cv2.resize``), shown for
  comparison only;
- tf.data: training.tfdata.make_dataset (parallel decode, in-memory cache,
  seeded shuffle, prefetch), no augmentation, no preprocessing pipeline.

A callback records the wall time of every epoch. The table shows each
epoch side by side and the ratio tf.data / generator over epochs 2 and
later, when the cache is full and the models are compiled; the target is a
ratio of at most 0.6. It also prints how long one epoch of each input takes
with no model at all, which bounds what any input pipeline can save: when
the network's own compute dominates an epoch (a ResNet on a few CPU cores),
the ratio cannot fall far below 1 whatever feeds it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.data import scan_dataset, select_files, stratified_split  # noqa: E402
from training.tfdata import make_dataset  # noqa: E402

TARGET_RATIO = 0.6


def _find_xrays(argument: str | None) -> Path:
    if argument:
        return Path(argument)
    base = os.environ.get("CNN_LAB_TEST_DATA")
    if base:
        return Path(base) / "chest_xray"
    shared = Path(__file__).resolve().parent.parent.parent / "shared"
    return shared / "data" / "chest_xray"


def _read_with_skimage(path, size):
    """Decode, make grayscale, rescale and divide, as the lessons do."""
    from skimage import color, io, transform

    pixels = io.imread(path)
    if pixels.ndim == 3 and pixels.shape[-1] == 4:
        pixels = color.rgba2rgb(pixels) * 255.0
    if pixels.ndim == 3:
        pixels = color.rgb2gray(pixels / 255.0) * 255.0
    pixels = transform.resize(pixels, (size, size), preserve_range=True)
    return pixels.astype(np.float32) / 255.0


def _read_with_opencv(path, size):
    """Decode and rescale with OpenCV, then divide."""
    import cv2

    pixels = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    return cv2.resize(pixels, (size, size)).astype(np.float32) / 255.0


def _per_batch_generator(items, batch_size, size, seed, read):
    """A per-batch PyDataset: each batch decodes its files when asked."""
    import keras

    class XraySequence(keras.utils.PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.items = list(items)
            self.order = np.arange(len(self.items))
            self.rng = np.random.default_rng(seed)
            self.rng.shuffle(self.order)

        def __len__(self):
            return math.ceil(len(self.items) / batch_size)

        def __getitem__(self, index):
            chosen = self.order[index * batch_size : (index + 1) * batch_size]
            images, labels = [], []
            for position in chosen:
                path, label = self.items[position]
                images.append(read(path, size))
                labels.append(label)
            return np.stack(images)[..., np.newaxis], np.array(labels, np.int32)

        def on_epoch_end(self):
            self.rng.shuffle(self.order)

    return XraySequence()


def _epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []
            self._start = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


def _compiled_model(arguments, num_classes):
    """A fresh ResNet whose initial weights depend only on the seed."""
    import keras

    from training.models import build_resnet

    keras.utils.set_random_seed(arguments.seed)
    model = build_resnet(
        (arguments.size, arguments.size, 1), num_classes, depth=arguments.depth
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def _fit_interleaved(sources, arguments, num_classes):
    """Fit one model per source, alternating epochs so machine load hits both."""
    models = {name: _compiled_model(arguments, num_classes) for name in sources}
    timers = {name: _epoch_timer() for name in sources}
    names = list(sources)
    for epoch in range(arguments.epochs):
        # Who goes first alternates, so a load that rises or falls during an
        # epoch pair does not always fall on the same side.
        for name in names if epoch % 2 == 0 else names[::-1]:
            models[name].fit(
                sources[name],
                epochs=epoch + 1,
                initial_epoch=epoch,
                verbose=0,
                callbacks=[timers[name]],
                shuffle=False,
            )
    return {name: timer.seconds for name, timer in timers.items()}


def _input_only_seconds(source, epochs=2):
    """Seconds per pass over an input with no model (the last pass counts)."""
    seconds = 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        if hasattr(source, "__getitem__") and hasattr(source, "on_epoch_end"):
            for index in range(len(source)):
                source[index]
            source.on_epoch_end()
        else:
            for _batch in source:
                pass
        seconds = time.perf_counter() - start
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="folder with one folder per class")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--depth", type=int, default=18)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()

    import tensorflow as tf

    root = _find_xrays(arguments.path)
    index = scan_dataset(root)
    train, _ = stratified_split(select_files(index), 0.2, arguments.seed)
    devices = [device.device_type for device in tf.config.list_physical_devices()]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"Data: {root} ({len(train)} training images, classes {index.classes})")
    print(
        f"Model: ResNet-{arguments.depth}, input {arguments.size}x{arguments.size}x1, "
        f"batch {arguments.batch_size}, {arguments.epochs} epochs, Adam"
    )
    print(
        f"Machine: {os.cpu_count()} CPUs, devices {devices}, load average {load}, "
        f"TensorFlow {tf.__version__}"
    )
    print()

    sources = {
        name: _per_batch_generator(
            train, arguments.batch_size, arguments.size, arguments.seed, read
        )
        for name, read in (
            ("lesson generator", _read_with_skimage),
            ("OpenCV generator", _read_with_opencv),
        )
    }
    skipped = []
    sources["tf.data"] = make_dataset(
        train,
        image_size=arguments.size,
        channels=1,
        batch_size=arguments.batch_size,
        training=True,
        seed=arguments.seed,
        skipped=skipped,
    )
    # Keras warns once per fit that a dataset of unknown length ran out; the
    # tf.data length is unknown because unreadable files are dropped.
    warnings.filterwarnings("ignore", message="Your input ran out of data")
    seconds = _fit_interleaved(sources, arguments, len(index.classes))
    names = list(sources)

    print(f"{'epoch':>5}" + "".join(f"{name + ' s':>20}" for name in names))
    for epoch in range(arguments.epochs):
        row = "".join(f"{seconds[name][epoch]:>20.2f}" for name in names)
        print(f"{epoch + 1:>5}{row}")
    later = {name: sum(seconds[name][1:]) for name in names}
    if later["lesson generator"] > 0:
        ratio = later["tf.data"] / later["lesson generator"]
        verdict = "meets" if ratio <= TARGET_RATIO else "misses"
        print(
            "epochs 2+: " + ", ".join(f"{name} {later[name]:.2f} s" for name in names)
        )
        print(
            f"ratio tf.data / lesson generator {ratio:.2f} ({verdict} the target of "
            f"at most {TARGET_RATIO}); tf.data / OpenCV generator "
            f"{later['tf.data'] / later['OpenCV generator']:.2f}"
        )

    inputs = {name: _input_only_seconds(source) for name, source in sources.items()}
    print(
        "input only, one epoch without a model: "
        + ", ".join(f"{name} {value:.2f} s" for name, value in inputs.items())
    )
    if skipped:
        print(f"tf.data skipped {len(skipped)} unreadable files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
