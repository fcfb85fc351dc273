"""The Training page's settings: data, model and training, as one RunConfig.

Every widget here turns into a keyword of :class:`training.runner.RunConfig`.
A setting that cannot work is reported as a sentence in ``problems`` and the
page keeps its Start buttons disabled; nothing here raises.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from imgproc import PipelineError
from pages.ui.compute import clamp_state
from pages.ui.controls import data_root, dataset_choices
from pages.ui.pipeline_editor import compact_steps, current_pipeline
from pages.ui.session import forget_unknown
from training.data import (
    DatasetError,
    DatasetIndex,
    detect_channels,
    scan_dataset,
    select_files,
    stratified_split,
)
from training.models import BLOCK_EXPLANATIONS, STAGES, block_diagram
from training.runner import (
    MAX_SEED,
    ConfigError,
    RunConfig,
    active_runs,
    learning_rate_at,
)

__all__ = [
    "AUGMENTATION_SIZE",
    "BATCH_SIZES",
    "COST_STORE",
    "COST_VERSION",
    "IMAGE_SIZES",
    "LEARNING_RATES",
    "PREPROCESSING_PREFIX",
    "SettingsForm",
    "augmentation_ranges",
    "settings_form",
]

IMAGE_SIZES = [32, 48, 64, 96, 128, 160, 224, 256]
BATCH_SIZES = [4, 8, 16, 32, 64]
LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]

SUBSET_KINDS = {
    "all": "All images",
    "per_class": "A number per class",
    "percent": "A share of each class",
}
PREPROCESSING = {
    "largest": "Divide by the largest value (0 to 1)",
    "page": "The Preprocessing page's pipeline",
}
SCHEDULES = {
    "constant": "Constant",
    "halve": "Halve every epoch",
    "cosine": "Cosine decay",
}
OPTIMIZERS = {"adam": "Adam", "sgd": "SGD with momentum 0.9"}
CLASS_WEIGHTS = {"none": "None", "balanced": "Balanced"}
LOSSES = {"crossentropy": "Cross-entropy", "cost_matrix": "Cost-matrix loss"}

PREPROCESSING_PREFIX = "pp_"
"""Session prefix of the Preprocessing page's pipeline entries."""

AUGMENTATION_SIZE = "aug_image_size"
"""Session key where the Augmentation page keeps (height, width) of its picture."""

COST_STORE = "tr_cost_matrix"
"""Session key of the edited cost matrix and the classes it was made for."""
COST_VERSION = "_tr_cost_version"
"""Session key counted up to redraw the cost-matrix editor from the store."""
_SUMMARIES = "_tr_summaries"


@dataclass
class SettingsForm:
    """What the settings widgets describe.

    Attributes
    ----------
    settings : dict
        Keyword arguments for :class:`RunConfig`; complete only when
        ``problems`` is empty.
    problems : list of str
        Sentences naming each setting that cannot work as it stands.
    index : DatasetIndex or None
        The chosen dataset, restricted to the chosen classes.
    """

    settings: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    index: DatasetIndex | None = None

    @property
    def ready(self) -> bool:
        """Whether a run can start with these settings."""
        return not self.problems and self.index is not None

    def config(self, **changes) -> RunConfig:
        """A validated RunConfig, with ``changes`` applied.

        Raises
        ------
        ConfigError
            When a setting is out of range; the message is a sentence.
        """
        return RunConfig(**{**self.settings, **changes})


def _ordered_counts(selected: dict[str, list]) -> str:
    """``daisy 6, rose 50``: the kept images per class, in label order."""
    return ", ".join(f"{name} {len(paths)}" for name, paths in selected.items())


# -- Data ---------------------------------------------------------------------


