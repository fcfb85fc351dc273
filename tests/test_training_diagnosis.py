"""Training diagnosis: each rule on written histories and on real training runs."""

import hashlib
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training import records
from training.diagnosis import RULES, diagnose, read_diagnosis, write_diagnosis

CLASSES = ["daisy", "rose"]


def _entry(epoch, loss, val_loss, *, accuracy=0.8, val_accuracy=0.8, **extra):
    """One ``metrics.jsonl`` line of a balanced two-class run."""
    entry = {
        "epoch": epoch,
        "loss": loss,
        "accuracy": accuracy,
        "val_loss": val_loss,
        "val_accuracy": val_accuracy,
        "val_auc": 0.85,
        "val_predicted": {"daisy": 9, "rose": 11},
        "val_counts": {"daisy": 10, "rose": 10},
        "learning_rate": 0.001,
    }
    entry.update(extra)
    return entry


def _healthy():
    """Five epochs of a run whose losses fall and whose AUC rises."""
    losses = [0.80, 0.62, 0.50, 0.43, 0.39]
    val_losses = [0.75, 0.64, 0.55, 0.51, 0.49]
    return [
        _entry(
            epoch, loss, val, accuracy=0.5 + 0.08 * epoch, val_auc=0.6 + 0.05 * epoch
        )
        for epoch, (loss, val) in enumerate(zip(losses, val_losses, strict=True), 1)
    ]


def _batches(values, start=1):
    """``[step, loss]`` pairs numbered from ``start``."""
    return [[step, value] for step, value in enumerate(values, start)]


def _rules(flags):
    return [flag["rule"] for flag in flags]


def _flag(flags, rule):
    """The flag of ``rule``; fail with every flag when it is missing."""
    found = [flag for flag in flags if flag["rule"] == rule]
    assert found, f"{rule} not raised; flags: {flags}"
    assert len(found) == 1
    return found[0]


# The interface ------------------------------------------------------------------


def test_rules_name_every_rule_with_a_title():
    assert list(RULES) == [
        "nan_loss",
        "exploding_loss",
        "flat_loss",
        "overfitting",
        "accuracy_paradox",
        "one_class_predictions",
        "unnormalised_inputs",
        "duplicates_across_splits",
    ]
    assert all(isinstance(title, str) and title for title in RULES.values())


def test_a_healthy_run_raises_nothing():
    batches = _batches(np.linspace(0.75, 0.35, 50).tolist())
    flags = diagnose(
        _healthy(),
        batches,
        classes=CLASSES,
        input_stats={"mean": 0.45, "std": 0.25, "min": 0.0, "max": 1.0},
        duplicates=0,
        train_counts={"daisy": 40, "rose": 40},
        steps_per_epoch=10,
    )
    assert flags == []


def test_nothing_to_judge_raises_nothing():
    assert diagnose([], [], classes=CLASSES) == []


def test_fewer_than_two_classes_is_refused():
    with pytest.raises(ValueError, match="at least two class names"):
        diagnose([], [], classes=["daisy"])


# nan_loss ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "word"), [(float("nan"), "NaN"), (float("inf"), "infinite"), (None, "NaN")]
)
def test_a_non_finite_batch_loss_is_flagged_in_its_epoch(bad, word):
    history = _healthy()[:1]
    batches = _batches([0.7, 0.69, 0.68, 0.66, 0.65, bad, bad])
    flags = diagnose(history, batches, classes=CLASSES, steps_per_epoch=4)

    flag = _flag(flags, "nan_loss")
    assert flag["epoch"] == 2
    assert "step 6" in flag["sentence"]
    assert word in flag["sentence"]
    assert "learning rate (now 0.001)" in flag["sentence"]


def test_a_null_epoch_loss_is_flagged_in_that_epoch():
    history = _healthy()[:2] + [_entry(3, None, None)]
    flag = _flag(diagnose(history, [], classes=CLASSES), "nan_loss")
    assert flag["epoch"] == 3
    assert "training loss" in flag["sentence"]


def test_a_null_validation_loss_alone_is_flagged():
    history = _healthy()[:1] + [_entry(2, 0.5, None)]
    flag = _flag(diagnose(history, [], classes=CLASSES), "nan_loss")
    assert flag["epoch"] == 2
    assert "validation loss" in flag["sentence"]


def test_the_earliest_non_finite_value_sets_the_epoch():
    history = [_entry(1, 0.7, None), _entry(2, None, None)]
    batches = _batches([0.7, 0.6, 0.5, 0.4, float("nan")])
    flag = _flag(
        diagnose(history, batches, classes=CLASSES, steps_per_epoch=4), "nan_loss"
    )
    assert flag["epoch"] == 1


