"""Data sets for training: scanning, picking, splitting, channels and decoding."""

import math
import shutil
import threading

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from imgproc import PipelineError, apply_pipeline, make_pipeline
from training.data import (
    DatasetError,
    DatasetIndex,
    builtin_dataset,
    default_data_root,
    detect_channels,
    find_datasets,
    find_duplicates,
    load_images,
    prepare_image,
    scan_dataset,
    select_files,
    stratified_split,
)

BT601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _area(values, size):
    """The textbook reference: OpenCV area resize of float32 values."""
    resized = cv2.resize(
        np.asarray(values, dtype=np.float32), (size, size), interpolation=cv2.INTER_AREA
    )
    return resized if resized.ndim == 3 else resized[..., np.newaxis]


def _counts(selected):
    return {name: len(paths) for name, paths in selected.items()}


def _linked_dataset(tmp_path, source, per_class, name="linked"):
    """A data set whose class folders hold symlinks to real images of ``source``."""
    root = tmp_path / name
    for class_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        target = root / class_dir.name
        target.mkdir(parents=True)
        for image in sorted(class_dir.iterdir())[:per_class]:
            (target / image.name).symlink_to(image)
    return root


# Scanning ---------------------------------------------------------------------


def test_scan_finds_the_two_flower_classes(flowers_dir):
    index = scan_dataset(flowers_dir)

    assert index.classes == ["daisy", "rose"]
    assert index.counts == {"daisy": 100, "rose": 100}
    assert index.files["daisy"] == sorted(index.files["daisy"])
    assert all(path.suffix == ".jpg" for path in index.files["rose"])
    assert index.ignored == []
    assert index.non_images == 0


def test_scan_lists_side_files_of_the_xray_set_as_ignored(xray_dir):
    index = scan_dataset(xray_dir)

    assert index.classes == ["effusion", "nofinding"]
    assert index.counts == {"effusion": 50, "nofinding": 50}
    assert "labels.csv" in index.ignored
    assert "PROVENANCE.md" in index.ignored


def test_scan_keeps_the_requested_class_order(flowers_dir):
    index = scan_dataset(flowers_dir, classes=["rose", "daisy"])
    assert index.classes == ["rose", "daisy"]


def test_missing_folder_is_one_sentence(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError) as caught:
        scan_dataset(missing)
    assert str(caught.value) == f"The data folder {missing} does not exist."


def test_a_file_is_not_a_data_folder(xray_dir):
    with pytest.raises(DatasetError, match="not a folder"):
        scan_dataset(xray_dir / "labels.csv")


def test_a_folder_without_class_folders_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("no classes here")
    with pytest.raises(DatasetError, match="holds no class folders"):
        scan_dataset(tmp_path)


def test_one_class_folder_is_refused_with_its_name(tmp_path, flowers_dir):
    root = _linked_dataset(tmp_path, flowers_dir, per_class=3)
    for image in (root / "rose").iterdir():
        image.unlink()
    (root / "rose").rmdir()

    with pytest.raises(DatasetError) as caught:
        scan_dataset(root)
    assert "holds one class folder (daisy)" in str(caught.value)
    assert "at least two" in str(caught.value)


def test_a_requested_class_that_does_not_exist_is_named(flowers_dir):
    with pytest.raises(DatasetError, match="'tulip' does not exist"):
        scan_dataset(flowers_dir, classes=["daisy", "tulip"])


def test_a_class_folder_without_images_is_named(tmp_path, flowers_dir):
    root = _linked_dataset(tmp_path, flowers_dir, per_class=3)
    (root / "sunflower").mkdir()
    (root / "sunflower" / "readme.txt").write_text("to do")

    with pytest.raises(DatasetError) as caught:
        scan_dataset(root)
    assert str(caught.value) == "The class folder 'sunflower' has no images."


def test_files_without_an_image_suffix_are_counted_and_skipped(tmp_path, flowers_dir):
    root = _linked_dataset(tmp_path, flowers_dir, per_class=3)
    (root / "daisy" / "notes.txt").write_text("photographer list")
    (root / "rose" / "Thumbs.db").write_bytes(b"\x00\x01")
    (root / ".hidden").mkdir()

    index = scan_dataset(root)

    assert index.non_images == 2
    assert index.counts == {"daisy": 3, "rose": 3}
    assert index.ignored == [".hidden"]


