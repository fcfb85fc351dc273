"""A pipeline editor any page can use: ordered steps, switches, JSON and code.

The steps live in session state as entries ``{"id", "live", "enabled",
"step"}``. A *live* entry mirrors a section of the page (its settings follow
that section's widgets); any other entry was added here, imported from JSON
or read from a link, and its settings are edited here, with widgets built
from the operation registry.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import streamlit as st

from imgproc import OPS, PipelineError, make_pipeline, pipeline_to_json
from imgproc.pipeline import pipeline_from_json
from pages.ui.session import forget_state

__all__ = [
    "compact_steps",
    "current_pipeline",
    "pipeline_editor",
    "replace_steps",
    "sync_live_steps",
]


def _entries_key(prefix: str) -> str:
    return f"{prefix}pipeline_entries"


def _entries(prefix: str) -> list[dict]:
    return st.session_state.setdefault(_entries_key(prefix), [])


def _new_id(prefix: str) -> str:
    counter = st.session_state.get(f"{prefix}pipeline_counter", 0) + 1
    st.session_state[f"{prefix}pipeline_counter"] = counter
    return f"s{counter}"


def sync_live_steps(prefix: str, live: list[tuple[str, dict]]) -> None:
    """Make the live entries match ``live``, the page's steps in their order.

    Live entries that the page no longer offers are dropped, the others get
    the page's current settings, and new ones are placed before the first
    live entry that comes later in ``live``.
    """
    wanted = dict(live)
    order = [name for name, _ in live]
    entries = [
        entry
        for entry in _entries(prefix)
        if not entry["live"] or entry["id"] in wanted
    ]
    for entry in entries:
        if entry["live"]:
            entry["step"] = wanted[entry["id"]]
    present = {entry["id"] for entry in entries}
    for rank, name in enumerate(order):
        if name in present:
            continue
        later = [
            index
            for index, entry in enumerate(entries)
            if entry["live"] and order.index(entry["id"]) > rank
        ]
        position = later[0] if later else len(entries)
        entries.insert(
            position, {"id": name, "live": True, "enabled": True, "step": wanted[name]}
        )
    st.session_state[_entries_key(prefix)] = entries


def replace_steps(prefix: str, pipeline: dict) -> None:
    """Replace every entry with the steps of a validated ``pipeline``."""
    entries = []
    for step in pipeline["steps"]:
        settings = {key: value for key, value in step.items() if key != "enabled"}
        entries.append(
            {
                "id": _new_id(prefix),
                "live": False,
                "enabled": step.get("enabled", True),
                "step": settings,
            }
        )
    st.session_state[_entries_key(prefix)] = entries


def current_pipeline(prefix: str) -> dict:
    """The validated pipeline the entries describe, switched-off steps included.

    Raises
    ------
    imgproc.PipelineError
        If a step's settings do not fit; the message is a sentence.
    """
    return make_pipeline(
        [{**entry["step"], "enabled": entry["enabled"]} for entry in _entries(prefix)]
    )


def compact_steps(pipeline: dict) -> str:
    """The steps as short JSON: settings at their default are left out."""
    steps = []
    for step in pipeline["steps"]:
        params = OPS[step["op"]].params
        short = {"op": step["op"]}
        short.update(
            (name, step[name])
            for name, param in params.items()
            if step[name] != param.default
        )
        if not step["enabled"]:
            short["enabled"] = False
        steps.append(short)
    return json.dumps(steps, separators=(",", ":"))


def _describe(step: dict) -> str:
    """The op and the settings that differ from their defaults, in bold text."""
    params = OPS[step["op"]].params
    settings = ", ".join(
        f"{name} {step[name]}"
        for name, param in params.items()
        if name in step and (step[name] != param.default or name == "method")
    )
    return f"**{step['op']}**" + (f": {settings}" if settings else "")


def _move(prefix: str, entry_id: str, delta: int) -> None:
    entries = _entries(prefix)
    index = next(i for i, entry in enumerate(entries) if entry["id"] == entry_id)
    target = index + delta
    if 0 <= target < len(entries):
        entries[index], entries[target] = entries[target], entries[index]


def _remove(prefix: str, entry_id: str, on_remove_live: Callable | None) -> None:
    entries = _entries(prefix)
    entry = next(entry for entry in entries if entry["id"] == entry_id)
    entries.remove(entry)
    if entry["live"] and on_remove_live is not None:
        on_remove_live(entry_id)


def _switch(prefix: str, entry_id: str, key: str) -> None:
    for entry in _entries(prefix):
        if entry["id"] == entry_id:
            entry["enabled"] = st.session_state[key]


def _set_param(prefix: str, entry_id: str, name: str, key: str) -> None:
    for entry in _entries(prefix):
        if entry["id"] == entry_id:
            entry["step"][name] = st.session_state[key]


def _add(prefix: str) -> None:
    op = st.session_state[f"{prefix}new_op"]
    step = make_pipeline([{"op": op}])["steps"][0]
    settings = {key: value for key, value in step.items() if key != "enabled"}
    _entries(prefix).append(
        {"id": _new_id(prefix), "live": False, "enabled": True, "step": settings}
    )


def _import(prefix: str, upload_key: str, on_import: Callable | None) -> None:
    upload = st.session_state.get(upload_key)
    if upload is None:
        return
    try:
        pipeline = pipeline_from_json(
            upload.getvalue(), name=f"The file '{upload.name}'"
        )
    except PipelineError as error:
        st.session_state[f"{prefix}import_message"] = ("warning", str(error))
        return
    replace_steps(prefix, pipeline)
    if on_import is not None:
        on_import()
    count = len(pipeline["steps"])
    st.session_state[f"{prefix}import_message"] = (
        "success",
        f"Imported {count} step(s) from '{upload.name}'.",
    )


def _param_widget(prefix: str, entry: dict, name: str) -> None:
    """One widget for one setting of an added or imported step."""
    param = OPS[entry["step"]["op"]].params[name]
    key = f"{prefix}param_{entry['id']}_{name}"
    value = entry["step"].get(name, param.default)
    cast = {"int": int, "float": float}.get(param.kind)
    if cast is not None and value is not None:
        value = cast(value)
    st.session_state[key] = value
    common = {
        "key": key,
        "help": param.help or None,
        "on_change": _set_param,
        "args": (prefix, entry["id"], name, key),
    }
    if param.kind == "bool":
        st.checkbox(name, **common)
    elif param.kind == "choice":
        st.selectbox(name, list(param.choices), **common)
    else:
        is_int = param.kind == "int"
        cast = int if is_int else float
        bounds = [
            None if bound is None else cast(bound)
            for bound in (param.minimum, param.maximum)
        ]
        st.number_input(
            name,
            min_value=bounds[0],
            max_value=bounds[1],
            step=1 if is_int else None,
            format=None if is_int else "%g",
            **common,
        )


def _entry_row(
    prefix: str, number: int, entry: dict, total: int, on_remove_live, live_note
):
    with st.container(border=True):
        columns = st.columns([6, 1.4, 0.6, 0.6, 0.6], vertical_alignment="center")
        with columns[0]:
            where = live_note(entry["id"]) if entry["live"] else "added here"
            st.markdown(f"{number}. {_describe(entry['step'])} ({where})")
        with columns[1]:
            key = f"{prefix}step_on_{entry['id']}"
            st.session_state[key] = entry["enabled"]
            st.toggle("On", key=key, on_change=_switch, args=(prefix, entry["id"], key))
        buttons = [
            ("↑", "up", -1, number == 1),
            ("↓", "down", 1, number == total),
        ]
        for column, (symbol, name, delta, disabled) in zip(
            columns[2:4], buttons, strict=True
        ):
            with column:
                st.button(
                    symbol,
                    key=f"btn_{prefix}step_{name}_{entry['id']}",
                    disabled=disabled,
                    on_click=_move,
                    args=(prefix, entry["id"], delta),
                    help="Move this step earlier" if delta < 0 else "Move it later",
                )
        with columns[4]:
            st.button(
                "✕",
                key=f"btn_{prefix}step_remove_{entry['id']}",
                on_click=_remove,
                args=(prefix, entry["id"], on_remove_live),
                help="Remove this step",
            )
        if not entry["live"] and OPS[entry["step"]["op"]].params:
            settings = st.columns(len(OPS[entry["step"]["op"]].params))
            for column, name in zip(
                settings, OPS[entry["step"]["op"]].params, strict=True
            ):
                with column:
                    _param_widget(prefix, entry, name)


def pipeline_editor(
    prefix: str,
    *,
    file_name: str = "pipeline.json",
    on_remove_live: Callable[[str], None] | None = None,
    on_import: Callable[[], None] | None = None,
    live_note: Callable[[str], str] = lambda entry_id: "set above",
    ops: list[str] | None = None,
    show_io: bool = True,
) -> dict | None:
    """Draw the steps with their switches and buttons; return the pipeline.

    Parameters
    ----------
    prefix : str
        Start of every session key, so two editors on a page stay apart.
    file_name : str
        Name offered for the downloaded JSON.
    on_remove_live : callable, optional
        Called with the id of a live step the user removed, so the page can
        stop offering it.
    on_import : callable, optional
        Called after a JSON file replaced the steps.
    live_note : callable
        Text naming where a live step's settings are changed.
    ops : list of str, optional
        The operations offered by "Add a step"; by default all of them.
    show_io : bool
        Whether to offer JSON import and export.

    Returns
    -------
    dict or None
        The validated pipeline, or None (after a sentence) when a step's
        settings do not fit.
    """
    entries = _entries(prefix)
    if not entries:
        st.caption("No steps yet: the output is the picture itself.")
    for number, entry in enumerate(entries, 1):
        _entry_row(prefix, number, entry, len(entries), on_remove_live, live_note)

    columns = st.columns([3, 1], vertical_alignment="bottom")
    with columns[0]:
        st.selectbox("Add a step", ops or list(OPS), key=f"{prefix}new_op")
    with columns[1]:
        st.button("Add", key=f"btn_{prefix}add_step", on_click=_add, args=(prefix,))

    try:
        pipeline = current_pipeline(prefix)
    except PipelineError as error:
        st.warning(str(error))
        return None
    if not show_io:
        return pipeline

    upload_key = f"upload_{prefix}pipeline"
    columns = st.columns(2)
    with columns[0]:
        st.download_button(
            f"Download {file_name}",
            pipeline_to_json(pipeline),
            file_name=file_name,
            mime="application/json",
            key=f"btn_{prefix}download",
        )
    with columns[1]:
        st.file_uploader(
            "Import a pipeline (JSON)",
            type=["json"],
            key=upload_key,
            on_change=_import,
            args=(prefix, upload_key, on_import),
            help="Replaces the steps above with the file's steps.",
        )
    message = st.session_state.get(f"{prefix}import_message")
    forget_state(f"{prefix}import_message")
    if message is not None:
        getattr(st, message[0])(message[1])
    return pipeline
