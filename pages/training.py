"""Training: a ResNet on a folder of images, in the background, streamed live."""

import plotly.graph_objects as go
import streamlit as st

from pages.ui.controls import data_root, dataset_choices, report_unexpected
from pages.ui.visuals import epoch_chart
from training.data import DatasetError, scan_dataset
from training.runner import (
    RunBusyError,
    RunConfig,
    active_run,
    get_run,
    latest_run,
    start_run,
)

IMAGE_SIZES = [32, 48, 64, 96, 128, 160, 224, 256]
BATCH_SIZES = [4, 8, 16, 32, 64]
LEARNING_RATES = [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]
FINISHED_STATES = {"finished": "success", "stopped": "warning", "failed": "error"}

st.title("Training")
st.markdown(
    "Train a pre-activation ResNet-18 on a folder of images. The run goes on in the "
    "background while the curves stream in, so you can visit the other pages and "
    "come back, or reload the tab, without losing it. The model with the best "
    "validation AUC is saved to disk."
)


def _current_run():
    """The run this tab shows.

    In order: the run named in the link, the one this tab started, one that is
    still training (started in another tab, or before a reload), and finally
    the latest run of this server, so finished results stay on screen.
    """
    for run_id in (st.query_params.get("run"), st.session_state.get("tr_run_id")):
        run = get_run(run_id) if run_id else None
        if run is not None:
            return run
    return active_run() or latest_run()


def _describe(config: RunConfig) -> str:
    """One line naming what a run trains on and with which settings."""
    classes = ", ".join(config.classes or []) or "all classes"
    per_class = config.per_class or "all"
    return (
        f"`{config.data_dir}` ({classes}), {per_class} images per class at "
        f"{config.image_size} px, {config.epochs} epochs, batch {config.batch_size}, "
        f"learning rate {config.learning_rate:g}, {config.optimizer}."
    )


def _live_charts(snapshot: dict, epochs_total: int) -> None:
    status = snapshot["status"]
    progress = snapshot.get("progress") or 0.0
    done_epochs = len(snapshot["epochs"])
    left = snapshot.get("seconds_left")
    text = f"{status.capitalize()}: epoch {min(done_epochs + 1, epochs_total)} of "
    text += f"{epochs_total}"
    if left is not None and status == "training":
        text += f", about {left:.0f} s left"
    st.progress(min(max(progress, 0.0), 1.0), text=text)
    if snapshot.get("message"):
        level = FINISHED_STATES.get(status, "info")
        getattr(st, level)(snapshot["message"])
    if snapshot.get("skipped"):
        st.warning(
            f"{snapshot['skipped']} file(s) could not be read as images and were "
            "skipped."
        )
    if snapshot.get("n_train"):
        st.caption(
            f"{snapshot['n_train']} training and {snapshot['n_val']} validation "
            f"images, {snapshot.get('channels')} input channel(s), classes "
            f"{', '.join(snapshot.get('classes') or [])}. Run folder: "
            f"`{snapshot.get('run_dir')}`."
        )

    batch_losses = snapshot["batch_losses"]
    figure = go.Figure()
    if batch_losses:
        steps, losses = zip(*batch_losses, strict=True)
        mode = "lines" if len(steps) > 20 else "lines+markers"
        figure.add_trace(go.Scatter(x=steps, y=losses, mode=mode, name="loss"))
    figure.update_layout(
        title="Training loss, every batch",
        height=280,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis_title="batch",
    )
    st.plotly_chart(figure, key="tr_batch_chart")

    epochs = snapshot["epochs"]
    columns = st.columns(3)
    with columns[0]:
        st.plotly_chart(
            epoch_chart(epochs, ["loss", "val_loss"], "Loss"), key="tr_loss_chart"
        )
    with columns[1]:
        st.plotly_chart(
            epoch_chart(
                epochs, ["accuracy", "val_accuracy"], "Accuracy", y_range=[0, 1]
            ),
            key="tr_accuracy_chart",
        )
    with columns[2]:
        st.plotly_chart(
            epoch_chart(epochs, ["val_auc"], "Validation AUC", y_range=[0, 1]),
            key="tr_auc_chart",
        )
    if epochs:
        st.dataframe(epochs, hide_index=True, key="tr_epoch_table")
    if snapshot.get("best_epoch"):
        auc = snapshot.get("best_val_auc")
        score = f"validation AUC {auc:.3f}" if auc is not None else "lowest val_loss"
        st.caption(
            f"Best model so far: epoch {snapshot['best_epoch']} ({score}), saved as "
            "best.keras in the run folder."
        )


# -- Data -------------------------------------------------------------------
st.header("Data")
root = data_root()
choices = dataset_choices(root)
if not root.is_dir():
    st.caption(
        f"The data folder `{root}` does not exist, so only the bundled set of faces "
        "is offered. The README says how to add the flower and chest X-ray sets."
    )