def _choose_dataset(form: SettingsForm) -> tuple[str, DatasetIndex | None]:
    """The dataset choice; returns its name and its full index (None: a sentence)."""
    root = data_root()
    choices = dataset_choices(root)
    if not root.is_dir():
        st.caption(
            f"The data folder `{root}` does not exist, so only the bundled set of "
            "faces is offered. The README says how to add the flower and chest "
            "X-ray sets."
        )
    elif len(choices) == 1:
        st.caption(
            f"No datasets found in `{root}` yet, so only the bundled set of faces "
            "is offered. The README says how to add the flower and chest X-ray sets."
        )
    forget_unknown("tr_dataset", choices)
    name = st.selectbox("Dataset", list(choices), key="tr_dataset")
    try:
        index = scan_dataset(choices[name])
    except DatasetError as error:
        form.problems.append(str(error))
        st.warning(str(error))
        return name, None
    counts = ", ".join(f"{cls}: {len(index.files[cls])}" for cls in index.classes)
    st.caption(f"`{index.root}` holds {len(index.classes)} classes ({counts}).")
    if index.ignored:
        st.caption(f"Not class folders, ignored: {', '.join(index.ignored)}.")
    if index.non_images:
        st.caption(
            f"{index.non_images} file(s) without an image extension are skipped."
        )
    return name, index


def _subset(name: str, smallest: int) -> tuple[int | None, float | None]:
    """The images-per-class or percentage widgets of an ablation."""
    kind = st.radio(
        "Images to use",
        list(SUBSET_KINDS),
        index=1,
        format_func=SUBSET_KINDS.get,
        key="tr_subset",
        horizontal=True,
        help="Training on fewer images shows how much a network gains from more "
        "data: repeat a run with 10, 25, 50 and 100% and compare the curves.",
    )
    if kind == "per_class":
        if smallest > 2:
            clamp_state(f"tr_per_class_{name}", 2, smallest)
            return (
                st.slider(
                    "Images per class",
                    2,
                    smallest,
                    min(smallest, 50),
                    key=f"tr_per_class_{name}",
                    help="Each class contributes at most this many images.",
                ),
                None,
            )
        st.caption("Images per class: 2, all the smallest class has.")
        return 2, None
    if kind == "percent":
        return None, float(
            st.slider(
                "Share of each class (%)",
                1,
                100,
                50,
                key="tr_percent",
                help="Every class keeps this share of its images, at least 2.",
            )
        )
    return None, None


def _parse_ratio(text: str, classes: list[str]) -> tuple[list[float] | None, str]:
    """Numbers from ``"1:9"`` text, or None and a sentence saying what is wrong."""
    if len(classes) < 2:
        return None, "A class ratio needs at least two classes; choose them above."
    try:
        ratio = [float(part) for part in text.replace(",", ":").split(":")]
    except ValueError:
        return None, (
            f"The class ratio {text!r} is not numbers separated by colons; write "
            "one number per class, like 1:9."
        )
    if len(ratio) != len(classes):
        return None, (
            f"The class ratio has {len(ratio)} number(s) for {len(classes)} "
            f"classes ({', '.join(classes)}); write one per class, like "
            f"{':'.join(['1'] * (len(classes) - 1) + ['9'])}."
        )
    if not all(math.isfinite(value) for value in ratio):
        return None, (
            f"The class ratio {text!r} holds something that is not an ordinary "
            "number (infinite, not a number, or too large to count); write "
            "numbers like 1:9."
        )
    if not all(value > 0 for value in ratio):
        return None, "Every number in the class ratio must be above 0."
    return ratio, ""


def _class_ratio(name: str, classes: list[str], form: SettingsForm):
    """The imbalance switch and ratio text; returns the ratio or None."""
    imbalance = st.toggle(
        "Make the classes imbalanced on purpose",
        key="tr_imbalance",
        help="Keeps the classes in the ratio you give, as many images as that "
        "allows, to see what a rare class does to accuracy, AUC and recall.",
    )
    if not imbalance:
        return None
    default = ":".join(["1"] * (max(len(classes), 2) - 1) + ["9"])
    text = st.text_input(
        f"Class ratio ({':'.join(classes) or 'one number per class'})",
        value=default,
        key=f"tr_class_ratio_{name}",
    )
    ratio, problem = _parse_ratio(text, classes)
    if problem:
        form.problems.append(problem)
        st.warning(problem)
    return ratio


