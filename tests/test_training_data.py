"""Data sets for training: scanning, picking, splitting, channels and decoding."""

import threading

import numpy as np
import pytest
from PIL import Image

from training.data import (
    DatasetError,
    builtin_dataset,
    default_data_root,
    detect_channels,
    find_datasets,
    load_images,
    scan_dataset,
    select_files,
    stratified_split,
)


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


def test_loading_nothing_gives_empty_arrays():
    loaded = load_images([], image_size=32, channels=1)
    assert loaded.x.shape == (0, 32, 32, 1)
    assert loaded.y.shape == (0,)


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