def test_find_datasets_lists_folders_that_hold_class_folders(shared_data, tmp_path):
    found = find_datasets(shared_data)

    assert {"flowers", "chest_xray", "chest_xray_pneumonia"} <= set(found)
    assert found["flowers"] == shared_data / "flowers"
    assert find_datasets(tmp_path / "missing") == {}

    (tmp_path / "one_class" / "only").mkdir(parents=True)
    (tmp_path / "no_classes").mkdir()
    (tmp_path / "notes.txt").write_text("not a dataset")
    assert set(find_datasets(tmp_path)) == {"one_class"}
    with pytest.raises(DatasetError, match="one class folder"):
        scan_dataset(tmp_path / "one_class")


def test_default_data_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_LAB_DATA", str(tmp_path))
    assert default_data_root() == tmp_path
    monkeypatch.delenv("CNN_LAB_DATA")
    assert default_data_root().name == "data"


# Picking and splitting --------------------------------------------------------


def test_select_files_is_bounded_seeded_and_nested(flowers_dir):
    index = scan_dataset(flowers_dir)

    small = select_files(index, per_class=10, seed=3)
    again = select_files(index, per_class=10, seed=3)
    larger = select_files(index, per_class=30, seed=3)
    other = select_files(index, per_class=10, seed=4)

    assert small == again
    assert {name: len(paths) for name, paths in small.items()} == {
        "daisy": 10,
        "rose": 10,
    }
    assert set(small["rose"]) <= set(larger["rose"])
    assert set(small["rose"]) <= set(index.files["rose"])
    assert small != other
    assert select_files(index)["daisy"] == index.files["daisy"]


def test_select_files_refuses_zero_per_class(flowers_dir):
    with pytest.raises(DatasetError):
        select_files(scan_dataset(flowers_dir), per_class=0)


def test_percent_keeps_that_share_of_every_class(flowers_dir):
    index = scan_dataset(flowers_dir)

    assert _counts(select_files(index, percent=10)) == {"daisy": 10, "rose": 10}
    assert _counts(select_files(index, percent=33)) == {"daisy": 33, "rose": 33}
    # 12.5 % of 100 is 12.5 images: halves round up.
    assert _counts(select_files(index, percent=12.5)) == {"daisy": 13, "rose": 13}
    # 1 % of 100 would be 1 image, but a split needs 2.
    assert _counts(select_files(index, percent=1)) == {"daisy": 2, "rose": 2}
    assert select_files(index, percent=100) == select_files(index)


def test_percent_is_seeded_and_nested(flowers_dir):
    index = scan_dataset(flowers_dir)

    small = select_files(index, percent=10, seed=5)
    large = select_files(index, percent=40, seed=5)

    assert small == select_files(index, percent=10, seed=5)
    assert small != select_files(index, percent=10, seed=6)
    for name in index.classes:
        assert set(small[name]) <= set(large[name]) <= set(index.files[name])
        assert small[name] == sorted(small[name])


def test_class_ratio_makes_a_deliberately_imbalanced_subset(flowers_dir):
    index = scan_dataset(flowers_dir)

    # 100 / 9 = 11.1 daisies for every 100 roses.
    steep = select_files(index, class_ratio=[1, 9], seed=2)
    assert _counts(steep) == {"daisy": 11, "rose": 100}
    # Roses run out first at 100 / 1; daisies get 3 x 33.3 capped at 100.
    assert _counts(select_files(index, class_ratio=[3, 1])) == {
        "daisy": 100,
        "rose": 33,
    }
    # The 2-per-class floor wins over a ratio steeper than the images allow.
    assert _counts(select_files(index, class_ratio=[1, 1000])) == {
        "daisy": 2,
        "rose": 100,
    }
    assert set(steep["daisy"]) <= set(select_files(index, percent=50, seed=2)["daisy"])
    # Only proportions count: tiny numbers are the same ratio, not an overflow.
    assert _counts(select_files(index, class_ratio=[1e-320, 1e-320])) == {
        "daisy": 100,
        "rose": 100,
    }
    with pytest.raises(DatasetError, match="steeper than a billion to one"):
        select_files(index, class_ratio=[1e-300, 1.0])


