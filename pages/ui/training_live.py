"""One run on the Training page: its status, live curves and diagnosis flags.

A run of this server is read through :meth:`TrainingRun.snapshot`; any other
run (one started with ``python -m training``, or one from before a restart)
is read from its folder. Either way the page only reads: it never shares a
Streamlit object with the training thread.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from pages.ui.run_settings import use_run_settings
from pages.ui.session import report_unexpected
from pages.ui.visuals import epoch_chart
from training import records
from training.diagnosis import RULES
from training.runner import ConfigError, RunConfig, get_run, max_concurrent_runs

__all__ = [
    "ACTIVE_STATUSES",
    "describe_config",
    "live_section",
    "load_view",
    "ordinal",
    "render_run",
]

ACTIVE_STATUSES = records.ACTIVE_STATUSES
POLL_SECONDS = 1.0
"""How often the page redraws a run of this server while it trains."""
FILE_POLL_SECONDS = 2.0
"""How often the page rereads the folder of a run trained by another process."""

SEVERE_RULES = ("nan_loss", "exploding_loss")
"""Flags shown as errors; the others are warnings."""

_STATUS_LEVEL = {
    "finished": "success",
    "stopped": "warning",
    "interrupted": "warning",
    "failed": "error",
}
_TABLE_KEYS = (
    "epoch",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "val_auc",
    "learning_rate",
    "seconds",
)


def ordinal(number: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ..., ``11th``, ``21st``."""
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    if 10 <= number % 100 <= 20:
        suffix = "th"
    return f"{number}{suffix}"


@functools.lru_cache(maxsize=512)
def _describe(config_json: str) -> str:
    """The description of one config, cached by its JSON text."""
    config = json.loads(config_json)
    try:
        settings = RunConfig.from_dict(config).describe()
    except (ConfigError, TypeError):
        return "settings that this version cannot read"
    if config.get("per_class"):
        subset = f"{config['per_class']} per class"
    elif config.get("percent"):
        subset = f"{config['percent']:g}% of each class"
    else:
        subset = "all images"
    if config.get("class_ratio"):
        subset += ", ratio " + ":".join(f"{v:g}" for v in config["class_ratio"])
    classes = ", ".join(config.get("classes") or []) or "all classes"
    return (
        f"{Path(str(config['data_dir'])).name} ({classes}), {subset}, "
        f"{config.get('image_size')} px, {config.get('epochs')} epochs, batch "
        f"{config.get('batch_size')}; {settings}"
    )


def describe_config(config: dict) -> str:
    """One line naming the data and the settings of a run's ``config.json``."""
    if not isinstance(config, dict) or "data_dir" not in config:
        return "no readable settings"
    return _describe(json.dumps(config, sort_keys=True))


def load_view(run_id: str, runs_root: Path) -> dict | None:
    """Everything the page shows about one run, or None when it is gone.

    A run this server trains (or remembers) comes from its snapshot; any other
    from its folder under ``runs_root``. Both give the same keys, plus
    ``live`` (from this server), ``active`` (queued or training) and
    ``has_model`` (``best.keras`` exists).
    """
    run = get_run(run_id)
    if run is not None:
        view = run.snapshot()
        view.update(
            live=True,
            active=run.is_active(),
            stop_requested=run.stop_requested,
            has_model=(run.run_dir / "best.keras").is_file(),
        )
        return view
    folder = Path(runs_root) / run_id
    if not (folder / "config.json").is_file():
        return None
    view = records.read_run(folder)
    config = view["config"] if isinstance(view["config"], dict) else {}
    epochs_total = config.get("epochs")
    if not isinstance(epochs_total, int) or isinstance(epochs_total, bool):
        epochs_total = 0
    evaluation = view.get("evaluation") or {}
    view.update(
        live=False,
        active=view["status"] in ACTIVE_STATUSES,
        stop_requested=False,
        config=config,
        batch_losses=[pair for pair in view["batch_losses"] if pair[1] is not None],
        progress=min(1.0, len(view["epochs"]) / epochs_total) if epochs_total else 0,
        classes=config.get("classes") or evaluation.get("classes") or [],
    )
    return view


