"""Each page rendered with Streamlit's AppTest: no exception, and sliders matter."""

import json

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


# -- Training ----------------------------------------------------------------


@pytest.fixture
def stop_runs():
    """Stop and wait for every run a test leaves queued or training."""
    yield
    from training.runner import active_runs

    for run in active_runs():
        run.stop()
    for run in active_runs():
        run.join(timeout=120)


def _charts(app: AppTest) -> dict[str, dict]:
    """Every plotly chart of the page by its title."""
    figures = [json.loads(chart.proto.spec) for chart in app.get("plotly_chart")]
    return {figure["layout"]["title"]["text"]: figure for figure in figures}


def _shown_run_id(app: AppTest) -> str:
    value = app.query_params["run"]
    return value if isinstance(value, str) else value[0]


def _wait(run, seconds: float = 300) -> dict:
    run.join(timeout=seconds)
    assert not run.is_active()
    return run.snapshot()


def _small_training(app: AppTest, epochs: int) -> None:
    _slider(app, "Images per class").set_value(6).run()
    _slider(app, "Epochs").set_value(epochs).run()
    app.select_slider(key="tr_image_size").set_value(32).run()
    _assert_clean(app)


def test_training_page_trains_the_bundled_set_and_streams_metrics(stop_runs):
    from training.runner import get_run

    app = _app("training")
    assert app.title[0].value == "Training"
    _small_training(app, epochs=1)
    app.button(key="btn_start").click().run()
    _assert_clean(app)

    run = get_run(_shown_run_id(app))
    assert run is not None
    if run.is_active():
        assert app.button(key="btn_start").disabled, "a second identical run"
        assert not app.button(key="btn_stop").disabled
    snapshot = _wait(run)
    assert snapshot["status"] == "finished", snapshot["message"]

    app.run()
    _assert_clean(app)
    assert any("Best model so far" in text for text in _texts(app))
    assert not app.button(key="btn_start").disabled
    charts = _charts(app)
    for title in ("Loss", "Accuracy", "Validation AUC", "Learning rate"):
        assert title in charts, sorted(charts)
    (loss,) = [t for t in charts["Loss"]["data"] if t["name"] == "loss"]
    assert loss["y"] == [snapshot["epochs"][0]["loss"]]
    recall = charts["Validation recall per class"]["data"]
    assert sorted(t["name"] for t in recall) == ["recall face", "recall nonface"]

    split = json.loads((run.run_dir / "split.json").read_text())
    (heatmap,) = charts["Confusion matrix (validation images)"]["data"]
    true_counts = [sum(1 for _, label in split["val"] if label == k) for k in (0, 1)]
    assert [sum(row) for row in heatmap["z"]] == true_counts

    app.button(key="btn_predict").click().run()
    _assert_clean(app)
    assert any(text.startswith("The model says") for text in _texts(app))
    (bars,) = _charts(app)["Class probabilities"]["data"]
    assert bars["x"] == ["face", "nonface"]
    assert sum(bars["y"]) == pytest.approx(1.0, abs=1e-4)
    assert any(c.startswith("Grad-CAM for") for c in _image_captions(app))
    app.radio(key="tr_predict_source").set_value("sample").run()
    _assert_clean(app)
    (said,) = [text for text in _texts(app) if text.startswith("The model says")]
    assert "true class" not in said

    fresh_tab = _app("training")
    assert any(run.run_id in text for text in _texts(fresh_tab))
    assert any("Best model so far" in text for text in _texts(fresh_tab))


def test_training_sweep_queues_one_run_per_rate_with_queue_places(
    monkeypatch, stop_runs
):
    from training.records import list_runs
    from training.runner import default_runs_root, get_run

    monkeypatch.setenv("CNN_LAB_MAX_RUNS", "1")
    app = _app("training")
    _small_training(app, epochs=30)
    rates = [1e-4, 1e-3, 1e-2]
    app.multiselect(key="tr_sweep_rates").set_value(rates).run()
    app.button(key="btn_sweep").click().run()
    _assert_clean(app)

    summaries = list_runs(default_runs_root())
    configs = sorted((s["config"] for s in summaries), key=lambda c: c["learning_rate"])
    assert [c["learning_rate"] for c in configs] == rates
    assert len({c["group"] for c in configs}) == 1 and configs[0]["group"]
    assert all(c["epochs"] == 30 and c["image_size"] == 32 for c in configs)

    by_rate = {s["config"]["learning_rate"]: s["run_id"] for s in summaries}
    app.selectbox(key="tr_shown_run").set_value(by_rate[1e-2]).run()
    _assert_clean(app)
    assert any("2nd in the queue" in info.value for info in app.info)
    table = app.dataframe[0].value
    assert "queued, 1st in line" in set(table["status"])
    compared = _charts(app)
    (title,) = [t for t in compared if t.startswith("Compared runs")]
    assert app.multiselect(key="tr_compare").value == [by_rate[r] for r in rates]

    assert not app.button(key="btn_stop").disabled
    app.button(key="btn_stop").click().run()
    _assert_clean(app)
    statuses = [_wait(get_run(by_rate[rate]), 120)["status"] for rate in rates]
    assert statuses == ["stopped"] * 3


