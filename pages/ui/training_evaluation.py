"""Judge a run: confusion matrix, ROC, per-class scores, predictions, Grad-CAM.

The numbers come from the run's ``evaluation.json``; predictions load
``best.keras`` (TensorFlow loads only when the learner asks for one).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from imgproc import ImageLoadError, load_image
from imgproc.io import IMAGE_EXTENSIONS, SAMPLES, load_sample
from pages.ui.controls import MAX_PIXELS, MAX_UPLOAD_MB
from pages.ui.session import forget_state
from pages.ui.visuals import image_row
from training import records
from training.data import DatasetError, scan_dataset

__all__ = [
    "confusion_chart",
    "evaluation_section",
    "prediction_section",
    "roc_chart",
]

PREDICT_FOR = "_tr_predict_for"
"""Session key: the run whose best model the learner asked to load."""
MAX_LISTED_FILES = 500

_SOURCES = {
    "split": "A validation image of this run",
    "upload": "An image you upload",
    "sample": "A sample photograph",
}


def confusion_chart(matrix: list[list[int]], classes: list[str]) -> go.Figure:
    """A heatmap of counts, true class down the side, predicted along the top."""
    figure = go.Figure(
        go.Heatmap(
            z=matrix,
            x=[f"predicted {name}" for name in classes],
            y=[f"true {name}" for name in classes],
            text=matrix,
            texttemplate="%{text}",
            colorscale="Blues",
            showscale=False,
        )
    )
    figure.update_layout(
        title="Confusion matrix (validation images)",
        height=360,
        margin=dict(l=10, r=10, t=40, b=10),
        yaxis=dict(autorange="reversed"),
    )
    return figure


def roc_chart(curves: list[dict]) -> go.Figure:
    """ROC curves with their AUC, and the diagonal of guessing."""
    figure = go.Figure()
    for curve in curves:
        if not curve.get("fpr"):
            continue
        auc = curve.get("auc")
        area = f"AUC {auc:.3f}" if auc is not None else "AUC undefined"
        figure.add_trace(
            go.Scatter(
                x=curve["fpr"],
                y=curve["tpr"],
                mode="lines",
                name=f"{curve.get('positive')} ({area})",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="guessing (AUC 0.5)",
            line=dict(dash="dot", color="grey"),
        )
    )
    figure.update_layout(
        title="ROC curve",
        height=360,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(title="false positive rate", range=[0, 1]),
        yaxis=dict(title="true positive rate", range=[0, 1.02]),
        legend=dict(orientation="h", y=-0.25),
    )
    return figure


def _scores_table(report: dict) -> list[dict]:
    """Precision, recall, F1 and image count per class, then their means."""
    rows = [
        {
            "class": name,
            **{k: scores[k] for k in ("precision", "recall", "f1")},
            "images": scores["support"],
        }
        for name, scores in report["per_class"].items()
    ]
    if report.get("macro_avg"):
        rows.append(
            {
                "class": "mean over classes",
                **report["macro_avg"],
                "images": report["count"],
            }
        )
    return rows


def evaluation_section(view: dict | None) -> None:
    """Confusion matrix, ROC and per-class scores of the run's best epoch."""
    if view is None:
        return
    report = view.get("evaluation")
    if not report:
        if view["status"] == "finished":
            st.caption("This run's folder holds no evaluation.json to show.")
        return
    st.header("Evaluation")
    try:
        classes = [str(name) for name in report["classes"]]
        matrix = [[int(count) for count in row] for row in report["confusion_matrix"]]
        rows = _scores_table(report)
        curves = list(report.get("roc") or [])
    except (KeyError, TypeError, ValueError, AttributeError):
        st.warning(
            "The run's evaluation.json does not have the expected fields, so it "
            "cannot be shown."
        )
        return
    auc = report.get("auc")
    epoch = report.get("epoch")
    st.markdown(
        f"The best model{f' (epoch {epoch})' if epoch else ''} on the "
        f"{report.get('count', sum(map(sum, matrix)))} validation images: accuracy "
        f"{report.get('accuracy', 0):.1%}, AUC "
        f"{'undefined' if auc is None else f'{auc:.3f}'}. Each row of the matrix "
        "is a true class; the diagonal counts the right answers. Recall is the "
        "share of a class that was found; precision the share of the images "
        "called that class that really are."
    )
    columns = st.columns(2)
    with columns[0]:
        st.plotly_chart(confusion_chart(matrix, classes), key="tr_confusion_chart")
    with columns[1]:
        st.plotly_chart(roc_chart(curves), key="tr_roc_chart")
        for curve in curves:
            if curve.get("note"):
                st.caption(curve["note"])
    st.dataframe(rows, hide_index=True)


