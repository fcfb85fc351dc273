"""Spot the usual training failures in a run's history and say how to fix them.

Each rule reads the per-epoch metrics, the per-batch losses and a few facts
about the data, and raises a flag with one plain sentence for a learner: what
was seen, with its numbers, what it usually means and the usual fix. The
rules are cheap, plain Python, and give the same flags for the same
history, so they can run after every batch while a network trains.
"""

import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from training.records import write_json

__all__ = [
    "DIAGNOSIS_FILE",
    "RULES",
    "diagnose",
    "read_diagnosis",
    "write_diagnosis",
]

logger = logging.getLogger(__name__)

DIAGNOSIS_FILE = "diagnosis.json"

RULES = {
    "nan_loss": "Loss became NaN",
    "exploding_loss": "Loss exploding",
    "flat_loss": "Loss not falling",
    "overfitting": "Overfitting",
    "accuracy_paradox": "Accuracy paradox",
    "one_class_predictions": "All predictions in one class",
    "unnormalised_inputs": "Inputs not normalised",
    "duplicates_across_splits": "Duplicates across splits",
}

# Exploding loss: a batch loss this many times the starting loss, held for two
# batches in a row (or a single one this many times higher).
EXPLODING_FACTOR = 10.0
EXPLODING_SINGLE_FACTOR = 100.0
_BASELINE_BATCHES = 3

# Flat loss: after this many epochs, every epoch's training loss within this
# share of epoch 1, and either training accuracy at most this far above chance
# or the loss less than this share below the first batches' mean.
FLAT_MIN_EPOCHS = 3
FLAT_TOLERANCE = 0.05
FLAT_ACCURACY_MARGIN = 0.15
FLAT_START_FALL = 0.2

# Overfitting: validation loss above its lowest value by the larger of these
# margins, while the training loss fell by at least this share.
OVERFIT_ABSOLUTE_MARGIN = 0.05
OVERFIT_RELATIVE_MARGIN = 0.10
OVERFIT_TRAIN_FALL = 0.02

# Accuracy paradox: a validation set this unbalanced, and an AUC this low.
PARADOX_MAJORITY_SHARE = 0.6
PARADOX_MAX_AUC = 0.6
PARADOX_MIN_IMAGES = 10
BALANCED_RATIO = 1.5

# Inputs not normalised: bounds on the statistics of a batch of inputs.
INPUT_MAX_ABS = 20.0
INPUT_MAX_ABS_MEAN = 5.0
INPUT_MAX_STD = 5.0
INPUT_MIN_RANGE = 0.05


def _number(value) -> float | None:
    """``value`` as a float, or ``None`` when it is missing or not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _finite(value) -> float | None:
    """``value`` as a finite float, or ``None``."""
    number = _number(value)
    return number if number is not None and math.isfinite(number) else None


def _show(value: float) -> str:
    """A number written for a learner: 0.41, 0.0032, 255, 14,618 or 3.2e+20."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value:.2g}"
    if magnitude >= 100 or value == 0:
        return f"{value:,.0f}"
    if magnitude >= 0.01:
        return f"{value:.2f}"
    return f"{value:.2g}"


def _share(value: float) -> str:
    """A fraction as a whole percentage."""
    return f"{100 * value:.0f}%"


def _learning_rate_words(entry: Mapping | None) -> str:
    """`` (now 0.1)`` when the epoch entry records a learning rate, else empty."""
    rate = _finite((entry or {}).get("learning_rate"))
    return f" (now {rate:g})" if rate is not None else ""


def _epoch_number(entries: Sequence[Mapping], position: int) -> int:
    """The 1-based epoch of ``entries[position]``, from its ``epoch`` key."""
    number = _number(entries[position].get("epoch"))
    return int(number) if number is not None else position + 1


def _counts(mapping) -> dict[str, int]:
    """A ``{class: count}`` mapping with the counts as whole numbers."""
    if not isinstance(mapping, Mapping):
        return {}
    counts = {}
    for name, count in mapping.items():
        number = _finite(count)
        if number is not None:
            counts[str(name)] = int(number)
    return counts