def _write_run(folder, config: dict, epochs: list[dict], status: dict) -> None:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    lines = "".join(json.dumps(entry) + "\n" for entry in epochs)
    (folder / "metrics.jsonl").write_text(lines)
    (folder / "status.json").write_text(json.dumps(status))


def _shell_run_config(data_dir, **changes) -> dict:
    from training.runner import RunConfig

    return RunConfig(
        data_dir=str(data_dir),
        classes=["daisy", "rose"],
        epochs=4,
        image_size=32,
        name="from the shell",
        **changes,
    ).to_dict()


EPOCHS = [
    {
        "epoch": epoch,
        "loss": loss,
        "accuracy": accuracy,
        "val_loss": val_loss,
        "val_accuracy": accuracy - 0.1,
        "val_auc": auc,
        "val_recall": {"daisy": accuracy, "rose": accuracy - 0.2},
        "learning_rate": 0.001,
        "seconds": 2.0,
    }
    for epoch, loss, accuracy, val_loss, auc in [
        (1, 0.69, 0.55, 0.68, 0.61),
        (2, 0.52, 0.74, 0.55, 0.79),
        (3, 0.31, 0.91, 0.71, 0.77),
    ]
]


def test_training_lists_and_draws_a_run_folder_written_elsewhere(tmp_path, flowers_dir):
    import numpy as np
    from sklearn.metrics import (
        confusion_matrix,
        precision_recall_fscore_support,
        roc_auc_score,
        roc_curve,
    )

    folder = tmp_path / "runs" / "20250101-120000-abc123"
    _write_run(
        folder,
        _shell_run_config(flowers_dir),
        EPOCHS,
        {"status": "finished", "message": "Finished 3 epoch(s).", "pid": None},
    )
    sentence = "Validation loss rose from 0.55 to 0.71 while training loss fell."
    flags = [{"rule": "overfitting", "epoch": 3, "sentence": sentence}]
    (folder / "diagnosis.json").write_text(json.dumps({"flags": flags}))

    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    rose = np.array([0.2, 0.6, 0.1, 0.9, 0.7, 0.4, 0.8])
    predicted = (rose >= 0.5).astype(int)
    fpr, tpr, _ = roc_curve(labels, rose)
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted)
    evaluation = {
        "classes": ["daisy", "rose"],
        "count": 7,
        "accuracy": float(np.mean(predicted == labels)),
        "confusion_matrix": confusion_matrix(labels, predicted).tolist(),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(["daisy", "rose"])
        },
        "roc": [
            {
                "positive": "rose",
                "fpr": fpr.tolist(),
                "tpr": tpr.tolist(),
                "auc": float(roc_auc_score(labels, rose)),
            }
        ],
        "auc": float(roc_auc_score(labels, rose)),
        "epoch": 2,
    }
    (folder / "evaluation.json").write_text(json.dumps(evaluation))

    app = _app("training")
    table = app.dataframe[0].value
    assert list(table["run"]) == [folder.name]
    assert list(table["name"]) == ["from the shell"]
    assert app.selectbox(key="tr_shown_run").value == folder.name

    charts = _charts(app)
    (val_loss,) = [t for t in charts["Loss"]["data"] if t["name"] == "val_loss"]
    assert val_loss["y"] == [0.68, 0.55, 0.71]
    overlay = charts[next(t for t in charts if t.startswith("Compared runs"))]
    auc = [t for t in overlay["data"] if t["name"] == "from the shell: val_auc"]
    assert auc and auc[0]["y"] == [0.61, 0.79, 0.77]

    (flag,) = [w.value for w in app.warning if sentence in w.value]
    assert "Overfitting" in flag and "epoch 3" in flag

    (heatmap,) = charts["Confusion matrix (validation images)"]["data"]
    assert heatmap["z"] == [[2, 1], [1, 3]]
    (curve,) = [t for t in charts["ROC curve"]["data"] if t["name"].startswith("rose")]
    assert curve["x"] == pytest.approx(fpr.tolist())
    scores = app.dataframe[-1].value
    assert list(scores["recall"][:2]) == pytest.approx([2 / 3, 3 / 4])