# -- Prediction ---------------------------------------------------------------


@st.cache_resource(show_spinner="Loading best.keras...", max_entries=2)
def _model(path: str, modified: float):
    """The run's best model, loaded once per file version."""
    from training.evaluate import load_for_inference

    return load_for_inference(path)


@st.cache_data(show_spinner="Predicting...", max_entries=32)
def _predict(
    path: str,
    modified: float,
    image_token: str,
    _image: np.ndarray,
    config_json: str,
    class_index: int | None,
) -> dict:
    """Probabilities, the prepared input and the Grad-CAM map for one image."""
    from training.data import prepare_image
    from training.evaluate import grad_cam, predict_image

    model = _model(path, modified)
    size, channels = int(model.input_shape[1]), int(model.input_shape[-1])
    config = {**json.loads(config_json), "image_size": size, "channels": channels}
    probabilities = predict_image(model, _image, config)
    prepared = prepare_image(_image, size, channels, config.get("pipeline"))
    explained = int(np.argmax(probabilities)) if class_index is None else class_index
    heatmap = grad_cam(model, prepared, class_index=explained)
    return {
        "probabilities": [float(p) for p in probabilities],
        "prepared": prepared,
        "heatmap": heatmap,
        "explained": explained,
        "size": size,
    }


@st.cache_data(show_spinner=False, max_entries=8)
def _read(path: str, modified: float) -> np.ndarray:
    """A picture from disk, decoded once per file version."""
    return load_image(path, max_pixels=MAX_PIXELS)


@st.cache_data(show_spinner=False, max_entries=4)
def _read_bytes(data: bytes, name: str) -> np.ndarray:
    """An uploaded picture, decoded once."""
    return load_image(data, name=name, max_pixels=MAX_PIXELS)


def _run_files(view: dict) -> tuple[list[tuple[str, str]], str]:
    """The run's validation files with their true class, or its dataset's."""
    split = records.read_json(Path(view["run_dir"]) / "split.json", default=None)
    if isinstance(split, dict) and split.get("val"):
        classes = split.get("classes") or view.get("classes") or []
        files = []
        for path, label in split["val"][:MAX_LISTED_FILES]:
            true = classes[label] if 0 <= int(label) < len(classes) else "?"
            files.append((str(path), true))
        return files, "validation"
    config = view["config"]
    try:
        index = scan_dataset(config["data_dir"], config.get("classes"))
    except (DatasetError, KeyError):
        return [], ""
    files = [(str(p), name) for name in index.classes for p in index.files[name]]
    return files[:MAX_LISTED_FILES], "dataset"


def _choose_image(view: dict) -> tuple[np.ndarray, str, str, str | None] | None:
    """Image, label, cache token and true class, or None after a sentence."""
    source = st.radio(
        "Image to classify",
        list(_SOURCES),
        format_func=_SOURCES.get,
        key="tr_predict_source",
        horizontal=True,
    )
    try:
        if source == "split":
            files, kind = _run_files(view)
            if not files:
                st.info("The run's images cannot be found any more.")
                return None
            if kind == "dataset":
                st.caption("This run lists no validation images; any of its dataset.")
            labels = [f"{Path(path).name} ({true})" for path, true in files]
            if st.session_state.get("tr_predict_file") not in labels:
                st.session_state["tr_predict_file"] = labels[0]
            label = st.selectbox("File", labels, key="tr_predict_file")
            path, true = files[labels.index(label)]
            modified = Path(path).stat().st_mtime
            return _read(path, modified), label, f"{path}:{modified}", true
        if source == "sample":
            name = st.selectbox(
                "Photograph",
                list(SAMPLES),
                key="tr_predict_sample",
                format_func=lambda n: f"{n}: {SAMPLES[n]}",
            )
            return load_sample(name), name, f"sample:{name}", None
        upload = st.file_uploader(
            "Image file",
            type=[ext.lstrip(".") for ext in IMAGE_EXTENSIONS],
            key="upload_tr_predict",
            help=f"Up to {MAX_UPLOAD_MB} MB.",
        )
        if upload is None:
            st.info("Choose a file to classify it.")
            return None
        data = upload.getvalue()
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        return _read_bytes(data, upload.name), upload.name, digest, None
    except ImageLoadError as error:
        st.warning(str(error))
    except OSError as error:
        st.warning(f"The image could not be read: {error}.")
    return None


