"""Background training runs on real images: metrics, checkpoints, stop, registry."""

import gc
import json
import math
import time

import pytest
from conftest import run_python

from training.data import scan_dataset, select_files, stratified_split
from training.records import read_status
from training.runner import (
    METRIC_KEYS,
    ConfigError,
    RunConfig,
    TrainingRun,
    active_run,
    active_runs,
    get_run,
    latest_run,
    queue_position,
    start_run,
)

RUN_TIMEOUT = 600
EPOCH_KEYS = {
    "epoch",
    "seconds",
    "learning_rate",
    "val_recall",
    "val_predicted",
    "val_counts",
    *METRIC_KEYS,
}
NUMBER_KEYS = {"epoch", "seconds", "learning_rate", *METRIC_KEYS}


def _wait(run, timeout=RUN_TIMEOUT):
    """Join the run's thread; fail with its message when it does not end."""
    assert run.join(timeout), f"run {run.run_id} still active: {run.snapshot()}"
    return run.snapshot()


def _read_metrics(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def flowers_run(flowers_dir, tmp_path_factory):
    """Two epochs of ResNet-18 on 16 daisies and 16 roses at 64 pixels."""
    config = RunConfig(
        data_dir=str(flowers_dir),
        per_class=16,
        image_size=64,
        epochs=2,
        batch_size=8,
        run_dir=str(tmp_path_factory.mktemp("runs") / "flowers"),
    )
    run = start_run(config)
    _wait(run)
    return run


@pytest.fixture(scope="module")
def xray_run(xray_dir, tmp_path_factory, flowers_run):
    """One epoch on NIH X-rays, trained after the flowers run in this process."""
    config = RunConfig(
        data_dir=str(xray_dir),
        per_class=8,
        image_size=64,
        epochs=1,
        batch_size=8,
        optimizer="sgd",
        run_dir=str(tmp_path_factory.mktemp("runs") / "xray"),
    )
    run = start_run(config)
    _wait(run)
    return run


# Import cost and settings --------------------------------------------------------


def test_importing_the_package_loads_neither_tensorflow_nor_streamlit():
    result = run_python(
        """
        import sys
        import training, training.cli, training.data, training.diagnosis
        import training.evaluate, training.models, training.records
        import training.runner, training.tfdata
        loaded = {"tensorflow", "keras", "sklearn", "streamlit"} & set(sys.modules)
        assert not loaded, loaded
        """
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"epochs": 0}, "Epochs must be a whole number from 1"),
        ({"seed": -5}, "seed must be a whole number from 0 to 2147483647"),
        ({"seed": 2**32}, "seed must be a whole number from 0 to"),
        ({"batch_size": 0}, "batch size"),
        ({"learning_rate": 0.0}, "learning rate"),
        ({"learning_rate": float("nan")}, "learning rate"),
        ({"image_size": 8}, "16 to 512"),
        ({"image_size": 1024}, "16 to 512"),
        ({"optimizer": "rmsprop"}, "adam, sgd"),
        ({"val_fraction": 0.0}, "between 0 and 1"),
        ({"depth": 101}, "18, 34, 50"),
        ({"schedule": "step"}, "constant, halve, cosine"),
        ({"percent": 0}, "above 0 and at most 100"),
        ({"class_ratio": [1, 0]}, "class ratio"),
        ({"classes": ["a", "b"], "class_ratio": [1, 2, 3]}, "3 numbers for 2"),
        ({"cost_matrix": [[1, 2], [3]]}, "square"),
        ({"pipeline": {"steps": [{"op": "nope"}]}}, "preprocessing pipeline"),
        ({"augmentation": {"rotation": 500}}, "augmentation"),
        ({"augmentation": {"shift_x": 3}}, "fraction of the image side"),
        ({"momentum": 1.0}, "momentum"),
        ({"per_class": 10, "percent": 50}, "not both"),
        ({"cost_matrix": [[1, 2], [1, 1]]}, "only used by the cost-matrix loss"),
        ({"loss": "cost_matrix", "cost_matrix": [[0, 0], [0, 0]]}, "zeros"),
        ({"per_class": 1}, "at least 2"),
        ({"classes": ["daisy"]}, "two different classes"),
    ],
)
def test_config_refuses_bad_values_with_a_sentence(change, words):
    settings = {"data_dir": "/data/flowers", **change}
    with pytest.raises(ConfigError, match=words):
        RunConfig(**settings)