def test_training_follows_a_run_of_another_process_from_its_folder(
    tmp_path, flowers_dir
):
    import subprocess

    trainer = subprocess.Popen(["sleep", "300"])
    folder = tmp_path / "runs" / "20250101-120000-def456"
    status = {"status": "training", "message": "Training epoch 2.", "pid": trainer.pid}
    _write_run(folder, _shell_run_config(flowers_dir), EPOCHS[:1], status)
    try:
        app = _app("training")
        assert any("trained by another process" in text for text in _texts(app))
        assert _charts(app)["Loss"]["data"][0]["y"] == [0.69]

        with open(folder / "metrics.jsonl", "a") as stream:
            stream.write(json.dumps(EPOCHS[1]) + "\n")
        app.run()
        _assert_clean(app)
        assert _charts(app)["Loss"]["data"][0]["y"] == [0.69, 0.52]
    finally:
        trainer.kill()
        trainer.wait()


def test_training_cost_matrix_starts_with_the_rarer_class_dearer(
    flowers_dir, stop_runs
):
    from training.runner import get_run

    app = _app("training")
    app.sidebar.text_input(key="src_data_root").set_value(str(flowers_dir.parent)).run()
    app.selectbox(key="tr_dataset").set_value("flowers").run()
    app.toggle(key="tr_imbalance").set_value(True).run()
    app.radio(key="tr_class_weight").set_value("balanced").run()
    app.radio(key="tr_loss").set_value("cost_matrix").run()
    _assert_clean(app)
    # 50 per class at 1:9 keeps 6 daisies and 50 roses; a fifth of each
    # validates, so 5 daisies and 40 roses train.
    assert any(
        t.startswith("Kept per class: daisy 6, rose 50. 45") for t in _texts(app)
    )
    # Balanced weights are n / (classes * count): 45 / 10 and 45 / 80.
    assert any("daisy 4.50, rose 0.56" in text for text in _texts(app))

    app.button(key="btn_start").click().run()
    _assert_clean(app)
    run = get_run(_shown_run_id(app))
    run.stop()
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["cost_matrix"] == [[1.0, 8.0], [1.0, 1.0]]
    assert config["class_ratio"] == [1.0, 9.0]
    assert config["class_weight"] == "balanced" and config["loss"] == "cost_matrix"


