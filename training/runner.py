"""Run a training job in a background thread and report progress thread-safely.

The thread loads the images, builds a ResNet and fits it; the page only reads
:meth:`TrainingRun.snapshot`. TensorFlow is imported inside the thread, so
importing this module stays fast. A process-wide registry lets a reloaded
browser tab find a run that is still going and refuses a second parallel run.
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

from training.data import (
    REPO_ROOT,
    DatasetError,
    detect_channels,
    load_images,
    scan_dataset,
    select_files,
    stratified_split,
)
from training.models import SUPPORTED_DEPTHS

__all__ = [
    "ConfigError",
    "RunBusyError",
    "RunConfig",
    "TrainingRun",
    "active_run",
    "default_runs_root",
    "get_run",
    "latest_run",
    "start_run",
]

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "sgd")
METRIC_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "val_auc")

_ACTIVE_STATUSES = ("pending", "loading", "training")
_MAX_KEPT_RUNS = 20


class ConfigError(ValueError):
    """A training setting is out of range, worded as one sentence."""


class RunBusyError(RuntimeError):
    """Another run is still active in this process."""


def default_runs_root() -> Path:
    """The folder that receives one sub-folder per run.

    Returns:
        ``$CNN_LAB_RUNS`` when set, otherwise ``runs/`` in the repository.
    """
    configured = os.environ.get("CNN_LAB_RUNS")
    return Path(configured).expanduser() if configured else REPO_ROOT / "runs"


def _new_run_id() -> str:
    """A sortable id: local date and time plus six random hex digits."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def _is_int(value) -> bool:
    """Whether ``value`` is a whole number (and not a bool)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass
class RunConfig:
    """Everything that defines one training run; saved as ``config.json``.

    Attributes:
        data_dir: Folder with one sub-folder per class.
        classes: Class folders to use, in label order; ``None`` for all.
        image_size: Images are resized to this many pixels square (16-512).
        per_class: At most this many images per class; ``None`` for all.
        epochs: Passes over the training images.
        batch_size: Images per gradient step.
        learning_rate: Step size of the optimiser.
        optimizer: ``"adam"`` or ``"sgd"`` (SGD with momentum 0.9).
        val_fraction: Share of each class held out for validation.
        seed: Fixes the pick of images, the split, the shuffling and the
            initial weights.
        depth: ResNet depth, 18 or 34.
        run_dir: Output folder; ``None`` makes a new one under
            :func:`default_runs_root` when the run is created.
    """

    data_dir: str
    classes: list[str] | None = None
    image_size: int = 64
    per_class: int | None = None
    epochs: int = 5
    batch_size: int = 16
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    val_fraction: float = 0.2
    seed: int = 0
    depth: int = 18
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
                f"not {self.image_size}."
            )
        if self.per_class is not None and (
            not _is_int(self.per_class) or self.per_class < 2
        ):
            raise ConfigError(
                f"Images per class must be a whole number of at least 2, "
                f"not {self.per_class}."
            )
        if not _is_int(self.epochs) or self.epochs < 1:
            raise ConfigError(f"Epochs must be at least 1, not {self.epochs}.")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise ConfigError(
                f"The batch size must be at least 1, not {self.batch_size}."
            )
        if (
            isinstance(self.learning_rate, bool)
            or not isinstance(self.learning_rate, int | float)
            or not math.isfinite(self.learning_rate)
            or self.learning_rate <= 0
        ):
            raise ConfigError(
                f"The learning rate must be a number above 0, not {self.learning_rate}."
            )
        self.optimizer = str(self.optimizer).lower()
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"The optimiser must be one of {', '.join(OPTIMIZERS)}, "
                f"not {self.optimizer!r}."
            )
        if not isinstance(self.val_fraction, int | float) or not (
            0.0 < self.val_fraction < 1.0
        ):
            raise ConfigError(
                f"The validation fraction must be between 0 and 1, "
                f"not {self.val_fraction}."
            )
        if not _is_int(self.seed):
            raise ConfigError(f"The seed must be a whole number, not {self.seed}.")
        if self.depth not in SUPPORTED_DEPTHS:
            raise ConfigError(
                f"The ResNet depth must be one of "
                f"{', '.join(map(str, SUPPORTED_DEPTHS))}, not {self.depth}."
            )
        if self.run_dir is not None:
            self.run_dir = str(self.run_dir)

        self.image_size = int(self.image_size)
        self.epochs = int(self.epochs)
        self.batch_size = int(self.batch_size)
        self.learning_rate = float(self.learning_rate)
        self.val_fraction = float(self.val_fraction)
        self.seed = int(self.seed)
        if self.per_class is not None:
            self.per_class = int(self.per_class)

    def to_dict(self) -> dict:
        """A JSON-ready copy of the settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        """Rebuild a config from :meth:`to_dict` output; unknown keys are ignored.

        Raises:
            ConfigError: A setting is missing or out of range.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            logger.warning("Ignoring unknown run settings: %s", ", ".join(unknown))
        if "data_dir" not in data:
            raise ConfigError("The settings do not name a data folder.")
        return cls(**{key: value for key, value in data.items() if key in known})


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


@functools.cache
def _callback_class():
    """The Keras callback class (defined lazily so Keras loads only when used)."""
    import keras

    class _Reporter(keras.callbacks.Callback):
        """Forwards Keras' batch and epoch events to a :class:`TrainingRun`."""

        def __init__(self, run, val_x, val_y):
            super().__init__()
            self.run = run
            self.val_x = val_x
            self.val_y = val_y

        def on_epoch_begin(self, epoch, logs=None):
            self.run._epoch_began(epoch)

        def on_train_batch_end(self, batch, logs=None):
            self.run._batch_ended(batch, (logs or {}).get("loss"))
            if self.run._stop_event.is_set():
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            if self.run._stop_event.is_set():
                self.model.stop_training = True
                return
            self.run._epoch_ended(self.model, epoch, logs or {}, self.val_x, self.val_y)
            if self.run._stop_event.is_set():
                self.model.stop_training = True

    return _Reporter