def _status(view: dict) -> None:
    """Queue place or progress, and the run's own sentence."""
    status = view["status"]
    epochs_total = view["config"].get("epochs") or 0
    done = len(view["epochs"])
    position = view.get("queue_position")
    if status == "queued" and position:
        slots = max_concurrent_runs()
        st.info(
            f"{ordinal(position)} in the queue: this server trains {slots} run(s) "
            "at a time, and this one starts when a slot is free."
        )
    elif view["active"]:
        text = f"{status.capitalize()}: epoch {min(done + 1, epochs_total)} of "
        text += f"{epochs_total}"
        left = view.get("seconds_left")
        if left is not None and status == "training":
            text += f", about {left:.0f} s left"
        progress = float(view.get("progress") or 0.0)
        st.progress(min(max(progress, 0.0), 1.0), text=text)
    if view.get("message") and not (status == "queued" and position):
        getattr(st, _STATUS_LEVEL.get(status, "info"))(view["message"])
    if view["active"] and view.get("stop_requested"):
        st.info(
            "Stopping after the current batch. The first batch also builds the "
            "network, so a stop right after Start can take a few seconds more."
        )
    if view["active"] and not view["live"]:
        if view.get("pid") == os.getpid():
            who = (
                "This run trains inside this server, but the server reloaded its "
                "training code since it started, so the page cannot stop it"
            )
        else:
            who = (
                f"This run is trained by another process (id {view.get('pid')}), "
                "for example `python -m training` in a terminal, so Stop here "
                "cannot end it: press Ctrl-C where it runs"
            )
        st.caption(
            f"{who}; its curves are read from its folder every {FILE_POLL_SECONDS:g} s."
        )


def _flags(flags: list) -> None:
    """The diagnosis flags as boxes: title, epoch and the sentence with its fix."""
    for flag in flags:
        if not isinstance(flag, dict):
            continue
        rule = str(flag.get("rule", ""))
        title = RULES.get(rule, rule.replace("_", " ").capitalize())
        epoch = flag.get("epoch")
        when = "before training" if epoch == 0 else f"epoch {epoch}"
        text = f"**{title}** ({when}): {flag.get('sentence', '')}"
        (st.error if rule in SEVERE_RULES else st.warning)(text)


def _data_notes(view: dict) -> None:
    """Image counts, skipped files and duplicates, when the run reports them."""
    if view.get("n_train"):
        counts = view.get("train_counts") or {}
        per_class = ", ".join(f"{name} {count}" for name, count in counts.items())
        st.caption(
            f"{view['n_train']} training images ({per_class}) and {view['n_val']} "
            f"validation images, {view.get('channels')} input channel(s). Run "
            f"folder: `{view['run_dir']}`."
        )
    else:
        st.caption(f"Run folder: `{view['run_dir']}`.")
    if view.get("input_stats"):
        stats = view["input_stats"]
        st.caption(
            "Inputs as the network sees them: mean {mean:.3g}, standard deviation "
            "{std:.3g}, from {min:.3g} to {max:.3g}.".format(**stats)
        )
    if view.get("skipped"):
        with st.expander(
            f"{view['skipped']} file(s) could not be read as images and were skipped"
        ):
            for path, reason in view.get("skipped_files") or []:
                st.caption(f"`{path}`: {reason}")
    if view.get("duplicates"):
        with st.expander(
            f"{len(view['duplicates'])} validation image(s) also appear in training"
        ):
            for train_path, val_path in view["duplicates"]:
                st.caption(f"`{train_path}` = `{val_path}`")
    if view.get("class_weights"):
        weights = ", ".join(f"{k} {v:.2f}" for k, v in view["class_weights"].items())
        st.caption(f"Class weights used: {weights}.")
    if view.get("cost_matrix"):
        st.caption(f"Cost matrix used (rows true class): {view['cost_matrix']}.")


def _batch_chart(batch_losses: list) -> go.Figure:
    """The loss of every batch against the global step."""
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
    return figure