def test_a_runs_settings_come_back_into_the_form(tmp_path, flowers_dir, stop_runs):
    from training.runner import default_runs_root, get_run

    pipeline = {
        "version": 1,
        "steps": [{"op": "normalize", "method": "percentile", "low": 25.0}],
    }
    config = _shell_run_config(
        flowers_dir,
        percent=25.0,
        class_ratio=[1.0, 3.0],
        batch_size=8,
        learning_rate=1e-2,
        optimizer="sgd",
        schedule="cosine",
        depth=34,
        preact=False,
        class_weight="balanced",
        loss="cost_matrix",
        cost_matrix=[[1.0, 4.0], [2.0, 1.0]],
        pipeline=pipeline,
        augmentation={"flip_horizontal": True, "rotation": 15.0, "zoom": 1.2},
        val_fraction=0.25,
        seed=7,
    )
    _write_run(
        default_runs_root() / "20250101-120000-set001",
        config,
        EPOCHS,
        {"status": "finished", "message": "Finished."},
    )

    # A fresh tab (as after a reload) opened on the run, then the button.
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    app.query_params["run"] = "20250101-120000-set001"
    app.run()
    app.switch_page("pages/training.py")
    app.run()
    assert app.session_state["tr_epochs"] == 5, "the form starts at its defaults"
    app.button(key="btn_use_settings").click().run()
    _assert_clean(app)

    state = app.session_state
    assert app.sidebar.text_input(key="src_data_root").value == str(flowers_dir.parent)
    assert app.selectbox(key="tr_dataset").value == "flowers"
    assert app.radio(key="tr_subset").value == "percent"
    assert _slider(app, "Share of each class (%)").value == 25
    assert app.toggle(key="tr_imbalance").value is True
    assert app.text_input(key="tr_class_ratio_flowers").value == "1:3"
    assert app.select_slider(key="tr_image_size").value == 32
    assert app.radio(key="tr_preprocessing").value == "page"
    assert app.toggle(key="tr_augment").value is True
    assert state["aug_flip_h"] is True and state["aug_rotation"] == 15
    assert state["aug_zoom"] == 1.2
    assert app.number_input(key="tr_seed").value == 7
    assert _slider(app, "Validation share").value == 0.25
    assert app.radio(key="tr_depth").value == 34
    assert app.radio(key="tr_version").value == "v1"
    assert _slider(app, "Epochs").value == 4
    assert app.select_slider(key="tr_batch_size").value == 8
    assert app.select_slider(key="tr_learning_rate").value == 1e-2
    assert app.radio(key="tr_optimizer").value == "sgd"
    assert app.radio(key="tr_schedule").value == "cosine"
    assert app.radio(key="tr_class_weight").value == "balanced"
    assert app.radio(key="tr_loss").value == "cost_matrix"
    assert app.text_input(key="tr_run_name").value == "from the shell"
    notes = " ".join(info.value for info in app.info)
    assert "now holds the run's settings" in notes
    assert "Preprocessing page's pipeline now holds the run's 1 step(s)" in notes
    assert not app.button(key="btn_start").disabled, [w.value for w in app.warning]

    # Start trains exactly the loaded settings.
    app.button(key="btn_start").click().run()
    _assert_clean(app)
    started = get_run(_shown_run_id(app))
    started.stop()
    again = json.loads((started.run_dir / "config.json").read_text())
    # The page writes every augmentation range; those the run left out are
    # at "no change".
    assert again.pop("augmentation") == {
        **config.pop("augmentation"),
        "flip_vertical": False,
        "shift_x": 0.0,
        "shift_y": 0.0,
        "shear": 0.0,
        "brightness": 0.0,
        "fill": "constant",
    }
    assert {key: value for key, value in again.items() if key != "run_dir"} == {
        key: value for key, value in config.items() if key != "run_dir"
    }


def _load_run_settings(run_id: str, config: dict) -> tuple[AppTest, str]:
    """Write a finished run, press its "Use this run's settings"; app and notes."""
    from training.runner import default_runs_root

    _write_run(
        default_runs_root() / run_id,
        config,
        EPOCHS,
        {"status": "finished", "message": "Finished."},
    )
    app = _app("training")
    app.query_params["run"] = run_id
    app.run()
    app.button(key="btn_use_settings").click().run()
    _assert_clean(app)
    return app, " ".join(info.value for info in app.info)


def test_loaded_settings_name_every_value_they_move(flowers_dir):
    from training.runner import RunConfig

    # A shell run without --classes: its cost matrix follows the folder's
    # class order, and values off the sliders' steps are named.
    config = RunConfig(
        data_dir=str(flowers_dir),
        image_size=32,
        per_class=100000,
        class_ratio=[1.0, 3.3333333],
        loss="cost_matrix",
        cost_matrix=[[1.0, 7.25], [1.0, 1.0]],
        augmentation={"rotation": 170.0, "zoom": 1.33, "shear": 12.5},
        val_fraction=0.33,
    ).to_dict()
    app, notes = _load_run_settings("20250101-120000-set003", config)
    assert "data folder is now" in notes
    from training.data import scan_dataset

    index = scan_dataset(flowers_dir)
    smallest = min(len(index.files[name]) for name in index.classes)
    for moved in (
        f"images per class 100000 as {smallest}",
        "zoom 1.33 as 1.35",
        "shear 12.5 as 12",
        "validation share 0.33 as 0.35",
    ):
        assert moved in notes, notes
    assert app.text_input(key="tr_class_ratio_flowers").value == "1:3.3333333"
    assert app.session_state["tr_cost_matrix"] == {
        "classes": ["daisy", "rose"],
        "matrix": [[1.0, 7.25], [1.0, 1.0]],
    }