def test_without_steps_per_epoch_a_nan_batch_joins_the_first_nan_epoch():
    nan = float("nan")
    history = [_entry(1, 0.7, 0.7), _entry(2, None, None)]
    batches = _batches([0.7, 0.7, 0.7, 0.6, 0.6, nan, nan, nan])
    flag = _flag(diagnose(history, batches, classes=CLASSES), "nan_loss")
    assert flag["epoch"] == 2
    assert "at step 6 (epoch 2)" in flag["sentence"]


def test_without_steps_per_epoch_a_nan_batch_after_finite_epochs_is_in_progress():
    history = [_entry(1, 0.7, 0.7)]
    batches = _batches([0.7, 0.7, 0.7, 0.6, 0.6, float("nan")])
    flag = _flag(diagnose(history, batches, classes=CLASSES), "nan_loss")
    assert flag["epoch"] == 2
    assert "at step 6 (epoch 2)" in flag["sentence"]


def test_nan_in_val_auc_alone_raises_nothing():
    history = _healthy()
    history[2]["val_auc"] = float("nan")
    history[3]["val_auc"] = None
    assert diagnose(history, [], classes=CLASSES) == []


# exploding_loss ------------------------------------------------------------------


def test_a_loss_ten_times_its_start_for_two_batches_explodes():
    batches = _batches([0.70, 0.72, 0.69, 0.65, 1.2, 80.0, 5000.0])
    flags = diagnose([], batches, classes=CLASSES, steps_per_epoch=4)

    flag = _flag(flags, "exploding_loss")
    assert flag["epoch"] == 2
    assert "80.00 at step 6 (epoch 2)" in flag["sentence"]
    assert "0.69" in flag["sentence"]


def test_one_spike_that_settles_is_not_exploding():
    batches = _batches([0.70, 0.72, 0.69, 8.0, 0.6, 0.5, 9.0, 0.5])
    assert diagnose([], batches, classes=CLASSES) == []


def test_a_single_enormous_batch_loss_explodes():
    batches = _batches([0.70, 0.72, 0.69, 0.6, 500.0])
    flag = _flag(diagnose([], batches, classes=CLASSES), "exploding_loss")
    assert "500 at step 5" in flag["sentence"]


def test_a_huge_loss_followed_by_nan_raises_both():
    batches = _batches([0.70, 0.72, 0.69, 30.0, float("nan")])
    flags = diagnose([], batches, classes=CLASSES)
    assert _rules(flags) == ["exploding_loss", "nan_loss"]


def test_the_start_loss_cannot_fall_below_half_the_guessing_loss():
    # A tiny first loss must not make an ordinary loss of 0.7 look explosive.
    batches = _batches([0.01, 0.7, 0.72, 0.69, 0.7])
    assert diagnose([], batches, classes=CLASSES) == []


# flat_loss -----------------------------------------------------------------------


def _flat_history(losses, accuracy=0.5):
    return [
        _entry(epoch, loss, 0.69, accuracy=accuracy, val_auc=0.5)
        for epoch, loss in enumerate(losses, 1)
    ]


def test_a_loss_that_does_not_move_for_three_epochs_is_flat():
    history = _flat_history([0.693, 0.691, 0.694, 0.692])
    flag = _flag(diagnose(history, [], classes=CLASSES), "flat_loss")
    assert flag["epoch"] == 3
    assert "After 3 epochs" in flag["sentence"]
    assert "0.69" in flag["sentence"]
    assert "(0.50)" in flag["sentence"]


def test_two_epochs_are_too_few_to_call_flat():
    assert "flat_loss" not in _rules(
        diagnose(_flat_history([0.693, 0.693]), [], classes=CLASSES)
    )


def test_a_slowly_falling_loss_is_not_flat():
    history = _flat_history([0.70, 0.68, 0.65])  # 7 % down after 3 epochs
    assert "flat_loss" not in _rules(diagnose(history, [], classes=CLASSES))


def test_a_settled_loss_with_good_accuracy_is_not_flat():
    history = _flat_history([0.21, 0.21, 0.21], accuracy=0.93)
    assert "flat_loss" not in _rules(diagnose(history, [], classes=CLASSES))