def test_class_ratio_applies_after_the_percent_or_count(flowers_dir):
    index = scan_dataset(flowers_dir)

    assert _counts(select_files(index, percent=50, class_ratio=[2, 1])) == {
        "daisy": 50,
        "rose": 25,
    }
    # 30 each, ratio 1:2: roses limit the scale to 15, so 15 and 30.
    assert _counts(select_files(index, per_class=30, class_ratio=[1, 2])) == {
        "daisy": 15,
        "rose": 30,
    }


def test_class_ratio_on_classes_of_different_sizes(flowers_dir):
    full = scan_dataset(flowers_dir)
    uneven = DatasetIndex(
        root=full.root,
        classes=full.classes,
        files={"daisy": full.files["daisy"], "rose": full.files["rose"][:40]},
    )

    assert _counts(select_files(uneven, class_ratio=[1, 1])) == {
        "daisy": 40,
        "rose": 40,
    }
    assert _counts(select_files(uneven, class_ratio=[1, 4])) == {
        "daisy": 10,
        "rose": 40,
    }


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"per_class": 10, "percent": 10}, "not both"),
        ({"percent": 0}, "above 0 and at most 100"),
        ({"percent": 101}, "above 0 and at most 100"),
        ({"percent": math.nan}, "above 0 and at most 100"),
        ({"class_ratio": [1, 2, 3]}, "one number per class"),
        ({"class_ratio": [1, 0]}, "'rose' must be a number above 0"),
        ({"class_ratio": [-1, 1]}, "'daisy' must be a number above 0"),
        ({"class_ratio": [1, math.inf]}, "'rose' must be a number above 0"),
    ],
)
def test_subset_settings_out_of_range_are_one_sentence(flowers_dir, settings, message):
    with pytest.raises(DatasetError, match=message):
        select_files(scan_dataset(flowers_dir), **settings)


def test_split_of_an_imbalanced_subset_keeps_its_proportions(flowers_dir):
    files = select_files(scan_dataset(flowers_dir), class_ratio=[1, 9], seed=4)

    train, val = stratified_split(files, val_fraction=0.2, seed=4)

    # round(11 * 0.2) = 2 daisies and round(100 * 0.2) = 20 roses held out.
    assert np.bincount([label for _, label in val]).tolist() == [2, 20]
    assert np.bincount([label for _, label in train]).tolist() == [9, 80]
    assert (train, val) == stratified_split(files, val_fraction=0.2, seed=4)


def test_split_is_stratified_disjoint_and_80_20(flowers_dir):
    files = select_files(scan_dataset(flowers_dir))

    train, val = stratified_split(files, val_fraction=0.2, seed=0)

    train_labels = np.bincount([label for _, label in train])
    val_labels = np.bincount([label for _, label in val])
    assert train_labels.tolist() == [80, 80]
    assert val_labels.tolist() == [20, 20]
    assert not {path for path, _ in train} & {path for path, _ in val}
    assert {path for path, _ in train + val} == set(files["daisy"] + files["rose"])
    assert all(path.parent.name == "daisy" for path, label in val if label == 0)


def test_split_is_deterministic_for_a_seed(flowers_dir):
    files = select_files(scan_dataset(flowers_dir), per_class=20)

    first = stratified_split(files, seed=7)
    second = stratified_split(files, seed=7)
    third = stratified_split(files, seed=8)

    assert first == second
    assert set(first[1]) != set(third[1])


def test_split_keeps_one_image_each_side_for_tiny_classes(flowers_dir):
    files = select_files(scan_dataset(flowers_dir), per_class=2)

    train, val = stratified_split(files, val_fraction=0.2)

    assert len(train) == 2
    assert len(val) == 2
    assert sorted(label for _, label in val) == [0, 1]


