"""Each page rendered with Streamlit's AppTest: no exception, and sliders matter."""

import json
import time

import pytest
from conftest import REPO_ROOT, write_radiograph
from streamlit.testing.v1 import AppTest

from pages.ui.controls import UNEXPECTED

TIMEOUT = 120


@pytest.fixture(autouse=True)
def _isolated_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CNN_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("CNN_LAB_DATA", str(tmp_path / "no-data-here"))


def _app(page: str | None = None) -> AppTest:
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    app.run()
    if page is not None:
        app.switch_page(f"pages/{page}.py")
        app.run()
    _assert_clean(app)
    return app


def _assert_clean(app: AppTest) -> None:
    """No exception box and no catch-all error sentence on the page."""
    assert not app.exception, [e.value for e in app.exception]
    failures = [e.value for e in app.error if e.value.startswith(UNEXPECTED)]
    assert not failures, failures


def _texts(app: AppTest) -> list[str]:
    return [element.value for element in app.caption] + [
        element.value for element in app.markdown
    ]


def _slider(app: AppTest, label: str):
    matches = [slider for slider in app.slider if slider.label == label]
    assert matches, f"no slider labelled {label!r}"
    return matches[0]


def _pipeline(app: AppTest) -> dict:
    blocks = [block.value for block in app.code if '"version"' in block.value]
    assert blocks, "the page shows no pipeline JSON"
    return json.loads(blocks[0])


def _use_dataset(app: AppTest, root, dataset: str) -> None:
    app.sidebar.radio(key="src_kind").set_value("Dataset folder").run()
    app.sidebar.text_input(key="src_data_root").set_value(str(root)).run()
    app.sidebar.selectbox(key="src_dataset").set_value(dataset).run()
    _assert_clean(app)


def test_preprocessing_threshold_slider_changes_the_mask():
    app = _app()
    assert app.title[0].value == "Preprocessing"
    before = [text for text in _texts(app) if "pixels (" in text]

    _slider(app, "Threshold value").set_value(30).run()
    _assert_clean(app)
    after = [text for text in _texts(app) if "pixels (" in text]
    assert before and after and before != after


def test_preprocessing_percentile_sliders_change_the_output(xray_dir):
    app = _app()
    _use_dataset(app, xray_dir.parent, "chest_xray")
    assert any("1024 x 1024 pixels, one channel" in text for text in _texts(app))

    app.radio(key="pp_norm_method").set_value("Percentile").run()
    first = [text for text in _texts(app) if text.startswith("After: minimum")]
    _slider(app, "Low percentile").set_value(25.0).run()
    _slider(app, "High percentile").set_value(75.0).run()
    second = [text for text in _texts(app) if text.startswith("After: minimum")]
    assert first and second and first != second
    (step,) = _pipeline(app)["steps"]
    assert step["op"] == "normalize" and step["method"] == "percentile"
    assert (step["low"], step["high"]) == (25.0, 75.0)


def test_preprocessing_low_at_or_above_high_gives_a_sentence():
    app = _app()
    app.radio(key="pp_norm_method").set_value("Percentile").run()
    _slider(app, "Low percentile").set_value(80.0).run()
    _slider(app, "High percentile").set_value(20.0).run()
    _assert_clean(app)
    assert any("must be below the high percentile" in w.value for w in app.warning)


def test_preprocessing_morphology_choice_enters_the_pipeline():
    app = _app()
    app.toggle(key="pp_include_mask").set_value(True).run()
    app.selectbox(key="pp_morphology").set_value("opening").run()
    _slider(app, "Footprint radius (pixels)").set_value(7).run()
    steps = _pipeline(app)["steps"]
    opening = [step for step in steps if step["op"] == "opening"]
    assert opening and opening[0]["radius"] == 7 and opening[0]["footprint"] == "disk"
    assert steps[-1]["op"] == "normalize"


def test_augmentation_rotation_slider_changes_preview_and_pipeline():
    app = _app("augmentation")
    assert app.title[0].value == "Augmentation"
    assert _pipeline(app)["steps"] == []

    _slider(app, "Rotation (degrees)").set_value(90).run()
    _slider(app, "Zoom (x)").set_value(2.0).run()
    _assert_clean(app)
    (affine,) = _pipeline(app)["steps"]
    assert affine["op"] == "affine"
    assert affine["rotation"] == 90 and affine["scale"] == 2.0


def test_augmentation_on_an_xray_from_the_dataset(xray_dir):
    app = _app("augmentation")
    _use_dataset(app, xray_dir.parent, "chest_xray")
    app.checkbox(key="aug_flip_h").check().run()
    _slider(app, "Shift right (pixels)").set_value(100).run()
    _assert_clean(app)
    kinds = [step["op"] for step in _pipeline(app)["steps"]]
    assert kinds == ["flip", "affine"]


