"""Find, check, split and load folder-per-class image sets for training.

A data set is a folder with one sub-folder per class (``flowers/daisy``,
``flowers/rose``). Everything here works on plain paths and numpy arrays and
never imports TensorFlow, so the app can list and check data sets quickly.
"""

import hashlib
import logging
import math
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BUILTIN_NAME",
    "DatasetError",
    "DatasetIndex",
    "LoadedImages",
    "builtin_dataset",
    "default_data_root",
    "detect_channels",
    "find_datasets",
    "find_duplicates",
    "load_images",
    "prepare_image",
    "scan_dataset",
    "select_files",
    "stratified_split",
]

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent

BUILTIN_NAME = "faces (bundled)"

_BUILTIN_FOLDER = "lfw_faces"
_BUILTIN_CLASSES = ("face", "nonface")
_BUILTIN_PER_CLASS = 100

# ITU-R BT.601 weights: how much red, green and blue add to perceived brightness.
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class DatasetError(ValueError):
    """A data set problem, worded as one plain sentence for the user."""


def _image_extensions() -> tuple[str, ...]:
    """The lowercase file suffixes that the image reader understands."""
    from imgproc.io import IMAGE_EXTENSIONS

    return tuple(IMAGE_EXTENSIONS)


def _read_image(path: Path) -> np.ndarray:
    """Decode one file with the shared image reader (2-D gray or (H, W, 3))."""
    from imgproc.io import load_image

    return load_image(path)


def _is_hidden(path: Path) -> bool:
    """Whether a file or folder is hidden by the dot convention."""
    return path.name.startswith(".")


def default_data_root() -> Path:
    """The folder that holds the user's data sets.

    Returns:
        ``$CNN_LAB_DATA`` when set, otherwise ``data/`` in the repository.
    """
    configured = os.environ.get("CNN_LAB_DATA")
    return Path(configured).expanduser() if configured else REPO_ROOT / "data"