def test_chance_accuracy_follows_the_largest_training_class():
    history = _flat_history([0.33, 0.33, 0.33], accuracy=0.9)
    unbalanced = {"daisy": 90, "rose": 10}
    assert "flat_loss" not in _rules(diagnose(history, [], classes=CLASSES))
    flags = diagnose(history, [], classes=CLASSES, train_counts=unbalanced)
    assert "(0.90)" in _flag(flags, "flat_loss")["sentence"]


def test_a_stuck_loss_that_beats_chance_by_luck_is_still_flat():
    history = _flat_history([0.70, 0.70, 0.70], accuracy=0.72)
    batches = _batches([0.71, 0.69, 0.70] * 3)
    flag = _flag(diagnose(history, batches, classes=CLASSES), "flat_loss")
    assert "no lower than at the first batches (0.70)" in flag["sentence"]


def test_a_loss_that_fell_in_epoch_1_and_settled_is_not_flat():
    history = _flat_history([0.25, 0.25, 0.25], accuracy=0.9)
    batches = _batches([0.75, 0.72, 0.70] + [0.25] * 6)
    assert "flat_loss" not in _rules(diagnose(history, batches, classes=CLASSES))


# overfitting ---------------------------------------------------------------------


def _overfit_history():
    losses = [0.90, 0.60, 0.45, 0.30, 0.20, 0.12]
    val_losses = [0.80, 0.55, 0.45, 0.41, 0.50, 0.63]
    return [
        _entry(epoch, loss, val)
        for epoch, (loss, val) in enumerate(zip(losses, val_losses, strict=True), 1)
    ]


def test_validation_loss_rising_while_training_loss_falls_is_overfitting():
    flag = _flag(diagnose(_overfit_history(), [], classes=CLASSES), "overfitting")
    assert flag["epoch"] == 6
    assert "from 0.41 to 0.63 over epochs 4-6" in flag["sentence"]
    assert "augmentation" in flag["sentence"]


def test_one_rise_is_not_overfitting():
    history = _overfit_history()[:5]
    assert "overfitting" not in _rules(diagnose(history, [], classes=CLASSES))


def test_two_small_rises_within_the_margin_are_not_overfitting():
    history = _overfit_history()
    history[4]["val_loss"], history[5]["val_loss"] = 0.42, 0.45  # +0.04 only
    assert "overfitting" not in _rules(diagnose(history, [], classes=CLASSES))


def test_both_losses_rising_is_not_overfitting():
    history = _overfit_history()
    history[4]["loss"], history[5]["loss"] = 0.35, 0.40
    assert "overfitting" not in _rules(diagnose(history, [], classes=CLASSES))


def test_a_rising_validation_loss_without_learning_is_not_overfitting():
    # Batch-normalisation statistics can move the validation loss of a network
    # whose weights do not change at all.
    history = _overfit_history()
    for entry in history:
        entry["loss"] = 0.693
    assert "overfitting" not in _rules(diagnose(history, [], classes=CLASSES))


# accuracy_paradox and one_class_predictions ---------------------------------------


def _majority_history(epochs=3, auc=0.5):
    """A network answering 'daisy' for all 20 validation images, 18 of them daisy."""
    return [
        _entry(
            epoch,
            0.35,
            0.34,
            accuracy=0.9,
            val_accuracy=0.9,
            val_auc=auc,
            val_predicted={"daisy": 20, "rose": 0},
            val_counts={"daisy": 18, "rose": 2},
        )
        for epoch in range(1, epochs + 1)
    ]


def test_high_accuracy_with_auc_near_half_is_the_accuracy_paradox():
    flags = diagnose(_majority_history(), [], classes=CLASSES)
    flag = _flag(flags, "accuracy_paradox")
    assert flag["epoch"] == 1
    assert "0.90" in flag["sentence"]
    assert "90% of the validation images are 'daisy'" in flag["sentence"]
    assert "AUC of 0.50" in flag["sentence"]


def test_a_useful_auc_is_no_paradox():
    flags = diagnose(_majority_history(auc=0.82), [], classes=CLASSES)
    assert "accuracy_paradox" not in _rules(flags)


@pytest.mark.parametrize("auc", [None, float("nan")])
def test_an_undefined_auc_is_no_paradox(auc):
    flags = diagnose(_majority_history(auc=auc), [], classes=CLASSES)
    assert "accuracy_paradox" not in _rules(flags)


def test_a_balanced_validation_set_is_no_paradox():
    history = _majority_history()
    for entry in history:
        entry.update(val_counts={"daisy": 10, "rose": 10}, val_accuracy=0.5)
    assert "accuracy_paradox" not in _rules(diagnose(history, [], classes=CLASSES))