def test_training_page_trains_the_bundled_set_and_streams_metrics():
    app = _app("training")
    assert app.title[0].value == "Training"
    _slider(app, "Images per class").set_value(6).run()
    _slider(app, "Epochs").set_value(1).run()
    app.select_slider(key="tr_image_size").set_value(32).run()
    app.button(key="btn_start").click().run()
    _assert_clean(app)

    from training.runner import get_run

    run_id = app.query_params["run"]
    run = get_run(run_id if isinstance(run_id, str) else run_id[0])
    assert run is not None
    if run.is_active():
        assert app.button(key="btn_start").disabled
        assert not app.button(key="btn_stop").disabled
    deadline = time.monotonic() + 300
    while run.is_active() and time.monotonic() < deadline:
        time.sleep(1)
    assert not run.is_active()
    snapshot = run.snapshot()
    assert snapshot["status"] == "finished", snapshot["message"]

    app.run()
    _assert_clean(app)
    assert any("Best model so far" in text for text in _texts(app))
    assert not app.button(key="btn_start").disabled

    fresh_tab = _app("training")
    assert any(run.run_id in text for text in _texts(fresh_tab))
    assert any("Best model so far" in text for text in _texts(fresh_tab))


def test_training_page_without_two_classes_says_so(tmp_path, flowers_dir):
    app = _app("training")
    (tmp_path / "data" / "single" / "daisy").mkdir(parents=True)
    image = sorted((flowers_dir / "daisy").iterdir())[0]
    (tmp_path / "data" / "single" / "daisy" / image.name).symlink_to(image)
    app.sidebar.text_input(key="src_data_root").set_value(str(flowers_dir.parent)).run()
    app.selectbox(key="tr_dataset").set_value("flowers").run()
    app.multiselect(key="tr_classes_flowers").set_value(["daisy"]).run()
    _assert_clean(app)
    assert any("at least two classes" in w.value for w in app.warning)
    assert app.button(key="btn_start").disabled

    app.sidebar.text_input(key="src_data_root").set_value(str(tmp_path / "data")).run()
    app.selectbox(key="tr_dataset").set_value("single").run()
    _assert_clean(app)
    assert any("one class folder" in w.value for w in app.warning)
    assert app.button(key="btn_start").disabled
    assert app.header[-1].value == "Run"

    app.sidebar.text_input(key="src_data_root").set_value(str(tmp_path / "no")).run()
    _assert_clean(app)
    assert any("does not exist" in text for text in _texts(app))


# -- Preprocessing: threshold, morphology, contrast -------------------------


def _image_captions(app: AppTest) -> list[str]:
    return [caption for image in app.get("image") for caption in image.captions]


def _all_text(app: AppTest) -> str:
    """Every string the page shows: text, captions, alerts, code and tables."""
    parts = _texts(app) + _image_captions(app)
    for kind in ("warning", "error", "info", "success", "code", "header", "title"):
        parts += [element.value for element in getattr(app, kind)]
    for table in app.dataframe:
        parts.append(table.value.to_csv())
    return "\n".join(str(part) for part in parts)


def _write_class_folders(root, dataset: str, name: str, write) -> None:
    """A dataset of two classes, each holding one file made by ``write``."""
    for class_name in ("first", "second"):
        folder = root / dataset / class_name
        folder.mkdir(parents=True)
        write(folder / name)


def test_automatic_threshold_methods_pick_their_own_values():
    app = _app()
    picked = {}
    for method in ("otsu", "li", "yen", "triangle", "mean"):
        app.selectbox(key="pp_threshold_method").set_value(method).run()
        _assert_clean(app)
        (caption,) = [text for text in _texts(app) if "picks the threshold" in text]
        picked[method] = caption
    assert len(set(picked.values())) >= 4, picked
    assert "Otsu picks the threshold" in picked["otsu"]


def test_try_all_gallery_shows_five_masks_with_their_values():
    app = _app()
    app.toggle(key="pp_try_all").set_value(True).run()
    _assert_clean(app)
    gallery = [
        caption
        for caption in _image_captions(app)
        if caption.split(":")[0] in {"Otsu", "Li", "Yen", "Triangle", "Mean"}
    ]
    assert len(gallery) == 5, gallery
    assert all(any(char.isdigit() for char in caption) for caption in gallery)


def test_threshold_on_a_one_intensity_image_says_so(tmp_path):
    from PIL import Image

    def write(path):
        Image.new("L", (64, 64), 90).save(path)

    _write_class_folders(tmp_path, "flat", "grey.png", write)
    app = _app()
    _use_dataset(app, tmp_path, "flat")
    app.selectbox(key="pp_threshold_method").set_value("otsu").run()
    _assert_clean(app)
    assert any("nothing to separate" in info.value for info in app.info)


