"""Run training jobs in background threads, queue them, and report progress.

A worker thread loads the images through the ``tf.data`` pipeline, builds a
ResNet and fits it; the page only reads :meth:`TrainingRun.snapshot` or the
run folder. TensorFlow is imported inside the thread, so importing this
module stays fast. A process-wide registry lets a reloaded browser tab find
its run, keeps at most :func:`max_concurrent_runs` runs training at once and
lines the others up in a queue.
"""

import functools
import gc
import json
import logging
import math
import os
import threading
import time
import uuid
import weakref
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from training import records
from training.data import (
    REPO_ROOT,
    DatasetError,
    detect_channels,
    find_duplicates,
    scan_dataset,
    select_files,
    stratified_split,
)
from training.models import SUPPORTED_DEPTHS

__all__ = [
    "MAX_SEED",
    "ConfigError",
    "RunBusyError",
    "RunConfig",
    "TrainingRun",
    "active_run",
    "active_runs",
    "find_run",
    "learning_rate_at",
    "default_runs_root",
    "get_run",
    "latest_run",
    "max_concurrent_runs",
    "queue_position",
    "resume_run",
    "start_run",
    "warm_up",
]

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "halve", "cosine")
CLASS_WEIGHTS = ("none", "balanced")
LOSSES = ("crossentropy", "cost_matrix")
MAX_SEED = 2**31 - 1
"""Largest seed; NumPy's and TensorFlow's seeding both accept it."""
STRATEGIES = ("auto", "multiworker")
METRIC_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "val_auc")
OVERFIT_PER_CLASS = 8

_ACTIVE_STATUSES = records.ACTIVE_STATUSES
_MAX_KEPT_RUNS = 40
_MAX_QUEUED = 20


class ConfigError(ValueError):
    """A training setting is out of range, worded as one sentence."""


class RunBusyError(RuntimeError):
    """The queue of this server is full."""


def default_runs_root() -> Path:
    """The folder that receives one sub-folder per run.

    Returns:
        ``$CNN_LAB_RUNS`` when set, otherwise ``runs/`` in the repository.
    """
    configured = os.environ.get("CNN_LAB_RUNS")
    return Path(configured).expanduser() if configured else REPO_ROOT / "runs"


def max_concurrent_runs() -> int:
    """How many runs may train at once in this process.

    Returns:
        ``$CNN_LAB_MAX_RUNS`` when it is a whole number of at least 1,
        otherwise 1. Further runs wait in a queue.
    """
    try:
        return max(1, int(os.environ.get("CNN_LAB_MAX_RUNS", "1")))
    except ValueError:
        return 1


_WARM_UP_LOCK = threading.Lock()
_warm_up_thread: threading.Thread | None = None


def warm_up() -> None:
    """Import TensorFlow and Keras in a background thread, once per process.

    The import takes a few seconds. A page that is about to offer training
    calls this when it opens, so that by the time the learner presses Start
    the libraries are loaded and the first loss point arrives sooner. It
    returns at once and never raises.
    """
    global _warm_up_thread

    def load():
        try:
            import keras  # noqa: F401
            import tensorflow  # noqa: F401
        except Exception:  # the run itself will report the problem
            logger.warning("Loading TensorFlow in advance failed", exc_info=True)

    with _WARM_UP_LOCK:
        if _warm_up_thread is None:
            _warm_up_thread = threading.Thread(
                target=load, name="tensorflow-warm-up", daemon=True
            )
            _warm_up_thread.start()