def _cache_root() -> Path:
    """Where generated files live: ``$CNN_LAB_CACHE`` or a per-user cache folder."""
    configured = os.environ.get("CNN_LAB_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "cnn_image_lab"


def _builtin_complete(folder: Path) -> bool:
    """Whether every class folder of the bundled set holds all its images."""
    return all(
        len(list((folder / name).glob("*.png"))) == _BUILTIN_PER_CLASS
        for name in _BUILTIN_CLASSES
    )


def _write_builtin(folder: Path) -> None:
    """Write the LFW subset as 8-bit grayscale PNGs into ``folder``."""
    from PIL import Image
    from skimage.data import lfw_subset

    images = np.asarray(lfw_subset())
    if images.dtype != np.uint8:
        images = np.clip(np.round(images * 255.0), 0, 255).astype(np.uint8)

    for label, name in enumerate(_BUILTIN_CLASSES):
        class_dir = folder / name
        class_dir.mkdir(parents=True)
        start = label * _BUILTIN_PER_CLASS
        for number in range(_BUILTIN_PER_CLASS):
            image = Image.fromarray(images[start + number])
            image.save(class_dir / f"{number:03d}.png")


def builtin_dataset() -> Path:
    """A small real two-class set that needs no download: faces and non-faces.

    scikit-image ships 200 grayscale 25x25 crops from the Labeled Faces in the
    Wild collection: the first 100 show faces, the last 100 show background
    patches from the same photos. They are written once as 8-bit PNGs into
    ``<cache>/lfw_faces/face`` and ``<cache>/lfw_faces/nonface``.

    Returns:
        The data-set folder, ready for :func:`scan_dataset`.

    Notes:
        ``<cache>`` is ``$CNN_LAB_CACHE`` or ``~/.cache/cnn_image_lab``. The
        files are written into a temporary folder that is renamed into place,
        so callers in other threads or processes never see half a data set.
    """
    cache = _cache_root()
    target = cache / _BUILTIN_FOLDER
    if target.is_dir() and _builtin_complete(target):
        return target

    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".lfw_faces-", dir=cache))
    try:
        _write_builtin(staging / "set")
        if target.exists() and not _builtin_complete(target):
            logger.warning("Rebuilding the incomplete bundled set in %s", target)
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(staging / "set", target)
        except OSError:
            if not (target.is_dir() and _builtin_complete(target)):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _class_folders(root: Path) -> list[Path]:
    """The visible sub-folders of ``root``, sorted by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not _is_hidden(p))


def find_datasets(root: str | os.PathLike) -> dict[str, Path]:
    """List the data sets inside ``root``: sub-folders that hold class folders.

    A folder with a single class folder is listed too, so that choosing it
    explains why it cannot train (see :func:`scan_dataset`) instead of the
    folder silently missing from the list. When ``root`` is itself a data set
    (its sub-folders hold images), it is listed under its own name. Folders
    that cannot be read are left out.

    Args:
        root: A folder such as :func:`default_data_root`.

    Returns:
        ``{name: path}`` sorted by name; empty when ``root`` does not exist.
    """
    root = Path(root)
    if not root.is_dir():
        return {}
    folders = _readable_folders(root)
    found = {folder.name: folder for folder in folders if _readable_folders(folder)}
    if any(_holds_images(folder) for folder in folders):
        # The folder chosen is itself a data set (its sub-folders are classes).
        found.setdefault(root.name or str(root), root)
    return dict(sorted(found.items()))


def _readable_folders(folder: Path) -> list[Path]:
    """The visible sub-folders of ``folder``; none when it cannot be listed."""
    try:
        return _class_folders(folder)
    except OSError:
        return []


def _holds_images(folder: Path, look_at: int = 50) -> bool:
    """Whether one of the first ``look_at`` entries of ``folder`` is an image file."""
    extensions = _image_extensions()
    try:
        with os.scandir(folder) as entries:
            for number, entry in enumerate(entries):
                if number >= look_at:
                    return False
                if entry.name.lower().endswith(extensions) and entry.is_file():
                    return True
    except OSError:
        return False
    return False


@dataclass
class DatasetIndex:
    """What a data-set folder holds.

    Attributes:
        root: The data-set folder.
        classes: Class names (sub-folder names) in label order.
        files: Image files per class, sorted by name.
        ignored: Entries beside the class folders that are not classes, such
            as ``labels.csv``, a README or hidden entries.
        non_images: Files inside class folders without an image suffix; they
            are skipped.
    """

    root: Path
    classes: list[str]
    files: dict[str, list[Path]]
    ignored: list[str] = field(default_factory=list)
    non_images: int = 0

    @property
    def counts(self) -> dict[str, int]:
        """The number of images per class."""
        return {name: len(paths) for name, paths in self.files.items()}


def scan_dataset(
    root: str | os.PathLike, classes: Sequence[str] | None = None
) -> DatasetIndex:
    """Index a folder-per-class data set and check that it can be trained on.

    Each visible sub-folder is a class; its image files (by suffix, not
    recursive) are the examples. Files and hidden entries beside the class
    folders are listed in ``ignored``.

    Args:
        root: The data-set folder.
        classes: Class folders to use, in label order; ``None`` uses all of
            them sorted by name.

    Returns:
        A :class:`DatasetIndex`.

    Raises:
        DatasetError: The folder is missing or not a folder, holds fewer than
            two class folders, a requested class does not exist, or a class
            folder holds no images.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"The data folder {root} does not exist.")
    if not root.is_dir():
        raise DatasetError(f"The data path {root} is a file, not a folder.")

    folders = _class_folders(root)
    ignored = sorted(p.name for p in root.iterdir() if p not in folders)
    available = [p.name for p in folders]
    if not available:
        raise DatasetError(
            f"The data folder {root} holds no class folders; put the images of "
            "each class in their own sub-folder."
        )
    if len(available) == 1:
        raise DatasetError(
            f"The data folder {root} holds one class folder ({available[0]}); "
            "training needs at least two."
        )

    if classes is None:
        chosen = available
    else:
        chosen = list(dict.fromkeys(str(name) for name in classes))
        missing = [name for name in chosen if name not in available]
        if missing:
            raise DatasetError(
                f"The class folder '{missing[0]}' does not exist in {root}; "
                f"found: {', '.join(available)}."
            )
        if len(chosen) < 2:
            raise DatasetError("Training needs at least two classes; choose another.")

    extensions = _image_extensions()
    files: dict[str, list[Path]] = {}
    non_images = 0
    for name in chosen:
        entries = sorted(p for p in (root / name).iterdir() if p.is_file())
        images = [p for p in entries if p.suffix.lower() in extensions]
        non_images += len(entries) - len(images)
        if not images:
            raise DatasetError(f"The class folder '{name}' has no images.")
        files[name] = images

    return DatasetIndex(
        root=root, classes=chosen, files=files, ignored=ignored, non_images=non_images
    )