def _probability_chart(classes: list[str], probabilities: list[float]) -> go.Figure:
    """One bar per class, labelled with its probability."""
    figure = go.Figure(
        go.Bar(
            x=classes,
            y=probabilities,
            text=[f"{p:.1%}" for p in probabilities],
            textposition="auto",
        )
    )
    figure.update_layout(
        title="Class probabilities",
        height=280,
        margin=dict(l=10, r=10, t=40, b=10),
        yaxis=dict(range=[0, 1]),
    )
    return figure


def _show_prediction(view: dict, image, label: str, token: str, true) -> None:
    """Probabilities, the network's input and the Grad-CAM overlay of one image."""
    classes = list(view.get("classes") or [])
    model_path = Path(view["run_dir"]) / "best.keras"
    choices = ["the predicted class", *classes]
    if st.session_state.get("tr_cam_class") not in choices:
        forget_state("tr_cam_class")
    explain = st.selectbox("Grad-CAM explains", choices, key="tr_cam_class")
    class_index = classes.index(explain) if explain in classes else None
    config = json.dumps(view["config"], sort_keys=True)
    try:
        result = _predict(
            str(model_path),
            model_path.stat().st_mtime,
            token,
            image,
            config,
            class_index,
        )
    except (ValueError, OSError) as error:
        st.warning(f"This image cannot be classified by the run's model: {error}")
        return
    probabilities = result["probabilities"]
    names = (
        classes
        if len(classes) == len(probabilities)
        else [f"class {i}" for i in range(len(probabilities))]
    )
    best = int(np.argmax(probabilities))
    sentence = f"The model says **{names[best]}** ({probabilities[best]:.1%})."
    if true is not None:
        sentence += f" The true class is **{true}**."
    st.markdown(sentence)
    st.plotly_chart(_probability_chart(names, probabilities), key="tr_predict_chart")

    from training.evaluate import overlay_heatmap

    overlay = overlay_heatmap(image, result["heatmap"])
    image_row(
        [
            (label, image),
            (f"What the network sees ({result['size']} px)", result["prepared"]),
            (f"Grad-CAM for {names[result['explained']]}", overlay),
        ]
    )
    cells = max(1, result["size"] // 32)
    st.caption(
        f"The heatmap is {cells} x {cells} cells (the last feature map of the "
        "ResNet, 1/32 of the input side), enlarged to the picture; red marks "
        "where the features that speak for the class were found."
        + (
            " One cell cannot point at a region: train at 64 px or more."
            if cells == 1
            else ""
        )
    )


def prediction_section(view: dict | None) -> None:
    """Classify an image with the run's best.keras and show Grad-CAM."""
    if view is None or not view.get("has_model"):
        return
    st.header("Prediction")
    st.markdown(
        "Classify one picture with the best model of this run. It goes through "
        "the same preprocessing and resizing as the training images. Grad-CAM "
        "then colours the parts of the picture that pushed the network towards "
        "a class."
    )
    run_id = view["run_id"]
    if st.session_state.get(PREDICT_FOR) != run_id:
        if st.button("Load the best model and predict", key="btn_predict"):
            st.session_state[PREDICT_FOR] = run_id
        else:
            return
    chosen = _choose_image(view)
    if chosen is None:
        return
    image, label, token, true = chosen
    _show_prediction(view, image, label, token, true)
