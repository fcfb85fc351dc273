"""The tf.data input: decoding, caching, shuffling, augmentation and skipped files."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from imgproc import PipelineError, make_pipeline
from training.tfdata import input_stats, make_dataset

REPO_ROOT = Path(__file__).resolve().parent.parent

SIZE = 32


def _flower_items(flowers_dir, per_class=4):
    """The first real photos of each class as ``(path, label)`` pairs."""
    items = []
    for label, name in enumerate(["daisy", "rose"]):
        paths = sorted((flowers_dir / name).glob("*.jpg"))[:per_class]
        items.extend((path, label) for path in paths)
    return items


def _reference_photo(path, size=SIZE):
    """Pillow decode, divide by 255, OpenCV area resize: the textbook input."""
    with Image.open(path) as picture:
        pixels = np.asarray(ImageOps.exif_transpose(picture).convert("RGB"))
    return cv2.resize(
        pixels.astype(np.float32) / 255.0, (size, size), interpolation=cv2.INTER_AREA
    )


def _epochs(dataset, count):
    """Every epoch as one ``(x, y)`` pair of numpy arrays."""
    epochs = []
    for _ in range(count):
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in dataset], strict=True)
        epochs.append((np.concatenate(xs), np.concatenate(ys)))
    return epochs


def _position_of(image, stack):
    """Index of the image in ``stack`` equal to ``image``, or ``None``."""
    for position, candidate in enumerate(stack):
        if np.array_equal(candidate, image):
            return position
    return None


def test_validation_batches_hold_the_prepared_images_in_order(flowers_dir):
    items = _flower_items(flowers_dir)

    dataset = make_dataset(
        items, image_size=SIZE, channels=3, batch_size=3, training=False, seed=0
    )
    batches = [(x.numpy(), y.numpy()) for x, y in dataset]

    assert dataset.element_spec[0].shape.as_list() == [None, SIZE, SIZE, 3]
    assert [x.shape for x, _ in batches] == [(3, SIZE, SIZE, 3)] * 2 + [
        (2, SIZE, SIZE, 3)
    ]
    assert all(x.dtype == np.float32 and y.dtype == np.int32 for x, y in batches)
    labels = np.concatenate([y for _, y in batches])
    assert labels.tolist() == [label for _, label in items]
    images = np.concatenate([x for x, _ in batches])
    for image, (path, _) in zip(images, items, strict=True):
        np.testing.assert_allclose(image, _reference_photo(path), atol=1e-5)


def test_grayscale_xrays_go_through_the_learners_pipeline(xray_dir):
    paths = sorted((xray_dir / "nofinding").glob("*.png"))[:2]
    pipeline = make_pipeline([{"op": "window", "center": 120.0, "width": 160.0}])

    dataset = make_dataset(
        [(path, 1) for path in paths],
        image_size=SIZE,
        channels=1,
        batch_size=2,
        training=False,
        seed=0,
        pipeline=pipeline,
    )
    x, y = next(iter(dataset))

    assert x.shape == (2, SIZE, SIZE, 1)
    assert y.numpy().tolist() == [1, 1]
    for image, path in zip(x.numpy(), paths, strict=True):
        pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
        # The DICOM linear VOI function, written out from the standard.
        windowed = np.clip((pixels - 119.5) / 159.0 + 0.5, 0.0, 1.0)
        expected = cv2.resize(
            windowed.astype(np.float32), (SIZE, SIZE), interpolation=cv2.INTER_AREA
        )
        np.testing.assert_allclose(image[..., 0], expected, atol=1e-5)


def test_validation_repeats_exactly_while_training_varies(flowers_dir):
    items = _flower_items(flowers_dir)
    settings = dict(image_size=SIZE, channels=3, batch_size=3, seed=11)
    augmentation = {"flip_horizontal": True, "rotation": 20.0, "zoom": 1.2}

    val = make_dataset(items, training=False, **settings)
    plain = make_dataset(items, training=True, **settings)
    varied = make_dataset(items, training=True, augmentation=augmentation, **settings)

    (val_1, val_y1), (val_2, val_y2) = _epochs(val, 2)
    np.testing.assert_array_equal(val_1, val_2)
    assert val_y1.tolist() == val_y2.tolist()

    # Without augmentation, each training epoch is a reordering of the images.
    (plain_1, plain_y1), (plain_2, plain_y2) = _epochs(plain, 2)
    first_order = [_position_of(image, val_1) for image in plain_1]
    second_order = [_position_of(image, val_1) for image in plain_2]
    assert sorted(first_order) == sorted(second_order) == list(range(len(items)))
    assert first_order != second_order
    assert plain_y1.tolist() == [items[i][1] for i in first_order]

    # With augmentation, no training image repeats any earlier picture exactly.
    (varied_1, varied_y1), (varied_2, varied_y2) = _epochs(varied, 2)
    assert sorted(varied_y1.tolist()) == sorted(varied_y2.tolist())
    for image in varied_2:
        assert _position_of(image, varied_1) is None
        assert _position_of(image, val_1) is None


def test_flip_augmentation_only_mirrors_the_pictures(flowers_dir):
    items = _flower_items(flowers_dir)
    references = [_reference_photo(path) for path, _ in items]

    dataset = make_dataset(
        items,
        image_size=SIZE,
        channels=3,
        batch_size=8,
        training=True,
        seed=3,
        augmentation={"flip_horizontal": True},
    )

    kinds = set()
    for images, labels in _epochs(dataset, 2):
        for image, label in zip(images, labels, strict=True):
            matches = []
            for reference, (_, reference_label) in zip(references, items, strict=True):
                if np.allclose(image, reference, atol=1e-5):
                    matches.append(("kept", reference_label))
                if np.allclose(image, reference[:, ::-1], atol=1e-5):
                    matches.append(("mirrored", reference_label))
            assert len(matches) == 1
            assert matches[0][1] == label
            kinds.add(matches[0][0])
    assert kinds == {"kept", "mirrored"}


def test_shifts_are_a_fraction_of_the_image_side(flowers_dir):
    items = _flower_items(flowers_dir, per_class=1)
    settings = dict(image_size=SIZE, channels=3, batch_size=2, training=True, seed=0)

    # Half the side is 16 pixels, far inside the pixel range of the op.
    dataset = make_dataset(items, augmentation={"shift_x": 0.5}, **settings)
    x, _ = next(iter(dataset))
    assert x.shape == (2, SIZE, SIZE, 3)

    with pytest.raises(ValueError, match="fraction of the image side"):
        make_dataset(items, augmentation={"shift_x": 5}, **settings)
    with pytest.raises(ValueError, match="Unknown augmentation setting"):
        make_dataset(items, augmentation={"hue": 0.1}, **settings)
    with pytest.raises(ValueError, match="'rotation' must be at most 360"):
        make_dataset(items, augmentation={"rotation": 400}, **settings)


def test_the_same_seed_gives_the_same_first_batch(flowers_dir):
    items = _flower_items(flowers_dir)
    augmentation = {"flip_horizontal": True, "rotation": 15.0, "shift_y": 0.1}

    def first_batch(seed):
        dataset = make_dataset(
            items,
            image_size=SIZE,
            channels=3,
            batch_size=4,
            training=True,
            seed=seed,
            augmentation=augmentation,
        )
        x, y = next(iter(dataset))
        return x.numpy(), y.numpy()

    first_x, first_y = first_batch(21)
    again_x, again_y = first_batch(21)
    other_x, _ = first_batch(22)

    np.testing.assert_array_equal(first_x, again_x)
    np.testing.assert_array_equal(first_y, again_y)
    assert not np.array_equal(first_x, other_x)


def test_unreadable_files_are_skipped_and_reported_once(tmp_path, flowers_dir):
    items = _flower_items(flowers_dir, per_class=3)
    real_jpeg = items[0][0].read_bytes()
    broken = {
        tmp_path / "notes.png": b"this is not a picture",
        tmp_path / "empty.jpg": b"",
        tmp_path / "truncated.jpg": real_jpeg[: len(real_jpeg) // 3],
    }
    for path, content in broken.items():
        path.write_bytes(content)
    mixed = items[:3] + [(path, 1) for path in broken] + items[3:]
    skipped = []

    val = make_dataset(
        mixed,
        image_size=SIZE,
        channels=3,
        batch_size=4,
        training=False,
        seed=0,
        skipped=skipped,
    )
    for images, labels in _epochs(val, 2):
        assert images.shape == (6, SIZE, SIZE, 3)
        assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert sorted(path for path, _ in skipped) == sorted(broken)

    # A shuffled training set reports each file once too, also when one batch
    # is read (as for input statistics) before whole epochs.
    skipped.clear()
    train = make_dataset(
        mixed,
        image_size=SIZE,
        channels=3,
        batch_size=4,
        training=True,
        seed=0,
        skipped=skipped,
    )
    next(iter(train))
    for images, labels in _epochs(train, 2):
        assert images.shape == (6, SIZE, SIZE, 3)
        assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1]
    assert sorted(path for path, _ in skipped) == sorted(broken)
    for path, sentence in skipped:
        assert path.name in sentence
        assert sentence.endswith(".")


def test_files_are_read_in_the_first_epoch_only(tmp_path, flowers_dir):
    copies = []
    for path, label in _flower_items(flowers_dir, per_class=2):
        copy = tmp_path / path.name
        copy.write_bytes(path.read_bytes())
        copies.append((copy, label))
    skipped = []
    dataset = make_dataset(
        copies,
        image_size=SIZE,
        channels=3,
        batch_size=3,
        training=True,
        seed=5,
        skipped=skipped,
    )

    ((first, _),) = _epochs(dataset, 1)
    for path, _ in copies:
        path.unlink()
    ((second, _),) = _epochs(dataset, 1)

    assert skipped == []
    assert second.shape == first.shape == (4, SIZE, SIZE, 3)
    assert sorted(_position_of(image, first) for image in second) == [0, 1, 2, 3]


def test_a_set_with_no_readable_file_yields_no_batch(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    skipped = []

    dataset = make_dataset(
        [(broken, 0)],
        image_size=SIZE,
        channels=1,
        batch_size=2,
        training=True,
        seed=0,
        skipped=skipped,
    )

    assert list(dataset) == []
    assert [path for path, _ in skipped] == [broken]
    with pytest.raises(ValueError, match="no images"):
        input_stats(dataset)


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"channels": 2}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"image_size": -4}, ValueError),
        ({"pipeline": {"version": 1, "steps": [{"op": "sharpen"}]}}, PipelineError),
    ],
)
def test_bad_settings_are_refused_before_any_decoding(flowers_dir, settings, error):
    arguments = dict(image_size=SIZE, channels=3, batch_size=2, training=False, seed=0)
    arguments.update(settings)
    with pytest.raises(error):
        make_dataset(_flower_items(flowers_dir, per_class=1), **arguments)


def test_input_stats_of_arrays_and_of_a_first_batch(flowers_dir, xray):
    raw = xray.astype(np.float32)[np.newaxis, ..., np.newaxis]
    assert input_stats(raw) == {
        "mean": pytest.approx(float(np.mean(xray, dtype=np.float64))),
        "std": pytest.approx(float(np.std(xray, dtype=np.float64))),
        "min": float(xray.min()),
        "max": float(xray.max()),
    }

    items = _flower_items(flowers_dir)
    dataset = make_dataset(
        items, image_size=SIZE, channels=3, batch_size=5, training=False, seed=0
    )
    first = np.stack([_reference_photo(path) for path, _ in items[:5]])
    stats = input_stats(dataset)
    assert stats["mean"] == pytest.approx(first.mean(), abs=1e-5)
    assert stats["std"] == pytest.approx(first.std(), abs=1e-5)
    assert stats["max"] == pytest.approx(first.max(), abs=1e-5)
    assert input_stats((first, np.zeros(5)))["min"] == pytest.approx(first.min())


def test_a_pipeline_without_normalise_shows_raw_values(xray_path):
    dataset = make_dataset(
        [(xray_path, 0)],
        image_size=SIZE,
        channels=1,
        batch_size=1,
        training=False,
        seed=0,
        pipeline=make_pipeline([{"op": "flip"}]),
    )

    assert input_stats(dataset)["max"] > 100.0
