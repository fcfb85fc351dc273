"""Keep the image, the pipeline and every control in the address bar.

A link copied from the address bar opens the same picture with the same
steps, every slider, switch and choice of the page where it was left, and
the steps of each practice exercise (one ``ex_<exercise>`` field each).
The controls travel in one ``view`` field, for example
``view=threshold_method.otsu~radius.7~footprint.square``: the widget's key
without the page prefix, a dot, and the value. Controls at their starting
value are left out, so a link stays short.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from imgproc import PipelineError
from imgproc.pipeline import pipeline_from_json
from pages.ui.controls import apply_source_link, source_link
from pages.ui.pipeline_editor import compact_steps, replace_steps

__all__ = [
    "Control",
    "publish_exercise",
    "publish_link",
    "publish_view",
    "restore_link",
    "set_unless_linked",
]

SOURCE_FIELDS = ("src", "sample", "root", "dataset", "class", "file")
PIPELINE_FIELD = "pipeline"
EXERCISE_FIELD = "ex_{}"
"""One field per practice exercise that has steps, holding them as JSON."""
VIEW_FIELD = "view"
SEPARATOR = "~"
"""Between two controls in the view; Python's URL encoding leaves it as it is."""
LIVE = "live"
"""The view entry naming, step by step, which section each pipeline step follows."""
ADDED = "added"
"""In the ``live`` entry: a step added in the editor, which follows no section."""
_RESTORED = "_link_restored"
_DECIDED = "_link_decided"
"""Keys whose value the link set in this run; first-view defaults leave them be."""
_SHOWN_NAMES = 4


@dataclass(frozen=True)
class Control:
    """A widget whose value travels in the link's ``view`` field.

    Build one with :meth:`choice`, :meth:`number`, :meth:`switch` or
    :meth:`text`, and draw the widget from the same object, so the link and
    the widget agree on options, bounds and the starting value.

    Attributes
    ----------
    key : str
        The widget's session key; the link names it without the page prefix.
    kind : str
        ``"choice"``, ``"int"``, ``"float"``, ``"bool"`` or ``"text"``.
    default : object
        The widget's starting value, which the link leaves out; None when it
        depends on the picture, so a value that is set is always written.
    choices : mapping of str to object, optional
        For a choice: the word the link uses for each option, in order.
    low, high : float, optional
        Bounds known before a picture is loaded. A range that depends on the
        picture is enforced where the widget is drawn.
    step : float, optional
        The grid of a float slider; a linked value is moved onto it.
    """

    key: str
    kind: str
    default: Any = None
    choices: Mapping[str, Any] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None

    @classmethod
    def choice(
        cls,
        key: str,
        options: Sequence,
        words: Sequence[str] | None = None,
        default: Any = None,
    ) -> Control:
        """A selectbox or radio; ``words`` name the options in the link."""
        words = [str(option) for option in options] if words is None else words
        choices = dict(zip(words, options, strict=True))
        first = options[0] if default is None else default
        return cls(key, "choice", first, choices)

    @classmethod
    def number(
        cls,
        key: str,
        kind: str,
        default: float | None = None,
        low: float | None = None,
        high: float | None = None,
        step: float | None = None,
    ) -> Control:
        """A slider holding an ``"int"`` or a ``"float"``."""
        return cls(key, kind, default, None, low, high, step)

    @classmethod
    def switch(cls, key: str, default: bool = False) -> Control:
        """A checkbox or toggle."""
        return cls(key, "bool", default)

    @classmethod
    def text(cls, key: str) -> Control:
        """A choice whose options come from the picture (a file's windows)."""
        return cls(key, "text")

    @property
    def options(self) -> list:
        """The options of a choice, in the order the widget shows them."""
        return list(self.choices.values()) if self.choices else []


def _word(control: Control, value: Any) -> str | None:
    """The text a link holds for ``value``, or None when it cannot be written."""
    if control.kind == "choice":
        words = [word for word, option in control.choices.items() if option == value]
        return words[0] if words else None
    if control.kind == "bool":
        return "1" if value else "0"
    if control.kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if control.kind == "int":
            return str(int(value))
        return repr(float(value)).removesuffix(".0")
    text = str(value)
    return None if SEPARATOR in text or not text else text


def _on_grid(value: float, low: float, step: float) -> float:
    """``value`` moved to the nearest ``low + k * step``, if it is off that grid."""
    snapped = round(low + round((value - low) / step) * step, 10)
    return value if abs(snapped - value) <= step * 1e-9 else snapped