def _preprocessing(form: SettingsForm) -> dict | None:
    """The preprocessing choice; returns the pipeline dict or None."""
    choice = st.radio(
        "Preprocessing",
        list(PREPROCESSING),
        format_func=PREPROCESSING.get,
        key="tr_preprocessing",
        help="Dividing by the largest value of the image type gives inputs from "
        "0 to 1. The Preprocessing page's pipeline runs on every image at full "
        "size before resizing, exactly as its preview shows.",
    )
    if choice == "largest":
        return None
    try:
        pipeline = current_pipeline(PREPROCESSING_PREFIX)
    except PipelineError as error:
        problem = f"The Preprocessing page's pipeline cannot be used: {error}"
        form.problems.append(problem)
        st.warning(problem)
        return None
    if not any(step["enabled"] for step in pipeline["steps"]):
        st.info(
            "The Preprocessing page's pipeline has no step switched on, so the "
            "network sees raw pixel values (0 to 255 for 8-bit pictures). Build a "
            "pipeline on the Preprocessing page, or keep this to see what "
            "unscaled inputs do to training."
        )
    st.code(compact_steps(pipeline), language="json")
    return pipeline


def augmentation_ranges() -> tuple[dict | None, str]:
    """The Augmentation page's sliders as training ranges, and a short text.

    Shifts are set there in pixels of the previewed picture and become a
    fraction of the side here, so they mean the same at any training size.

    Returns
    -------
    ranges : dict or None
        ``imgproc.augment`` ranges with fractional shifts; None when every
        slider is at "no change".
    text : str
        The ranges in words, or a sentence saying why there are none.
    """
    state = st.session_state
    zoom = float(state.get("aug_zoom", 1.0)) or 1.0
    height, width = state.get(AUGMENTATION_SIZE) or (0, 0)
    shift_x, shift_y = (
        abs(state.get("aug_shift_x", 0)),
        abs(state.get("aug_shift_y", 0)),
    )
    ranges = {
        "flip_horizontal": bool(state.get("aug_flip_h", False)),
        "flip_vertical": bool(state.get("aug_flip_v", False)),
        "rotation": float(abs(state.get("aug_rotation", 0))),
        "zoom": float(max(zoom, 1.0 / zoom)),
        "shift_x": min(1.0, shift_x / width) if width else 0.0,
        "shift_y": min(1.0, shift_y / height) if height else 0.0,
        "shear": float(abs(state.get("aug_shear", 0))),
        "brightness": round(abs(float(state.get("aug_brightness", 1.0)) - 1.0), 4),
        "fill": state.get("aug_fill", "constant"),
    }
    words = []
    if ranges["flip_horizontal"]:
        words.append("flip left-right")
    if ranges["flip_vertical"]:
        words.append("flip up-down")
    if ranges["rotation"]:
        words.append(f"rotation up to ±{ranges['rotation']:g}°")
    if ranges["zoom"] != 1.0:
        words.append(f"zoom up to {ranges['zoom']:.2f}x")
    for axis in ("x", "y"):
        if ranges[f"shift_{axis}"]:
            words.append(
                f"shift {axis} up to ±{ranges[f'shift_{axis}']:.0%} of the side"
            )
    if ranges["shear"]:
        words.append(f"shear up to ±{ranges['shear']:g}°")
    if ranges["brightness"]:
        words.append(f"brightness ±{ranges['brightness']:g}")
    if not words:
        return None, (
            "Every slider of the Augmentation page is at 'no change'; set the "
            "ranges there first."
        )
    text = ", ".join(words)
    if ranges["rotation"] or ranges["zoom"] != 1.0 or ranges["shear"]:
        text += f"; corners filled by {ranges['fill']}"
    if (shift_x or shift_y) and not width:
        text += (
            ". The shift is left out: open the Augmentation page once more so "
            "its pixels can be turned into a share of the side"
        )
    return ranges, text + "."


def _augmentation() -> dict | None:
    """The augmentation switch; returns the ranges when it is on and set."""
    on = st.toggle(
        "Augment the training images with the Augmentation page's ranges",
        key="tr_augment",
        help="Every training image gets its own random draw within the ranges, "
        "new every epoch; validation images are never augmented.",
    )
    if not on:
        return None
    ranges, text = augmentation_ranges()
    if ranges is None:
        st.info(text)
    else:
        st.caption(f"Augmentation: {text}")
    return ranges


