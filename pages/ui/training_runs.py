"""Start, queue, stop, list, resume and compare runs on the Training page.

Which run the page shows travels in the address bar (``?run=<id>``), so a
reload or a second tab finds it again; runs started here are remembered for
this tab so that Stop reaches all of them.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from pages.ui.session import forget_state, report_unexpected
from pages.ui.training_form import LEARNING_RATES, SettingsForm
from pages.ui.training_live import ACTIVE_STATUSES, describe_config, ordinal
from training import records
from training.data import DatasetError
from training.runner import (
    OVERFIT_PER_CLASS,
    ConfigError,
    RunBusyError,
    RunConfig,
    active_run,
    active_runs,
    get_run,
    latest_run,
    queue_position,
    resume_run,
    start_run,
)

__all__ = [
    "action_buttons",
    "compare_chart",
    "resolve_shown_run",
    "run_summaries",
    "runs_section",
]

SHOWN = "tr_shown_run"
COMPARE = "tr_compare"
MY_RUNS = "_tr_my_runs"
"""Session key: ids of the runs this tab started, for Stop."""
LINK_SEEN = "_tr_link_seen"
"""Session key: the run id of the address bar this session has already followed."""
RESUME_PROBLEM = "_tr_resume_problem"
DEFAULT_SWEEP = [1e-4, 1e-3, 1e-2]
COMPARE_POLL_SECONDS = 3.0
_DASHES = {"loss": "solid", "val_loss": "dash", "val_auc": "dot"}
_COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
)


def run_summaries(runs_root: Path) -> list[dict]:
    """Every run folder under ``runs_root``, newest first, or [] with a sentence."""
    try:
        return records.list_runs(runs_root)
    except OSError as error:
        st.warning(f"The runs folder `{runs_root}` could not be read: {error}.")
        return []


def resolve_shown_run(options: list[str]) -> str | None:
    """The id of the run to show, before any widget is drawn.

    A run id in the address bar that this session has not followed yet wins
    (a reload, or a shared link), then the choice already made in this tab,
    then a run that is training on this server, then the newest folder.
    """
    state = st.session_state
    link = st.query_params.get("run")
    if link and link != state.get(LINK_SEEN):
        state[LINK_SEEN] = link
        if link in options:
            state[SHOWN] = link
        else:
            st.warning(
                f"The address names the run {link!r}, which is not in the runs "
                "folder, so the newest run is shown instead."
            )
    if state.get(SHOWN) not in options:
        forget_state(SHOWN)
        for run in (active_run(), latest_run()):
            if run is not None and run.run_id in options:
                state[SHOWN] = run.run_id
                break
        else:
            if options:
                state[SHOWN] = options[0]
    return state.get(SHOWN)


def _signature(config: dict) -> str:
    """The settings of a run that decide what it trains (not its label)."""
    kept = {k: v for k, v in config.items() if k not in ("name", "group", "run_dir")}
    return json.dumps(kept, sort_keys=True)


def _active_twin(config: RunConfig):
    """A queued or training run of this server with exactly these settings."""
    wanted = _signature(config.to_dict())
    for run in active_runs():
        if _signature(run.config.to_dict()) == wanted:
            return run
    return None


def _queue(configs: list[RunConfig]) -> list:
    """Start or queue each config; stops at the first that the server refuses."""
    started = []
    for config in configs:
        try:
            started.append(start_run(config))
        except (RunBusyError, ConfigError, DatasetError) as error:
            st.warning(str(error))
            break
    mine = st.session_state.setdefault(MY_RUNS, [])
    mine.extend(run.run_id for run in started)
    return started


def _show(run_ids: list[str]) -> None:
    """Make the first of ``run_ids`` the shown run and overlay them all."""
    st.session_state[SHOWN] = run_ids[0]
    st.session_state[COMPARE] = list(run_ids)
    st.rerun()


def _form_config(form: SettingsForm, **changes) -> RunConfig | None:
    """The form's config with ``changes``, or None (with a sentence if invalid)."""
    if not form.ready:
        return None
    try:
        return form.config(**changes)
    except ConfigError as error:
        st.warning(str(error))
        return None


def _tab_runs(shown_id: str | None) -> list:
    """This tab's runs and the shown one, those that are still active."""
    ids = list(st.session_state.get(MY_RUNS, []))
    if shown_id is not None:
        ids.append(shown_id)
    runs = [get_run(run_id) for run_id in dict.fromkeys(ids)]
    return [run for run in runs if run is not None and run.is_active()]