def _new_run_id() -> str:
    """A sortable id: local date and time plus six random hex digits."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def _is_int(value) -> bool:
    """Whether ``value`` is a whole number (and not a bool)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_number(value) -> bool:
    """Whether ``value`` is a finite int or float (and not a bool)."""
    return (
        isinstance(value, int | float | np.integer | np.floating)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _check_choice(name: str, value, choices) -> str:
    """``value`` lower-cased if it is one of ``choices``; else a ConfigError."""
    text = str(value).lower()
    if text not in choices:
        raise ConfigError(
            f"The {name} must be one of {', '.join(choices)}, not {value!r}."
        )
    return text


@dataclass
class RunConfig:
    """Everything that defines one training run; saved as ``config.json``.

    Attributes:
        data_dir: Folder with one sub-folder per class.
        classes: Class folders to use, in label order; ``None`` for all.
        image_size: Images are resized to this many pixels square (16-512).
        channels: 1 (grayscale) or 3 (colour); ``None`` follows the data.
        per_class: At most this many images per class; ``None`` for all.
        percent: Keep this share (0-100] of every class; ``None`` for all.
        class_ratio: Relative class sizes, one number per class, to build a
            deliberately imbalanced subset (``[1, 9]``); ``None`` keeps the
            folder's own balance.
        epochs: Passes over the training images.
        batch_size: Images per gradient step.
        learning_rate: Step size of the optimiser at the first epoch.
        optimizer: ``"adam"`` or ``"sgd"`` (with ``momentum``).
        momentum: Momentum of SGD (ignored by Adam).
        schedule: ``"constant"``, ``"halve"`` (the rate halves after every
            epoch) or ``"cosine"`` (falls along half a cosine to 0).
        depth: ResNet depth, 18, 34 or 50.
        preact: Pre-activation blocks (ResNet v2) when true, the original
            blocks (v1) when false.
        weight_decay: L2 factor on every kernel; 0 switches it off.
        class_weight: ``"none"``, or ``"balanced"`` to weigh each class
            inversely to its share of the training images.
        loss: ``"crossentropy"``, or ``"cost_matrix"`` to multiply each
            image's loss by the cost of the mistake made.
        cost_matrix: Square list of costs, rows true class, columns
            predicted; ``None`` with the cost-matrix loss makes mistakes on a
            class dearer the rarer it is.
        pipeline: An ``imgproc`` pipeline run on every image at full size
            before resizing (the preview's pipeline); ``None`` divides by the
            largest value of the image type, giving values from 0 to 1.
        augmentation: Augmentation ranges of ``imgproc.augment`` for the
            training images only; ``shift_x`` and ``shift_y`` are fractions of
            the image side. ``None`` for no augmentation.
        val_fraction: Share of each class held out for validation.
        seed: Fixes the pick of images, the split, the shuffling, the
            augmentation draws and the initial weights.
        overfit_check: Train on a tiny subset without augmentation or weight
            decay; a healthy network and pipeline reach 100% training
            accuracy.
        strategy: ``"auto"`` (all local GPUs, mirrored when there are several)
            or ``"multiworker"`` (several machines, described by
            ``TF_CONFIG``).
        name: A label for lists and overlaid charts; ``None`` for none.
        group: Runs with the same group (a learning-rate sweep) are shown
            together.
        run_dir: Output folder; ``None`` makes a new one under
            :func:`default_runs_root` when the run is created.
    """

    data_dir: str
    classes: list[str] | None = None
    image_size: int = 64
    channels: int | None = None
    per_class: int | None = None
    percent: float | None = None
    class_ratio: list[float] | None = None
    epochs: int = 5
    batch_size: int = 16
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    momentum: float = 0.9
    schedule: str = "constant"
    depth: int = 18
    preact: bool = True
    weight_decay: float = 1e-4
    class_weight: str = "none"
    loss: str = "crossentropy"
    cost_matrix: list[list[float]] | None = None
    pipeline: dict | None = None
    augmentation: dict | None = None
    val_fraction: float = 0.2
    seed: int = 0
    overfit_check: bool = False
    strategy: str = "auto"
    name: str | None = None
    group: str | None = None
    run_dir: str | None = None

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Check every setting and normalise types.

        Raises:
            ConfigError: With a sentence naming the setting and the value.
        """
        self.data_dir = str(self.data_dir)
        if not self.data_dir.strip():
            raise ConfigError("Choose a data folder.")
        if self.classes is not None:
            if isinstance(self.classes, str):
                self.classes = [c.strip() for c in self.classes.split(",")]
            self.classes = [str(name) for name in self.classes if str(name)]
            if len(set(self.classes)) < 2:
                raise ConfigError("Choose at least two different classes.")

        if not _is_int(self.image_size) or not 16 <= self.image_size <= 512:
            raise ConfigError(
                f"The image size must be a whole number from 16 to 512, "
                f"not {self.image_size!r}."
            )
        if self.channels is not None and self.channels not in (1, 3):
            raise ConfigError(
                f"The number of channels must be 1 or 3, not {self.channels!r}."
            )
        if self.per_class is not None and (
            not _is_int(self.per_class) or self.per_class < 2
        ):
            raise ConfigError(
                f"Images per class must be a whole number of at least 2, "
                f"not {self.per_class!r}."
            )
        if self.percent is not None and (
            not _is_number(self.percent) or not 0 < self.percent <= 100
        ):
            raise ConfigError(
                f"The percentage of images must be above 0 and at most 100, "
                f"not {self.percent!r}."
            )
        if self.per_class is not None and self.percent is not None:
            raise ConfigError(
                "Choose images per class or a percentage of each class, not both."
            )
        self._validate_class_ratio()
        if not _is_int(self.epochs) or not 1 <= self.epochs <= 1000:
            raise ConfigError(
                f"Epochs must be a whole number from 1 to 1000, not {self.epochs!r}."
            )
        if not _is_int(self.batch_size) or not 1 <= self.batch_size <= 1024:
            raise ConfigError(
                f"The batch size must be a whole number from 1 to 1024, "
                f"not {self.batch_size!r}."
            )
        if not _is_number(self.learning_rate) or not 0 < self.learning_rate <= 100:
            raise ConfigError(
                f"The learning rate must be a number above 0 (and at most 100), "
                f"not {self.learning_rate!r}."
            )
        self.optimizer = _check_choice("optimiser", self.optimizer, OPTIMIZERS)
        if not _is_number(self.momentum) or not 0 <= self.momentum < 1:
            raise ConfigError(
                f"The momentum must be at least 0 and below 1, not {self.momentum!r}."
            )
        self.schedule = _check_choice("schedule", self.schedule, SCHEDULES)
        if self.depth not in SUPPORTED_DEPTHS or isinstance(self.depth, bool):
            raise ConfigError(
                f"The ResNet depth must be one of "
                f"{', '.join(map(str, SUPPORTED_DEPTHS))}, not {self.depth!r}."
            )
        if not isinstance(self.preact, bool):
            raise ConfigError(f"preact must be true or false, not {self.preact!r}.")
        if not _is_number(self.weight_decay) or not 0 <= self.weight_decay <= 1:
            raise ConfigError(
                f"The weight decay must be from 0 to 1, not {self.weight_decay!r}."
            )
        self.class_weight = _check_choice(
            "class weighting", self.class_weight, CLASS_WEIGHTS
        )
        self.loss = _check_choice("loss", self.loss, LOSSES)
        self._validate_cost_matrix()
        if self.cost_matrix is not None and self.loss != "cost_matrix":
            raise ConfigError(
                "A cost matrix is only used by the cost-matrix loss; choose that "
                "loss or leave the matrix out."
            )
        self._validate_pipelines()
        if not _is_number(self.val_fraction) or not 0.0 < self.val_fraction < 1.0:
            raise ConfigError(
                f"The validation fraction must be between 0 and 1, "
                f"not {self.val_fraction!r}."
            )
        if not _is_int(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(
                f"The seed must be a whole number from 0 to {MAX_SEED}, not "
                f"{self.seed!r}."
            )
        if not isinstance(self.overfit_check, bool):
            raise ConfigError(
                f"overfit_check must be true or false, not {self.overfit_check!r}."
            )
        self.strategy = _check_choice("strategy", self.strategy, STRATEGIES)
        for label in ("name", "group", "run_dir"):
            value = getattr(self, label)
            if value is not None:
                setattr(self, label, str(value))

        self.image_size = int(self.image_size)
        self.epochs = int(self.epochs)
        self.batch_size = int(self.batch_size)
        self.learning_rate = float(self.learning_rate)
        self.momentum = float(self.momentum)
        self.weight_decay = float(self.weight_decay)
        self.val_fraction = float(self.val_fraction)
        self.seed = int(self.seed)
        self.depth = int(self.depth)
        if self.per_class is not None:
            self.per_class = int(self.per_class)
        if self.percent is not None:
            self.percent = float(self.percent)
        if self.channels is not None:
            self.channels = int(self.channels)

    def _validate_class_ratio(self) -> None:
        if self.class_ratio is None:
            return
        if isinstance(self.class_ratio, str):
            try:
                self.class_ratio = [float(part) for part in self.class_ratio.split(":")]
            except ValueError:
                raise ConfigError(
                    f"The class ratio must be numbers like 1:9, not "
                    f"{self.class_ratio!r}."
                ) from None
        ratio = list(self.class_ratio)
        if len(ratio) < 2 or not all(_is_number(v) and v > 0 for v in ratio):
            raise ConfigError(
                f"The class ratio needs a number above 0 for every class, not "
                f"{self.class_ratio}."
            )
        if self.classes is not None and len(ratio) != len(self.classes):
            raise ConfigError(
                f"The class ratio has {len(ratio)} numbers for "
                f"{len(self.classes)} classes."
            )
        self.class_ratio = [float(v) for v in ratio]

    def _validate_cost_matrix(self) -> None:
        if self.cost_matrix is None:
            return
        rows = self.cost_matrix
        if (
            not isinstance(rows, list | tuple)
            or len(rows) < 2
            or not all(isinstance(row, list | tuple) for row in rows)
            or any(len(row) != len(rows) for row in rows)
            or not all(_is_number(v) and v >= 0 for row in rows for v in row)
        ):
            raise ConfigError(
                "The cost matrix must be square, one row and one column per class, "
                f"with numbers of at least 0; got {rows!r}."
            )
        if self.classes is not None and len(rows) != len(self.classes):
            raise ConfigError(
                f"The cost matrix has {len(rows)} rows for {len(self.classes)} classes."
            )
        self.cost_matrix = [[float(v) for v in row] for row in rows]
        if not any(any(row) for row in self.cost_matrix):
            raise ConfigError(
                "A cost matrix of zeros makes every mistake free, so the network "
                "would learn nothing; give mistakes a cost above 0."
            )

    def _validate_pipelines(self) -> None:
        from imgproc import PipelineError, validate_pipeline
        from imgproc.augment import sample_augmentation

        if self.pipeline is not None:
            try:
                self.pipeline = validate_pipeline(self.pipeline)
            except PipelineError as error:
                raise ConfigError(f"The preprocessing pipeline: {error}") from None
        if self.augmentation is not None:
            if not isinstance(self.augmentation, dict):
                raise ConfigError("The augmentation settings must be a JSON object.")
            ranges = dict(self.augmentation)
            for shift in ("shift_x", "shift_y"):
                value = ranges.get(shift)
                if value is not None and (not _is_number(value) or not 0 <= value <= 1):
                    raise ConfigError(
                        f"'{shift}' is a fraction of the image side, from 0 to 1, "
                        f"not {value!r}."
                    )
            try:
                sample_augmentation(ranges, np.random.default_rng(0))
            except ValueError as error:
                raise ConfigError(f"The augmentation: {error}") from None
            self.augmentation = ranges

    def to_dict(self) -> dict:
        """A JSON-ready copy of the settings."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        """Rebuild a config from :meth:`to_dict` output; unknown keys are ignored.

        Raises:
            ConfigError: A setting is missing or out of range.
        """
        if not isinstance(data, dict):
            raise ConfigError("The settings are not a JSON object.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            logger.warning("Ignoring unknown run settings: %s", ", ".join(unknown))
        if "data_dir" not in data:
            raise ConfigError("The settings do not name a data folder.")
        return cls(**{key: value for key, value in data.items() if key in known})

    def check_classes(self, classes: list[str]) -> None:
        """Check the settings that need one entry per class against the data.

        Raises:
            ConfigError: The class ratio or the cost matrix has a different
                number of entries than there are classes.
        """
        named = f"{len(classes)} classes ({', '.join(classes)})"
        if self.class_ratio is not None and len(self.class_ratio) != len(classes):
            raise ConfigError(
                f"The class ratio has {len(self.class_ratio)} numbers for {named}."
            )
        if self.cost_matrix is not None and len(self.cost_matrix) != len(classes):
            raise ConfigError(
                f"The cost matrix has {len(self.cost_matrix)} rows for {named}."
            )

    def describe(self) -> str:
        """One line naming the model, the optimiser and the schedule."""
        version = "v2" if self.preact else "v1"
        parts = [
            f"ResNet-{self.depth} {version}",
            f"{self.optimizer} lr {self.learning_rate:g}",
        ]
        if self.schedule != "constant":
            parts.append(f"{self.schedule} schedule")
        if self.class_weight != "none":
            parts.append(f"{self.class_weight} class weights")
        if self.loss == "cost_matrix":
            parts.append("cost-matrix loss")
        if self.augmentation:
            parts.append("augmented")
        if self.overfit_check:
            parts.append("overfit check")
        return ", ".join(parts)


def learning_rate_at(config: RunConfig, epoch: int) -> float:
    """The learning rate of a 0-based ``epoch`` under the run's schedule.

    ``halve`` divides the rate by two after every epoch; ``cosine`` follows
    ``lr * (1 + cos(pi * epoch / epochs)) / 2``, from the full rate at the
    first epoch towards 0 at the end.
    """
    if config.schedule == "halve":
        return config.learning_rate * 0.5**epoch
    if config.schedule == "cosine":
        return (
            config.learning_rate * 0.5 * (1 + math.cos(math.pi * epoch / config.epochs))
        )
    return config.learning_rate


def _finite_or_none(value) -> float | None:
    """``value`` as a float, or ``None`` when it is missing, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _val_auc(labels: np.ndarray, probabilities: np.ndarray) -> float | None:
    """Area under the ROC curve on the validation images, or ``None``.

    Two classes: the probability of class 1 ranks the images. More classes:
    the mean of the one-vs-rest AUCs. ``None`` when validation holds a single
    class (the curve is undefined) or the scores are not finite.
    """
    from sklearn.metrics import roc_auc_score

    if len(np.unique(labels)) < 2 or not np.all(np.isfinite(probabilities)):
        return None
    scores = probabilities.astype(np.float64)
    try:
        if scores.shape[1] == 2:
            return float(roc_auc_score(labels, scores[:, 1]))
        scores /= scores.sum(axis=1, keepdims=True)
        return float(
            roc_auc_score(
                labels,
                scores,
                multi_class="ovr",
                average="macro",
                labels=np.arange(scores.shape[1]),
            )
        )
    except ValueError as error:
        logger.info("val_auc is undefined: %s", error)
        return None


def _failure_sentence(error: BaseException) -> str:
    """One line for the user about an unexpected error inside the thread."""
    if "ResourceExhausted" in type(error).__name__ or isinstance(error, MemoryError):
        return (
            "Training ran out of memory; try a smaller batch size, image size "
            "or number of images."
        )
    detail = " ".join(str(error).split())[:300]
    return f"Training failed with {type(error).__name__}: {detail or 'no details'}."


def _channels_after_pipeline(pipeline, paths) -> int:
    """1 or 3: the channels of the pictures the network will see.

    Without a pipeline the files decide (see
    :func:`training.data.detect_channels`). With one, a few files are run
    through it, because a grayscale, channel or threshold step turns colour
    photographs into one-channel pictures.
    """
    if pipeline is None:
        return detect_channels(paths)
    from imgproc import apply_pipeline
    from imgproc.io import load_image

    for path in list(paths)[:4]:
        try:
            result = apply_pipeline(load_image(path), pipeline)
        except Exception:  # the run reports unreadable files later
            continue
        return 3 if result.ndim == 3 and result.shape[-1] >= 3 else 1
    return detect_channels(paths)


def _distribution_strategy(name: str):
    """The ``tf.distribute`` strategy for this machine and setting.

    ``"multiworker"`` trains on several machines described by ``TF_CONFIG``.
    Otherwise several local GPUs are mirrored, and one GPU or the CPU use the
    default strategy.
    """
    import tensorflow as tf

    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@functools.cache
def _callback_class():
    """The Keras callback class (defined lazily so Keras loads only when used)."""
    import keras

    class _Reporter(keras.callbacks.Callback):
        """Forwards Keras' batch and epoch events to a :class:`TrainingRun`."""

        def __init__(self, run, val_dataset, val_y):
            super().__init__()
            self.run = run
            self.val_dataset = val_dataset
            self.val_y = val_y

        def on_epoch_begin(self, epoch, logs=None):
            self.run._epoch_began(epoch, self.model)

        def on_train_batch_end(self, batch, logs=None):
            keep_going = self.run._batch_ended(batch, (logs or {}).get("loss"))
            if not keep_going or self.run._stop_event.is_set():
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if self.run._stop_event.is_set() or self.run._diverged:
                self.model.stop_training = True
                return
            logs = logs if logs is not None else {}
            self.run._epoch_ended(self.model, epoch, logs, self.val_dataset, self.val_y)
            if self.run._stop_event.is_set() or self.run._diverged:
                self.model.stop_training = True

    return _Reporter


class TrainingRun:
    """One training job: data, a ResNet, ``fit``, diagnosis and evaluation.

    The worker thread writes the run folder (see :mod:`training.records`):
    ``config.json``, ``status.json``, a line per epoch in ``metrics.jsonl``
    and per batch in ``batches.jsonl``, ``diagnosis.json``, ``split.json``,
    ``evaluation.json``, the best model so far as ``best.keras``, Keras'
    ``backup/`` for resuming and TensorBoard ``logs/``. All state the page
    needs is read through :meth:`snapshot`, which is safe to call from any
    thread at any time.

    Notes:
        The loss that Keras reports includes the L2 weight penalty, so it
        stays above zero even when every image is classified confidently.
        ``keras.utils.set_random_seed`` seeds Python, NumPy and TensorFlow for
        the whole process, so two runs training at the same time share one
        random stream and are not exactly reproducible.
    """

    def __init__(self, config: RunConfig, resume: bool = False):
        config = RunConfig.from_dict(config.to_dict())
        if resume and config.run_dir is None:
            raise ConfigError("A run can only be resumed from its folder.")
        # A run's id is its folder's name, so the page, the shell and the
        # registry call it the same.
        self.run_id = Path(config.run_dir).name if config.run_dir else _new_run_id()
        if config.run_dir is None:
            config.run_dir = str(default_runs_root() / self.run_id)
        self.config = config
        self.run_dir = Path(config.run_dir)
        self.resume = resume

        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._done_event = threading.Event()
        self._enqueued = False
        self._thread: threading.Thread | None = None
        self._state = {
            "run_id": self.run_id,
            "status": "pending",
            "message": "Waiting to start.",
            "batch_losses": [],
            "epochs": [],
            "progress": 0.0,
            "seconds_left": None,
            "skipped": 0,
            "skipped_files": [],
            "n_train": 0,
            "n_val": 0,
            "train_counts": {},
            "channels": config.channels,
            "classes": list(config.classes or []),
            "run_dir": str(self.run_dir),
            "best_val_auc": None,
            "best_epoch": None,
            "learning_rate": None,
            "diagnosis": [],
            "duplicates": [],
            "input_stats": None,
            "evaluation": None,
            "class_weights": None,
            "cost_matrix": None,
            "config": config.to_dict(),
        }
        self._steps_per_epoch = 1
        self._n_train = 0
        self._global_step = 0
        self._first_step = 0
        self._epoch_start = 0.0
        self._fit_start = 0.0
        self._seen_in_epoch = 0
        self._mean_in_epoch = 0.0
        self._best_auc: float | None = None
        self._best_val_loss: float | None = None
        self._best_probabilities: np.ndarray | None = None
        self._saved_any = False
        self._monitor = "val_auc"
        self._diverged = False
        self._raw_losses: list[list[float]] = []
        self._diagnosis_inputs: dict = {}
        self._model_ref = None  # weak, so a finished run can show it let go

    # Thread-safe state -------------------------------------------------------

    def _update(self, **changes) -> None:
        """Replace state entries under the lock."""
        with self._lock:
            self._state.update(changes)

    def _set_status(self, status: str, message: str, **changes) -> None:
        """Change the status word and sentence, here and in ``status.json``."""
        with self._lock:
            self._state.update(status=status, message=message, **changes)
            record = {
                "run_id": self.run_id,
                "status": status,
                "message": message,
                "pid": os.getpid(),
                "updated": records.now_text(),
                "best_val_auc": self._state["best_val_auc"],
                "best_epoch": self._state["best_epoch"],
            }
        try:
            records.write_json(self.run_dir / "status.json", record)
        except OSError:
            logger.warning("Could not write the status of run %s", self.run_id)

    def snapshot(self) -> dict:
        """A consistent copy of the run's state for display.

        Returns:
            A dict with ``run_id``, ``status`` (queued, loading, training,
            finished, stopped or failed), ``message``, ``queue_position``
            (1 for the next run to start, ``None`` when not waiting),
            ``batch_losses`` (``[global_step, loss]`` pairs), ``epochs`` (one
            metrics dict per finished epoch), ``progress`` (0 to 1),
            ``seconds_left`` (or ``None``), ``skipped``, ``skipped_files``,
            ``n_train``, ``n_val``, ``train_counts``, ``channels``,
            ``classes``, ``run_dir``, ``best_val_auc``, ``best_epoch``,
            ``learning_rate``, ``diagnosis`` (flags), ``duplicates``,
            ``input_stats``, ``evaluation``, ``class_weights`` and
            ``cost_matrix`` (as used, or ``None``) and ``config``.
        """
        with self._lock:
            state = json.loads(json.dumps(self._state))
        state["queue_position"] = queue_position(self)
        return state

    @property
    def status(self) -> str:
        """The current status word."""
        with self._lock:
            return self._state["status"]

    # Control ----------------------------------------------------------------

    def _enqueue(self) -> None:
        """Create the run folder and mark the run as waiting for a slot.

        Raises:
            ConfigError: The run folder already holds another run's results,
                or (when resuming) holds no run.
        """
        if self._enqueued:
            raise RuntimeError(f"Run {self.run_id} was already started.")
        if self.resume:
            if not (self.run_dir / "config.json").is_file():
                raise ConfigError(f"{self.run_dir} holds no run to resume.")
            if records.read_status(self.run_dir).get("status") in _ACTIVE_STATUSES:
                raise ConfigError(f"The run in {self.run_dir} is still training.")
        elif (self.run_dir / "metrics.jsonl").exists() or (
            self.run_dir / "status.json"
        ).exists():
            raise ConfigError(
                f"The run folder {self.run_dir} already holds a run; choose a new "
                "folder."
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        records.write_json(self.run_dir / "config.json", self.config.to_dict())
        if self.resume:
            self._show_saved_progress()
        self._enqueued = True
        self._set_status("queued", "Waiting for a free training slot.")

    def _show_saved_progress(self) -> None:
        """Show the folder's finished epochs while a resumed run waits.

        When the run starts, :meth:`_restore_progress` keeps only what the
        backup covers.
        """
        saved = records.read_run(self.run_dir)
        epochs = saved["epochs"]
        with self._lock:
            self._state["epochs"] = epochs
            self._state["best_epoch"] = saved["best_epoch"]
            self._state["best_val_auc"] = saved["best_val_auc"]
            self._state["batch_losses"] = [
                list(pair) for pair in saved["batch_losses"] if pair[1] is not None
            ]
            self._state["progress"] = min(1.0, len(epochs) / self.config.epochs)

    def _launch(self) -> None:
        """Start the worker thread (the dispatcher calls this once)."""
        self._thread = threading.Thread(
            target=self._work, name=f"training-{self.run_id}", daemon=True
        )
        self._thread.start()

    def start(self) -> None:
        """Start this run now, outside the queue (used by the command line).

        Raises:
            RuntimeError: The run was already started.
            ConfigError: The run folder already holds another run's results.
        """
        self._enqueue()
        self._launch()

    def stop(self) -> None:
        """Ask the run to stop; ``fit`` returns after the batch in progress.

        A run still waiting in the queue leaves it at once.
        """
        self._stop_event.set()
        with self._lock:
            waiting = self._thread is None and self._state["status"] == "queued"
            if self._state["status"] in _ACTIVE_STATUSES and not waiting:
                self._state["message"] = "Stopping after the current batch."
        if waiting:
            self._set_status("stopped", "Removed from the queue before it started.")
            self._done_event.set()

    @property
    def stop_requested(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop_event.is_set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; return whether it has.

        The wait is on an event that the worker sets as its very last step,
        so a Ctrl-C during the wait cannot leave the thread looking finished
        while it still trains. A queued run ends when it has trained or left
        the queue.
        """
        if not self._enqueued:
            return True
        if not self._done_event.wait(timeout):
            return False
        if self._thread is not None:
            self._thread.join()
        return True

    def is_active(self) -> bool:
        """Whether the run is queued or training and has not ended yet."""
        return self._enqueued and not self._done_event.is_set()

    def is_running(self) -> bool:
        """Whether the worker thread was launched and has not ended."""
        return self._thread is not None and not self._done_event.is_set()

    # Worker -----------------------------------------------------------------

    def _work(self) -> None:
        """The thread body: never raises, always ends in a final status."""
        try:
            data = self._load_data()
            if self._stop_event.is_set():
                self._set_status("stopped", "Stopped before training.")
                return
            self._train(*data)
        except (DatasetError, ConfigError) as error:
            logger.info("Run %s could not start: %s", self.run_id, error)
            self._set_status("failed", str(error), seconds_left=None)
        except Exception as error:
            logger.exception("Run %s failed", self.run_id)
            self._set_status("failed", _failure_sentence(error), seconds_left=None)
        finally:
            gc.collect()
            self._done_event.set()
            _run_ended()

    def _load_data(self):
        """Scan, pick, split and check the images; find duplicates."""
        config = self.config
        self._set_status("loading", "Reading the data folder.")
        index = scan_dataset(config.data_dir, config.classes)
        classes = list(index.classes)
        config.check_classes(classes)
        per_class, percent = config.per_class, config.percent
        if config.overfit_check:
            per_class, percent = per_class or OVERFIT_PER_CLASS, None
        chosen = select_files(
            index,
            per_class,
            config.seed,
            percent=percent,
            class_ratio=config.class_ratio,
        )
        train_items, val_items = stratified_split(
            chosen, config.val_fraction, config.seed
        )
        channels = config.channels or _channels_after_pipeline(
            config.pipeline, [path for path, _ in train_items]
        )
        self._update(
            classes=classes,
            channels=channels,
            message="Looking for identical images in training and validation.",
        )
        duplicates = find_duplicates(train_items, val_items)
        records.write_json(
            self.run_dir / "split.json",
            {
                "classes": classes,
                "train": [[str(path), int(label)] for path, label in train_items],
                "val": [[str(path), int(label)] for path, label in val_items],
                "duplicates": [[str(a), str(b)] for a, b in duplicates],
            },
        )
        self._update(duplicates=[[str(a), str(b)] for a, b in duplicates[:50]])
        copied = len({val_path for _, val_path in duplicates})
        return classes, channels, train_items, val_items, copied

    def _datasets(self, classes, channels, train_items, val_items):
        """Build the training and validation ``tf.data`` pipelines.

        Both are decoded once here (the training set without the random
        augmentation being kept), so unreadable files are known, counted and
        reported before the first step, and the decoded images sit in the
        pipelines' caches for the epochs to come.
        """
        from training.tfdata import input_stats, make_dataset

        config = self.config
        skipped: list = []
        augmentation = None if config.overfit_check else config.augmentation
        common = {
            "image_size": config.image_size,
            "channels": channels,
            "batch_size": config.batch_size,
            "seed": config.seed,
            "pipeline": config.pipeline,
            "skipped": skipped,
        }
        total = len(train_items) + len(val_items)
        self._update(message=f"Decoding and preprocessing {total} images.")
        train = make_dataset(
            train_items, training=True, augmentation=augmentation, **common
        )
        val = make_dataset(val_items, training=False, **common)

        train_y = []
        for _, labels in train:
            train_y.append(labels.numpy())
            done = sum(len(part) for part in train_y)
            self._update(message=f"Decoding and preprocessing: {done} of {total}.")
            if self._stop_event.is_set():
                return None
        val_y = [labels.numpy() for _, labels in val]
        train_y = np.concatenate(train_y) if train_y else np.zeros(0, np.int32)
        val_y = np.concatenate(val_y) if val_y else np.zeros(0, np.int32)

        counts = np.bincount(train_y, minlength=len(classes))
        train_counts = {name: int(counts[i]) for i, name in enumerate(classes)}
        self._update(
            skipped=len(skipped),
            skipped_files=[[str(path), reason] for path, reason in skipped[:50]],
            n_train=int(len(train_y)),
            n_val=int(len(val_y)),
            train_counts=train_counts,
        )
        if np.count_nonzero(counts) < 2:
            first = f" (the first: {skipped[0][1]})" if skipped else ""
            raise DatasetError(
                f"After skipping {len(skipped)} file(s) that could not be read or "
                f"preprocessed{first}, the training images hold fewer than two "
                "classes."
            )
        if len(val_y) == 0:
            raise DatasetError("None of the validation images could be read.")
        stats = input_stats(val)
        self._update(input_stats=stats)
        import tensorflow as tf

        # Unreadable files are dropped inside the pipeline, so tf.data cannot
        # know the number of batches; now that it is counted, say it.
        steps = math.ceil(len(train_y) / config.batch_size)
        train = train.apply(tf.data.experimental.assert_cardinality(steps))
        steps = math.ceil(len(val_y) / config.batch_size)
        val = val.apply(tf.data.experimental.assert_cardinality(steps))
        return train, val, val_y, counts, stats

    def _train(self, classes, channels, train_items, val_items, n_duplicates) -> None:
        """Build, compile and fit the network, then evaluate and release it."""
        import keras

        from training.losses import CostMatrixLoss, default_cost_matrix
        from training.models import build_resnet

        config = self.config
        # Seed before the pipelines exist: tf.data's seeded shuffle also
        # depends on TensorFlow's global seed, which an earlier run in this
        # process may have set to something else.
        if len(active_runs()) <= 1:
            keras.utils.clear_session()
        keras.utils.set_random_seed(config.seed)
        prepared = self._datasets(classes, channels, train_items, val_items)
        if prepared is None:
            self._set_status("stopped", "Stopped before training.")
            return
        train, val, val_y, counts, stats = prepared
        self._diagnosis_inputs = {
            "classes": classes,
            "input_stats": stats,
            "duplicates": n_duplicates,
            "train_counts": {name: int(counts[i]) for i, name in enumerate(classes)},
        }
        self._n_train = int(counts.sum())
        self._steps_per_epoch = math.ceil(self._n_train / config.batch_size)
        self._diagnosis_inputs["steps_per_epoch"] = self._steps_per_epoch
        self._restore_progress()
        self._diagnose()

        version = "v2" if config.preact else "v1"
        self._set_status(
            "training",
            f"Building ResNet-{config.depth} {version} for {channels}-channel "
            f"{config.image_size}x{config.image_size} images.",
        )
        keras.utils.set_random_seed(config.seed)

        cost_matrix = None
        if config.loss == "cost_matrix":
            cost_matrix = config.cost_matrix or default_cost_matrix(counts.tolist())
            self._update(cost_matrix=cost_matrix)
        strategy = _distribution_strategy(config.strategy)
        with strategy.scope():
            model = build_resnet(
                (config.image_size, config.image_size, channels),
                len(classes),
                depth=config.depth,
                preact=config.preact,
                weight_decay=0.0 if config.overfit_check else config.weight_decay,
            )
            if config.optimizer == "sgd":
                optimizer = keras.optimizers.SGD(
                    config.learning_rate, momentum=config.momentum
                )
            else:
                optimizer = keras.optimizers.Adam(config.learning_rate)
            if cost_matrix is not None:
                loss = CostMatrixLoss(cost_matrix)
            else:
                loss = keras.losses.SparseCategoricalCrossentropy()
            model.compile(
                optimizer=optimizer,
                loss=loss,
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            )
            # Creating the optimiser's slots now, outside the traced training
            # step, saves seconds before the first loss point: created lazily,
            # they make TensorFlow trace the step a second time.
            optimizer.build(model.trainable_variables)
        self._model_ref = weakref.ref(model)

        class_weight = None
        if config.class_weight == "balanced":
            class_weight = {
                index: float(self._n_train / (len(classes) * count))
                for index, count in enumerate(counts)
                if count
            }
            self._update(class_weights={classes[i]: w for i, w in class_weight.items()})
        callbacks = [
            keras.callbacks.LearningRateScheduler(
                lambda epoch, _rate: learning_rate_at(config, epoch)
            ),
            _callback_class()(self, val, val_y),
            keras.callbacks.BackupAndRestore(
                str(self.run_dir / "backup"), double_checkpoint=True
            ),
            keras.callbacks.TensorBoard(
                str(self.run_dir / "logs"), write_graph=False, profile_batch=0
            ),
        ]
        try:
            if self._stop_event.is_set():
                self._set_status("stopped", "Stopped before training.")
                return
            self._update(message="Compiling the network; the first batch is slow.")
            self._fit_start = time.monotonic()
            model.fit(
                train,
                epochs=config.epochs,
                verbose=0,
                class_weight=class_weight,
                callbacks=callbacks,
                shuffle=False,  # the tf.data pipeline shuffles, with the seed
            )
            self._write_evaluation(model, val, val_y, classes)
        finally:
            del model, callbacks, train, val, optimizer
            gc.collect()
        self._finish()

    def _restore_progress(self) -> None:
        """When resuming, keep what the backup covers and drop the rest.

        Keras' ``BackupAndRestore`` saves the weights after every finished
        epoch. Metric lines and batch losses written after that save (by a
        process that was killed in the middle of the next epoch) are dropped,
        because that epoch will be trained again.
        """
        metadata = records.read_json(
            self.run_dir / "backup" / "training_metadata.json", default={}
        )
        done = metadata.get("epoch", 0) if isinstance(metadata, dict) else 0
        if not self.resume:
            return
        epochs = [e for e in records.read_metrics(self.run_dir) if e["epoch"] <= done]
        last_step = done * self._steps_per_epoch
        batches = [
            pair for pair in records.read_batches(self.run_dir) if pair[0] <= last_step
        ]
        metrics_path = self.run_dir / "metrics.jsonl"
        batches_path = self.run_dir / "batches.jsonl"
        metrics_path.unlink(missing_ok=True)
        batches_path.unlink(missing_ok=True)
        for entry in epochs:
            records.append_line(metrics_path, entry)
        for pair in batches:
            records.append_line(batches_path, pair)
        self._global_step = self._first_step = last_step
        for entry in epochs:
            if self._improved(entry):
                self._saved_any = True
                with self._lock:
                    self._state["best_epoch"] = entry["epoch"]
                    self._state["best_val_auc"] = entry["val_auc"]
        self._raw_losses = [list(pair) for pair in batches if pair[1] is not None]
        with self._lock:
            self._state["epochs"] = epochs
            self._state["batch_losses"] = [list(p) for p in self._raw_losses]
        if done:
            self._update(message=f"Resuming after epoch {done}.")

    def _write_evaluation(self, model, val, val_y, classes) -> None:
        """Write ``evaluation.json`` for the best epoch's validation predictions."""
        from training.evaluate import evaluation_report, load_for_inference

        probabilities = self._best_probabilities
        if probabilities is None and (self.run_dir / "best.keras").exists():
            best = load_for_inference(self.run_dir / "best.keras")
            probabilities = np.asarray(best.predict(val, verbose=0))
        if probabilities is None:
            return
        try:
            report = evaluation_report(val_y, probabilities, classes)
        except ValueError as error:  # e.g. NaN probabilities after divergence
            logger.info("No evaluation for run %s: %s", self.run_id, error)
            return
        report["epoch"] = self._state["best_epoch"]
        records.write_json(self.run_dir / "evaluation.json", report)
        self._update(evaluation=json.loads(json.dumps(records._finite(report))))

    def _finish(self) -> None:
        """Set the final status and sentence after ``fit`` returned."""
        with self._lock:
            epochs = list(self._state["epochs"])
            best_epoch = self._state["best_epoch"]
            best_auc = self._state["best_val_auc"]
            flags = list(self._state["diagnosis"])
        done = len(epochs)
        if best_epoch is None:
            best = "no model was saved"
        elif self._monitor == "val_auc":
            best = f"best val_auc {best_auc:.3f} at epoch {best_epoch}"
        else:
            best = (
                "val_auc is undefined because the validation images hold one "
                f"class, so best.keras is epoch {best_epoch}, with the lowest val_loss"
            )
        summary = f"{done} epoch(s); {best}."
        if self.config.overfit_check and epochs:
            summary += " " + _overfit_verdict(epochs)

        if self._diverged:
            nan_flag = next(
                (f for f in flags if f["rule"] in ("nan_loss", "exploding_loss")), None
            )
            sentence = nan_flag["sentence"] if nan_flag else "The loss became NaN."
            self._set_status(
                "failed", f"Stopped: {sentence} {summary}", seconds_left=None
            )
        elif self._stop_event.is_set():
            self._set_status("stopped", f"Stopped after {summary}", seconds_left=None)
        else:
            self._set_status(
                "finished", f"Finished {summary}", progress=1.0, seconds_left=0.0
            )

    # Called from the Keras callbacks, inside the worker thread ----------------

    def _epoch_began(self, epoch: int, model) -> None:
        """Reset the per-epoch loss bookkeeping."""
        self._epoch_start = time.monotonic()
        self._seen_in_epoch = 0
        self._mean_in_epoch = 0.0
        if self._global_step < epoch * self._steps_per_epoch:
            self._global_step = self._first_step = epoch * self._steps_per_epoch
        rate = float(np.asarray(model.optimizer.learning_rate))
        self._update(
            message=f"Training epoch {epoch + 1} of {self.config.epochs}.",
            learning_rate=rate,
        )

    def _batch_ended(self, batch: int, running_mean) -> bool:
        """Record the loss of one batch; return ``False`` when it diverged.

        Keras reports the running mean of the loss over the epoch, weighted by
        batch size; the loss of this batch alone is recovered from the change
        of that mean.
        """
        self._global_step += 1
        seen = min((batch + 1) * self.config.batch_size, self._n_train)
        batch_size = max(1, seen - self._seen_in_epoch)
        loss = None
        if running_mean is not None:
            running_mean = float(running_mean)
            loss = (
                seen * running_mean - self._seen_in_epoch * self._mean_in_epoch
            ) / batch_size
            if not math.isfinite(running_mean):
                loss = running_mean
            self._seen_in_epoch, self._mean_in_epoch = seen, running_mean

        total = self.config.epochs * self._steps_per_epoch
        steps_here = max(1, self._global_step - self._first_step)
        elapsed = time.monotonic() - self._fit_start
        seconds_left = elapsed / steps_here * max(0, total - self._global_step)
        if loss is not None:
            self._raw_losses.append([self._global_step, loss])
            records.append_line(
                self.run_dir / "batches.jsonl", [self._global_step, loss]
            )
        with self._lock:
            if _finite_or_none(loss) is not None:
                self._state["batch_losses"].append([self._global_step, loss])
            self._state["progress"] = min(1.0, self._global_step / total)
            self._state["seconds_left"] = seconds_left

        if loss is not None and not math.isfinite(loss):
            self._diverged = True
            self._diagnose()
            return False
        if self._global_step % 10 == 0:
            self._diagnose()
        return True

    def _diagnose(self) -> None:
        """Re-run the diagnosis rules; write ``diagnosis.json`` when they change."""
        from training.diagnosis import diagnose, write_diagnosis

        with self._lock:
            epochs = [dict(entry) for entry in self._state["epochs"]]
            previous = self._state["diagnosis"]
        flags = diagnose(epochs, list(self._raw_losses), **self._diagnosis_inputs)
        if flags != previous or not (self.run_dir / "diagnosis.json").exists():
            write_diagnosis(self.run_dir, flags)
            self._update(diagnosis=flags)

    def _epoch_ended(self, model, epoch: int, logs: dict, val_dataset, val_y) -> None:
        """Validate, append a metrics line, keep the best model, diagnose."""
        probabilities = np.asarray(model.predict(val_dataset, verbose=0))
        if not np.all(np.isfinite(probabilities)):
            # The weights hold NaN or infinity: nothing later can recover.
            self._diverged = True
        picked = probabilities[np.arange(len(val_y)), val_y]
        cross_entropy = float(np.mean(-np.log(np.clip(picked, 1e-7, 1.0))))
        penalty = sum(float(np.asarray(loss)) for loss in model.losses)
        val_auc = _val_auc(val_y, probabilities)
        classes = self._diagnosis_inputs["classes"]
        predicted = probabilities.argmax(axis=1)
        recall = {}
        for index, name in enumerate(classes):
            mask = val_y == index
            recall[name] = (
                float(np.mean(predicted[mask] == index)) if mask.any() else None
            )

        entry = {
            "epoch": epoch + 1,
            "loss": _finite_or_none(logs.get("loss")),
            "accuracy": _finite_or_none(logs.get("accuracy")),
            "val_loss": _finite_or_none(cross_entropy + penalty),
            "val_accuracy": float(np.mean(predicted == val_y)),
            "val_auc": val_auc,
            "val_recall": recall,
            "val_predicted": {
                name: int(np.sum(predicted == index))
                for index, name in enumerate(classes)
            },
            "val_counts": {
                name: int(np.sum(val_y == index)) for index, name in enumerate(classes)
            },
            "learning_rate": float(np.asarray(model.optimizer.learning_rate)),
            "seconds": round(time.monotonic() - self._epoch_start, 3),
        }
        for key in ("val_loss", "val_accuracy", "val_auc"):
            if entry[key] is not None:
                logs[key] = entry[key]

        improved = not self._diverged and self._improved(entry)
        if improved:
            self._save_best(model)
            self._saved_any = True
            self._best_probabilities = probabilities
        records.append_line(self.run_dir / "metrics.jsonl", entry)

        with self._lock:
            self._state["epochs"].append(entry)
            if improved:
                self._state["best_epoch"] = entry["epoch"]
                self._state["best_val_auc"] = val_auc
            if self._monitor == "val_loss" and len(np.unique(val_y)) < 2:
                self._state["message"] = (
                    "The validation images hold one class, so val_auc is "
                    "undefined; best.keras is the epoch with the lowest val_loss."
                )
        self._diagnose()
        with self._lock:
            status, message = self._state["status"], self._state["message"]
        self._set_status(status, message)

    def _improved(self, entry: dict) -> bool:
        """Whether this epoch beats the best so far.

        The highest val_auc wins. When val_auc is undefined (the validation
        images hold one class) the lowest val_loss decides, and the first
        finished epoch always counts, so ``best.keras`` exists after it.
        """
        auc, val_loss = entry["val_auc"], entry["val_loss"]
        if auc is not None:
            self._monitor = "val_auc"
            if self._best_auc is None or auc > self._best_auc:
                self._best_auc = auc
                return True
            return False
        if self._best_auc is not None:
            return False

        self._monitor = "val_loss"
        if val_loss is not None and (
            self._best_val_loss is None or val_loss < self._best_val_loss
        ):
            self._best_val_loss = val_loss
            return True
        return not self._saved_any

    def _save_best(self, model) -> None:
        """Write ``best.keras`` through a temporary file and an atomic rename."""
        target = self.run_dir / "best.keras"
        temporary = self.run_dir / f".best-{uuid.uuid4().hex[:8]}.keras"
        try:
            model.save(temporary)
            os.replace(temporary, target)
        finally:
            temporary.unlink(missing_ok=True)


def _overfit_verdict(epochs: list[dict]) -> str:
    """A sentence on whether the overfit check passed.

    The check passes when the training accuracy reached 100% in one of the
    last three epochs. One epoch alone is not enough evidence either way: with
    a dozen images and batch normalisation in training mode, the accuracy of
    a network that has learned them all still flickers between 100% and one
    image short.
    """
    recent = [e for e in epochs[-3:] if e.get("accuracy") is not None]
    perfect = [e["epoch"] for e in recent if e["accuracy"] >= 0.999]
    if perfect:
        return (
            f"Overfit check passed: the network classified every training image "
            f"correctly at epoch {perfect[-1]}, so data, labels and model are "
            "wired correctly."
        )
    best = max((e["accuracy"] for e in recent), default=None)
    shown = "undefined" if best is None else f"at most {best:.0%}"
    return (
        f"Overfit check not passed yet: training accuracy was {shown} over the "
        "last epochs. Train for more epochs; if it stays below 100%, check the "
        "labels, the preprocessing and the learning rate."
    )


# Process-wide registry and queue -----------------------------------------------

_REGISTRY_LOCK = threading.Lock()
_RUNS: dict[str, TrainingRun] = {}


def _dispatch_locked() -> None:
    """Start queued runs while slots are free; the caller holds the lock."""
    running = sum(1 for run in _RUNS.values() if run.is_running())
    for run in _RUNS.values():
        if running >= max_concurrent_runs():
            break
        if run.is_active() and run._thread is None and not run.stop_requested:
            run._launch()
            running += 1


def _run_ended() -> None:
    """A worker ended: give its slot to the next run in the queue."""
    with _REGISTRY_LOCK:
        _dispatch_locked()


def _register(run: TrainingRun) -> TrainingRun:
    """Queue a run, start it if a slot is free, and forget old finished runs."""
    with _REGISTRY_LOCK:
        waiting = [r for r in _RUNS.values() if r.is_active() and r._thread is None]
        if len(waiting) >= _MAX_QUEUED:
            raise RunBusyError(
                f"{len(waiting)} runs are already waiting on this server; stop one "
                "or try again when the queue is shorter."
            )
        run._enqueue()
        _RUNS[run.run_id] = run
        _dispatch_locked()
        while len(_RUNS) > _MAX_KEPT_RUNS:
            oldest = next(iter(_RUNS))
            if _RUNS[oldest].is_active():
                break
            del _RUNS[oldest]
    return run


def start_run(config: RunConfig) -> TrainingRun:
    """Create a run and queue it; it starts as soon as a slot is free.

    At most :func:`max_concurrent_runs` runs train at once; the others wait
    in the order they were started.

    Args:
        config: The run's settings.

    Returns:
        The queued or started :class:`TrainingRun`.

    Raises:
        RunBusyError: The queue of this server is full.
        ConfigError: The run folder already holds a run.
    """
    return _register(TrainingRun(config))


def resume_run(run_dir) -> TrainingRun:
    """Continue an interrupted run from its last finished epoch.

    The settings come from the folder's ``config.json``; Keras'
    ``BackupAndRestore`` restores the weights and optimiser state saved after
    the last finished epoch, and the remaining epochs are trained.

    Raises:
        ConfigError: The folder holds no run, or the run is still training.
        RunBusyError: The queue of this server is full.
    """
    run_dir = Path(run_dir)
    with _REGISTRY_LOCK:
        for run in _RUNS.values():
            if run.run_dir == run_dir and run.is_active():
                raise ConfigError(f"The run in {run_dir} is still training.")
    data = records.read_json(run_dir / "config.json", default=None)
    if not isinstance(data, dict):
        raise ConfigError(f"{run_dir} holds no readable config.json to resume.")
    config = RunConfig.from_dict({**data, "run_dir": str(run_dir)})
    run = TrainingRun(config, resume=True)
    with _REGISTRY_LOCK:
        _RUNS.pop(run.run_id, None)
    return _register(run)


def queue_position(run: TrainingRun) -> int | None:
    """1 for the next run to start, 2 for the one after; ``None`` if not waiting."""
    with _REGISTRY_LOCK:
        waiting = [r for r in _RUNS.values() if r.is_active() and r._thread is None]
    for position, candidate in enumerate(waiting, start=1):
        if candidate is run:
            return position
    return None


def get_run(run_id: str) -> TrainingRun | None:
    """The run with this id, if this process still remembers it."""
    with _REGISTRY_LOCK:
        return _RUNS.get(run_id)


def find_run(run_dir) -> TrainingRun | None:
    """The run of this process that writes into ``run_dir``, if any."""
    run_dir = Path(run_dir)
    with _REGISTRY_LOCK:
        for run in reversed(_RUNS.values()):
            if run.run_dir == run_dir:
                return run
    return None


def active_runs() -> list[TrainingRun]:
    """The runs that are queued, loading or training now, oldest first."""
    with _REGISTRY_LOCK:
        return [run for run in _RUNS.values() if run.is_active()]


def active_run() -> TrainingRun | None:
    """The most recently started run that is still active, if any."""
    runs = active_runs()
    return runs[-1] if runs else None


def latest_run() -> TrainingRun | None:
    """The most recently started run, active or not."""
    with _REGISTRY_LOCK:
        return next(reversed(_RUNS.values()), None)