def _value(control: Control, word: str) -> tuple[Any, bool]:
    """The widget value a link's ``word`` stands for, and whether it was clamped.

    Raises
    ------
    ValueError
        When the word is no value this widget can take.
    """
    if control.kind == "choice":
        if word not in control.choices:
            raise ValueError(word)
        return control.choices[word], False
    if control.kind == "bool":
        if word not in ("0", "1"):
            raise ValueError(word)
        return word == "1", False
    if control.kind == "text":
        return word, False
    number = float(word)
    if not math.isfinite(number):
        raise ValueError(word)
    if control.kind == "int" and not number.is_integer():
        raise ValueError(word)
    if control.step is not None:
        number = _on_grid(number, control.low or 0.0, control.step)
    fitted = number
    if control.low is not None:
        fitted = max(fitted, control.low)
    if control.high is not None:
        fitted = min(fitted, control.high)
    value = int(fitted) if control.kind == "int" else float(fitted)
    return value, fitted != number


def _read_view(text: str) -> tuple[dict[str, str], list[str]]:
    """Split the view into ``{name: word}``, plus the pieces that are no setting."""
    entries, unreadable = {}, []
    for piece in text.split(SEPARATOR):
        name, dot, word = piece.partition(".")
        if dot and name and word:
            entries[name] = word
        elif piece:
            unreadable.append(piece)
    return entries, unreadable


def _view_sentence(names: list[str]) -> str:
    """One sentence naming the view settings that did not fit."""
    shown = ", ".join(names[:_SHOWN_NAMES])
    if len(names) > _SHOWN_NAMES:
        shown += f" and {len(names) - _SHOWN_NAMES} more"
    return (
        f"Some controls in the link do not fit this page ({shown}), so they start "
        "at their nearest allowed value or their default."
    )


def _restore_controls(
    prefix: str, controls: Sequence[Control], entries: dict[str, str]
) -> list[str]:
    """Set the session values the view names; returns the names that did not fit.

    A name that no control has (a widget since removed) is passed over.
    """
    misfits = []
    decided = set()
    for control in controls:
        name = control.key.removeprefix(prefix)
        if name not in entries:
            if control.default is not None:
                decided.add(control.key)
            continue
        try:
            value, clamped = _value(control, entries[name])
        except ValueError:
            misfits.append(name)
            continue
        if clamped:
            misfits.append(name)
        st.session_state[control.key] = value
        decided.add(control.key)
    st.session_state[_DECIDED] = decided
    return misfits


def _restore_live(
    prefix: str, word: str | None, steps: int, switches: Mapping[str, str]
) -> bool:
    """Let the linked steps follow their sections again, as in the sender's page.

    ``word`` names, step by step, the section each step follows or ``added``;
    ``switches`` maps each section's step to the toggle that includes it.
    Returns False, changing nothing, when the word does not fit the steps.
    """
    names = word.split("-") if word else []
    following = [name for name in names if name != ADDED]
    if (
        len(names) != steps
        or any(name not in switches for name in following)
        or len(set(following)) != len(following)
    ):
        return False
    for switch in set(switches.values()):
        st.session_state[switch] = False
    entries = st.session_state.get(f"{prefix}pipeline_entries", [])
    for entry, name in zip(entries, names, strict=True):
        if name != ADDED:
            entry["id"], entry["live"] = name, True
            st.session_state[switches[name]] = True
    return True


def _linked_steps(text: str, name: str) -> dict:
    """The validated pipeline a link field holds, as a list of steps or whole.

    Raises
    ------
    ValueError
        When the text is no pipeline; the message is a sentence saying why.
    """
    try:
        return pipeline_from_json(text, name=name, bare_steps=True)
    except PipelineError as error:
        raise ValueError(str(error)) from None


def _restore_pipeline(
    prefix: str, text: str, live: str | None, switches: Mapping[str, str]
) -> str | None:
    """Replace the page's steps with the link's; returns a sentence on failure."""
    try:
        pipeline = _linked_steps(text, "The link's pipeline")
    except ValueError as error:
        return (
            f"The pipeline in the link could not be read ({error}); the page "
            "starts with its own steps."
        )
    replace_steps(prefix, pipeline)
    if live is None or not _restore_live(
        prefix, live, len(pipeline["steps"]), switches
    ):
        for switch in set(switches.values()):
            st.session_state[switch] = False
    return None


def _restore_exercises(exercises: Mapping[str, tuple[str, str]]) -> list[str]:
    """Give each practice exercise the steps its link field holds.

    An exercise whose steps come from the link is marked to be checked when
    it is first drawn, so the link shows the sender's verdict too.
    """
    problems = []
    for exercise_id, (prefix, title) in exercises.items():
        text = st.query_params.get(EXERCISE_FIELD.format(exercise_id))
        if not text:
            continue
        try:
            pipeline = _linked_steps(text, f"The steps for '{title}'")
        except ValueError as error:
            problems.append(
                f"The practice steps for '{title}' in the link could not be read "
                f"({error}), so that exercise starts empty."
            )
            continue
        replace_steps(prefix, pipeline)
        st.session_state[f"{prefix}check_on_load"] = True
    return problems