def _sweep(form: SettingsForm) -> None:
    """The learning-rate sweep: several rates, one queued run each."""
    st.subheader("Learning-rate sweep")
    st.markdown(
        "Trains the same settings once per learning rate, in the queue, and "
        "overlays their curves below. The best rate is usually the largest one "
        "whose loss still falls smoothly."
    )
    rates = st.multiselect(
        "Learning rates to try",
        LEARNING_RATES,
        default=DEFAULT_SWEEP,
        format_func=lambda rate: f"{rate:g}",
        key="tr_sweep_rates",
    )
    if not rates:
        st.info("Choose at least one learning rate for the sweep.")
    clicked = st.button(
        f"Queue {len(rates)} run(s), one per rate",
        key="btn_sweep",
        disabled=not form.ready or not rates,
    )
    if not clicked:
        return
    group = f"lr-sweep-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    configs = []
    for rate in sorted(rates):
        config = _form_config(
            form, learning_rate=rate, name=f"lr {rate:g}", group=group
        )
        if config is None:
            return
        twin = _active_twin(config)
        if twin is not None:
            st.info(f"Rate {rate:g} is already {twin.status} as run {twin.run_id}.")
            continue
        configs.append(config)
    started = _queue(configs)
    if started:
        _show([run.run_id for run in started])


def action_buttons(form: SettingsForm, shown_id: str | None) -> None:
    """Start, Overfit check and Stop, then the learning-rate sweep."""
    st.header("Run")
    config = _form_config(form)
    twin = _active_twin(config) if config is not None else None
    overfit = _form_config(
        form,
        overfit_check=True,
        per_class=OVERFIT_PER_CLASS,
        percent=None,
        class_ratio=None,
        name=form.settings.get("name") or "overfit check",
    )
    overfit_twin = _active_twin(overfit) if overfit is not None else None
    stoppable = _tab_runs(shown_id)

    columns = st.columns([1, 1, 1, 3])
    with columns[0]:
        start = st.button(
            "Start",
            type="primary",
            disabled=config is None or twin is not None,
            key="btn_start",
        )
    with columns[1]:
        check = st.button(
            "Overfit check",
            disabled=overfit is None or overfit_twin is not None,
            key="btn_overfit",
            help=f"Trains {OVERFIT_PER_CLASS} images per class with the same "
            "settings, without augmentation or weight decay. A healthy pipeline "
            "and network learn every one (100% training accuracy); give it 20 "
            "epochs or more.",
        )
    with columns[2]:
        stop = st.button(
            "Stop",
            disabled=not stoppable,
            key="btn_stop",
            help="Stops the run shown below and every run this tab started that "
            "is still training or waiting.",
        )
    with columns[3]:
        if not form.ready:
            st.caption("Fix the settings marked above to start a run.")
        elif twin is not None:
            st.caption(
                f"Run {twin.run_id} with these settings is {twin.status}; change a "
                "setting to queue another, or Stop it."
            )
        elif active_runs():
            st.caption("A new run waits in the queue until a training slot is free.")

    if start and config is not None:
        started = _queue([config])
        if started:
            _show([started[0].run_id])
    if check and overfit is not None:
        started = _queue([overfit])
        if started:
            _show([started[0].run_id])
    if stop:
        for run in stoppable:
            run.stop()
        st.info(
            f"Asked {len(stoppable)} run(s) to stop: a waiting run leaves the queue "
            "at once, a training one after its current batch."
        )
    _sweep(form)


def _label(summary: dict) -> str:
    """``id · name · status``, how a run is named in the pickers."""
    config = summary.get("config") or {}
    name = config.get("name") or Path(str(config.get("data_dir", ""))).name
    return f"{summary['run_id']} · {name} · {summary['status']}"


def _status_word(summary: dict) -> str:
    """The status, with the queue place for a run waiting on this server."""
    status = summary["status"]
    run = get_run(summary["run_id"])
    if status == "queued" and run is not None:
        position = queue_position(run)
        if position:
            return f"queued, {ordinal(position)} in line"
    return status


def _table(summaries: list[dict]) -> None:
    """Every run folder, one row each: status, epochs, best AUC, settings."""
    rows = []
    for summary in summaries:
        config = summary.get("config") or {}
        auc = summary.get("best_val_auc")
        rows.append(
            {
                "run": summary["run_id"],
                "name": config.get("name") or "",
                "group": config.get("group") or "",
                "status": _status_word(summary),
                "epochs": f"{summary['epochs_done']} / {config.get('epochs', '?')}",
                "best val AUC": None if auc is None else round(auc, 3),
                "settings": describe_config(config),
            }
        )
    st.dataframe(rows, hide_index=True)


def _resume_now(run_dir: str) -> None:
    """Button callback: queue the interrupted run again and show it."""
    try:
        run = resume_run(run_dir)
    except (ConfigError, RunBusyError, DatasetError) as error:
        st.session_state[RESUME_PROBLEM] = str(error)
        return
    st.session_state.setdefault(MY_RUNS, []).append(run.run_id)
    st.session_state[SHOWN] = run.run_id