def test_grayscale_morphology_goes_before_the_threshold():
    app = _app()
    before = _image_captions(app)
    app.radio(key="pp_morph_mode").set_value("The grayscale picture").run()
    app.selectbox(key="pp_morphology").set_value("white_tophat").run()
    app.toggle(key="pp_include_mask").set_value(True).run()
    _assert_clean(app)
    assert "White top-hat" in _image_captions(app) and before
    kinds = [step["op"] for step in _pipeline(app)["steps"]]
    assert kinds == ["grayscale", "white_tophat", "threshold", "normalize"]


def test_each_contrast_method_changes_the_output(xray_dir):
    app = _app()
    _use_dataset(app, xray_dir.parent, "chest_xray")
    summaries = {}
    for label in (
        "Divide by the maximum",
        "Min-max",
        "Percentile",
        "Z-score",
        "Histogram equalisation",
        "CLAHE (local equalisation)",
        "Window (centre and width)",
    ):
        app.radio(key="pp_norm_method").set_value(label).run()
        _assert_clean(app)
        (summary,) = [text for text in _texts(app) if text.startswith("After: min")]
        assert any(text.startswith("Clipped:") for text in _texts(app))
        summaries[label] = summary
    assert len(set(summaries.values())) == len(summaries), summaries
    (step,) = _pipeline(app)["steps"]
    assert step["op"] == "window"


def test_window_sliders_on_a_16_bit_xray(tmp_path, xray_path):
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(xray_path).convert("L")).astype(np.uint16) * 257

    def write(path):
        Image.fromarray(pixels).save(path)

    _write_class_folders(tmp_path, "xray16", "sixteen.png", write)
    app = _app()
    _use_dataset(app, tmp_path, "xray16")
    assert any("uint16" in text for text in _texts(app))
    app.radio(key="pp_norm_method").set_value("Window (centre and width)").run()
    _assert_clean(app)
    wide = [text for text in _texts(app) if text.startswith(("After: min", "Clip"))]
    _slider(app, "Window centre").set_value(40_000).run()
    _slider(app, "Window width").set_value(8_000).run()
    _assert_clean(app)
    narrow = [text for text in _texts(app) if text.startswith(("After: min", "Clip"))]
    assert wide != narrow
    assert any("at or below the window" in text for text in narrow)
    (step,) = _pipeline(app)["steps"]
    assert (step["center"], step["width"]) == (40_000.0, 8_000.0)


def _write_dicom(
    path,
    pixels,
    patient_name: str,
    rescale=("2", "-100"),
    window=("3000", "4000"),
) -> None:
    write_radiograph(
        path, pixels, patient_name=patient_name, rescale=rescale, window=window
    )


def test_dicom_opens_with_its_window_and_hides_the_patient(tmp_path, xray_path):
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(xray_path).convert("L")).astype(np.uint16) * 16

    def write(path):
        _write_dicom(path, pixels, "Doe^Jane")

    _write_class_folders(tmp_path, "dicom", "chest.dcm", write)
    app = _app()
    _use_dataset(app, tmp_path, "dicom")
    text = _all_text(app)
    assert "Doe" not in text and "XR-123456" not in text
    assert "MONOCHROME1" in text and "DX" in text
    assert app.radio(key="pp_norm_method").value == "Window (centre and width)"
    assert app.checkbox(key="pp_window_invert").value is True
    (step,) = _pipeline(app)["steps"]
    assert step["op"] == "window" and step["invert"] is True
    assert (step["center"], step["width"]) == (3000.0, 4000.0)
    assert any("values -100 to" in caption for caption in _texts(app))


def test_dicom_with_decimal_values_and_two_windows(tmp_path, xray_path):
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(xray_path).convert("L")).astype(np.uint16) * 16

    def write(path):
        _write_dicom(
            path,
            pixels,
            "Roe^Richard",
            rescale=("0.5", "-100"),
            window=(["924.5", "800.25"], ["1800.5", "600"]),
        )

    _write_class_folders(tmp_path, "dicom", "chest.dcm", write)
    app = _app()
    _use_dataset(app, tmp_path, "dicom")
    assert "Roe" not in _all_text(app)
    assert not any("lie outside 0-1" in text for text in _texts(app))
    (step,) = _pipeline(app)["steps"]
    assert (step["center"], step["width"]) == (924.5, 1800.5)

    app.selectbox(key="pp_window_preset").set_value("centre 800.25, width 600").run()
    _assert_clean(app)
    (step,) = _pipeline(app)["steps"]
    assert (step["center"], step["width"]) == (800.25, 600.0)


# -- Pipeline editor, JSON, code and the link -------------------------------