def _shuffled(paths: Iterable[Path], seed: int, class_name: str) -> list[Path]:
    """A copy of ``paths`` in a seeded order that depends only on the class."""
    shuffled = list(paths)
    random.Random(f"{seed}:{class_name}").shuffle(shuffled)
    return shuffled


def _round_half_up(value: float) -> int:
    """Round to the nearest whole number, halves upwards (12.5 -> 13)."""
    return int(math.floor(value + 0.5))


def _checked_percent(percent: float) -> float:
    """Return ``percent`` as a float in (0, 100], or raise a sentence."""
    is_number = isinstance(percent, (int, float)) and not isinstance(percent, bool)
    if not is_number or not math.isfinite(percent) or not 0 < percent <= 100:
        raise DatasetError(
            f"The percentage of images must be above 0 and at most 100, not "
            f"{percent!r}."
        )
    return float(percent)


def _checked_ratio(class_ratio: Sequence[float], classes: Sequence[str]) -> list[float]:
    """Return one weight per class in (0, 1], the largest 1, or raise a sentence.

    Dividing by the largest weight keeps tiny ratios such as ``1e-320:1e-320``
    (the same as 1:1) from overflowing later arithmetic.
    """
    ratio = list(class_ratio)
    if len(ratio) != len(classes):
        raise DatasetError(
            f"The class ratio needs one number per class ({len(classes)}: "
            f"{', '.join(classes)}), not {len(ratio)}."
        )
    for name, weight in zip(classes, ratio, strict=True):
        is_number = isinstance(weight, (int, float)) and not isinstance(weight, bool)
        if not is_number or not math.isfinite(weight) or weight <= 0:
            raise DatasetError(
                f"The class ratio for '{name}' must be a number above 0, not "
                f"{weight!r}."
            )
    largest = max(float(weight) for weight in ratio)
    weights = [float(weight) / largest for weight in ratio]
    if min(weights) < 1e-9:
        raise DatasetError(
            "The class ratio is steeper than a billion to one, so the rarer "
            "classes would keep no images; choose numbers closer together."
        )
    return weights


def _counts_for_ratio(available: Sequence[int], ratio: Sequence[float]) -> list[int]:
    """The largest counts, within ``available``, that follow ``ratio``.

    The class that runs out first sets the scale; every other class gets its
    share of that scale, rounded to the nearest image, at least 2 and never
    more than it has.
    """
    scale = min(count / weight for count, weight in zip(available, ratio, strict=True))
    return [
        min(count, max(2, _round_half_up(scale * weight)))
        for count, weight in zip(available, ratio, strict=True)
    ]


