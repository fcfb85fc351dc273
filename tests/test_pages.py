"""Each page rendered with Streamlit's AppTest: no exception, and sliders matter."""

import json
import time

import pytest
from conftest import REPO_ROOT
from streamlit.testing.v1 import AppTest

from pages.controls import UNEXPECTED

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
    _slider(app, "Disk radius (pixels)").set_value(7).run()
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

    from training.runner import active_run, latest_run

    run = active_run() or latest_run()
    assert run is not None
    deadline = time.monotonic() + 300
    while run.is_active() and time.monotonic() < deadline:
        time.sleep(1)
    assert not run.is_active()
    snapshot = run.snapshot()
    assert snapshot["status"] == "finished", snapshot["message"]

    app.run()
    _assert_clean(app)
    assert any("Best model so far" in text for text in _texts(app))