def _split_preview(selected: dict, val_fraction: float, seed: int, form) -> dict:
    """Say how many images train and validate; returns training counts."""
    try:
        train, val = stratified_split(selected, val_fraction, seed)
    except DatasetError as error:
        form.problems.append(str(error))
        st.warning(str(error))
        return {}
    names = list(selected)
    counts = {name: 0 for name in names}
    for _, label in train:
        counts[names[label]] += 1
    per_class = ", ".join(f"{name} {count}" for name, count in counts.items())
    st.caption(
        f"Kept per class: {_ordered_counts(selected)}. {len(train)} images train "
        f"({per_class}) and {len(val)} validate."
    )
    return counts


def data_section(form: SettingsForm) -> dict:
    """Draw the Data section; returns the training images per class."""
    st.header("Data")
    name, index = _choose_dataset(form)
    if index is None:
        return {}
    key = f"tr_classes_{name}"
    if key in st.session_state:
        kept = [c for c in st.session_state[key] if c in index.classes]
        st.session_state[key] = kept
    classes = st.multiselect(
        "Classes",
        index.classes,
        default=index.classes,
        key=key,
        help="The order here is the label order, and the order of a class ratio.",
    )
    if len(classes) < 2:
        problem = "Choose at least two classes to train a classifier."
        form.problems.append(problem)
        st.warning(problem)
    form.index = DatasetIndex(
        index.root, list(classes), {c: index.files[c] for c in classes}
    )
    smallest = min((len(index.files[c]) for c in classes), default=0)

    columns = st.columns(2)
    with columns[0]:
        per_class, percent = _subset(name, smallest)
        ratio = _class_ratio(name, list(classes), form)
        image_size = st.select_slider(
            "Image size (pixels)",
            IMAGE_SIZES,
            value=64,
            key="tr_image_size",
            help="The side of the square each picture is resized to: larger keeps "
            "detail but trains slower.",
        )
    with columns[1]:
        pipeline = _preprocessing(form)
        augmentation = _augmentation()
        seed = st.number_input(
            "Seed",
            0,
            MAX_SEED,
            0,
            1,
            key="tr_seed",
            help="Same seed, same images, split, shuffling and starting weights.",
        )
        val_fraction = st.slider(
            "Validation share",
            0.1,
            0.5,
            0.2,
            0.05,
            key="tr_val_fraction",
            help="The share of each class held out to check the network on "
            "images it never trains on.",
        )
    form.settings.update(
        data_dir=str(index.root),
        classes=list(classes),
        image_size=int(image_size),
        per_class=per_class,
        percent=percent,
        class_ratio=ratio,
        pipeline=pipeline,
        augmentation=augmentation,
        seed=int(seed),
        val_fraction=float(val_fraction),
    )
    if len(classes) < 2 or (st.session_state.get("tr_imbalance") and ratio is None):
        return {}
    try:
        selected = select_files(form.index, per_class, int(seed), percent, ratio)
    except DatasetError as error:
        form.problems.append(str(error))
        st.warning(str(error))
        return {}
    return _split_preview(selected, float(val_fraction), int(seed), form)


# -- Model --------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=16)
def _channels(root: str, classes: tuple[str, ...]) -> int:
    """1 or 3 input channels, from a few images of each class."""
    index = scan_dataset(root, list(classes))
    return detect_channels([p for name in classes for p in index.files[name][:8]])


@st.cache_data(show_spinner="Building the network to count its weights...")
def _model_summary(
    depth: int, preact: bool, image_size: int, channels: int, num_classes: int
) -> dict:
    """Build one ResNet, describe it and let it go (Keras loads here only)."""
    from training.models import build_resnet, describe_model

    model = build_resnet(
        (image_size, image_size, channels), num_classes, depth=depth, preact=preact
    )
    try:
        return describe_model(model)
    finally:
        del model
        gc.collect()
        if not active_runs():
            import keras

            keras.utils.clear_session()