def select_files(
    index: DatasetIndex,
    per_class: int | None = None,
    seed: int = 0,
    percent: float | None = None,
    class_ratio: Sequence[float] | None = None,
) -> dict[str, list[Path]]:
    """Pick a subset of every class, the same images each time for a seed.

    Training on fewer images shows how much a network gains from more data:
    keep a fixed number per class (``per_class``) or a share of every class
    (``percent``). ``class_ratio`` then makes the subset imbalanced on
    purpose, to show what a rare class does to accuracy and recall.

    Each class is shuffled once with ``seed`` and the kept images are the
    start of that order, so a larger subset with the same seed contains the
    smaller one.

    Args:
        index: From :func:`scan_dataset`.
        per_class: Upper bound of images per class; ``None`` keeps every image.
        seed: Same seed, same pick.
        percent: Share of every class to keep, in (0, 100]; rounded to the
            nearest image (halves up) and at least 2 per class. Give either
            ``per_class`` or ``percent``, not both.
        class_ratio: One positive number per class, in ``index.classes``
            order. The counts kept (after ``per_class`` or ``percent``) are
            made proportional to it and as large as the images allow: with
            100 daisies, 100 roses and ``[1, 9]``, 11 daisies and 100 roses
            are kept.

    Returns:
        ``{class: sorted paths}`` in the index's class order.

    Raises:
        DatasetError: ``per_class`` is below 1, ``percent`` is outside
            (0, 100], both are given, or the ratio does not have one positive
            number per class.

    Notes:
        Every class keeps at least 2 images (a split needs one on each side)
        when it has them, so a very steep ratio such as ``[1, 1000]`` on 100
        images per class keeps 2 and 100, not 0 and 100.
    """
    if per_class is not None and percent is not None:
        raise DatasetError(
            "Choose either a number of images per class or a percentage, not both."
        )
    if per_class is not None and int(per_class) < 1:
        raise DatasetError(f"Images per class must be at least 1, not {per_class}.")
    if percent is not None:
        percent = _checked_percent(percent)
    ratio = None
    if class_ratio is not None:
        ratio = _checked_ratio(class_ratio, index.classes)

    counts = []
    for name in index.classes:
        available = len(index.files[name])
        if per_class is not None:
            counts.append(min(available, int(per_class)))
        elif percent is not None:
            wanted = max(2, _round_half_up(available * percent / 100.0))
            counts.append(min(available, wanted))
        else:
            counts.append(available)
    if ratio is not None:
        counts = _counts_for_ratio(counts, ratio)

    selected = {}
    for name, count in zip(index.classes, counts, strict=True):
        paths = index.files[name]
        if count < len(paths):
            paths = sorted(_shuffled(paths, seed, name)[:count])
        selected[name] = list(paths)
    return selected