def test_settings_the_form_cannot_show_are_named(tmp_path, flowers_dir):
    config = _shell_run_config(
        tmp_path / "gone" / "flowers", learning_rate=5e-3, momentum=0.8
    )
    app, notes = _load_run_settings("20250101-120000-set002", config)
    assert "no dataset this page can find" in notes
    assert "learning rate (0.005) is not on this page's slider" in notes
    assert "momentum 0.8" in notes
    assert app.select_slider(key="tr_learning_rate").value == 1e-3


def test_training_offers_resume_for_an_interrupted_run(tmp_path, stop_runs):
    import subprocess

    from training.runner import get_run

    finished = subprocess.Popen(["true"])
    finished.wait()
    folder = tmp_path / "runs" / "20250101-120000-aaa111"
    status = {"status": "training", "message": "Training.", "pid": finished.pid}
    config = _shell_run_config(tmp_path / "gone")
    _write_run(folder, config, EPOCHS[:2], status)

    app = _app("training")
    assert app.dataframe[0].value["status"][0] == "interrupted"
    assert any("resume it" in w.value for w in app.warning)
    app.button(key="btn_resume").click().run()
    _assert_clean(app)
    run = get_run(folder.name)
    assert run is not None and run.run_dir == folder
    snapshot = _wait(run, 120)
    assert snapshot["status"] == "failed"
    app.run()
    _assert_clean(app)
    assert any(str(tmp_path / "gone") in e.value for e in app.error)


def test_training_bad_settings_give_sentences(tmp_path, flowers_dir):
    app = _app("training")
    app.sidebar.text_input(key="src_data_root").set_value(str(flowers_dir.parent)).run()
    app.selectbox(key="tr_dataset").set_value("flowers").run()
    app.toggle(key="tr_imbalance").set_value(True).run()
    _assert_clean(app)
    assert "daisy:rose" in app.text_input(key="tr_class_ratio_flowers").label
    # 50 images per class at 1:9: roses keep 50, daisies 50 / 9 rounded.
    assert any(t.startswith("Kept per class: daisy 6, rose 50.") for t in _texts(app))

    for text, expected in [
        ("1:0", "must be above 0"),
        ("1:inf", "not an ordinary number"),
        ("1:1e400", "not an ordinary number"),
        ("1:nan", "not a number"),
        ("1:2:3", "3 number(s) for 2 classes"),
        ("one to nine", "not numbers separated by colons"),
    ]:
        app.text_input(key="tr_class_ratio_flowers").set_value(text).run()
        _assert_clean(app)
        assert any(expected in w.value for w in app.warning), text
        assert app.button(key="btn_start").disabled
        assert app.button(key="btn_sweep").disabled

    app.text_input(key="tr_class_ratio_flowers").set_value("1e-320:1e-320").run()
    _assert_clean(app)
    assert not app.button(key="btn_start").disabled, "a tiny ratio is still 1:1"

    app.multiselect(key="tr_classes_flowers").set_value(["daisy"]).run()
    _assert_clean(app)
    warnings = " ".join(w.value for w in app.warning)
    assert "at least two classes to train" in warnings
    assert "class ratio needs at least two classes" in warnings

    app.multiselect(key="tr_classes_flowers").set_value(["daisy", "rose"]).run()
    app.toggle(key="tr_imbalance").set_value(False).run()
    assert not app.button(key="btn_start").disabled
    app.multiselect(key="tr_sweep_rates").set_value([]).run()
    _assert_clean(app)
    assert any("at least one learning rate" in i.value for i in app.info)
    assert app.button(key="btn_sweep").disabled