elif len(choices) == 1:
    st.caption(
        f"No datasets found in `{root}` yet, so only the bundled set of faces is "
        "offered. The README says how to add the flower and chest X-ray sets."
    )
dataset_name = st.selectbox("Dataset", list(choices), key="tr_dataset")
index = None
classes = []
try:
    index = scan_dataset(choices[dataset_name])
except DatasetError as error:
    st.warning(str(error))
if index is not None:
    counts = ", ".join(f"{name}: {len(index.files[name])}" for name in index.classes)
    st.caption(f"`{index.root}` holds {len(index.classes)} classes ({counts}).")
    if index.ignored:
        st.caption(f"Not class folders, ignored: {', '.join(index.ignored)}.")
    if index.non_images:
        st.caption(
            f"{index.non_images} file(s) without an image extension are skipped."
        )
    classes = st.multiselect(
        "Classes",
        index.classes,
        default=index.classes,
        key=f"tr_classes_{dataset_name}",
    )
    if len(classes) < 2:
        st.warning("Choose at least two classes to train a classifier.")
smallest = min((len(index.files[name]) for name in classes), default=0)

st.header("Settings")
st.markdown(
    "**Image size** is the side of the square each picture is resized to: larger "
    "keeps detail but trains slower. **Images per class** trains on a subset, the "
    "way to see how much data a model needs (an ablation) or to check, with very "
    "few images, that the network can overfit them. An **epoch** is one pass over "
    "the training images; the **batch size** is how many images each update "
    "sees. The **learning rate** sets the step size: too high and the loss jumps "
    "or becomes NaN, too low and it barely moves. **Adam** adapts the step per "
    "weight and is forgiving; **SGD with momentum** is the classic choice."
)
columns = st.columns(3)
with columns[0]:
    image_size = st.select_slider(
        "Image size (pixels)", IMAGE_SIZES, value=64, key="tr_image_size"
    )
    per_class = None
    if smallest > 2:
        per_class = st.slider(
            "Images per class",
            2,
            smallest,
            min(smallest, 50),
            key=f"tr_per_class_{dataset_name}",
            help="Each class contributes at most this many images; 80% train "
            "and 20% validate.",
        )
    elif smallest == 2:
        per_class = 2
        st.caption("Images per class: 2, all the smallest class has.")
    elif classes:
        st.caption("A class needs at least two images: one to train, one to check.")
with columns[1]:
    epochs = st.slider("Epochs", 1, 50, 5, key="tr_epochs")
    batch_size = st.select_slider(
        "Batch size", BATCH_SIZES, value=16, key="tr_batch_size"
    )
with columns[2]:
    learning_rate = st.select_slider(
        "Learning rate",
        LEARNING_RATES,
        value=1e-3,
        format_func=lambda rate: f"{rate:g}",
        key="tr_learning_rate",
    )
    optimizer = st.radio(
        "Optimizer",
        ["adam", "sgd"],
        format_func={"adam": "Adam", "sgd": "SGD with momentum 0.9"}.get,
        key="tr_optimizer",
        horizontal=True,
    )

# -- Run --------------------------------------------------------------------
st.header("Run")
run = _current_run()
running = run is not None and run.is_active()
ready = index is not None and len(classes) >= 2 and per_class is not None
columns = st.columns([1, 1, 4])
with columns[0]:
    start = st.button(
        "Start", type="primary", disabled=running or not ready, key="btn_start"
    )
with columns[1]:
    stop = st.button("Stop", disabled=not running, key="btn_stop")
if running:
    with columns[2]:
        st.caption(
            "A run is training; Stop it or wait for it to finish to start another."
        )

if start:
    config = RunConfig(
        data_dir=str(index.root),
        classes=classes,
        image_size=image_size,
        per_class=per_class,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        optimizer=optimizer,
    )
    try:
        run = start_run(config)
    except (RunBusyError, DatasetError, ValueError) as error:
        st.warning(str(error))
    else:
        st.query_params["run"] = run.run_id
        st.session_state["tr_run_id"] = run.run_id
        st.rerun()
if stop and run is not None:
    run.stop()
if run is not None and run.is_active() and run.stop_requested:
    st.info(
        "Stopping after the current batch. The first batch also builds the "
        "network, so a stop right after Start can take a few seconds more."
    )

if run is None:
    st.info("Choose the settings above and press Start.")
else:
    st.markdown(f"**Run {run.run_id}**: {_describe(run.config)}")
    epochs_total = run.config.epochs
    if running:

        @st.fragment(run_every=1.0)
        def _poll():
            try:
                _live_charts(run.snapshot(), epochs_total)
            except Exception as error:  # a fragment rerun is outside app.py's guard
                report_unexpected(error, "Training")
            if not run.is_active():
                st.rerun()

        _poll()
    else:
        _live_charts(run.snapshot(), epochs_total)