def stratified_split(
    files_by_class: dict[str, Sequence[Path]],
    val_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """Split each class into training and validation images, keeping proportions.

    Every class is shuffled with ``seed`` and ``round(n * val_fraction)`` of
    its images, at least one and at most ``n - 1``, go to validation, so both
    sides see every class in about the same proportion as the whole set.

    Args:
        files_by_class: ``{class: paths}``; the label of a class is its
            position in the mapping.
        val_fraction: Share of each class held out for validation, in (0, 1).
        seed: Same seed, same split.

    Returns:
        ``(train, val)``: lists of ``(path, label)``.

    Raises:
        DatasetError: A class has fewer than two images, or the fraction is
            outside (0, 1).
    """
    if not 0.0 < float(val_fraction) < 1.0:
        raise DatasetError(
            f"The validation fraction must be between 0 and 1, not {val_fraction}."
        )

    train: list[tuple[Path, int]] = []
    val: list[tuple[Path, int]] = []
    for label, (name, paths) in enumerate(files_by_class.items()):
        if len(paths) < 2:
            raise DatasetError(
                f"The class '{name}' has {len(paths)} image(s); a split needs at "
                "least two per class."
            )
        shuffled = _shuffled(paths, seed, name)
        n_val = min(max(1, round(len(shuffled) * val_fraction)), len(shuffled) - 1)
        val.extend((path, label) for path in shuffled[:n_val])
        train.extend((path, label) for path in shuffled[n_val:])
    return train, val


def _item_paths(items: Iterable[Any]) -> list[Path]:
    """Paths from ``(path, label)`` pairs or from plain paths."""
    paths = []
    for item in items:
        if isinstance(item, (tuple, list)):
            item = item[0]
        paths.append(Path(item))
    return paths


def _file_digest(path: Path) -> str | None:
    """SHA-256 of the file's bytes, or ``None`` when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def _header_size(path: Path) -> tuple[int, int] | None:
    """The picture's two side lengths, smaller first, from the header alone.

    Sorting the sides makes the key the same whether or not an EXIF
    orientation tag turns the picture by 90 degrees. ``None`` when Pillow
    cannot read the header (DICOM files, damaged files).
    """
    from PIL import Image

    try:
        with Image.open(path) as picture:
            width, height = picture.size
    except Exception:  # no readable header: compare this file by pixels
        return None
    return (min(width, height), max(width, height))


def _pixel_digest(path: Path) -> str | None:
    """SHA-256 of the decoded pixels with their shape and dtype, or ``None``."""
    try:
        image = np.ascontiguousarray(_read_image(path))
    except Exception as error:  # an unreadable file has no pixels to compare
        logger.info("Not comparing %s for duplicates: %s", path, error)
        return None
    digest = hashlib.sha256(f"{image.shape}|{image.dtype.str}|".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def find_duplicates(
    train_items: Iterable[Any], val_items: Iterable[Any]
) -> list[tuple[Path, Path]]:
    """Find validation images that also appear in the training images.

    A picture that sits in both splits is scored by the network on a copy
    it learned from, so validation accuracy looks better than it is. Two
    files count as the same picture when their decoded pixels are identical:
    a copied file, or the same picture saved again in a lossless format
    (a PNG re-saved with other compression, a BMP or TIFF of a JPEG's
    pixels).

    Args:
        train_items: Training files, as ``(path, label)`` pairs (the output
            of :func:`stratified_split`) or as paths.
        val_items: Validation files, in the same form.

    Returns:
        ``(train path, validation path)`` pairs, sorted; empty when the
        splits share no picture.

    Notes:
        Files with identical bytes are matched from their SHA-256 alone.
        The other files are decoded with the shared image reader, but only
        those whose size (from the header) occurs on both sides, so sets of
        differently sized photos cost little; sets of equally sized X-rays
        are decoded in full, a few milliseconds per megapixel. A picture
        saved again with lossy compression (a JPEG re-encoded, resized or
        cropped) has different pixels and is not found: that needs a
        perceptual hash. Unreadable files are left out.

    Example:
        >>> find_duplicates([], [])
        []
    """
    train_paths = list(dict.fromkeys(_item_paths(train_items)))
    val_paths = list(dict.fromkeys(_item_paths(val_items)))
    if not train_paths or not val_paths:
        return []
    every_path = list(dict.fromkeys(train_paths + val_paths))
    workers = max(1, min(8, os.cpu_count() or 1))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        byte_digests = dict(
            zip(every_path, pool.map(_file_digest, every_path), strict=True)
        )
        sizes = dict(zip(every_path, pool.map(_header_size, every_path), strict=True))

        train_sizes = {sizes[path] for path in train_paths}
        val_sizes = {sizes[path] for path in val_paths}

        def comparable(path: Path, other_sizes: set) -> bool:
            size = sizes[path]
            return size is None or None in other_sizes or size in other_sizes

        to_decode = {path for path in train_paths if comparable(path, val_sizes)}
        to_decode |= {path for path in val_paths if comparable(path, train_sizes)}

        # Byte-identical files decode to the same pixels: decode one of each.
        representatives: dict[str, Path] = {}
        for path in every_path:
            digest = byte_digests[path]
            if path in to_decode and digest is not None:
                representatives.setdefault(digest, path)
        pixel_digests = dict(
            zip(
                representatives,
                pool.map(_pixel_digest, representatives.values()),
                strict=True,
            )
        )

    def keys(path: Path) -> set[str]:
        digest = byte_digests[path]
        if digest is None:
            return set()
        found = {"bytes:" + digest}
        if pixel_digests.get(digest) is not None:
            found.add("pixels:" + pixel_digests[digest])
        return found

    train_by_key: dict[str, list[Path]] = {}
    for path in train_paths:
        for key in keys(path):
            train_by_key.setdefault(key, []).append(path)

    pairs = set()
    for val_path in val_paths:
        for key in keys(val_path):
            for train_path in train_by_key.get(key, []):
                pairs.add((train_path, val_path))
    return sorted(pairs, key=lambda pair: (str(pair[0]), str(pair[1])))


def detect_channels(paths: Sequence[Path], sample: int = 16) -> int:
    """Guess whether a set is grayscale (1 channel) or colour (3 channels).

    Up to ``sample`` images spread evenly over ``paths`` are decoded. When all
    readable ones are 2-D (as X-rays are), the set is grayscale.

    Args:
        paths: Image files, for example all training files.
        sample: How many to look at.

    Returns:
        1 or 3.

    Raises:
        DatasetError: None of the sampled files could be read.
    """
    paths = list(paths)
    if not paths:
        raise DatasetError("There are no images to look at.")
    count = min(len(paths), max(1, int(sample)))
    picks = np.unique(np.linspace(0, len(paths) - 1, count).round().astype(int))

    ndims = []
    for position in picks:
        try:
            ndims.append(np.asarray(_read_image(paths[position])).ndim)
        except Exception as error:  # a bad file only makes the sample smaller
            logger.info(
                "Skipping %s while detecting channels: %s", paths[position], error
            )
    if not ndims:
        raise DatasetError("None of the sampled images could be read.")
    return 1 if all(ndim == 2 for ndim in ndims) else 3


@dataclass
class LoadedImages:
    """Images decoded into one array, ready for a network.

    Attributes:
        x: float32 ``(N, size, size, channels)``; values in [0, 1] unless a
            preprocessing pipeline produced other values.
        y: int32 ``(N,)`` class labels.
        skipped: ``(path, reason)`` for files that could not be read.
    """

    x: np.ndarray
    y: np.ndarray
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _to_unit_float(image: np.ndarray) -> np.ndarray:
    """Scale pixel values to float32 in [0, 1] according to the dtype.

    Unsigned integers are divided by their largest value (255, 65535), so the
    real bit depth is kept. Booleans become 0 and 1. Signed integers and floats
    outside [0, 1] are stretched from their own minimum to maximum.
    """
    if image.dtype == np.bool_:
        return image.astype(np.float32)
    if np.issubdtype(image.dtype, np.unsignedinteger):
        return image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)

    values = image.astype(np.float32)
    low, high = float(values.min()), float(values.max())
    if np.issubdtype(image.dtype, np.floating) and low >= 0.0 and high <= 1.0:
        return values
    if high <= low:
        return np.zeros_like(values)
    return (values - low) / np.float32(high - low)


def _fit_channels_and_size(
    values: np.ndarray, image_size: int, channels: int
) -> np.ndarray:
    """Convert float32 values to ``channels`` and area-resize them to a square."""
    import cv2

    if values.ndim == 3 and values.shape[-1] == 1:
        values = values[..., 0]
    if values.ndim not in (2, 3) or (values.ndim == 3 and values.shape[-1] != 3):
        raise ValueError(
            f"the picture has shape {values.shape}, not (H, W), (H, W, 1) or (H, W, 3)"
        )
    if channels == 1 and values.ndim == 3:
        values = values @ _LUMA_WEIGHTS

    resized = cv2.resize(
        values, (image_size, image_size), interpolation=cv2.INTER_AREA
    ).astype(np.float32, copy=False)
    if resized.ndim == 2:
        resized = resized[..., np.newaxis]
    if channels == 3 and resized.shape[-1] == 1:
        resized = np.repeat(resized, 3, axis=-1)
    return resized


def _check_image_size(image_size: Any) -> int:
    """Return the side length as a positive int, or raise naming the value."""
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)):
        raise ValueError(
            f"image_size must be a whole number of pixels. Received: "
            f"image_size={image_size!r}"
        )
    if image_size < 1:
        raise ValueError(
            f"image_size must be at least 1. Received: image_size={image_size}"
        )
    return int(image_size)


def prepare_image(
    image: np.ndarray,
    image_size: int,
    channels: int,
    pipeline: dict[str, Any] | None = None,
) -> np.ndarray:
    """Turn one decoded picture into the square array a network is fed.

    Without a pipeline the pixel values are scaled to [0, 1] by their type
    (divided by 255 for 8-bit, 65535 for 16-bit pictures, so the real bit
    depth is kept). With a pipeline, its steps run first on the full-size
    picture, exactly as the preprocessing preview shows them, and the values
    they produce are kept as they are: a pipeline without a normalise step
    feeds raw 0..255 values to the network.

    Then the picture gets the wanted number of channels (colour to gray by
    BT.601 luminance ``0.299 R + 0.587 G + 0.114 B``, gray to colour by
    repeating the channel) and is stretched to ``image_size`` square by area
    averaging (``cv2.INTER_AREA``), which blends every source pixel under a
    target pixel and so avoids the moire of nearest or bilinear shrinking.

    Args:
        image: A decoded picture, ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``,
            as :func:`imgproc.io.load_image` returns it.
        image_size: Side of the square output in pixels.
        channels: 1 (grayscale) or 3 (colour).
        pipeline: An :mod:`imgproc` pipeline (``make_pipeline`` format) or
            ``None``.

    Returns:
        float32 ``(image_size, image_size, channels)``. A mask (boolean
        result) becomes 0.0 and 1.0.

    Raises:
        ValueError: ``channels`` is not 1 or 3, ``image_size`` is not a
            positive whole number, or the picture has an unsupported shape.
        imgproc.PipelineError: The pipeline is invalid or one of its steps
            cannot work on this picture; the message names the step.

    Notes:
        Without a pipeline the result is clipped to [0, 1] (area averaging
        never leaves that range by more than rounding). With a pipeline
        nothing is clipped. The picture is stretched, not cropped; add a
        ``center_crop`` step to the pipeline to keep the aspect ratio.

    Example:
        >>> import numpy as np
        >>> prepare_image(np.full((8, 6), 255, np.uint8), 4, 1).shape
        (4, 4, 1)
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels}")
    image_size = _check_image_size(image_size)
    image = np.asarray(image)

    if pipeline is None:
        values = _to_unit_float(image)
        return np.clip(_fit_channels_and_size(values, image_size, channels), 0, 1)

    from imgproc.pipeline import apply_pipeline

    result = np.asarray(apply_pipeline(image, pipeline))
    values = result.astype(np.float32)
    return _fit_channels_and_size(values, image_size, channels)