def test_split_refuses_a_class_with_one_image(flowers_dir):
    files = select_files(scan_dataset(flowers_dir), per_class=1)
    with pytest.raises(DatasetError, match="at least two per class"):
        stratified_split(files)


def test_split_refuses_a_fraction_outside_zero_and_one(flowers_dir):
    files = select_files(scan_dataset(flowers_dir), per_class=4)
    with pytest.raises(DatasetError, match="between 0 and 1"):
        stratified_split(files, val_fraction=1.0)


# Channels and decoding ---------------------------------------------------------


def test_xrays_are_grayscale_and_flowers_are_colour(xray_dir, flowers_dir):
    xrays = [p for paths in scan_dataset(xray_dir).files.values() for p in paths]
    flowers = [p for paths in scan_dataset(flowers_dir).files.values() for p in paths]

    assert detect_channels(xrays) == 1
    assert detect_channels(flowers) == 3


def test_rgba_xray_counts_as_grayscale(xray_rgba_path, xray_path):
    assert detect_channels([xray_rgba_path, xray_path], sample=2) == 1


def test_load_flowers_as_colour_arrays(flowers_dir):
    files = select_files(scan_dataset(flowers_dir), per_class=3)
    items = [
        (path, label) for label, paths in enumerate(files.values()) for path in paths
    ]

    loaded = load_images(items, image_size=48, channels=3, workers=2)

    assert loaded.x.shape == (6, 48, 48, 3)
    assert loaded.x.dtype == np.float32
    assert loaded.y.dtype == np.int32
    assert loaded.y.tolist() == [0, 0, 0, 1, 1, 1]
    assert 0.0 <= loaded.x.min() and loaded.x.max() <= 1.0
    assert loaded.x.std() > 0.05
    assert loaded.skipped == []


def test_colour_to_one_channel_is_luminance(flowers_dir):
    items = [(path, 0) for path in scan_dataset(flowers_dir).files["rose"][:2]]

    colour = load_images(items, image_size=32, channels=3).x
    gray = load_images(items, image_size=32, channels=1).x

    expected = colour @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    assert gray.shape == (2, 32, 32, 1)
    np.testing.assert_allclose(gray[..., 0], expected, atol=1e-4)


def test_gray_to_three_channels_repeats_the_channel(xray_path, xray_rgba_path):
    loaded = load_images([(xray_path, 0), (xray_rgba_path, 1)], 64, channels=3)

    assert loaded.x.shape == (2, 64, 64, 3)
    np.testing.assert_array_equal(loaded.x[..., 0], loaded.x[..., 1])
    np.testing.assert_array_equal(loaded.x[..., 0], loaded.x[..., 2])


def test_sixteen_bit_images_keep_their_scale(tmp_path, xray_path):
    eight_bit = np.asarray(Image.open(xray_path).convert("L"))
    sixteen = tmp_path / "xray16.png"
    Image.fromarray(eight_bit.astype(np.uint16) * 257).save(sixteen)

    from_8 = load_images([(xray_path, 0)], 64, channels=1).x
    from_16 = load_images([(sixteen, 0)], 64, channels=1).x

    assert len(np.unique(from_16)) > 100
    np.testing.assert_allclose(from_16, from_8, atol=1e-5)


def test_a_corrupt_file_is_skipped_with_a_reason(tmp_path, flowers_dir):
    root = _linked_dataset(tmp_path, flowers_dir, per_class=4)
    (root / "rose" / "broken.png").write_bytes(b"this is not a PNG file at all")
    index = scan_dataset(root)
    items = [
        (p, label) for label, paths in enumerate(index.files.values()) for p in paths
    ]

    loaded = load_images(items, image_size=32, channels=3)

    assert len(items) == 9
    assert loaded.x.shape[0] == 8
    assert loaded.y.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert len(loaded.skipped) == 1
    path, reason = loaded.skipped[0]
    assert path.name == "broken.png"
    assert "broken.png" in reason and reason.endswith(".")