def _recall_rows(epochs: list[dict]) -> tuple[list[dict], list[str]]:
    """Per-class recall flattened into ``recall <class>`` columns."""
    rows, keys = [], []
    for entry in epochs:
        row = {"epoch": entry["epoch"]}
        for name, value in (entry.get("val_recall") or {}).items():
            key = f"recall {name}"
            row[key] = value
            if key not in keys:
                keys.append(key)
        rows.append(row)
    return rows, keys


def _epoch_charts(epochs: list[dict]) -> None:
    """Loss, accuracy, AUC, learning rate and per-class recall per epoch."""
    top = st.columns(3)
    with top[0]:
        st.plotly_chart(
            epoch_chart(epochs, ["loss", "val_loss"], "Loss"), key="tr_loss_chart"
        )
    with top[1]:
        st.plotly_chart(
            epoch_chart(
                epochs, ["accuracy", "val_accuracy"], "Accuracy", y_range=[0, 1]
            ),
            key="tr_accuracy_chart",
        )
    with top[2]:
        st.plotly_chart(
            epoch_chart(epochs, ["val_auc"], "Validation AUC", y_range=[0, 1]),
            key="tr_auc_chart",
        )
    bottom = st.columns(2)
    with bottom[0]:
        rates = [e["learning_rate"] for e in epochs if e.get("learning_rate")]
        top = max(rates, default=1.0) * 1.15
        st.plotly_chart(
            epoch_chart(epochs, ["learning_rate"], "Learning rate", y_range=[0, top]),
            key="tr_rate_chart",
        )
    rows, keys = _recall_rows(epochs)
    with bottom[1]:
        st.plotly_chart(
            epoch_chart(rows, keys, "Validation recall per class", y_range=[0, 1]),
            key="tr_recall_chart",
        )
    if epochs:
        table = [{key: entry.get(key) for key in _TABLE_KEYS} for entry in epochs]
        st.dataframe(table, hide_index=True)


def render_run(view: dict) -> None:
    """Draw one run: status, flags, data notes, batch and epoch curves."""
    _status(view)
    _flags(view.get("diagnosis") or [])
    _data_notes(view)
    st.plotly_chart(_batch_chart(view.get("batch_losses") or []), key="tr_batch_chart")
    _epoch_charts(view.get("epochs") or [])
    if view.get("best_epoch"):
        auc = view.get("best_val_auc")
        score = f"validation AUC {auc:.3f}" if auc is not None else "lowest val_loss"
        st.caption(
            f"Best model so far: epoch {view['best_epoch']} ({score}), saved as "
            "best.keras in the run folder."
        )


def live_section(run_id: str | None, runs_root: Path) -> dict | None:
    """Show the chosen run, redrawn while it trains; returns its view.

    While the run is queued or training, a fragment rereads it every second
    (every two for a run of another process) and redraws only this part of
    the page. When the run ends the whole page reruns once, so the buttons
    and the evaluation catch up and the polling stops.
    """
    if run_id is None:
        return None
    view = load_view(run_id, runs_root)
    if view is None:
        st.info(f"The run {run_id} is no longer in `{runs_root}`.")
        return None
    config = view["config"]
    name = f" ({config['name']})" if config.get("name") else ""
    st.subheader(f"Run {view['run_id']}{name}")
    st.caption(describe_config(config))
    st.button(
        "Use this run's settings",
        key="btn_use_settings",
        on_click=use_run_settings,
        args=(config,),
        help="Puts the run's data, model and training settings back into the "
        "form above, to repeat it with one change.",
    )
    if not view["active"]:
        render_run(view)
        return view

    @st.fragment(run_every=POLL_SECONDS if view["live"] else FILE_POLL_SECONDS)
    def _poll():
        current = None
        try:
            current = load_view(run_id, runs_root)
            if current is not None:
                render_run(current)
        except Exception as error:  # a fragment rerun is outside app.py's guard
            report_unexpected(error, "Training")
            return
        if current is None or not current["active"]:
            st.rerun()

    _poll()
    return view