def _show_summary(form: SettingsForm, depth: int, preact: bool) -> None:
    """The summary button and, once asked for, the summary of these settings."""
    index = form.index
    if index is None or len(index.classes) < 2:
        return
    clicked = st.button("Show summary and parameter count", key="btn_model_summary")
    asked = st.session_state.setdefault(_SUMMARIES, set())
    wanted = (depth, preact, form.settings["image_size"], str(index.root))
    if clicked:
        asked.add(wanted)
    if wanted not in asked:
        return
    try:
        channels = _channels(str(index.root), tuple(index.classes))
    except DatasetError as error:
        st.warning(str(error))
        return
    summary = _model_summary(
        depth, preact, form.settings["image_size"], channels, len(index.classes)
    )
    st.markdown(
        f"**ResNet-{depth} {'v2' if preact else 'v1'}** for {channels}-channel "
        f"{form.settings['image_size']} px images and {len(index.classes)} classes: "
        f"{summary['parameters']:,} parameters, "
        f"{summary['trainable_parameters']:,} of them trainable. Grad-CAM reads "
        f"the layer `{summary['last_conv_layer']}`."
    )
    with st.expander("Layer by layer"):
        st.code(summary["summary"], language="text")


def model_section(form: SettingsForm) -> None:
    """Draw the Model section: depth, version, explanation and block diagram."""
    st.header("Model")
    left, right = st.columns([3, 2])
    with left:
        depth = st.radio(
            "Depth",
            list(STAGES),
            format_func=lambda d: f"ResNet-{d}",
            key="tr_depth",
            horizontal=True,
        )
        version = st.radio(
            "Block",
            ["v2", "v1"],
            format_func={"v2": "v2: pre-activation", "v1": "v1: original"}.get,
            key="tr_version",
            horizontal=True,
        )
        kind = STAGES[depth][0]
        preact = version == "v2"
        blocks = sum(STAGES[depth][1])
        st.markdown(
            f"ResNet-{depth} stacks {blocks} {kind} blocks in four stages. "
            + BLOCK_EXPLANATIONS["residual"]
        )
        if kind == "bottleneck":
            st.markdown(BLOCK_EXPLANATIONS["bottleneck"])
        st.markdown(BLOCK_EXPLANATIONS["preactivation" if preact else "original"])
    with right:
        st.graphviz_chart(block_diagram(kind, preact))
    form.settings.update(depth=int(depth), preact=preact)
    _show_summary(form, int(depth), preact)


# -- Training -----------------------------------------------------------------


def _schedule_chart(schedule: str, rate: float, epochs: int) -> go.Figure:
    """The learning rate each epoch will use under the chosen schedule."""
    plan = SimpleNamespace(schedule=schedule, learning_rate=rate, epochs=epochs)
    x = list(range(1, epochs + 1))
    y = [learning_rate_at(plan, epoch) for epoch in range(epochs)]
    figure = go.Figure(go.Scatter(x=x, y=y, mode="lines+markers", name="rate"))
    figure.update_layout(
        title="Learning rate per epoch",
        height=200,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis_title="epoch",
        yaxis=dict(range=[0, rate * 1.15], tickformat="~g"),
    )
    return figure


def _rarer_dearer(counts: list[int]) -> list[list[float]]:
    """Costs where missing an image of class i costs largest count / count i."""
    largest = max(counts)
    return [
        [
            1.0 if i == j else round(largest / max(1, count), 2)
            for j in range(len(counts))
        ]
        for i, count in enumerate(counts)
    ]


def _cost_matrix(train_counts: dict, form: SettingsForm) -> list[list[float]] | None:
    """The editable cost matrix, starting at "the rarer class is dearer"."""
    classes = list(train_counts)
    if len(classes) < 2:
        return None
    stored = st.session_state.get(COST_STORE)
    if st.button("Reset to 'rarer class dearer'", key="btn_cost_reset"):
        stored = None
        st.session_state[COST_VERSION] = st.session_state.get(COST_VERSION, 0) + 1
    if not stored or stored.get("classes") != classes:
        stored = {
            "classes": classes,
            "matrix": _rarer_dearer(list(train_counts.values())),
        }
    frame = pd.DataFrame(
        stored["matrix"],
        index=[f"true {name}" for name in classes],
        columns=[f"predicted {name}" for name in classes],
    )
    version = st.session_state.get(COST_VERSION, 0)
    edited = st.data_editor(
        frame,
        key=f"edit_tr_cost_{version}_{'|'.join(classes)}",
        num_rows="fixed",
        column_config={
            column: st.column_config.NumberColumn(column, min_value=0.0, step=0.5)
            for column in frame.columns
        },
    )
    values = edited.to_numpy(dtype=float, na_value=math.nan)
    if not (np.isfinite(values) & (values >= 0)).all():
        problem = (
            "Every cell of the cost matrix needs an ordinary number of at least 0 "
            "(not empty, not infinite)."
        )
        form.problems.append(problem)
        st.warning(problem)
        return None
    matrix = values.tolist()
    st.session_state[COST_STORE] = {"classes": classes, "matrix": matrix}
    st.caption(
        "Row: the true class; column: what the network said. Right answers "
        "usually cost 1; the starting values make missing a rarer class dearer "
        "in proportion to how much rarer it is among the training images."
    )
    return matrix