def _failure_sentence(path: Path, error: Exception) -> str:
    """One sentence that says why ``path`` could not be used."""
    from imgproc.io import ImageLoadError

    reason = str(error) or type(error).__name__
    if not reason.endswith("."):
        reason += "."
    if isinstance(error, ImageLoadError):
        return reason
    if not type(error).__module__.startswith("imgproc"):
        logger.warning("Unexpected error preparing %s", path, exc_info=True)
    return f"{path.name} could not be prepared: {reason}"


def _load_one(
    path: Path,
    image_size: int,
    channels: int,
    pipeline: dict[str, Any] | None = None,
) -> tuple[np.ndarray | None, str | None]:
    """Decode and prepare one file; return ``(array, None)`` or ``(None, why)``."""
    try:
        image = _read_image(path)
        return prepare_image(image, image_size, channels, pipeline), None
    except Exception as error:  # one bad file must not stop the whole set
        return None, _failure_sentence(path, error)


def load_images(
    items: Sequence[tuple[Path, int]],
    image_size: int,
    channels: int,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    pipeline: dict[str, Any] | None = None,
) -> LoadedImages:
    """Decode, convert and resize images into one float32 array.

    Each file goes through :func:`prepare_image`, so the array holds what a
    network sees.

    Args:
        items: ``(path, label)`` pairs, e.g. from :func:`stratified_split`.
        image_size: Side of the square the images are resized to.
        channels: 1 (grayscale, luminance of colour images) or 3 (colour,
            grayscale repeated).
        workers: Decoding threads; defaults to the CPU count, at most 8.
        progress: Called as ``progress(done, total)`` after each file.
        pipeline: Preprocessing steps run on every full-size picture first
            (see :func:`prepare_image`); ``None`` scales values to [0, 1].

    Returns:
        A :class:`LoadedImages`; unreadable files are listed in ``skipped``
        with a sentence, not raised.

    Notes:
        The array takes ``N * image_size**2 * channels * 4`` bytes; 1000
        colour images at 224 pixels need about 600 MB.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels}")
    image_size = _check_image_size(image_size)
    if pipeline is not None:
        from imgproc.pipeline import validate_pipeline

        pipeline = validate_pipeline(pipeline)
    if workers is None:
        workers = min(8, os.cpu_count() or 1)

    items = [(Path(path), int(label)) for path, label in items]
    images, labels, skipped = [], [], []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(
            lambda item: _load_one(item[0], image_size, channels, pipeline), items
        )
        for done, ((path, label), (array, reason)) in enumerate(
            zip(items, results, strict=True), start=1
        ):
            if array is None:
                logger.info("Skipped %s: %s", path, reason)
                skipped.append((path, reason))
            else:
                images.append(array)
                labels.append(label)
            if progress is not None:
                progress(done, len(items))

    if images:
        x = np.stack(images).astype(np.float32, copy=False)
    else:
        x = np.zeros((0, image_size, image_size, channels), dtype=np.float32)
    return LoadedImages(x=x, y=np.asarray(labels, dtype=np.int32), skipped=skipped)
