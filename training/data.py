"""Find, check, split and load folder-per-class image sets for training.

A data set is a folder with one sub-folder per class (``flowers/daisy``,
``flowers/rose``). Everything here works on plain paths and numpy arrays and
never imports TensorFlow, so the app can list and check data sets quickly.
"""

import logging
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

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
    "load_images",
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
    folder silently missing from the list.

    Args:
        root: A folder such as :func:`default_data_root`.

    Returns:
        ``{name: path}`` sorted by name; empty when ``root`` does not exist.
    """
    root = Path(root)
    if not root.is_dir():
        return {}
    return {
        folder.name: folder for folder in _class_folders(root) if _class_folders(folder)
    }


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


def select_files(
    index: DatasetIndex, per_class: int | None = None, seed: int = 0
) -> dict[str, list[Path]]:
    """Pick at most ``per_class`` images of each class, the same ones each time.

    Args:
        index: From :func:`scan_dataset`.
        per_class: Upper bound per class; ``None`` keeps every image.
        seed: Same seed, same pick. A larger ``per_class`` with the same seed
            keeps the smaller pick and adds to it.

    Returns:
        ``{class: sorted paths}`` in the index's class order.
    """
    if per_class is not None and int(per_class) < 1:
        raise DatasetError(f"Images per class must be at least 1, not {per_class}.")

    selected = {}
    for name in index.classes:
        paths = index.files[name]
        if per_class is not None and len(paths) > per_class:
            paths = sorted(_shuffled(paths, seed, name)[: int(per_class)])
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
        x: float32 ``(N, size, size, channels)`` with values in [0, 1].
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


def _prepare(image: np.ndarray, image_size: int, channels: int) -> np.ndarray:
    """Turn one decoded image into a (size, size, channels) float32 array.

    Colour to grayscale uses BT.601 luminance; grayscale to colour repeats the
    channel. Resizing uses area averaging (``cv2.INTER_AREA``), which blends
    all source pixels under each target pixel and so avoids the aliasing of
    nearest or bilinear sampling when shrinking. The picture is stretched to
    a square, not cropped.
    """
    import cv2

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
        raise ValueError(f"it has an unsupported shape {image.shape}")

    values = _to_unit_float(image)
    if channels == 1 and values.ndim == 3:
        values = values @ _LUMA_WEIGHTS

    resized = cv2.resize(
        values, (image_size, image_size), interpolation=cv2.INTER_AREA
    ).astype(np.float32)
    if resized.ndim == 2:
        resized = resized[..., np.newaxis]
    if channels == 3 and resized.shape[-1] == 1:
        resized = np.repeat(resized, 3, axis=-1)
    return np.clip(resized, 0.0, 1.0)


def _load_one(
    path: Path, image_size: int, channels: int
) -> tuple[np.ndarray | None, str | None]:
    """Decode and prepare one file; return ``(array, None)`` or ``(None, why)``."""
    try:
        image = _read_image(path)
        return _prepare(image, image_size, channels), None
    except Exception as error:  # one bad file must not stop the whole set
        reason = str(error) or type(error).__name__
        if not reason.endswith("."):
            reason += "."
        if not type(error).__module__.startswith("imgproc"):
            logger.warning("Unexpected error reading %s", path, exc_info=True)
            reason = f"{path.name} could not be read: {reason}"
        return None, reason


def load_images(
    items: Sequence[tuple[Path, int]],
    image_size: int,
    channels: int,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LoadedImages:
    """Decode, convert and resize images into one float32 array.

    Args:
        items: ``(path, label)`` pairs, e.g. from :func:`stratified_split`.
        image_size: Side of the square the images are resized to.
        channels: 1 (grayscale, luminance of colour images) or 3 (colour,
            grayscale repeated).
        workers: Decoding threads; defaults to the CPU count, at most 8.
        progress: Called as ``progress(done, total)`` after each file.

    Returns:
        A :class:`LoadedImages`; unreadable files are listed in ``skipped``
        with a sentence, not raised.

    Notes:
        The array takes ``N * image_size**2 * channels * 4`` bytes; 1000
        colour images at 224 pixels need about 600 MB.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels}")
    image_size = int(image_size)
    if workers is None:
        workers = min(8, os.cpu_count() or 1)

    items = [(Path(path), int(label)) for path, label in items]
    images, labels, skipped = [], [], []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = pool.map(lambda item: _load_one(item[0], image_size, channels), items)
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