def test_every_prediction_in_one_class_twice_in_a_row_is_flagged():
    flags = diagnose(_majority_history(), [], classes=CLASSES)
    flag = _flag(flags, "one_class_predictions")
    assert flag["epoch"] == 2
    assert "epochs 1-2" in flag["sentence"]
    assert "'daisy' (20 of 20)" in flag["sentence"]


def test_one_epoch_of_one_class_predictions_is_not_flagged():
    history = _healthy()
    history[0]["val_predicted"] = {"daisy": 20, "rose": 0}
    assert diagnose(history, [], classes=CLASSES) == []


def test_one_class_predictions_switching_class_are_not_flagged_as_one():
    history = _majority_history(epochs=2)
    history[1]["val_predicted"] = {"daisy": 0, "rose": 20}
    assert "one_class_predictions" not in _rules(diagnose(history, [], classes=CLASSES))


def test_a_validation_set_of_one_class_does_not_raise_one_class_predictions():
    history = _majority_history()
    for entry in history:
        entry.update(val_counts={"daisy": 20, "rose": 0}, val_auc=None)
    assert "one_class_predictions" not in _rules(diagnose(history, [], classes=CLASSES))


# unnormalised_inputs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("stats", "words"),
    [
        (
            {"mean": 112.3, "std": 61.0, "min": 0.0, "max": 255.0},
            "from 0 to 255 (mean 112",
        ),
        ({"mean": 30000.0, "std": 9000.0, "min": 0.0, "max": 65535.0}, "65,535"),
        ({"mean": -400.0, "std": 500.0, "min": -1024.0, "max": 2000.0}, "-1,024"),
        ({"mean": 0.002, "std": 0.001, "min": 0.0, "max": 0.0039}, "scaled twice"),
        ({"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}, "blank"),
        ({"mean": float("nan"), "std": 1.0, "min": 0.0, "max": 1.0}, "NaN"),
    ],
)
def test_inputs_far_from_unit_range_are_flagged_before_training(stats, words):
    flag = _flag(
        diagnose([], [], classes=CLASSES, input_stats=stats), "unnormalised_inputs"
    )
    assert flag["epoch"] == 0
    assert words in flag["sentence"]


@pytest.mark.parametrize(
    "stats",
    [
        None,
        {"mean": 0.45, "std": 0.27, "min": 0.0, "max": 1.0},
        {"mean": 0.0, "std": 1.0, "min": -3.2, "max": 4.1},
        {"mean": 0.0, "std": 0.58, "min": -1.0, "max": 1.0},
        {"mean": 0.5, "std": 0.5, "min": 0.0, "max": 1.0},
    ],
)
def test_normalised_inputs_are_not_flagged(stats):
    assert diagnose([], [], classes=CLASSES, input_stats=stats) == []


# duplicates_across_splits ------------------------------------------------------------


def test_duplicates_across_splits_are_flagged_before_training():
    flag = _flag(
        diagnose([], [], classes=CLASSES, duplicates=3), "duplicates_across_splits"
    )
    assert flag["epoch"] == 0
    assert flag["sentence"].startswith("3 validation images are exact copies")


def test_duplicates_can_be_given_as_the_list_of_pairs():
    pairs = [("train/a.png", "val/a.png")]
    flag = _flag(
        diagnose([], [], classes=CLASSES, duplicates=pairs), "duplicates_across_splits"
    )
    assert flag["sentence"].startswith("1 validation image is an exact copy")


@pytest.mark.parametrize("duplicates", [0, [], None])
def test_no_duplicates_raise_nothing(duplicates):
    assert diagnose([], [], classes=CLASSES, duplicates=duplicates) == []


# Order and determinism ------------------------------------------------------------


def test_flags_are_sorted_by_epoch_then_rule():
    history = _majority_history(epochs=3)
    history[2]["loss"] = None
    flags = diagnose(
        history,
        [],
        classes=CLASSES,
        duplicates=1,
        input_stats={"mean": 120.0, "std": 60.0, "min": 0.0, "max": 255.0},
    )
    keys = [(flag["epoch"], flag["rule"]) for flag in flags]
    assert keys == [
        (0, "duplicates_across_splits"),
        (0, "unnormalised_inputs"),
        (1, "accuracy_paradox"),
        (2, "one_class_predictions"),
        (3, "nan_loss"),
    ]


def test_flags_depend_only_on_the_history_and_keep_their_epoch_as_it_grows():
    history = _overfit_history() + [_entry(7, 0.08, 0.70), _entry(8, 0.05, 0.74)]
    first = diagnose(history[:6], [], classes=CLASSES)
    assert diagnose(history[:6], [], classes=CLASSES) == first
    later = diagnose(history, [], classes=CLASSES)
    assert _flag(later, "overfitting") == _flag(first, "overfitting")


def test_flags_are_json_ready():
    flags = diagnose(
        _majority_history(), _batches([0.7, float("nan")]), classes=CLASSES
    )
    assert json.loads(json.dumps(flags, allow_nan=False)) == flags
    for flag in flags:
        assert set(flag) == {"rule", "epoch", "sentence"}
        assert flag["sentence"].endswith(".")


# write_diagnosis and read_diagnosis -----------------------------------------------


def test_diagnosis_round_trips_through_the_run_folder(tmp_path):
    flags = diagnose(_majority_history(), [], classes=CLASSES, duplicates=2)
    path = write_diagnosis(tmp_path / "run", flags)

    assert path == tmp_path / "run" / "diagnosis.json"
    assert json.loads(path.read_text(encoding="utf-8")) == {"flags": flags}
    assert read_diagnosis(tmp_path / "run") == flags
    assert sorted(os.listdir(tmp_path / "run")) == ["diagnosis.json"]


def test_a_new_diagnosis_replaces_the_old_one(tmp_path):
    write_diagnosis(tmp_path, diagnose([], [], classes=CLASSES, duplicates=2))
    write_diagnosis(tmp_path, [])
    assert read_diagnosis(tmp_path) == []
    assert json.loads((tmp_path / "diagnosis.json").read_text()) == {"flags": []}


def test_a_write_that_fails_midway_leaves_the_old_file_whole(tmp_path, monkeypatch):
    old = diagnose([], [], classes=CLASSES, duplicates=2)
    write_diagnosis(tmp_path, old)

    def broken_dump(data, stream, **kwargs):
        stream.write('{"flags": [')
        raise OSError("disk full")

    monkeypatch.setattr(records.json, "dump", broken_dump)
    with pytest.raises(OSError, match="disk full"):
        write_diagnosis(tmp_path, diagnose(_overfit_history(), [], classes=CLASSES))
    monkeypatch.undo()

    assert read_diagnosis(tmp_path) == old
    assert sorted(os.listdir(tmp_path)) == ["diagnosis.json"]


def test_writing_a_malformed_flag_is_refused(tmp_path):
    with pytest.raises(ValueError, match="Received: flag="):
        write_diagnosis(
            tmp_path, [{"rule": "no_such_rule", "epoch": 1, "sentence": "x"}]
        )
    assert not (tmp_path / "diagnosis.json").exists()


@pytest.mark.parametrize(
    "content",
    [
        "",
        '{"flags": [{"rule": "nan_loss", "epo',
        "not json",
        "[1, 2, 3]",
        '{"flags": "nan_loss"}',
        '{"other": []}',
        "NaN",
    ],
)
def test_a_bad_diagnosis_file_reads_as_no_flags(tmp_path, content):
    (tmp_path / "diagnosis.json").write_text(content, encoding="utf-8")
    assert read_diagnosis(tmp_path) == []


def test_malformed_entries_are_left_out_when_reading(tmp_path):
    good = {"rule": "overfitting", "epoch": 4, "sentence": "Validation loss rose."}
    bad = [
        {"rule": "unknown", "epoch": 1, "sentence": "x"},
        {"rule": "nan_loss", "epoch": "2", "sentence": "x"},
        {"rule": "nan_loss", "epoch": 2},
        "nan_loss",
    ]
    (tmp_path / "diagnosis.json").write_text(json.dumps({"flags": [*bad, good]}))
    assert read_diagnosis(tmp_path) == [good]


def test_a_missing_diagnosis_reads_as_no_flags(tmp_path):
    assert read_diagnosis(tmp_path) == []
    assert read_diagnosis(tmp_path / "no_such_run") == []


# Real training runs -----------------------------------------------------------------
#
# Each test below trains a small network on real images until it shows one failure,
# records the history the way the run folder does (Keras' epoch logs, per-batch
# losses recovered from Keras' running mean, validation metrics from scikit-learn on
# the network's own predictions) and checks that the rule sees it.

IMAGE_SIZE = 32


def _load(folder, count, *, offset=0, mode="RGB"):
    """``count`` images of a class folder (sorted by name) as uint8 (N, S, S, C)."""
    files = sorted(
        path
        for path in folder.iterdir()
        if path.suffix.lower() in (".jpg", ".jpeg", ".png")
    )[offset : offset + count]
    assert len(files) == count, f"{folder} holds too few images"
    pictures = []
    for path in files:
        with Image.open(path) as picture:
            small = picture.convert(mode).resize(
                (IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX
            )
            pictures.append(np.asarray(small))
    stacked = np.stack(pictures)
    return stacked[..., np.newaxis] if stacked.ndim == 3 else stacked


def _split(root, classes, train_counts, val_counts, mode="RGB"):
    """Train and validation arrays in [0, 1]; the validation images follow on."""
    parts = {"x": [], "y": [], "val_x": [], "val_y": []}
    for label, name in enumerate(classes):
        images = _load(
            root / name, train_counts[label] + val_counts[label], mode=mode
        ).astype(np.float32)
        images /= 255.0
        parts["x"].append(images[: train_counts[label]])
        parts["val_x"].append(images[train_counts[label] :])
        parts["y"].append(np.full(train_counts[label], label, dtype=np.int32))
        parts["val_y"].append(np.full(val_counts[label], label, dtype=np.int32))
    return {key: np.concatenate(value) for key, value in parts.items()}


def _finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def _recorder(val_x, val_y, classes):
    """A Keras callback that keeps ``metrics.jsonl``-style lines and batch losses."""
    import keras
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    class Recorder(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epochs, self.batch_losses = [], []
            self._running = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._running = 0.0

        def on_train_batch_end(self, batch, logs=None):
            # Keras reports the mean over the epoch so far; batches are equal here.
            mean = float(logs["loss"])
            loss = (batch + 1) * mean - batch * self._running
            self._running = mean
            self.batch_losses.append([len(self.batch_losses) + 1, loss])

        def on_epoch_end(self, epoch, logs=None):
            scores = np.asarray(self.model.predict(val_x, verbose=0), np.float64)
            finite = bool(np.all(np.isfinite(scores)))
            entry = {
                "epoch": epoch + 1,
                "loss": _finite_or_none(logs["loss"]),
                "accuracy": _finite_or_none(logs["accuracy"]),
                "val_loss": None,
                "val_accuracy": None,
                "val_auc": None,
                "val_predicted": {},
                "val_counts": {
                    name: int(np.sum(val_y == label))
                    for label, name in enumerate(classes)
                },
                "learning_rate": float(
                    keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
                ),
            }
            if finite:
                scores /= scores.sum(axis=1, keepdims=True)
                predicted = scores.argmax(axis=1)
                entry.update(
                    val_loss=log_loss(val_y, scores, labels=[0, 1]),
                    val_accuracy=accuracy_score(val_y, predicted),
                    val_auc=roc_auc_score(val_y, scores[:, 1]),
                    val_predicted={
                        name: int(np.sum(predicted == label))
                        for label, name in enumerate(classes)
                    },
                )
            self.epochs.append(entry)

    return Recorder()


def _fit(build, data, classes, *, optimizer, epochs, batch_size):
    """Build a fresh seeded model, train it and return what the recorder kept."""
    import keras

    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    model = build()
    model.compile(
        optimizer=optimizer(),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    recorder = _recorder(data["val_x"], data["val_y"], classes)
    model.fit(
        data["x"],
        data["y"],
        batch_size=batch_size,
        epochs=epochs,
        shuffle=True,
        verbose=0,
        callbacks=[recorder],
    )
    del model
    keras.utils.clear_session()
    return recorder


def _resnet(data, weight_decay=1e-4):
    from training.models import build_resnet

    return lambda: build_resnet(
        data["x"].shape[1:], 2, depth=18, weight_decay=weight_decay
    )


def _dead_relu_network(data):
    """A small CNN whose ReLUs start (and so stay) at zero for every image.

    The convolution has zero weights and a negative bias, so its ReLU outputs
    zero and passes no gradient back: only the output layer's bias can learn,
    which means the network can learn the class frequencies and nothing else.
    """

    def build():
        import keras
        from keras import layers

        inputs = keras.Input(data["x"].shape[1:])
        x = layers.Conv2D(
            8,
            3,
            activation="relu",
            kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(-1.0),
        )(inputs)
        x = layers.GlobalAveragePooling2D()(x)
        outputs = layers.Dense(2, activation="softmax")(x)
        return keras.Model(inputs, outputs)

    return build


def _sgd(rate):
    import keras

    return lambda: keras.optimizers.SGD(rate, momentum=0.9)


def _adam(rate):
    import keras

    return lambda: keras.optimizers.Adam(rate)


FLOWERS = ["daisy", "rose"]
XRAYS = ["effusion", "nofinding"]


def test_real_run_with_learning_rate_10_flags_an_exploding_loss(flowers_dir):
    data = _split(flowers_dir, FLOWERS, (8, 8), (4, 4))
    run = _fit(
        _resnet(data), data, FLOWERS, optimizer=_sgd(10.0), epochs=2, batch_size=4
    )
    losses = [loss for _, loss in run.batch_losses]
    assert max(loss for loss in losses if math.isfinite(loss)) > 10 * losses[0]

    flags = diagnose(run.epochs, run.batch_losses, classes=FLOWERS, steps_per_epoch=4)
    flag = _flag(flags, "exploding_loss")
    assert flag["epoch"] == 1
    assert "learning rate (now 10)" in flag["sentence"]


def test_real_run_with_a_huge_learning_rate_flags_nan(flowers_dir):
    data = _split(flowers_dir, FLOWERS, (8, 8), (4, 4))
    run = _fit(
        _resnet(data, weight_decay=0.0),
        data,
        FLOWERS,
        optimizer=_sgd(1e4),
        epochs=3,
        batch_size=4,
    )
    bad_steps = [step for step, loss in run.batch_losses if not math.isfinite(loss)]
    bad_epochs = [
        entry["epoch"]
        for entry in run.epochs
        if entry["loss"] is None or entry["val_loss"] is None
    ]
    assert bad_steps or bad_epochs, "the weights never overflowed"
    first = min([math.ceil(step / 4) for step in bad_steps[:1]] + bad_epochs)

    flags = diagnose(run.epochs, run.batch_losses, classes=FLOWERS, steps_per_epoch=4)
    assert _flag(flags, "nan_loss")["epoch"] == first


def test_real_run_with_learning_rate_1e_9_flags_a_flat_loss(xray_dir):
    data = _split(xray_dir, XRAYS, (12, 12), (4, 4), mode="L")
    run = _fit(_resnet(data), data, XRAYS, optimizer=_sgd(1e-9), epochs=3, batch_size=8)
    train_counts = {"effusion": 12, "nofinding": 12}
    flags = diagnose(
        run.epochs, run.batch_losses, classes=XRAYS, train_counts=train_counts
    )
    flag = _flag(flags, "flat_loss")
    assert flag["epoch"] == 3
    assert "(now 1e-09)" in flag["sentence"]


def test_real_run_of_a_dead_relu_network_flags_a_flat_loss(flowers_dir):
    data = _split(flowers_dir, FLOWERS, (16, 16), (4, 4))
    run = _fit(
        _dead_relu_network(data),
        data,
        FLOWERS,
        optimizer=_adam(1e-3),
        epochs=3,
        batch_size=8,
    )
    flags = diagnose(run.epochs, run.batch_losses, classes=FLOWERS)
    assert _flag(flags, "flat_loss")["epoch"] == 3


def test_real_run_on_few_images_for_many_epochs_flags_overfitting(flowers_dir):
    # Four photos per class, no augmentation and no weight decay: ResNet-18
    # memorises them within a few epochs.
    data = _split(flowers_dir, FLOWERS, (4, 4), (10, 10))
    run = _fit(
        _resnet(data, weight_decay=0.0),
        data,
        FLOWERS,
        optimizer=_adam(1e-3),
        epochs=12,
        batch_size=4,
    )
    assert run.epochs[-1]["loss"] < 0.1 * run.epochs[0]["loss"]

    flags = diagnose(run.epochs, run.batch_losses, classes=FLOWERS, steps_per_epoch=2)
    flag = _flag(flags, "overfitting")
    assert flag["sentence"].startswith("Validation loss rose from")
    # A run that learns well is not mistaken for the other failures.
    assert not {"nan_loss", "exploding_loss", "flat_loss", "accuracy_paradox"} & set(
        _rules(flags)
    )


def test_real_run_that_predicts_the_majority_flags_the_accuracy_paradox(flowers_dir):
    # One rose for every nine daisies, in training and in validation.
    data = _split(flowers_dir, FLOWERS, (36, 4), (18, 2))
    run = _fit(
        _dead_relu_network(data),
        data,
        FLOWERS,
        optimizer=_adam(1e-2),
        epochs=3,
        batch_size=8,
    )
    last = run.epochs[-1]
    assert last["val_predicted"] == {"daisy": 20, "rose": 0}
    assert last["val_accuracy"] == pytest.approx(0.9)
    assert last["val_auc"] == pytest.approx(0.5)

    flags = diagnose(
        run.epochs,
        run.batch_losses,
        classes=FLOWERS,
        train_counts={"daisy": 36, "rose": 4},
    )
    assert (
        "90% of the validation images are 'daisy'"
        in (_flag(flags, "accuracy_paradox")["sentence"])
    )
    one_class = _flag(flags, "one_class_predictions")
    assert one_class["epoch"] >= 2
    assert "'daisy' (20 of 20)" in one_class["sentence"]


def _stats(batch):
    """Mean, standard deviation, minimum and maximum, computed by NumPy."""
    batch = np.asarray(batch, dtype=np.float64)
    return {
        "mean": float(batch.mean()),
        "std": float(batch.std()),
        "min": float(batch.min()),
        "max": float(batch.max()),
    }


@pytest.mark.parametrize(
    ("folder", "mode"), [("flowers/rose", "RGB"), ("chest_xray/effusion", "L")]
)
def test_real_raw_pixel_values_flag_unnormalised_inputs(shared_data, folder, mode):
    raw = _load(shared_data / folder, 16, mode=mode).astype(np.float32)

    flags = diagnose([], [], classes=FLOWERS, input_stats=_stats(raw))
    assert _flag(flags, "unnormalised_inputs")["epoch"] == 0

    scaled = raw / 255.0
    standardised = (raw - raw.mean()) / raw.std()
    for batch in (scaled, standardised):
        assert diagnose([], [], classes=FLOWERS, input_stats=_stats(batch)) == []
    twice = scaled / 255.0
    flags = diagnose([], [], classes=FLOWERS, input_stats=_stats(twice))
    assert "scaled twice" in _flag(flags, "unnormalised_inputs")["sentence"]


def _copies(train_files, val_files):
    """Validation files whose bytes equal a training file's, by SHA-256."""
    seen = {hashlib.sha256(path.read_bytes()).hexdigest() for path in train_files}
    return [
        path
        for path in val_files
        if hashlib.sha256(path.read_bytes()).hexdigest() in seen
    ]


def test_real_files_copied_across_splits_flag_duplicates(flowers_dir, tmp_path):
    daisies = sorted((flowers_dir / "daisy").glob("*.jpg"))[:10]
    train_dir, val_dir = tmp_path / "train", tmp_path / "val"
    train_dir.mkdir()
    val_dir.mkdir()
    train_files = [shutil.copy(path, train_dir) for path in daisies[:6]]
    val_files = [shutil.copy(path, val_dir) for path in daisies[6:]]
    clean = _copies(map(Path, train_files), map(Path, val_files))
    assert diagnose([], [], classes=FLOWERS, duplicates=len(clean)) == []

    for position, path in enumerate(daisies[:2]):
        val_files.append(shutil.copy(path, val_dir / f"renamed_{position}.jpg"))
    copies = _copies(map(Path, train_files), map(Path, val_files))
    assert len(copies) == 2

    flags = diagnose([], [], classes=FLOWERS, duplicates=len(copies))
    flag = _flag(flags, "duplicates_across_splits")
    assert flag["sentence"].startswith("2 validation images are exact copies")


def _one_class_history(val_counts):
    return [
        {
            "epoch": epoch,
            "loss": 0.69,
            "accuracy": 0.5,
            "val_loss": 0.7,
            "val_accuracy": val_counts["daisy"] / sum(val_counts.values()),
            "val_auc": 0.5,
            "val_counts": val_counts,
            "val_predicted": {"daisy": sum(val_counts.values()), "rose": 0},
        }
        for epoch in (1, 2)
    ]


def test_one_class_advice_follows_the_training_balance():
    history = _one_class_history({"daisy": 4, "rose": 4})
    balanced = {"daisy": 16, "rose": 16}
    skewed = {"daisy": 30, "rose": 3}

    def sentence(train_counts):
        flags = diagnose(history, [], classes=CLASSES, train_counts=train_counts)
        return {f["rule"]: f["sentence"] for f in flags}["one_class_predictions"]

    assert "training classes are balanced" in sentence(balanced)
    assert "class weights" not in sentence(balanced)
    assert "class weights" in sentence(skewed)


def test_a_handful_of_validation_images_shows_no_accuracy_paradox():
    few = _one_class_history({"daisy": 2, "rose": 1})
    many = _one_class_history({"daisy": 16, "rose": 4})

    def rules(history):
        return {f["rule"] for f in diagnose(history, [], classes=CLASSES)}

    assert "accuracy_paradox" not in rules(few)
    assert "accuracy_paradox" in rules(many)