def _majority(counts: Mapping[str, int]) -> tuple[str, float] | None:
    """The most frequent class and its share, or ``None`` without images."""
    total = sum(counts.values())
    if total <= 0:
        return None
    name = max(counts, key=lambda key: counts[key])
    return name, counts[name] / total


# Batch-loss rules -------------------------------------------------------------


def _batch_series(batch_losses) -> list[tuple[int, object]]:
    """``(step, loss)`` pairs sorted by step, the loss as given.

    Malformed entries are skipped; a missing step counts from 1 in list order.
    """
    series = []
    for position, pair in enumerate(batch_losses or ()):
        try:
            step, loss = pair[0], pair[1]
        except (TypeError, IndexError, KeyError):
            continue
        step_number = _finite(step)
        series.append(
            (int(step_number) if step_number is not None else position + 1, loss)
        )
    series.sort(key=lambda item: item[0])
    return series


def _epoch_of_step(
    step: int, n_epochs: int, last_step: int, steps_per_epoch: int | None
) -> int:
    """The 1-based epoch that a global training step belongs to.

    With ``steps_per_epoch`` the answer is exact. Without it, the steps seen so
    far are shared evenly among the finished epochs; this is exact when the
    history ends at an epoch boundary and can otherwise name an earlier epoch.
    """
    if steps_per_epoch:
        return max(1, math.ceil(step / steps_per_epoch))
    if n_epochs == 0 or last_step < n_epochs:
        return 1
    estimate = max(1, last_step // n_epochs)
    return max(1, min(math.ceil(step / estimate), n_epochs + 1))


def _nonfinite_word(value) -> str:
    """``infinite`` for an infinity, ``NaN`` (not a number) otherwise."""
    number = _number(value)
    if number is not None and math.isinf(number):
        return "infinite"
    return "NaN (not a number)"


def _nan_flag(entries, series, steps_per_epoch) -> dict | None:
    """The first non-finite batch loss, epoch loss or validation loss.

    A non-finite batch loss also makes the mean loss of its epoch non-finite,
    so without ``steps_per_epoch`` the batch belongs to the first epoch whose
    training loss is non-finite, or else to the epoch in progress.
    """
    candidates = []
    first_bad_loss = None
    for position, entry in enumerate(entries):
        broken = [
            (key, name)
            for key, name in (
                ("loss", "training loss"),
                ("val_loss", "validation loss"),
            )
            if key in entry and _finite(entry[key]) is None
        ]
        if broken and not candidates:
            key, name = broken[0]
            epoch = _epoch_number(entries, position)
            word = _nonfinite_word(entry[key]) if entry[key] is not None else ""
            candidates.append(
                (epoch, name, word or "NaN or infinite", f"in epoch {epoch}")
            )
        if first_bad_loss is None and ("loss", "training loss") in broken:
            first_bad_loss = _epoch_number(entries, position)

    bad_steps = [(step, loss) for step, loss in series if _finite(loss) is None]
    if bad_steps:
        step, loss = bad_steps[0]
        if steps_per_epoch:
            epoch = _epoch_of_step(step, len(entries), series[-1][0], steps_per_epoch)
        elif first_bad_loss is not None:
            epoch = first_bad_loss
        elif all("loss" in entry for entry in entries):
            epoch = len(entries) + 1
        else:
            epoch = _epoch_of_step(step, len(entries), series[-1][0], None)
        where = f"at step {step} (epoch {epoch})"
        candidates.insert(0, (epoch, "training loss", _nonfinite_word(loss), where))
    if not candidates:
        return None

    epoch, name, word, where = min(candidates, key=lambda item: item[0])
    index = min(epoch, len(entries)) - 1
    rate = _learning_rate_words(entries[index] if index >= 0 else None)
    sentence = (
        f"The {name} became {word} {where}: the weights grew until the "
        "arithmetic overflowed, which nearly always means the learning rate"
        f"{rate} is too high. Lower it about ten times, or clip the gradients; "
        "nothing the network learns after this point is usable."
    )
    return {"rule": "nan_loss", "epoch": epoch, "sentence": sentence}


def _first_losses(series) -> list[float]:
    """The first few finite batch losses, measured before much learning."""
    first = []
    for _, loss in series:
        value = _finite(loss)
        if value is not None:
            first.append(value)
            if len(first) == _BASELINE_BATCHES:
                break
    return first


def _exploding_flag(entries, series, classes, steps_per_epoch) -> dict | None:
    """The first batch loss far above the loss the network started with."""
    first = _first_losses(series)
    if not first:
        return None
    start = max(min(first), 0.5 * math.log(len(classes)))
    limit = EXPLODING_FACTOR * start

    last_step = series[-1][0]
    for position, (step, loss) in enumerate(series):
        value = _finite(loss)
        if value is None or value <= limit:
            continue
        following = series[position + 1][1] if position + 1 < len(series) else 0.0
        next_value = _finite(following)
        held = next_value is None or next_value > limit
        if not (held or value > EXPLODING_SINGLE_FACTOR * start):
            continue

        epoch = _epoch_of_step(step, len(entries), last_step, steps_per_epoch)
        index = min(epoch, len(entries)) - 1
        rate = _learning_rate_words(entries[index] if index >= 0 else None)
        sentence = (
            f"The training loss jumped to {_show(value)} at step {step} "
            f"(epoch {epoch}), more than {EXPLODING_FACTOR:g} times its starting "
            f"value of {_show(start)}: each step is so large that the weights "
            "overshoot and the loss grows instead of falling. Lower the learning "
            f"rate{rate} about ten times, or clip the gradients."
        )
        return {"rule": "exploding_loss", "epoch": epoch, "sentence": sentence}
    return None


# Epoch rules --------------------------------------------------------------------


def _starting_loss(series) -> float | None:
    """The mean of the first finite batch losses: the loss before learning."""
    first = _first_losses(series)
    return sum(first) / len(first) if first else None


def _flat_at(entries, end, chance, start) -> str | None:
    """The flat-loss sentence if it holds for ``entries[:end]``."""
    if end < FLAT_MIN_EPOCHS:
        return None
    losses = [_finite(entry.get("loss")) for entry in entries[:end]]
    if any(loss is None for loss in losses) or losses[0] <= 0:
        return None
    first = losses[0]
    if max(abs(loss - first) for loss in losses) > FLAT_TOLERANCE * first:
        return None

    accuracy = _finite(entries[end - 1].get("accuracy"))
    guessing = accuracy is not None and accuracy <= chance + FLAT_ACCURACY_MARGIN
    unmoved = start is not None and losses[-1] >= (1 - FLAT_START_FALL) * start
    if guessing:
        evidence = (
            f", and the training accuracy ({accuracy:.2f}) is no better than "
            f"guessing ({chance:.2f})"
        )
    elif unmoved:
        evidence = f", and no lower than at the first batches ({_show(start)})"
    elif accuracy is None and start is None:
        evidence = ""
    else:
        return None
    rate = _learning_rate_words(entries[end - 1])
    return (
        f"After {end} epochs the training loss is still {_show(losses[-1])}, "
        f"within {_share(FLAT_TOLERANCE)} of epoch 1 ({_show(first)})"
        f"{evidence}: the network is not learning. If the learning rate"
        f"{rate} is tiny, raise it (0.001 is a usual start for Adam, 0.01 to 0.1 "
        "for SGD); if it is not, the network may be dead, with every ReLU giving "
        "zero: check that the inputs are normalised and that the weights are not "
        "initialised to zero."
    )


def _overfitting_at(entries, end) -> str | None:
    """The overfitting sentence if it holds for ``entries[:end]``."""
    if end < 3:
        return None
    window = entries[end - 3 : end]
    val = [_finite(entry.get("val_loss")) for entry in window]
    train = [_finite(entry.get("loss")) for entry in window]
    if any(value is None for value in val + train):
        return None
    if not val[0] < val[1] < val[2]:
        return None
    if train[2] > (1 - OVERFIT_TRAIN_FALL) * train[0]:
        return None

    lowest = min(
        value
        for value in (_finite(entry.get("val_loss")) for entry in entries[:end])
        if value is not None
    )
    margin = max(OVERFIT_ABSOLUTE_MARGIN, OVERFIT_RELATIVE_MARGIN * lowest)
    if val[2] < lowest + margin:
        return None
    first, last = _epoch_number(entries, end - 3), _epoch_number(entries, end - 1)
    return (
        f"Validation loss rose from {_show(val[0])} to {_show(val[2])} over "
        f"epochs {first}-{last} while training loss kept falling "
        f"({_show(train[0])} to {_show(train[2])}): the network is memorising "
        "the training images instead of learning what tells the classes apart. "
        "Add augmentation, use fewer epochs (keep the best checkpoint), more "
        "data or stronger weight decay."
    )


def _paradox_at(entries, end, train_counts) -> str | None:
    """The accuracy-paradox sentence if it holds for epoch ``end``."""
    entry = entries[end - 1]
    accuracy = _finite(entry.get("val_accuracy"))
    auc = _finite(entry.get("val_auc"))
    val_counts = _counts(entry.get("val_counts"))
    majority = _majority(val_counts or train_counts)
    if accuracy is None or auc is None or majority is None:
        return None
    name, share = majority
    images = "validation images" if val_counts else "images"
    if share < PARADOX_MAJORITY_SHARE or auc > PARADOX_MAX_AUC:
        return None
    if val_counts and sum(val_counts.values()) < PARADOX_MIN_IMAGES:
        return None  # a handful of images cannot show a class imbalance
    if accuracy < share - 1e-9:
        return None
    return (
        f"Validation accuracy is {accuracy:.2f}, but {_share(share)} of the "
        f"{images} are '{name}', so always answering '{name}' scores "
        f"as well; the AUC of {auc:.2f} shows the network barely tells the "
        "classes apart. This is the accuracy paradox of unbalanced data: judge "
        "the run by AUC and per-class recall, and balance the classes with class "
        "weights, resampling or a cost matrix."
    )


def _single_class(entry) -> tuple[str, int] | None:
    """The class that got every validation prediction, when val has several."""
    truth = _counts(entry.get("val_counts"))
    predicted = _counts(entry.get("val_predicted"))
    if sum(1 for count in truth.values() if count > 0) < 2:
        return None
    used = [name for name, count in predicted.items() if count > 0]
    if len(used) != 1:
        return None
    return used[0], predicted[used[0]]


def _one_class_at(entries, end, train_counts=None) -> str | None:
    """The one-class sentence if it holds for the last two epochs up to ``end``."""
    if end < 2:
        return None
    latest, previous = _single_class(entries[end - 1]), _single_class(entries[end - 2])
    if latest is None or previous is None or latest[0] != previous[0]:
        return None
    name, count = latest
    truth = _counts(entries[end - 1].get("val_counts"))
    first, last = _epoch_number(entries, end - 2), _epoch_number(entries, end - 1)
    seen = (
        f"In epochs {first}-{last} the network put every validation image in "
        f"'{name}' ({count} of {count}), although the validation set holds "
        f"{sum(1 for value in truth.values() if value > 0)} classes"
    )
    sizes = [value for value in (train_counts or {}).values() if value > 0]
    if len(sizes) >= 2 and max(sizes) <= BALANCED_RATIO * min(sizes):
        return (
            f"{seen}, and the training classes are balanced: it has not learned "
            "to tell them apart yet. Train for more epochs, try another learning "
            "rate, and check that the preprocessing keeps what differs between "
            "the classes."
        )
    return (
        f"{seen}: it has learned only which class is most common. Balance the "
        "training classes with class weights, resampling or a cost matrix, and "
        "judge the run by per-class recall."
    )


# Data rules ---------------------------------------------------------------------


def _inputs_flag(input_stats) -> dict | None:
    """Inputs whose values are far from the 0-1 or mean-0 range, or squashed."""
    if not isinstance(input_stats, Mapping):
        return None
    stats = {
        key: _number(input_stats.get(key)) for key in ("mean", "std", "min", "max")
    }
    if any(value is None for value in stats.values()):
        return None
    mean, std, low, high = stats["mean"], stats["std"], stats["min"], stats["max"]

    if not all(math.isfinite(value) for value in stats.values()):
        sentence = (
            "Some network inputs are NaN or infinite, so every loss computed from "
            "them is too. Check the pipeline steps (a division by zero in a "
            "normalise step on a blank image is the usual cause) and the files."
        )
    elif (
        max(abs(low), abs(high)) > INPUT_MAX_ABS
        or abs(mean) > INPUT_MAX_ABS_MEAN
        or std > INPUT_MAX_STD
    ):
        sentence = (
            f"The network's inputs range from {_show(low)} to {_show(high)} "
            f"(mean {_show(mean)}, standard deviation {_show(std)}): values this "
            "large saturate the first layers and make training unstable. Add a "
            "normalise step at the end of the pipeline (scale to 0-1 or "
            "standardise to mean 0 and standard deviation 1)."
        )
    elif high - low < INPUT_MIN_RANGE:
        sentence = (
            f"The network's inputs only span {_show(low)} to {_show(high)}: the "
            "images are (almost) blank to the network, often because they were "
            "scaled twice (divided by 255 when already in 0-1) or a step wiped "
            "them out. Check the pipeline and normalise once, to 0-1 or to mean "
            "0 and standard deviation 1."
        )
    else:
        return None
    return {"rule": "unnormalised_inputs", "epoch": 0, "sentence": sentence}


def _duplicates_flag(duplicates) -> dict | None:
    """Validation images that are copies of training images."""
    if isinstance(duplicates, int | float) and not isinstance(duplicates, bool):
        count = int(duplicates)
    else:
        count = len(duplicates or ())
    if count <= 0:
        return None
    images = "image is an exact copy" if count == 1 else "images are exact copies"
    sentence = (
        f"{count} validation {images} of training images: the network has "
        "already seen them, so validation scores overstate how it does on new "
        "images. Remove the copies so that each picture sits in one split only."
    )
    return {"rule": "duplicates_across_splits", "epoch": 0, "sentence": sentence}


def diagnose(
    epochs: Sequence[Mapping],
    batch_losses: Sequence[Sequence] = (),
    *,
    classes: Sequence[str],
    input_stats: Mapping | None = None,
    duplicates=0,
    train_counts: Mapping[str, int] | None = None,
    steps_per_epoch: int | None = None,
) -> list[dict]:
    """Check a run's history against the usual failures and explain each one.

    Every rule looks for a pattern that a learner can act on, such as a loss
    that became NaN or a validation loss that climbs while the training loss
    keeps falling, and raises one flag the first time it holds. A flag names
    the numbers seen and the usual fix in plain words.

    Args:
        epochs: One dict per finished epoch, as in ``metrics.jsonl``: ``epoch``
            (1-based), ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``,
            ``val_auc``, ``val_predicted`` and ``val_counts`` (``{class:
            count}``) and ``learning_rate``; ``None`` stands for a
            non-finite number. Missing keys switch the rules that need them off.
        batch_losses: ``[global_step, loss]`` pairs, one per batch; a loss may
            be NaN, infinite or ``None`` when it went non-finite.
        classes: The class names in label order (at least two).
        input_stats: ``mean``, ``std``, ``min`` and ``max`` of a batch of
            network inputs, or ``None`` to skip that rule.
        duplicates: How many validation images copy a training image (a count
            or the list of pairs).
        train_counts: ``{class: count}`` of training images; sets the chance
            accuracy of the flat-loss rule (``1 / len(classes)`` without it).
        steps_per_epoch: Batches per epoch; makes the epoch of a batch-loss
            flag exact (see Notes).

    Returns:
        A list of flags ``{"rule", "epoch", "sentence"}``, at most one per rule,
        sorted by epoch and then rule name. ``epoch`` is the 1-based epoch in
        which the condition first held, 0 for the data rules checked before
        training starts.

    Raises:
        ValueError: ``classes`` holds fewer than two names.

    Notes:
        The rules and their bounds (constants of this module):

        - ``nan_loss``: a batch loss is NaN or infinite, or an epoch's
          training or validation loss is (``None`` in ``metrics.jsonl``).
        - ``exploding_loss``: a finite batch loss above
          ``EXPLODING_FACTOR`` (10) times the starting loss, and the next
          batch loss above it too or non-finite; a single batch above
          ``EXPLODING_SINGLE_FACTOR`` (100) times also counts. The starting
          loss is the lowest of the first three finite batch losses, and at
          least half of ``log(len(classes))``, the loss of a network that
          guesses.
        - ``flat_loss``: from epoch ``FLAT_MIN_EPOCHS`` (3), every epoch's
          training loss within ``FLAT_TOLERANCE`` (5 %) of epoch 1's, and
          either the training accuracy at most ``FLAT_ACCURACY_MARGIN``
          (0.15) above chance (the largest class's share of
          ``train_counts``, else one over the number of classes) or the
          loss less than ``FLAT_START_FALL`` (20 %) below the mean of the
          first three batch losses, the loss before any learning. The second
          test catches a stuck network whose random start happens to beat
          chance; neither fires on a loss that fell in epoch 1 and then
          settled with good accuracy. Without accuracy and batch losses the
          loss alone decides.
        - ``overfitting``: validation loss rose in each of the last two
          epochs and is above its lowest value so far by at least the larger
          of ``OVERFIT_ABSOLUTE_MARGIN`` (0.05) and
          ``OVERFIT_RELATIVE_MARGIN`` (10 %) of it, while the training loss
          fell by at least ``OVERFIT_TRAIN_FALL`` (2 %) over the same three
          epochs (a network that does not learn at all can still see its
          validation loss drift as batch-normalisation statistics settle).
        - ``accuracy_paradox``: the largest class holds at least
          ``PARADOX_MAJORITY_SHARE`` (60 %) of the validation images (of
          ``train_counts`` when the epoch lacks ``val_counts``), validation
          accuracy is at least that share, and val_auc is at most
          ``PARADOX_MAX_AUC`` (0.6). An undefined val_auc never raises it.
        - ``one_class_predictions``: in two epochs in a row every validation
          prediction is the same class while the validation images hold at
          least two classes. A single epoch is not enough, because a freshly
          built network with batch normalisation often does this after its
          first epoch and then recovers.
        - ``unnormalised_inputs``: a statistic is non-finite; or the largest
          absolute input is above ``INPUT_MAX_ABS`` (20), the absolute mean
          above ``INPUT_MAX_ABS_MEAN`` (5) or the standard deviation above
          ``INPUT_MAX_STD`` (5), as for raw 0-255 pixels; or the inputs span
          less than ``INPUT_MIN_RANGE`` (0.05), as for images scaled twice.
        - ``duplicates_across_splits``: ``duplicates`` above 0.

        Without ``steps_per_epoch`` a non-finite batch loss is placed in the
        first epoch whose mean training loss is non-finite, or in the epoch in
        progress; an exploding batch loss is placed by sharing the steps seen
        evenly among the finished epochs, which is exact when the history ends
        at an epoch boundary and otherwise can name one epoch too early.
        The rules read small, noisy validation sets too, so a flag is a prompt
        to look, not a proof. The cost grows with the square of the number of
        epochs and linearly with the number of batches: about a millisecond
        for 20 epochs and 500 batches, some 50 ms for 200 epochs and 20,000
        batches.

    Example:
        >>> history = [{"epoch": 1, "loss": None, "val_loss": None}]
        >>> [flag["rule"] for flag in diagnose(history, classes=["a", "b"])]
        ['nan_loss']
    """
    classes = [str(name) for name in classes]
    if len(classes) < 2:
        raise ValueError(
            f"diagnose needs at least two class names. Received: classes={classes}"
        )
    entries = [entry for entry in epochs if isinstance(entry, Mapping)]
    series = _batch_series(batch_losses)
    counts = _counts(train_counts)
    majority = _majority(counts)
    chance = majority[1] if majority else 1.0 / len(classes)
    start = _starting_loss(series)

    flags = [
        _nan_flag(entries, series, steps_per_epoch),
        _exploding_flag(entries, series, classes, steps_per_epoch),
        _inputs_flag(input_stats),
        _duplicates_flag(duplicates),
    ]
    epoch_rules = {
        "flat_loss": lambda end: _flat_at(entries, end, chance, start),
        "overfitting": lambda end: _overfitting_at(entries, end),
        "accuracy_paradox": lambda end: _paradox_at(entries, end, counts),
        "one_class_predictions": lambda end: _one_class_at(entries, end, counts),
    }
    for rule, check in epoch_rules.items():
        for end in range(1, len(entries) + 1):
            sentence = check(end)
            if sentence:
                epoch = _epoch_number(entries, end - 1)
                flags.append({"rule": rule, "epoch": epoch, "sentence": sentence})
                break

    found = [flag for flag in flags if flag is not None]
    return sorted(found, key=lambda flag: (flag["epoch"], flag["rule"]))


def _valid_flag(flag) -> bool:
    """Whether ``flag`` has a known rule, a whole epoch and a sentence."""
    return (
        isinstance(flag, Mapping)
        and flag.get("rule") in RULES
        and isinstance(flag.get("epoch"), int)
        and not isinstance(flag.get("epoch"), bool)
        and isinstance(flag.get("sentence"), str)
    )


def write_diagnosis(run_dir, flags: Sequence[Mapping]) -> Path:
    """Save the flags as ``diagnosis.json`` in the run folder, atomically.

    The file is written under a temporary name and renamed over the old one,
    so a reader sees either the previous flags or the new ones, never half a
    file.

    Args:
        run_dir: The run folder (created if missing).
        flags: Flags from :func:`diagnose`.

    Returns:
        The path of ``diagnosis.json``.

    Raises:
        ValueError: A flag lacks a known ``rule``, an integer ``epoch`` or a
            ``sentence``.
    """
    flags = list(flags)
    for flag in flags:
        if not _valid_flag(flag):
            raise ValueError(
                "A diagnosis flag needs a known rule, an integer epoch and a "
                f"sentence. Received: flag={flag!r}"
            )
    clean = [
        {"rule": flag["rule"], "epoch": flag["epoch"], "sentence": flag["sentence"]}
        for flag in flags
    ]

    folder = Path(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / DIAGNOSIS_FILE
    write_json(target, {"flags": clean})
    return target


def read_diagnosis(run_dir) -> list[dict]:
    """The flags saved in a run folder's ``diagnosis.json``.

    Args:
        run_dir: The run folder.

    Returns:
        The well-formed flags in file order; ``[]`` when the file is missing,
        unreadable or not a diagnosis. Malformed entries are left out.
    """
    path = Path(run_dir) / DIAGNOSIS_FILE
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as error:
        logger.warning("Ignoring unreadable %s: %s", path, error)
        return []
    flags = content.get("flags") if isinstance(content, dict) else None
    if not isinstance(flags, list):
        logger.warning("Ignoring %s: it holds no list of flags", path)
        return []
    return [
        {"rule": flag["rule"], "epoch": flag["epoch"], "sentence": flag["sentence"]}
        for flag in flags
        if _valid_flag(flag)
    ]
