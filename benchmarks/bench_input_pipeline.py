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

- generator: a keras.utils.PyDataset written the way a lesson writes one:
  every batch decodes its files with OpenCV, resizes them to SIZE, divides by
  255 and shuffles between epochs, with no worker threads;
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


def _lesson_generator(items, batch_size, size, seed):
    """A per-batch PyDataset as a lesson notebook writes it."""
    import cv2
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
                pixels = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
                pixels = cv2.resize(pixels, (size, size))
                images.append(pixels.astype(np.float32) / 255.0)
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

    generator = _lesson_generator(
        train, arguments.batch_size, arguments.size, arguments.seed
    )
    skipped = []
    dataset = make_dataset(
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
    seconds = _fit_interleaved(
        {"generator": generator, "tf.data": dataset}, arguments, len(index.classes)
    )
    generator_seconds, dataset_seconds = seconds["generator"], seconds["tf.data"]

    print(f"{'epoch':>5} {'generator s':>12} {'tf.data s':>10} {'ratio':>7}")
    for epoch, (slow, fast) in enumerate(
        zip(generator_seconds, dataset_seconds, strict=True), start=1
    ):
        print(f"{epoch:>5} {slow:>12.2f} {fast:>10.2f} {fast / slow:>7.2f}")
    later_slow = sum(generator_seconds[1:])
    later_fast = sum(dataset_seconds[1:])
    if later_slow > 0:
        ratio = later_fast / later_slow
        verdict = "meets" if ratio <= TARGET_RATIO else "misses"
        print(
            f"epochs 2+: generator {later_slow:.2f} s, tf.data {later_fast:.2f} s, "
            f"ratio {ratio:.2f} ({verdict} the target of at most {TARGET_RATIO})"
        )

    generator_input = _input_only_seconds(generator)
    dataset_input = _input_only_seconds(dataset)
    print(
        f"input only, one epoch without a model: generator {generator_input:.2f} s, "
        f"tf.data (cached) {dataset_input:.2f} s"
    )
    later_epochs = generator_seconds[1:]
    if later_epochs:
        per_epoch = sum(later_epochs) / len(later_epochs)
        bound = max(0.0, 1.0 - generator_input / per_epoch)
        print(
            f"lowest ratio any input pipeline could reach here: about {bound:.2f} "
            f"(1 - generator input {generator_input:.2f} s / generator epoch "
            f"{per_epoch:.2f} s)"
        )
    if skipped:
        print(f"tf.data skipped {len(skipped)} unreadable files")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