def test_load_images_runs_the_pipeline_on_every_file(xray_dir):
    paths = sorted((xray_dir / "nofinding").glob("*.png"))[:2]
    pipeline = make_pipeline([{"op": "normalize", "method": "minmax"}])

    loaded = load_images([(path, 0) for path in paths], 32, 1, pipeline=pipeline)

    for position, path in enumerate(paths):
        pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
        stretched = (pixels - pixels.min()) / (pixels.max() - pixels.min())
        np.testing.assert_allclose(loaded.x[position], _area(stretched, 32), atol=1e-5)


def test_loading_nothing_gives_empty_arrays():
    loaded = load_images([], image_size=32, channels=1)
    assert loaded.x.shape == (0, 32, 32, 1)
    assert loaded.y.shape == (0,)


# Preparing one image -----------------------------------------------------------


def test_prepare_without_pipeline_scales_by_the_dtype(xray):
    prepared = prepare_image(xray, 64, 1)

    expected = np.clip(_area(xray.astype(np.float32) / 255.0, 64), 0.0, 1.0)
    assert prepared.shape == (64, 64, 1)
    assert prepared.dtype == np.float32
    np.testing.assert_allclose(prepared, expected, atol=1e-6)
    assert 0.0 <= prepared.min() and prepared.max() <= 1.0


def test_prepare_runs_the_pipeline_first_then_resizes(xray):
    pipeline = make_pipeline(
        [
            {"op": "normalize", "method": "clahe", "clip_limit": 0.02},
            {"op": "center_crop", "height": 800, "width": 800},
        ]
    )

    prepared = prepare_image(xray, 48, 1, pipeline)

    expected = _area(apply_pipeline(xray, pipeline), 48)
    assert prepared.shape == (48, 48, 1)
    np.testing.assert_allclose(prepared, expected, rtol=1e-5, atol=1e-6)


def test_a_pipeline_without_normalise_keeps_raw_values(xray):
    pipeline = make_pipeline([{"op": "closing", "radius": 2}])

    prepared = prepare_image(xray, 32, 1, pipeline)

    expected = _area(apply_pipeline(xray, pipeline), 32)
    np.testing.assert_allclose(prepared, expected, rtol=1e-6)
    assert prepared.max() > 100.0


def test_a_mask_becomes_zeros_and_ones(xray):
    pipeline = make_pipeline([{"op": "threshold", "method": "otsu"}])
    mask = apply_pipeline(xray, pipeline)
    assert mask.dtype == np.bool_

    prepared = prepare_image(xray, 1024, 1, pipeline)

    assert set(np.unique(prepared)) == {0.0, 1.0}
    np.testing.assert_array_equal(prepared[..., 0], mask.astype(np.float32))


def test_prepare_flips_and_converts_a_colour_photo(flower):
    pipeline = make_pipeline([{"op": "flip", "horizontal": True}])

    gray = prepare_image(flower, 40, 1, pipeline)
    colour = prepare_image(flower, 40, 3, pipeline)

    mirrored = flower[:, ::-1].astype(np.float32)
    np.testing.assert_allclose(colour, _area(mirrored, 40), rtol=1e-5)
    np.testing.assert_allclose(gray, _area(mirrored @ BT601, 40), rtol=1e-4, atol=1e-3)


def test_prepare_names_a_failing_step(flower):
    # Thresholding needs one channel; the colour photo has three.
    pipeline = make_pipeline([{"op": "threshold", "value": 100}])
    with pytest.raises(PipelineError, match=r"Step 1 \(threshold\)"):
        prepare_image(flower, 32, 3, pipeline)


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"channels": 2}, "channels must be 1 or 3"), ({"image_size": 0}, "at least 1")],
)
def test_prepare_refuses_bad_settings(xray, settings, message):
    arguments = {"image_size": 16, "channels": 1, **settings}
    with pytest.raises(ValueError, match=message):
        prepare_image(xray, **arguments)


# Duplicates across the splits ----------------------------------------------------