def restore_link(
    prefix: str,
    controls: Sequence[Control] = (),
    live_switches: Mapping[str, str] | None = None,
    exercises: Mapping[str, tuple[str, str]] | None = None,
) -> list[str]:
    """Read the link once per session, before any widget; returns what failed.

    Parameters
    ----------
    prefix : str
        Start of the page's session keys, left out of the names in the link.
    controls : sequence of Control
        The widgets whose values the link's view may set. Values are checked
        against each control's options and bounds: one that does not fit is
        clamped or left at its default, and one sentence says so.
    live_switches : mapping of str to str, optional
        For each section step the page can keep in its pipeline, the toggle
        that includes it. With them a linked pipeline's steps keep following
        the page's sliders; without, they become fixed steps.
    exercises : mapping of str to (str, str), optional
        For each practice exercise, the session prefix of its pipeline and
        its title; the link's ``ex_<exercise>`` field gives it its steps.

    Returns
    -------
    list of str
        Sentences about the parts of the link that could not be used.
    """
    if st.session_state.get(_RESTORED):
        st.session_state.pop(_DECIDED, None)
        return []
    st.session_state[_RESTORED] = True
    problems = []
    fields = {
        key: st.query_params[key] for key in SOURCE_FIELDS if key in st.query_params
    }
    if fields:
        problem = apply_source_link(fields)
        if problem:
            problems.append(problem)

    entries, unreadable = _read_view(st.query_params.get(VIEW_FIELD, ""))
    if VIEW_FIELD in st.query_params:
        misfits = _restore_controls(prefix, controls, entries)
        if unreadable:
            misfits.append("text that names no control")
        if misfits:
            problems.append(_view_sentence(misfits))

    text = st.query_params.get(PIPELINE_FIELD)
    if text:
        problem = _restore_pipeline(
            prefix, text, entries.get(LIVE), live_switches or {}
        )
        if problem:
            problems.append(problem)
    problems.extend(_restore_exercises(exercises or {}))
    return problems


def set_unless_linked(values: Mapping[str, Any]) -> None:
    """Give widgets their starting values for a new picture, except linked ones.

    A page sets some controls when a picture is first shown (a DICOM file's
    window, for instance). In the run that reads a link, the link's view
    decides instead, so a shared link shows what its sender saw.
    """
    decided = st.session_state.get(_DECIDED, ())
    for key, value in values.items():
        if key not in decided:
            st.session_state[key] = value


def _view_text(prefix: str, controls: Sequence[Control]) -> str:
    """The view field for the current session values."""
    pieces = []
    for control in controls:
        if control.key not in st.session_state:
            continue
        value = st.session_state[control.key]
        if control.default is not None and value == control.default:
            continue
        word = _word(control, value)
        if word is not None:
            pieces.append(f"{control.key.removeprefix(prefix)}.{word}")
    entries = st.session_state.get(f"{prefix}pipeline_entries", [])
    if any(entry["live"] for entry in entries):
        names = [entry["id"] if entry["live"] else ADDED for entry in entries]
        pieces.append(f"{LIVE}.{'-'.join(names)}")
    return SEPARATOR.join(pieces)


def _set_field(key: str, value: str | None) -> None:
    """Write one query-string field, touching the address bar only on a change."""
    if value and st.query_params.get(key) != value:
        st.query_params[key] = value
    elif not value and key in st.query_params:
        del st.query_params[key]


def publish_view(prefix: str, controls: Sequence[Control]) -> None:
    """Write the controls into the query string; cheap enough for every rerun.

    Only a changed value reaches the browser, and writing the address bar
    does not rerun the page.
    """
    _set_field(VIEW_FIELD, _view_text(prefix, controls))


def publish_link(pipeline: dict | None) -> None:
    """Write the current image and pipeline into the query string."""
    wanted = dict(source_link() or {})
    if pipeline is not None:
        wanted[PIPELINE_FIELD] = compact_steps(pipeline)
    for key in SOURCE_FIELDS + (PIPELINE_FIELD,):
        _set_field(key, wanted.get(key))
    if source_link() is None:
        st.caption(
            "An uploaded file stays in this browser tab, so the address bar keeps "
            "only the pipeline and the controls: a link opens them on the page's "
            "first sample."
        )


def publish_exercise(exercise_id: str, pipeline: dict) -> None:
    """Write one practice exercise's steps into the query string.

    An exercise without steps leaves no field, so an untouched page keeps a
    short link.
    """
    text = compact_steps(pipeline) if pipeline["steps"] else None
    _set_field(EXERCISE_FIELD.format(exercise_id), text)