def test_training_takes_the_other_pages_pipeline_and_augmentation(stop_runs):
    from training.runner import get_run

    app = _app("augmentation")
    # The first sample photograph is 512 x 512: shifts become shares of that.
    assert app.session_state["aug_image_size"] == (512, 512)

    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    app.session_state["aug_shift_x"] = 128
    app.session_state["aug_rotation"] = -15
    app.session_state["aug_image_size"] = (512, 512)
    app.run()
    app.radio(key="pp_norm_method").set_value("Min-max").run()
    app.switch_page("pages/training.py")
    app.run()
    app.radio(key="tr_preprocessing").set_value("page").run()
    app.toggle(key="tr_augment").set_value(True).run()
    _assert_clean(app)
    shown = [block.value for block in app.code if '"op"' in block.value]
    assert shown and '"normalize"' in shown[0] and "minmax" in shown[0]
    (caption,) = [t for t in _texts(app) if t.startswith("Augmentation:")]
    assert "rotation up to ±15°" in caption
    assert "shift x up to ±25% of the side" in caption

    app.button(key="btn_start").click().run()
    _assert_clean(app)
    run = get_run(_shown_run_id(app))
    run.stop()
    config = json.loads((run.run_dir / "config.json").read_text())
    (step,) = config["pipeline"]["steps"]
    assert step["op"] == "normalize" and step["method"] == "minmax"
    augmentation = config["augmentation"]
    assert augmentation["shift_x"] == 0.25 and augmentation["shift_y"] == 0.0
    assert augmentation["rotation"] == 15.0 and augmentation["zoom"] == 1.0


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
    assert app.button(key="btn_overfit").disabled

    app.sidebar.text_input(key="src_data_root").set_value(str(tmp_path / "no")).run()
    _assert_clean(app)
    assert any("does not exist" in text for text in _texts(app))


def test_training_model_summary_counts_the_weights():
    app = _app("training")
    app.select_slider(key="tr_image_size").set_value(32).run()
    assert app.get("graphviz_chart"), "no block diagram"
    app.button(key="btn_model_summary").click().run()
    _assert_clean(app)
    (line,) = [t for t in _texts(app) if "ResNet-18 v2" in t and "parameters" in t]
    count = int(line.split(":")[1].split(" parameters")[0].replace(",", ""))
    # The paper's ResNet-18 has 11.69 million weights with a 1000-class head
    # (513,000 of them); with two classes about 11.18 million remain.
    assert 11.1e6 < count < 11.3e6, line


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


def _opened_at(address) -> AppTest:
    """A fresh session opened on an address bar holding ``address``."""
    second = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in address.items():
        second.query_params[key] = value[0] if isinstance(value, list) else value
    second.run()
    _assert_clean(second)
    return second


def _open_link(app: AppTest) -> AppTest:
    """A fresh session opened on the address bar of ``app``."""
    return _opened_at(app.query_params)


def test_a_link_reproduces_the_image_and_the_pipeline():
    app = _app()
    app.sidebar.selectbox(key="src_sample").set_value("camera").run()
    app.toggle(key="pp_include_mask").set_value(True).run()
    app.button(key="btn_pp_step_up_contrast").click().run()
    shared = dict(app.query_params)
    expected = _pipeline(app)
    assert shared["sample"] == ["camera"] or shared["sample"] == "camera"

    second = _opened_at(shared)
    assert _pipeline(second) == expected
    assert any(text.startswith("**camera**") for text in _texts(second))


def test_a_broken_link_gives_a_sentence_and_the_defaults():
    second = _opened_at(
        {"pipeline": '[{"op": "sharpen"}]', "src": "sample", "sample": "no-such-photo"}
    )
    warnings = " ".join(warning.value for warning in second.warning)
    assert "could not be read" in warnings
    assert "no known sample" in warnings
    assert [step["op"] for step in _pipeline(second)["steps"]] == ["normalize"]

    hostile = {
        "pipeline": "[" * 3000 + "]" * 3000,
        "ex_flip_lr_ud": '[{"op": "flip", "horizontal": "' + chr(0) + '"}]',
        "ex_rotate_90_zoom_4": '[{"op": "resize", "height": 10000, "width": 10000}]',
    }
    third = _opened_at(hostile)
    warnings = " ".join(warning.value for warning in third.warning)
    assert "nested too deeply" in warnings
    assert "column 32: Invalid control character)" in warnings
    assert "'height' must be between 1 and 4096" in warnings


def test_a_link_cannot_move_the_data_folder_outside_the_servers(tmp_path):
    outside = tmp_path / "elsewhere"
    (outside / "secrets" / "a").mkdir(parents=True)
    second = _opened_at({"src": "dataset", "root": str(outside), "dataset": "secrets"})
    warnings = " ".join(warning.value for warning in second.warning)
    assert "outside this server's data folder" in warnings
    assert second.sidebar.text_input(key="src_data_root").value != str(outside)


def _address(app: AppTest) -> dict:
    return {
        key: value[0] if isinstance(value, list) else value
        for key, value in app.query_params.items()
    }