def _copy_split(tmp_path, xray_dir, flowers_dir):
    """Real images in train/ and val/, with three planted duplicates in val/."""
    train_dir, val_dir = tmp_path / "train", tmp_path / "val"
    train_dir.mkdir()
    val_dir.mkdir()
    xrays = sorted((xray_dir / "nofinding").glob("*.png"))[:4]
    flowers = sorted((flowers_dir / "rose").glob("*.jpg"))[:2]
    train = []
    for source in xrays[:3] + flowers:
        shutil.copy(source, train_dir / source.name)
        train.append((train_dir / source.name, 0))

    byte_copy = val_dir / "copied.png"
    shutil.copy(xrays[0], byte_copy)
    resaved = val_dir / "resaved.png"
    with Image.open(xrays[1]) as picture:
        picture.save(resaved, compress_level=0)
    as_bitmap = val_dir / "rose.bmp"
    with Image.open(flowers[0]) as picture:
        ImageOps.exif_transpose(picture).convert("RGB").save(as_bitmap)
    unrelated = val_dir / xrays[3].name
    shutil.copy(xrays[3], unrelated)
    val = [(byte_copy, 0), (resaved, 0), (as_bitmap, 1), (unrelated, 0)]

    planted = [
        (train_dir / xrays[0].name, byte_copy),
        (train_dir / xrays[1].name, resaved),
        (train_dir / flowers[0].name, as_bitmap),
    ]
    return train, val, planted


def test_find_duplicates_finds_copies_and_lossless_re_encodes(
    tmp_path, xray_dir, flowers_dir
):
    train, val, planted = _copy_split(tmp_path, xray_dir, flowers_dir)
    assert planted[1][0].read_bytes() != planted[1][1].read_bytes()

    found = find_duplicates(train, val)

    assert sorted(found) == sorted(planted)
    assert find_duplicates([p for p, _ in train], [p for p, _ in val]) == found


def test_find_duplicates_ignores_lossy_copies_and_unreadable_files(tmp_path, xray_path):
    lossy = tmp_path / "lossy.jpg"
    with Image.open(xray_path) as picture:
        picture.save(lossy, quality=95)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")

    assert find_duplicates([(xray_path, 0)], [(lossy, 0), (broken, 0)]) == []
    assert find_duplicates([], [(xray_path, 0)]) == []


@pytest.mark.parametrize("folder", ["flowers", "chest_xray"])
def test_find_duplicates_has_no_false_positives_on_real_sets(shared_data, folder):
    train, val = stratified_split(select_files(scan_dataset(shared_data / folder)))
    assert find_duplicates(train, val) == []


# Bundled set -------------------------------------------------------------------


def test_builtin_dataset_writes_100_faces_and_100_nonfaces(monkeypatch, tmp_path):
    from skimage.data import lfw_subset

    monkeypatch.setenv("CNN_LAB_CACHE", str(tmp_path / "cache"))

    folder = builtin_dataset()
    index = scan_dataset(folder)

    assert folder == tmp_path / "cache" / "lfw_faces"
    assert index.classes == ["face", "nonface"]
    assert index.counts == {"face": 100, "nonface": 100}
    first_face = np.asarray(Image.open(index.files["face"][0]))
    first_nonface = np.asarray(Image.open(index.files["nonface"][0]))
    expected = np.round(np.asarray(lfw_subset(), dtype=np.float64) * 255)
    assert first_face.dtype == np.uint8 and first_face.shape == (25, 25)
    np.testing.assert_array_equal(first_face, expected[0])
    np.testing.assert_array_equal(first_nonface, expected[100])
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


def test_builtin_dataset_is_safe_to_call_from_many_threads(monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_LAB_CACHE", str(tmp_path))
    results, errors = [], []

    def call():
        try:
            results.append(builtin_dataset())
        except Exception as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(results)) == 1
    assert scan_dataset(results[0]).counts == {"face": 100, "nonface": 100}
    written = (results[0] / "face" / "000.png").stat().st_mtime_ns
    builtin_dataset()
    assert (results[0] / "face" / "000.png").stat().st_mtime_ns == written


def test_a_data_folder_that_is_itself_a_data_set_is_listed(flowers_dir):
    assert find_datasets(flowers_dir) == {"flowers": flowers_dir}
    assert find_datasets(flowers_dir.parent)["flowers"] == flowers_dir
    assert find_datasets(flowers_dir / "daisy") == {}