class TrainingRun:
    """One training job: data loading, a ResNet, ``fit``, and its results.

    The worker thread writes ``config.json``, one JSON line per epoch to
    ``metrics.jsonl`` and the best model so far to ``best.keras`` inside the
    run folder. All state the page needs is read through :meth:`snapshot`,
    which is safe to call from any thread at any time.

    Notes:
        The loss that Keras reports includes the L2 weight penalty, so it
        stays above zero even when every image is classified confidently.
        ``keras.utils.set_random_seed`` seeds Python, NumPy and TensorFlow for
        the whole process when training starts.
    """

    def __init__(self, config: RunConfig):
        config = RunConfig.from_dict(config.to_dict())
        self.run_id = _new_run_id()
        if config.run_dir is None:
            config.run_dir = str(default_runs_root() / self.run_id)
        self.config = config
        self.run_dir = Path(config.run_dir)

        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._done_event = threading.Event()
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
            "channels": None,
            "classes": list(config.classes or []),
            "run_dir": str(self.run_dir),
            "best_val_auc": None,
            "best_epoch": None,
            "config": config.to_dict(),
        }
        self._steps_per_epoch = 1
        self._n_train = 0
        self._global_step = 0
        self._epoch_start = 0.0
        self._fit_start = 0.0
        self._seen_in_epoch = 0
        self._mean_in_epoch = 0.0
        self._best_auc: float | None = None
        self._best_val_loss: float | None = None
        self._saved_any = False
        self._monitor = "val_auc"
        self._model_ref = None  # weak, so a finished run can show it let go

    # Thread-safe state -------------------------------------------------------

    def _update(self, **changes) -> None:
        """Replace state entries under the lock."""
        with self._lock:
            self._state.update(changes)

    def snapshot(self) -> dict:
        """A consistent copy of the run's state for display.

        Returns:
            A dict with ``run_id``, ``status`` (pending, loading, training,
            finished, stopped or failed), ``message``, ``batch_losses``
            (``[global_step, loss]`` pairs), ``epochs`` (one metrics dict per
            finished epoch), ``progress`` (0 to 1), ``seconds_left`` (or
            ``None``), ``skipped``, ``skipped_files``, ``n_train``, ``n_val``,
            ``channels``, ``classes``, ``run_dir``, ``best_val_auc``,
            ``best_epoch`` and ``config``.
        """
        with self._lock:
            state = dict(self._state)
            state["batch_losses"] = [list(pair) for pair in state["batch_losses"]]
            state["epochs"] = [dict(entry) for entry in state["epochs"]]
            state["skipped_files"] = [list(pair) for pair in state["skipped_files"]]
            state["classes"] = list(state["classes"])
            state["config"] = dict(state["config"])
        return state

    @property
    def status(self) -> str:
        """The current status word."""
        with self._lock:
            return self._state["status"]

    # Control ----------------------------------------------------------------

    def start(self) -> None:
        """Launch the worker thread (once).

        Raises:
            RuntimeError: The run was already started.
            ConfigError: The run folder already holds another run's results.
        """
        if self._thread is not None:
            raise RuntimeError(f"Run {self.run_id} was already started.")
        if (self.run_dir / "metrics.jsonl").exists():
            raise ConfigError(
                f"The run folder {self.run_dir} already holds a run; choose a new "
                "folder."
            )
        self._thread = threading.Thread(
            target=self._work, name=f"training-{self.run_id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the run to stop; ``fit`` returns after the batch in progress."""
        self._stop_event.set()
        with self._lock:
            if self._state["status"] in _ACTIVE_STATUSES:
                self._state["message"] = "Stopping after the current batch."

    @property
    def stop_requested(self) -> bool:
        """Whether :meth:`stop` was called."""
        return self._stop_event.is_set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; return whether it has.

        The wait is on an event that the worker sets as its very last step,
        so a Ctrl-C during the wait cannot leave the thread looking finished
        while it still trains.
        """
        if self._thread is None:
            return True
        if not self._done_event.wait(timeout):
            return False
        self._thread.join()
        return True

    def is_active(self) -> bool:
        """Whether the run was started and has not ended yet."""
        return self._thread is not None and not self._done_event.is_set()

    # Worker -----------------------------------------------------------------

    def _work(self) -> None:
        """The thread body: never raises, always ends in a final status."""
        try:
            self._prepare_run_dir()
            data = self._load_data()
            if self._stop_event.is_set():
                self._update(status="stopped", message="Stopped before training.")
                return
            self._train(*data)
        except (DatasetError, ConfigError) as error:
            logger.info("Run %s could not start: %s", self.run_id, error)
            self._update(status="failed", message=str(error), seconds_left=None)
        except Exception as error:
            logger.exception("Run %s failed", self.run_id)
            self._update(
                status="failed", message=_failure_sentence(error), seconds_left=None
            )
        finally:
            gc.collect()
            self._done_event.set()

    def _prepare_run_dir(self) -> None:
        """Create the run folder and write ``config.json``."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config.json").write_text(
            json.dumps(self.config.to_dict(), indent=2), encoding="utf-8"
        )

    def _load_data(self):
        """Scan, pick, split and decode the images; return the arrays."""
        config = self.config
        self._update(status="loading", message="Reading the data folder.")
        index = scan_dataset(config.data_dir, config.classes)
        chosen = select_files(index, config.per_class, config.seed)
        train_items, val_items = stratified_split(
            chosen, config.val_fraction, config.seed
        )
        channels = detect_channels([path for path, _ in train_items])
        self._update(
            classes=list(index.classes),
            channels=channels,
            message=f"Loading {len(train_items) + len(val_items)} images.",
        )

        def report(done, total):
            self._update(message=f"Loading images: {done} of {total}.")

        train = load_images(train_items, config.image_size, channels, progress=report)
        val = load_images(val_items, config.image_size, channels)
        skipped = train.skipped + val.skipped
        self._update(
            skipped=len(skipped),
            skipped_files=[[str(path), reason] for path, reason in skipped[:50]],
            n_train=len(train.y),
            n_val=len(val.y),
        )
        if len(np.unique(train.y)) < 2:
            raise DatasetError(
                "After skipping unreadable files, the training images hold fewer "
                "than two classes."
            )
        if len(val.y) == 0:
            raise DatasetError("None of the validation images could be read.")
        return index.classes, channels, train, val

    def _train(self, classes, channels, train, val) -> None:
        """Build, compile and fit the network, then release it."""
        import keras
        import tensorflow as tf

        from training.models import build_resnet

        config = self.config
        self._n_train = len(train.y)
        self._steps_per_epoch = math.ceil(self._n_train / config.batch_size)
        self._update(
            status="training",
            message=(
                f"Building ResNet-{config.depth} for {channels}-channel "
                f"{config.image_size}x{config.image_size} images."
            ),
        )

        keras.utils.clear_session()
        keras.utils.set_random_seed(config.seed)
        model = build_resnet(
            (config.image_size, config.image_size, channels),
            len(classes),
            depth=config.depth,
        )
        self._model_ref = weakref.ref(model)
        if config.optimizer == "sgd":
            optimizer = keras.optimizers.SGD(config.learning_rate, momentum=0.9)
        else:
            optimizer = keras.optimizers.Adam(config.learning_rate)
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )

        dataset = (
            tf.data.Dataset.from_tensor_slices((train.x, train.y))
            .shuffle(self._n_train, seed=config.seed, reshuffle_each_iteration=True)
            .batch(config.batch_size)
            .prefetch(tf.data.AUTOTUNE)
        )
        reporter = _callback_class()(self, val.x, val.y)
        try:
            if self._stop_event.is_set():
                self._update(status="stopped", message="Stopped before training.")
                return
            self._update(message="Compiling the network; the first batch is slow.")
            self._fit_start = time.monotonic()
            model.fit(
                dataset,
                epochs=config.epochs,
                verbose=0,
                shuffle=False,
                callbacks=[reporter],
            )
        finally:
            del model, reporter, dataset, optimizer
            gc.collect()
        self._finish()

    def _finish(self) -> None:
        """Set the final status and sentence after ``fit`` returned."""
        with self._lock:
            done = len(self._state["epochs"])
            best_epoch = self._state["best_epoch"]
            best_auc = self._state["best_val_auc"]
        if best_epoch is None:
            best = "no epoch finished, so no model was saved"
        elif self._monitor == "val_auc":
            best = f"best val_auc {best_auc:.3f} at epoch {best_epoch}"
        else:
            best = (
                "val_auc is undefined because the validation images hold one "
                f"class, so best.keras is epoch {best_epoch}, with the lowest val_loss"
            )

        if self._stop_event.is_set():
            self._update(
                status="stopped",
                message=f"Stopped after {done} finished epoch(s); {best}.",
                seconds_left=None,
            )
        else:
            self._update(
                status="finished",
                message=f"Finished {done} epoch(s); {best}.",
                progress=1.0,
                seconds_left=0.0,
            )

    # Called from the Keras callback, inside the worker thread -----------------

    def _epoch_began(self, epoch: int) -> None:
        """Reset the per-epoch loss bookkeeping."""
        self._epoch_start = time.monotonic()
        self._seen_in_epoch = 0
        self._mean_in_epoch = 0.0
        self._update(message=f"Training epoch {epoch + 1} of {self.config.epochs}.")

    def _batch_ended(self, batch: int, running_mean) -> None:
        """Record the loss of one batch and update progress and time left.

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
            self._seen_in_epoch, self._mean_in_epoch = seen, running_mean

        total = self.config.epochs * self._steps_per_epoch
        elapsed = time.monotonic() - self._fit_start
        seconds_left = elapsed / self._global_step * max(0, total - self._global_step)
        with self._lock:
            if _finite_or_none(loss) is not None:
                self._state["batch_losses"].append([self._global_step, loss])
            self._state["progress"] = min(1.0, self._global_step / total)
            self._state["seconds_left"] = seconds_left

    def _epoch_ended(self, model, epoch: int, logs: dict, val_x, val_y) -> None:
        """Validate, append a metrics line and keep the best model."""
        probabilities = np.asarray(
            model.predict(val_x, batch_size=self.config.batch_size, verbose=0)
        )
        picked = probabilities[np.arange(len(val_y)), val_y]
        cross_entropy = float(np.mean(-np.log(np.clip(picked, 1e-7, 1.0))))
        penalty = sum(float(np.asarray(loss)) for loss in model.losses)
        val_auc = _val_auc(val_y, probabilities)

        entry = {
            "epoch": epoch + 1,
            "loss": _finite_or_none(logs.get("loss")),
            "accuracy": _finite_or_none(logs.get("accuracy")),
            "val_loss": _finite_or_none(cross_entropy + penalty),
            "val_accuracy": float(np.mean(probabilities.argmax(axis=1) == val_y)),
            "val_auc": val_auc,
            "seconds": round(time.monotonic() - self._epoch_start, 3),
        }

        improved = self._improved(entry)
        if improved:
            self._save_best(model)
            self._saved_any = True
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as stream:
            stream.write(json.dumps(entry) + "\n")

        with self._lock:
            self._state["epochs"].append(entry)
            if improved:
                self._state["best_epoch"] = entry["epoch"]
                self._state["best_val_auc"] = val_auc
            if self._monitor == "val_loss":
                self._state["message"] = (
                    "The validation images hold one class, so val_auc is "
                    "undefined; best.keras is the epoch with the lowest val_loss."
                )

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


# Process-wide registry ---------------------------------------------------------

_REGISTRY_LOCK = threading.Lock()
_RUNS: dict[str, TrainingRun] = {}


def _active_locked() -> TrainingRun | None:
    """The active run; the caller holds the registry lock."""
    for run in reversed(_RUNS.values()):
        if run.is_active():
            return run
    return None


def start_run(config: RunConfig) -> TrainingRun:
    """Create, register and start a run, unless one is already active.

    Args:
        config: The run's settings.

    Returns:
        The started :class:`TrainingRun`.

    Raises:
        RunBusyError: Another run in this process is still active.
    """
    with _REGISTRY_LOCK:
        active = _active_locked()
        if active is not None:
            raise RunBusyError(
                f"A run is already training (id {active.run_id}); stop it or wait "
                "for it to finish."
            )
        run = TrainingRun(config)
        run.start()
        _RUNS[run.run_id] = run
        while len(_RUNS) > _MAX_KEPT_RUNS:
            oldest = next(iter(_RUNS))
            if _RUNS[oldest].is_active():
                break
            del _RUNS[oldest]
    return run


def get_run(run_id: str) -> TrainingRun | None:
    """The run with this id, if this process still remembers it."""
    with _REGISTRY_LOCK:
        return _RUNS.get(run_id)


def active_run() -> TrainingRun | None:
    """The run that is loading or training now, if any."""
    with _REGISTRY_LOCK:
        return _active_locked()


def latest_run() -> TrainingRun | None:
    """The most recently started run, active or not."""
    with _REGISTRY_LOCK:
        return next(reversed(_RUNS.values()), None)