def test_a_link_reproduces_every_control():
    app = _app()
    pieces = _address(app)["view"].split("~")
    assert all(piece.startswith("live.") for piece in pieces), "starts are left out"
    app.selectbox(key="pp_threshold_method").set_value("otsu").run()
    app.toggle(key="pp_try_all").set_value(True).run()
    app.radio(key="pp_morph_mode").set_value("The grayscale picture").run()
    app.selectbox(key="pp_morphology").set_value("white_tophat").run()
    _slider(app, "Footprint radius (pixels)").set_value(7).run()
    app.selectbox(key="pp_footprint").set_value("square").run()
    app.radio(key="pp_norm_method").set_value("Percentile").run()
    _slider(app, "Low percentile").set_value(12.5).run()
    app.toggle(key="pp_include_mask").set_value(True).run()
    app.radio(key="pp_compare_view").set_value("Split slider").run()
    _slider(app, "Split position (% from the left)").set_value(30).run()
    _assert_clean(app)
    assert "radius.7" in _address(app)["view"]

    second = _open_link(app)
    for kind, key in [
        ("selectbox", "pp_threshold_method"),
        ("toggle", "pp_try_all"),
        ("radio", "pp_morph_mode"),
        ("selectbox", "pp_morphology"),
        ("slider", "pp_radius"),
        ("selectbox", "pp_footprint"),
        ("radio", "pp_norm_method"),
        ("slider", "pp_percentile_low"),
        ("toggle", "pp_include_mask"),
        ("radio", "pp_compare_view"),
        ("slider", "pp_split_position"),
    ]:
        sent = getattr(app, kind)(key=key).value
        assert getattr(second, kind)(key=key).value == sent, key
    assert _pipeline(second) == _pipeline(app)
    assert _texts(second) == _texts(app)
    assert _image_captions(second) == _image_captions(app)
    assert _address(second) == _address(app)

    _slider(second, "Footprint radius (pixels)").set_value(9).run()
    steps = _pipeline(second)["steps"]
    assert [step["radius"] for step in steps if step["op"] == "white_tophat"] == [9]


def test_a_link_keeps_a_dicom_window_the_sender_moved(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.setenv("CNN_LAB_DATA", str(tmp_path))
    ramp = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)

    def write(path):
        _write_dicom(
            path, ramp, "Roe^Richard", window=(["900.5", "2000"], ["1800", "600"])
        )

    _write_class_folders(tmp_path, "dicom", "chest.dcm", write)
    app = _app()
    _use_dataset(app, tmp_path, "dicom")
    app.selectbox(key="pp_window_preset").set_value("centre 2000, width 600").run()
    _slider(app, "Window centre").set_value(2100.5).run()
    app.checkbox(key="pp_window_invert").uncheck().run()
    _assert_clean(app)
    (step,) = _pipeline(app)["steps"]
    assert (step["center"], step["width"], step["invert"]) == (2100.5, 600.0, False)

    second = _open_link(app)
    assert _pipeline(second) == _pipeline(app)
    assert second.selectbox(key="pp_window_preset").value == "centre 2000, width 600"
    clipped = [text for text in _texts(app) if text.startswith("Clipped:")]
    assert clipped and clipped == [
        text for text in _texts(second) if text.startswith("Clipped:")
    ]


def test_a_view_that_does_not_fit_gives_one_sentence_and_the_defaults():
    view = "~".join(
        [
            "radius.500",
            "footprint.hexagon",
            "garbage",
            "percentile_low.nan",
            "try_all.yes",
            "threshold_uint8.-4",
            "clip_limit.0.0071",
            "no_such_widget.3",
            "threshold_method.otsu",
            "compare_view.pixels",
            "zoom_x.99999",
            "live.threshold-threshold",
        ]
    )
    second = _opened_at({"view": view})
    (warning,) = [w.value for w in second.warning]
    assert "do not fit" in warning and "radius" in warning
    assert "no_such_widget" not in warning and "garbage" not in warning
    assert second.slider(key="pp_radius").value == 50
    assert second.selectbox(key="pp_footprint").value == "disk"
    assert second.slider(key="pp_percentile_low").value == 5.0
    assert second.toggle(key="pp_try_all").value is False
    assert _slider(second, "Threshold value").value == 0
    assert second.slider(key="pp_clip_limit").value == 0.005
    assert second.selectbox(key="pp_threshold_method").value == "otsu"
    assert second.slider(key="pp_zoom_x").value == 511
    assert [step["op"] for step in _pipeline(second)["steps"]] == ["normalize"]
    view = _address(second)["view"]
    assert "radius.50" in view and "garbage" not in view