def test_config_round_trips_through_a_dict():
    config = RunConfig(
        data_dir="/data/flowers",
        classes=["rose", "daisy"],
        per_class=10,
        optimizer="SGD",
        learning_rate=1e-2,
    )

    copy = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))

    assert copy == config
    assert copy.optimizer == "sgd"
    assert RunConfig.from_dict({"data_dir": "/x", "colour": "red"}).data_dir == "/x"


# A real run on flowers -----------------------------------------------------------


def test_flowers_run_finishes_and_writes_two_metric_lines(flowers_run):
    state = flowers_run.snapshot()
    assert state["status"] == "finished", state["message"]

    lines = _read_metrics(flowers_run.run_dir)
    assert [line["epoch"] for line in lines] == [1, 2]
    for line in lines:
        assert set(line) == EPOCH_KEYS
        assert all(math.isfinite(line[key]) for key in NUMBER_KEYS)
        assert 0.0 <= line["val_auc"] <= 1.0
        assert 0.0 <= line["accuracy"] <= 1.0
    assert state["epochs"] == lines


def test_flowers_run_reports_its_data_and_progress(flowers_run):
    state = flowers_run.snapshot()

    assert state["classes"] == ["daisy", "rose"]
    assert state["channels"] == 3
    assert (state["n_train"], state["n_val"]) == (26, 6)
    assert state["skipped"] == 0
    assert state["progress"] == 1.0
    steps = [step for step, _ in state["batch_losses"]]
    assert steps == list(range(1, 2 * math.ceil(26 / 8) + 1))
    assert all(math.isfinite(loss) and loss > 0 for _, loss in state["batch_losses"])
    aucs = [entry["val_auc"] for entry in state["epochs"]]
    assert state["best_val_auc"] == max(aucs)
    assert state["best_epoch"] == aucs.index(max(aucs)) + 1


def test_flowers_run_writes_its_config(flowers_run):
    saved = json.loads((flowers_run.run_dir / "config.json").read_text())
    assert RunConfig.from_dict(saved) == flowers_run.config
    assert saved["run_dir"] == str(flowers_run.run_dir)


def test_per_batch_losses_average_to_the_epoch_loss(flowers_run):
    state = flowers_run.snapshot()
    steps_per_epoch = math.ceil(26 / 8)
    sizes = [8, 8, 8, 2]
    first_epoch = [loss for _, loss in state["batch_losses"][:steps_per_epoch]]

    weighted = sum(size * loss for size, loss in zip(sizes, first_epoch, strict=True))
    assert weighted / 26 == pytest.approx(state["epochs"][0]["loss"], rel=1e-4)


