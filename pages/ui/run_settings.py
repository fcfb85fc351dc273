"""Put a past run's settings back into the Training page's widgets.

A learner repeats an experiment with one change (a quarter of the images, a
lower learning rate) by loading a run's settings and editing one widget. It
also brings the form back after a reload, since the address bar keeps the
shown run. Every value goes through the widget it belongs to: a value the
widget cannot show (a learning rate from the command line that the slider
does not offer) is left as it was, and one sentence says so.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages.ui.controls import dataset_choices
from pages.ui.pipeline_editor import replace_steps
from pages.ui.training_form import (
    AUGMENTATION_SIZE,
    BATCH_SIZES,
    COST_STORE,
    COST_VERSION,
    IMAGE_SIZES,
    LEARNING_RATES,
    PREPROCESSING_PREFIX,
)
from training.data import DatasetError, default_data_root, scan_dataset
from training.runner import ConfigError, RunConfig

__all__ = ["show_settings_notes", "use_run_settings"]

NOTES = "_tr_settings_notes"
"""Session key: the sentences about the last loaded settings, shown once."""

_FIXED = {"momentum": 0.9, "weight_decay": 1e-4, "strategy": "auto"}
"""Settings the page does not offer; it always trains with these values."""


def _dataset_key(data_dir: str) -> str | None:
    """The Dataset choice for ``data_dir``; may point the data folder at it.

    The dataset is looked up under the sidebar's data folder first, then in
    the folder that holds ``data_dir``, which then becomes the data folder.
    """
    wanted = Path(data_dir).resolve()
    current = Path(st.session_state.get("src_data_root") or default_data_root())
    for root in (current, Path(data_dir).parent):
        for name, path in dataset_choices(root).items():
            if Path(path).resolve() == wanted:
                if root != current:
                    st.session_state["src_data_root"] = str(root)
                return name
    return None


def _put(key: str, label: str, wanted, shown, moved: list[str]) -> None:
    """Set a widget to ``shown``, the nearest value it offers to ``wanted``."""
    st.session_state[key] = shown
    if shown != wanted:
        moved.append(f"{label} {wanted:g} as {shown:g}")


def _data(config: RunConfig, notes: list[str], moved: list[str]) -> list[str]:
    """Set the Data section; returns the run's classes in label order."""
    state = st.session_state
    folder = state.get("src_data_root")
    name = _dataset_key(config.data_dir)
    if name is None:
        notes.append(
            f"The run's images in `{config.data_dir}` are no dataset this page can "
            "find any more, so the Data section keeps its choices."
        )
        return list(config.classes or [])
    if state.get("src_data_root") != folder:
        notes.append(
            f"The sidebar's data folder is now `{state['src_data_root']}`, which "
            "holds the run's images."
        )
    state["tr_dataset"] = name
    try:
        index = scan_dataset(config.data_dir)
    except DatasetError as error:
        notes.append(f"The run's dataset cannot be read now: {error}")
        return list(config.classes or [])
    classes = list(config.classes or index.classes)
    gone = [label for label in classes if label not in index.classes]
    if gone:
        notes.append(
            f"The run's class(es) {', '.join(gone)} are no longer in the dataset, "
            "so the form trains without them."
        )
    kept = [label for label in classes if label in index.classes]
    state[f"tr_classes_{name}"] = kept
    smallest = min((len(index.files[c]) for c in kept), default=0)
    if config.per_class:
        state["tr_subset"] = "per_class"
        shown = max(2, min(smallest, int(config.per_class)))
        _put(f"tr_per_class_{name}", "images per class", config.per_class, shown, moved)
    elif config.percent:
        state["tr_subset"] = "percent"
        shown = max(1, min(100, round(config.percent)))
        _put("tr_percent", "share of each class (%)", config.percent, shown, moved)
    else:
        state["tr_subset"] = "all"
    state["tr_imbalance"] = bool(config.class_ratio)
    if config.class_ratio:
        state[f"tr_class_ratio_{name}"] = ":".join(
            f"{value:.15g}" for value in config.class_ratio
        )
    return classes


def _choose(key: str, value, options, label: str, notes: list[str]) -> None:
    """Set a slider of fixed options, or say the run's value is not one of them."""
    if value in options:
        st.session_state[key] = value
        return
    notes.append(
        f"The run's {label} ({value:g}) is not on this page's slider, so the "
        "slider keeps its position."
    )


def _preprocessing(config: RunConfig, notes: list[str]) -> None:
    state = st.session_state
    if config.pipeline is None:
        state["tr_preprocessing"] = "largest"
        return
    state["tr_preprocessing"] = "page"
    replace_steps(PREPROCESSING_PREFIX, config.pipeline)
    # The run's steps are fixed now; the page's sections stop adding theirs.
    state[f"{PREPROCESSING_PREFIX}include_mask"] = False
    state[f"{PREPROCESSING_PREFIX}include_normalize"] = False
    count = len(config.pipeline["steps"])
    notes.append(
        f"The Preprocessing page's pipeline now holds the run's {count} step(s)."
    )