# -- Practice and bad input -------------------------------------------------


def _add_step(app: AppTest, prefix: str, op: str) -> None:
    app.selectbox(key=f"{prefix}new_op").set_value(op).run()
    app.button(key=f"btn_{prefix}add_step").click().run()
    _assert_clean(app)


def _open_exercise(exercise_id: str) -> tuple[AppTest, str]:
    """A fresh page with one practice exercise open, and its session prefix."""
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)
    app.session_state[f"pp_ex_open_{exercise_id}"] = True
    app.run()
    return app, f"pp_ex_{exercise_id}_"


def test_practice_says_right_and_wrong():
    app, prefix = _open_exercise("flip_lr_ud")
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


def test_a_link_carries_the_practice_steps_and_their_verdict():
    app, prefix = _open_exercise("rotate_90_zoom_4")
    _add_step(app, prefix, "affine")
    app.number_input(key=f"{prefix}param_s1_rotation").set_value(90.0).run()
    _add_step(app, prefix, "affine")
    app.number_input(key=f"{prefix}param_s2_scale").set_value(4.0).run()
    address = _address(app)
    assert json.loads(address["ex_rotate_90_zoom_4"]) == [
        {"op": "affine", "rotation": 90.0},
        {"op": "affine", "scale": 4.0},
    ]
    assert "ex_open_rotate_90_zoom_4.1" in address["view"].split("~")
    assert "ex_flip_lr_ud" not in address, "an exercise without steps stays out"

    second = _opened_at(address)
    steps = second.session_state[f"{prefix}pipeline_entries"]
    assert [entry["step"] for entry in steps] == [
        {
            "op": "affine",
            "rotation": 90.0,
            "scale": 1.0,
            "translate_x": 0.0,
            "translate_y": 0.0,
            "shear": 0.0,
            "fill": "constant",
        },
        {
            "op": "affine",
            "rotation": 0.0,
            "scale": 4.0,
            "translate_x": 0.0,
            "translate_y": 0.0,
            "shear": 0.0,
            "fill": "constant",
        },
    ]
    assert second.session_state["pp_ex_open_rotate_90_zoom_4"] is True
    assert [box.value for box in second.success], "the verdict comes back checked"

    third = _opened_at(
        {
            "ex_flip_lr_ud": '[{"op": "flip", "horizontal": "yes"}]',
            "ex_percentile_25_75": "[{not json",
            "view": "ex_open_flip_lr_ud.1",
        }
    )
    warnings = [warning.value for warning in third.warning]
    assert any("'Flip twice'" in w and "starts empty" in w for w in warnings)
    assert any("'Normalise with percentiles'" in w for w in warnings), warnings
    assert third.session_state["pp_ex_flip_lr_ud_pipeline_entries"] == []


def test_a_practice_pipeline_that_cannot_run_is_said_once():
    app = _opened_at(
        {
            "ex_flip_lr_ud": '[{"op": "threshold", "value": 1e9}]',
            "view": "ex_open_flip_lr_ud.1",
        }
    )
    warnings = [w.value for w in app.warning]
    assert len([w for w in warnings if "needs one channel" in w]) == 1, warnings


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


def test_damaged_run_folders_are_listed_without_breaking_the_page(tmp_path):
    from training.runner import default_runs_root

    runs = default_runs_root()
    _write_run(
        runs / "bad-epochs",
        {"data_dir": str(tmp_path), "epochs": "x", "image_size": 32},
        [{"epoch": 1, "loss": 0.5}],
        {"status": "finished", "message": "done"},
    )
    _write_run(
        runs / "bad-status",
        {"data_dir": str(tmp_path), "epochs": 2},
        [],
        {"status": 5, "message": ["not", "a", "sentence"]},
    )

    for run_id, text in (("list-config", "[1, 2]"), ("number-config", "42")):
        _write_run(runs / run_id, {}, [], {"status": "finished", "message": "done"})
        (runs / run_id / "config.json").write_text(text)

    app = _app("training")
    assert app.button(key="btn_start") is not None, "the form is still there"
    for run_id in ("bad-epochs", "bad-status", "list-config", "number-config"):
        app.query_params["run"] = run_id
        app.run()
        _assert_clean(app)
        assert any(run_id in element.value for element in app.subheader)