def test_best_model_reloads_in_a_fresh_process_with_the_same_auc(flowers_run):
    state = flowers_run.snapshot()
    config = flowers_run.config
    result = run_python(
        f"""
        import keras, numpy as np
        from sklearn.metrics import roc_auc_score
        from training.data import (
            load_images, scan_dataset, select_files, stratified_split)
        model = keras.models.load_model({str(flowers_run.run_dir / "best.keras")!r})
        files = select_files(
            scan_dataset({config.data_dir!r}), {config.per_class}, {config.seed})
        _, val = stratified_split(files, {config.val_fraction}, {config.seed})
        loaded = load_images(val, {config.image_size}, 3)
        probabilities = model.predict(loaded.x, verbose=0)
        print(model.input_shape, probabilities.shape)
        print(roc_auc_score(loaded.y, probabilities[:, 1]))
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    shapes, auc = result.stdout.strip().splitlines()[-2:]
    assert shapes == "(None, 64, 64, 3) (6, 2)"
    assert float(auc) == pytest.approx(state["best_val_auc"], abs=1e-6)


def test_registry_remembers_finished_runs(flowers_run, xray_run):
    assert get_run(flowers_run.run_id) is flowers_run
    assert get_run("no-such-run") is None
    assert latest_run() is xray_run
    assert active_run() is None


# Grayscale input and a second model in one process --------------------------------


def test_xray_run_uses_one_input_channel(xray_run):
    import keras

    state = xray_run.snapshot()
    assert state["status"] == "finished", state["message"]
    assert state["channels"] == 1

    model = keras.models.load_model(xray_run.run_dir / "best.keras")
    assert model.input_shape == (None, 64, 64, 1)
    del model


def test_second_model_in_a_process_keeps_the_metric_names(flowers_run, xray_run):
    for run in (flowers_run, xray_run):
        for line in _read_metrics(run.run_dir):
            assert set(line) == EPOCH_KEYS
            assert line["accuracy"] is not None
            assert line["val_auc"] is not None


def test_finished_runs_release_their_networks(flowers_run, xray_run):
    gc.collect()
    for run in (flowers_run, xray_run):
        assert run._model_ref is not None
        assert run._model_ref() is None


# Learning at all -----------------------------------------------------------------


def test_network_overfits_a_handful_of_images(flowers_dir, tmp_path):
    config = RunConfig(
        data_dir=str(flowers_dir),
        per_class=5,
        image_size=64,
        epochs=12,
        batch_size=8,
        learning_rate=1e-3,
        seed=1,
        run_dir=str(tmp_path / "overfit"),
    )

    state = _wait(start_run(config))

    assert state["status"] == "finished", state["message"]
    losses = [entry["loss"] for entry in state["epochs"]]
    assert len(losses) == 12
    assert min(losses[-3:]) < 0.7 * losses[0]
    assert state["epochs"][-1]["accuracy"] == 1.0


def test_one_class_validation_falls_back_to_val_loss(flowers_dir, tmp_path):
    root = tmp_path / "data"
    (root / "daisy").mkdir(parents=True)
    (root / "rose").mkdir()
    for image in sorted((flowers_dir / "daisy").iterdir())[:6]:
        (root / "daisy" / image.name).symlink_to(image)
    rose = sorted((flowers_dir / "rose").iterdir())[0]
    (root / "rose" / rose.name).symlink_to(rose)
    (root / "rose" / "damaged.jpg").write_bytes(b"\xff\xd8 truncated")
    seed = next(
        seed
        for seed in range(50)
        if any(
            path.name == "damaged.jpg"
            for path, _ in stratified_split(
                select_files(scan_dataset(root)), 0.2, seed
            )[1]
        )
    )
    config = RunConfig(
        data_dir=str(root),
        image_size=32,
        epochs=2,
        batch_size=8,
        seed=seed,
        run_dir=str(tmp_path / "run"),
    )

    state = _wait(start_run(config))

    assert state["status"] == "finished", state["message"]
    assert state["skipped"] == 1
    assert "damaged.jpg" in state["skipped_files"][0][0]
    assert "lowest val_loss" in state["message"]
    lines = _read_metrics(tmp_path / "run")
    assert [line["val_auc"] for line in lines] == [None, None]
    assert all(math.isfinite(line["val_loss"]) for line in lines)
    assert state["best_val_auc"] is None
    val_losses = [line["val_loss"] for line in lines]
    assert state["best_epoch"] == val_losses.index(min(val_losses)) + 1
    assert (tmp_path / "run" / "best.keras").exists()


# Stopping, and the queue that keeps one run training at a time -------------------


def test_stop_ends_a_long_run_after_the_current_batch(flowers_dir, tmp_path):
    config = RunConfig(
        data_dir=str(flowers_dir),
        per_class=16,
        image_size=32,
        epochs=50,
        batch_size=4,
        run_dir=str(tmp_path / "long"),
    )
    run = start_run(config)

    waiting = start_run(
        RunConfig(data_dir=str(flowers_dir), run_dir=str(tmp_path / "waiting"))
    )
    assert waiting.snapshot()["status"] == "queued"
    assert queue_position(waiting) == 1
    assert active_runs() == [run, waiting]
    waiting.stop()
    assert waiting.join(5)
    assert waiting.snapshot()["status"] == "stopped"
    assert read_status(tmp_path / "waiting")["status"] == "stopped"
    assert active_run() is run

    deadline = time.monotonic() + RUN_TIMEOUT
    while not run.snapshot()["batch_losses"] and run.is_active():
        assert time.monotonic() < deadline, "no batch finished"
        time.sleep(0.05)
    steps_at_stop = len(run.snapshot()["batch_losses"])
    run.stop()

    state = _wait(run, timeout=60)
    assert state["status"] == "stopped", state["message"]
    assert len(state["batch_losses"]) <= steps_at_stop + 2
    assert state["epochs"] == []
    assert state["progress"] < 0.01
    assert active_run() is None
    assert read_status(run.run_dir)["status"] == "stopped"

    after = start_run(
        RunConfig(
            data_dir=str(flowers_dir),
            per_class=4,
            image_size=32,
            epochs=1,
            batch_size=8,
            run_dir=str(tmp_path / "after"),
        )
    )
    state = _wait(after)
    assert state["status"] == "finished", state["message"]
    assert len(_read_metrics(after.run_dir)) == 1


def test_queued_runs_start_in_order_when_a_slot_frees(flowers_dir, tmp_path):
    def config(name):
        return RunConfig(
            data_dir=str(flowers_dir),
            per_class=4,
            image_size=32,
            epochs=1,
            batch_size=8,
            run_dir=str(tmp_path / name),
        )

    runs = [start_run(config(name)) for name in ("first", "second", "third")]

    assert [queue_position(run) for run in runs] == [None, 1, 2]
    assert runs[2].snapshot()["queue_position"] == 2
    starts = []
    for run in runs:
        assert run.join(RUN_TIMEOUT)
        state = run.snapshot()
        assert state["status"] == "finished", state["message"]
        starts.append((run.run_dir / "batches.jsonl").stat().st_mtime)
    assert starts == sorted(starts)


def test_a_resumed_run_shows_its_finished_epochs_while_it_waits(
    flowers_dir, tmp_path, monkeypatch
):
    import training.runner
    from training import records
    from training.runner import resume_run

    folder = tmp_path / "interrupted"
    folder.mkdir()
    config = RunConfig(data_dir=str(flowers_dir), epochs=4, run_dir=str(folder))
    records.write_json(folder / "config.json", config.to_dict())
    for epoch, auc in ((1, 0.8), (2, 0.7)):
        records.append_line(
            folder / "metrics.jsonl", {"epoch": epoch, "loss": 1 - auc, "val_auc": auc}
        )
    for step, loss in ((1, 1.1), (2, None), (3, 0.8)):
        records.append_line(folder / "batches.jsonl", [step, loss])
    records.write_json(folder / "status.json", {"status": "stopped"})
    monkeypatch.setattr(training.runner, "max_concurrent_runs", lambda: 0)

    run = resume_run(folder)
    state = run.snapshot()
    assert state["status"] == "queued" and state["queue_position"] == 1
    assert [entry["epoch"] for entry in state["epochs"]] == [1, 2]
    assert state["batch_losses"] == [[1, 1.1], [3, 0.8]]
    assert (state["best_epoch"], state["best_val_auc"]) == (1, 0.8)
    assert state["progress"] == 0.5
    assert read_status(folder)["status"] == "queued"
    run.stop()
    assert run.join(5)
    assert run.snapshot()["status"] == "stopped"


def test_two_slots_train_two_runs_at_once(flowers_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_LAB_MAX_RUNS", "2")
    runs = [
        start_run(
            RunConfig(
                data_dir=str(flowers_dir),
                per_class=4,
                image_size=32,
                epochs=1,
                batch_size=8,
                seed=number,
                run_dir=str(tmp_path / f"run{number}"),
            )
        )
        for number in range(2)
    ]

    assert [queue_position(run) for run in runs] == [None, None]
    for run in runs:
        state = _wait(run)
        assert state["status"] == "finished", state["message"]


# Failures become sentences -------------------------------------------------------


def test_missing_data_folder_fails_with_a_sentence(tmp_path):
    run = TrainingRun(
        RunConfig(data_dir=str(tmp_path / "gone"), run_dir=str(tmp_path / "run"))
    )
    run.start()

    state = _wait(run, timeout=60)

    assert state["status"] == "failed"
    assert state["message"] == f"The data folder {tmp_path / 'gone'} does not exist."
    assert "Traceback" not in state["message"]


def test_a_set_of_unreadable_files_fails_with_a_sentence(tmp_path):
    for name in ("cats", "dogs"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for number in range(3):
            (tmp_path / "data" / name / f"{number}.png").write_bytes(b"not a png")
    run = TrainingRun(
        RunConfig(data_dir=str(tmp_path / "data"), run_dir=str(tmp_path / "run"))
    )
    run.start()

    state = _wait(run, timeout=60)

    assert state["status"] == "failed"
    assert state["message"] == "None of the sampled images could be read."


def test_a_used_run_folder_is_refused(flowers_run):
    run = TrainingRun(
        RunConfig(
            data_dir=flowers_run.config.data_dir, run_dir=str(flowers_run.run_dir)
        )
    )
    with pytest.raises(ConfigError, match="already holds a run"):
        run.start()
    assert not run.is_active()