def training_section(form: SettingsForm, train_counts: dict) -> None:
    """Draw the Training section: epochs, optimiser, schedule and loss."""
    st.header("Training")
    st.markdown(
        "An **epoch** is one pass over the training images; the **batch size** is "
        "how many images each update sees. The **learning rate** sets the step "
        "size: too high and the loss jumps or becomes NaN, too low and it barely "
        "moves. **Adam** adapts the step per weight and is forgiving; **SGD with "
        "momentum** is the classic choice. A **schedule** lowers the rate as "
        "training goes on, so late steps settle instead of overshooting."
    )
    columns = st.columns(3)
    with columns[0]:
        epochs = st.slider("Epochs", 1, 100, 5, key="tr_epochs")
        batch_size = st.select_slider(
            "Batch size", BATCH_SIZES, value=16, key="tr_batch_size"
        )
        rate = st.select_slider(
            "Learning rate",
            LEARNING_RATES,
            value=1e-3,
            format_func=lambda value: f"{value:g}",
            key="tr_learning_rate",
        )
        optimizer = st.radio(
            "Optimizer",
            list(OPTIMIZERS),
            format_func=OPTIMIZERS.get,
            key="tr_optimizer",
            horizontal=True,
        )
    with columns[1]:
        schedule = st.radio(
            "Learning-rate schedule",
            list(SCHEDULES),
            format_func=SCHEDULES.get,
            key="tr_schedule",
            horizontal=True,
        )
        st.plotly_chart(
            _schedule_chart(schedule, rate, epochs), key="tr_schedule_chart"
        )
    with columns[2]:
        class_weight = st.radio(
            "Class weights",
            list(CLASS_WEIGHTS),
            format_func=CLASS_WEIGHTS.get,
            key="tr_class_weight",
            horizontal=True,
            help="Balanced weights count each image of a class in inverse "
            "proportion to the class's share, so a rare class weighs as much "
            "in the loss as a common one.",
        )
        total = sum(train_counts.values())
        if class_weight == "balanced" and total and all(train_counts.values()):
            weights = ", ".join(
                f"{name} {total / (len(train_counts) * count):.2f}"
                for name, count in train_counts.items()
            )
            st.caption(f"Each training image of a class counts: {weights}.")
        loss = st.radio(
            "Loss",
            list(LOSSES),
            format_func=LOSSES.get,
            key="tr_loss",
            horizontal=True,
            help="The cost-matrix loss multiplies each image's loss by the price "
            "of the mistake the network makes on it.",
        )
        name = st.text_input(
            "Run name (optional)",
            key="tr_run_name",
            max_chars=60,
            help="A label for the list of runs and the overlaid curves.",
        )
    # The matrix gets the page's full width: a column is too narrow for
    # "predicted <class>" headers.
    cost_matrix = None
    if loss == "cost_matrix":
        cost_matrix = _cost_matrix(train_counts, form)
    form.settings.update(
        epochs=int(epochs),
        batch_size=int(batch_size),
        learning_rate=float(rate),
        optimizer=optimizer,
        schedule=schedule,
        class_weight=class_weight,
        loss=loss,
        cost_matrix=cost_matrix,
        name=name.strip() or None,
    )


def settings_form() -> SettingsForm:
    """Draw the Data, Model and Training sections; returns what they describe."""
    form = SettingsForm()
    train_counts = data_section(form)
    model_section(form)
    training_section(form, train_counts)
    if form.index is not None and not form.problems:
        try:
            form.config()
        except ConfigError as error:
            form.problems.append(str(error))
            st.warning(str(error))
    return form