def test_reorder_and_switch_off_steps_change_the_pipeline():
    app = _app()
    app.toggle(key="pp_include_mask").set_value(True).run()
    kinds = [step["op"] for step in _pipeline(app)["steps"]]
    assert kinds == ["grayscale", "threshold", "normalize"]

    app.button(key="btn_pp_step_up_contrast").click().run()
    _assert_clean(app)
    kinds = [step["op"] for step in _pipeline(app)["steps"]]
    assert kinds == ["grayscale", "normalize", "threshold"]

    app.toggle(key="pp_step_on_threshold").set_value(False).run()
    _assert_clean(app)
    threshold = _pipeline(app)["steps"][2]
    assert threshold["op"] == "threshold" and threshold["enabled"] is False
    assert "def preprocess" in "".join(block.value for block in app.code)


def test_importing_a_pipeline_file_replaces_the_steps():
    app = _app()
    steps = [
        {"op": "flip", "horizontal": True, "vertical": False},
        {"op": "brightness", "factor": 1.5},
    ]
    text = json.dumps({"version": 1, "steps": steps}).encode()
    uploader = app.get("file_uploader")[-1]
    uploader.set_value(("mine.json", text, "application/json")).run()
    _assert_clean(app)
    assert [step["op"] for step in _pipeline(app)["steps"]] == ["flip", "brightness"]
    assert any("Imported 2 step(s)" in message.value for message in app.success)


def test_a_broken_pipeline_file_gives_a_sentence():
    app = _app()
    uploader = app.get("file_uploader")[-1]
    uploader.set_value(("broken.json", b'{"version": 1, "steps": [', "text/json"))
    uploader.run()
    _assert_clean(app)
    assert any("is not valid JSON" in warning.value for warning in app.warning)
    assert [step["op"] for step in _pipeline(app)["steps"]] == ["normalize"]


def test_a_link_reproduces_the_image_and_the_pipeline():
    app = _app()
    app.sidebar.selectbox(key="src_sample").set_value("camera").run()
    app.toggle(key="pp_include_mask").set_value(True).run()
    app.button(key="btn_pp_step_up_contrast").click().run()
    shared = dict(app.query_params)
    expected = _pipeline(app)
    assert shared["sample"] == ["camera"] or shared["sample"] == "camera"

    second = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in shared.items():
        second.query_params[key] = value[0] if isinstance(value, list) else value
    second.run()
    _assert_clean(second)
    assert _pipeline(second) == expected
    assert any(text.startswith("**camera**") for text in _texts(second))


def test_a_broken_link_gives_a_sentence_and_the_defaults():
    second = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    second.query_params["pipeline"] = '[{"op": "sharpen"}]'
    second.query_params["src"] = "sample"
    second.query_params["sample"] = "no-such-photo"
    second.run()
    _assert_clean(second)
    warnings = " ".join(warning.value for warning in second.warning)
    assert "could not be read" in warnings
    assert "no known sample" in warnings
    assert [step["op"] for step in _pipeline(second)["steps"]] == ["normalize"]


def test_a_link_cannot_move_the_data_folder_outside_the_servers(tmp_path):
    outside = tmp_path / "elsewhere"
    (outside / "secrets" / "a").mkdir(parents=True)
    second = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    second.query_params["src"] = "dataset"
    second.query_params["root"] = str(outside)
    second.query_params["dataset"] = "secrets"
    second.run()
    _assert_clean(second)
    warnings = " ".join(warning.value for warning in second.warning)
    assert "outside this server's data folder" in warnings
    assert second.sidebar.text_input(key="src_data_root").value != str(outside)


# -- Practice and bad input -------------------------------------------------


def _add_step(app: AppTest, prefix: str, op: str) -> None:
    app.selectbox(key=f"{prefix}new_op").set_value(op).run()
    app.button(key=f"btn_{prefix}add_step").click().run()
    _assert_clean(app)


def test_practice_says_right_and_wrong():
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    app.session_state["pp_ex_open_flip_lr_ud"] = True
    app.run()
    prefix = "pp_ex_flip_lr_ud_"
    _add_step(app, prefix, "flip")
    app.button(key=f"btn_{prefix}check").click().run()
    _assert_clean(app)
    assert app.warning and not app.success

    _add_step(app, prefix, "flip")
    app.checkbox(key=f"{prefix}param_s2_horizontal").uncheck().run()
    app.checkbox(key=f"{prefix}param_s2_vertical").check().run()
    app.button(key=f"btn_{prefix}check").click().run()
    _assert_clean(app)
    assert app.success, [w.value for w in app.warning]


def test_an_image_past_the_pixel_limit_is_refused_with_a_sentence(
    xray_dir, monkeypatch
):
    import pages.ui.controls

    monkeypatch.setattr(pages.ui.controls, "MAX_PIXELS", 500_000)
    app = _app()
    _use_dataset(app, xray_dir.parent, "chest_xray")
    errors = [error.value for error in app.sidebar.error]
    assert any("limit" in error and "500,000" in error for error in errors), errors
    assert any("Pick an image" in info.value for info in app.info)