def _resume(summary: dict) -> None:
    """For an interrupted run: a Resume button (the run's view says why)."""
    st.button(
        "Resume",
        key="btn_resume",
        type="primary",
        on_click=_resume_now,
        args=(summary["run_dir"],),
    )
    problem = st.session_state.pop(RESUME_PROBLEM, None)
    if problem:
        st.warning(problem)


def compare_chart(series: list[tuple[str, list[dict]]]) -> go.Figure:
    """Loss, val_loss and val_auc of several runs on one chart.

    Each run has its own colour; the line style tells the metric apart, and
    the AUC, which lies between 0 and 1, uses the right-hand axis.
    """
    figure = go.Figure()
    for number, (label, epochs) in enumerate(series):
        colour = _COLOURS[number % len(_COLOURS)]
        for key, dash in _DASHES.items():
            points = [(e["epoch"], e[key]) for e in epochs if e.get(key) is not None]
            if not points:
                continue
            x, y = zip(*points, strict=True)
            figure.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines+markers",
                    name=f"{label}: {key}",
                    line=dict(color=colour, dash=dash),
                    yaxis="y2" if key == "val_auc" else "y",
                )
            )
    figure.update_layout(
        title="Compared runs: loss (solid), val_loss (dashed), val_auc (dotted)",
        height=380,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis_title="epoch",
        yaxis=dict(title="loss"),
        yaxis2=dict(
            title="val_auc",
            overlaying="y",
            side="right",
            range=[0, 1],
            tickmode="linear",
            tick0=0,
            dtick=0.2,
            showgrid=False,
        ),
        legend=dict(orientation="h", y=-0.25),
    )
    return figure


def _compared(chosen: list[str], by_id: dict, runs_root: Path):
    """The chosen runs' epochs from their folders, and whether one is active."""
    series, active = [], False
    for run_id in chosen:
        folder = Path(runs_root) / run_id
        config = by_id[run_id].get("config") or {}
        series.append((config.get("name") or run_id, records.read_metrics(folder)))
        run = get_run(run_id)
        if run is not None:
            active |= run.is_active()
        else:
            active |= records.read_status(folder).get("status") in ACTIVE_STATUSES
    return series, active


def _comparison(summaries: list[dict], shown_id: str, runs_root: Path) -> None:
    """Pick several runs and overlay their curves, refreshed while they train."""
    st.subheader("Compare runs")
    by_id = {summary["run_id"]: summary for summary in summaries}
    state = st.session_state
    if COMPARE in state:
        state[COMPARE] = [run_id for run_id in state[COMPARE] if run_id in by_id]
    else:
        group = (by_id[shown_id].get("config") or {}).get("group")
        state[COMPARE] = [
            run_id
            for run_id, summary in by_id.items()
            if run_id == shown_id
            or (group and (summary.get("config") or {}).get("group") == group)
        ]
    chosen = st.multiselect(
        "Runs to overlay",
        list(by_id),
        key=COMPARE,
        format_func=lambda run_id: _label(by_id[run_id]),
        help="Ablations, sweeps and reruns side by side: pick the runs to compare.",
    )
    if not chosen:
        st.caption("Pick one or more runs to overlay their curves.")
        return
    series, active = _compared(chosen, by_id, runs_root)
    if not active:
        st.plotly_chart(compare_chart(series), key="tr_compare_chart")
        return

    @st.fragment(run_every=COMPARE_POLL_SECONDS)
    def _poll():
        try:
            current, still_active = _compared(chosen, by_id, runs_root)
            st.plotly_chart(compare_chart(current), key="tr_compare_chart")
        except Exception as error:  # a fragment rerun is outside app.py's guard
            report_unexpected(error, "Training")
            return
        if not still_active:
            st.rerun()

    _poll()


def runs_section(summaries: list[dict], runs_root: Path) -> str | None:
    """The list of run folders, the shown run, Resume and the comparison.

    Returns the id of the run to show below, or None when there is none.
    """
    st.header("Runs")
    if not summaries:
        st.info(
            f"No runs yet in `{runs_root}`. Choose the settings above and press "
            "Start; runs started with `python -m training` appear here too."
        )
        return None
    _table(summaries)
    by_id = {summary["run_id"]: summary for summary in summaries}
    shown_id = st.selectbox(
        "Run shown below",
        list(by_id),
        key=SHOWN,
        format_func=lambda run_id: _label(by_id[run_id]),
    )
    if st.query_params.get("run") != shown_id:
        st.query_params["run"] = shown_id
    st.session_state[LINK_SEEN] = shown_id
    if by_id[shown_id]["status"] == "interrupted" and get_run(shown_id) is None:
        _resume(by_id[shown_id])
    _comparison(summaries, shown_id, runs_root)
    return shown_id