def _augmentation(config: RunConfig, notes: list[str], moved: list[str]) -> None:
    state = st.session_state
    ranges = config.augmentation
    state["tr_augment"] = bool(ranges)
    if not ranges:
        return
    state["aug_flip_h"] = bool(ranges.get("flip_horizontal"))
    state["aug_flip_v"] = bool(ranges.get("flip_vertical"))
    rotation, zoom = ranges.get("rotation", 0.0), ranges.get("zoom", 1.0)
    shear, brightness = ranges.get("shear", 0.0), 1.0 + ranges.get("brightness", 0.0)
    _put("aug_rotation", "rotation", rotation, min(180, round(rotation)), moved)
    _put("aug_zoom", "zoom", zoom, min(4.0, round(zoom * 20) / 20), moved)
    _put("aug_shear", "shear", shear, min(45, round(shear)), moved)
    shown = min(3.0, round(brightness * 20) / 20)
    _put("aug_brightness", "brightness", brightness, shown, moved)
    state["aug_fill"] = ranges.get("fill", "constant")
    height, width = state.get(AUGMENTATION_SIZE) or (0, 0)
    shifts = ranges.get("shift_x", 0.0), ranges.get("shift_y", 0.0)
    if any(shifts) and not width:
        notes.append(
            "The run shifted its images; open the Augmentation page once so its "
            "shift sliders can be set in pixels of its picture."
        )
    else:
        state["aug_shift_x"] = round(shifts[0] * width)
        state["aug_shift_y"] = round(shifts[1] * height)
    notes.append("The Augmentation page's sliders now hold the run's ranges.")


def _training(
    config: RunConfig, classes: list[str], notes: list[str], moved: list[str]
) -> None:
    state = st.session_state
    _choose("tr_image_size", config.image_size, IMAGE_SIZES, "image size", notes)
    _choose("tr_batch_size", config.batch_size, BATCH_SIZES, "batch size", notes)
    _choose(
        "tr_learning_rate",
        config.learning_rate,
        LEARNING_RATES,
        "learning rate",
        notes,
    )
    if 1 <= config.epochs <= 100:
        state["tr_epochs"] = config.epochs
    else:
        notes.append(f"The run's {config.epochs} epochs are more than the page's 100.")
    if 0.1 <= config.val_fraction <= 0.5:
        shown = round(config.val_fraction * 20) / 20
        _put("tr_val_fraction", "validation share", config.val_fraction, shown, moved)
    else:
        notes.append(
            f"The run's validation share {config.val_fraction:g} is outside the "
            "page's 0.1 to 0.5."
        )
    state["tr_seed"] = config.seed
    state["tr_depth"] = config.depth
    state["tr_version"] = "v2" if config.preact else "v1"
    state["tr_optimizer"] = config.optimizer
    state["tr_schedule"] = config.schedule
    state["tr_class_weight"] = config.class_weight
    state["tr_loss"] = config.loss
    if config.cost_matrix is not None and len(config.cost_matrix) == len(classes):
        state[COST_STORE] = {
            "classes": classes,
            "matrix": [list(row) for row in config.cost_matrix],
        }
        state[COST_VERSION] = state.get(COST_VERSION, 0) + 1
    elif config.cost_matrix is not None:
        notes.append(
            "The run's cost matrix does not fit the classes the form now has, so "
            "the editor starts from 'rarer class dearer'."
        )
    state["tr_run_name"] = config.name or ""
    different = [
        f"{name.replace('_', ' ')} {getattr(config, name)}"
        for name, value in _FIXED.items()
        if getattr(config, name) != value
    ]
    if different:
        notes.append(
            "The page always trains with momentum 0.9, weight decay 1e-4 and all "
            f"local GPUs; the run used {', '.join(different)}."
        )


def use_run_settings(config: dict) -> None:
    """Load a run's ``config.json`` into the widgets (a button's callback).

    Runs before the page is drawn, so every widget may still be set.
    """
    try:
        run_config = RunConfig.from_dict(config)
    except (ConfigError, TypeError) as error:
        st.session_state[NOTES] = [f"The run's settings cannot be used: {error}"]
        return
    notes: list[str] = []
    moved: list[str] = []
    classes = _data(run_config, notes, moved)
    _preprocessing(run_config, notes)
    _augmentation(run_config, notes, moved)
    _training(run_config, classes, notes, moved)
    if moved:
        notes.append(
            "Some values lie between the steps of their sliders and were moved to "
            f"the nearest: {', '.join(moved)}."
        )
    if run_config.overfit_check:
        notes.append(
            "The run was an overfit check; press 'Overfit check' to repeat it."
        )
    st.session_state[NOTES] = ["The form now holds the run's settings.", *notes]


def show_settings_notes() -> None:
    """Say, once, what loading a run's settings did and what it could not do."""
    notes = st.session_state.pop(NOTES, None)
    if notes:
        st.info(" ".join(notes))
        st.toast("The run's settings are in the form; the note at the top says more.")
