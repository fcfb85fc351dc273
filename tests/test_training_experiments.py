"""The lesson's experiments through the runner, on real images.

Schedules, class weights, the cost-matrix loss, ablation subsets, the run
folder that the app and the shell share, evaluation, and resuming a run
whose process was killed.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO_ROOT, run_python

from imgproc import make_pipeline
from training.records import list_runs, read_run, read_status
from training.runner import RunConfig, start_run

RUN_TIMEOUT = 600


def _train(**settings):
    run = start_run(RunConfig(**settings))
    assert run.join(RUN_TIMEOUT), run.snapshot()
    state = run.snapshot()
    assert state["status"] == "finished", state["message"]
    return run, state


@pytest.fixture(scope="module")
def imbalanced_run(xray_dir, tmp_path_factory):
    """Halving schedule, balanced class weights and a 1:3 X-ray subset."""
    return _train(
        data_dir=str(xray_dir),
        per_class=16,
        class_ratio=[1, 3],
        image_size=32,
        epochs=3,
        batch_size=8,
        learning_rate=2e-3,
        schedule="halve",
        class_weight="balanced",
        run_dir=str(tmp_path_factory.mktemp("runs") / "imbalanced"),
    )


def test_halving_schedule_halves_the_rate_every_epoch(imbalanced_run):
    _, state = imbalanced_run
    rates = [entry["learning_rate"] for entry in state["epochs"]]
    assert rates == pytest.approx([2e-3, 1e-3, 5e-4], rel=1e-6)


def test_class_ratio_makes_the_subset_imbalanced(imbalanced_run, xray_dir):
    _, state = imbalanced_run
    classes = state["classes"]
    counts = state["train_counts"]
    val = state["epochs"][0]["val_counts"]
    total = {name: counts[name] + val[name] for name in classes}
    assert total == {classes[0]: 5, classes[1]: 16}


def test_balanced_class_weights_match_scikit_learn(imbalanced_run):
    from sklearn.utils.class_weight import compute_class_weight

    _, state = imbalanced_run
    classes = state["classes"]
    labels = np.repeat(
        np.arange(len(classes)), [state["train_counts"][name] for name in classes]
    )
    expected = compute_class_weight(
        "balanced", classes=np.arange(len(classes)), y=labels
    )
    assert [state["class_weights"][name] for name in classes] == pytest.approx(expected)


def test_per_class_recall_and_prediction_counts_add_up(imbalanced_run):
    _, state = imbalanced_run
    for entry in state["epochs"]:
        assert sum(entry["val_predicted"].values()) == state["n_val"]
        assert sum(entry["val_counts"].values()) == state["n_val"]
        hits = sum(
            entry["val_recall"][name] * entry["val_counts"][name]
            for name in state["classes"]
        )
        assert hits / state["n_val"] == pytest.approx(entry["val_accuracy"])


def test_evaluation_file_describes_the_best_epoch(imbalanced_run):
    from sklearn.metrics import confusion_matrix

    run, state = imbalanced_run
    report = json.loads((run.run_dir / "evaluation.json").read_text())
    best = state["epochs"][state["best_epoch"] - 1]
    matrix = np.asarray(report["confusion_matrix"])

    assert matrix.sum() == state["n_val"]
    assert matrix.sum(axis=1).tolist() == [
        best["val_counts"][name] for name in state["classes"]
    ]
    assert matrix.sum(axis=0).tolist() == [
        best["val_predicted"][name] for name in state["classes"]
    ]
    # Rebuild the matrix from the counts it implies, through scikit-learn.
    true = np.repeat([0, 0, 1, 1], matrix.ravel())
    predicted = np.repeat([0, 1, 0, 1], matrix.ravel())
    assert confusion_matrix(true, predicted).tolist() == matrix.tolist()
    assert report["epoch"] == state["best_epoch"]


def test_run_folder_is_what_the_app_lists(imbalanced_run):
    run, state = imbalanced_run
    listed = {item["run_dir"]: item for item in list_runs(run.run_dir.parent)}
    summary = listed[str(run.run_dir)]
    assert summary["status"] == "finished"
    assert summary["epochs_done"] == 3
    assert summary["best_val_auc"] == pytest.approx(state["best_val_auc"])

    record = read_run(run.run_dir)
    assert record["epochs"] == state["epochs"]
    assert record["batch_losses"] == state["batch_losses"]
    assert record["diagnosis"] == state["diagnosis"]
    assert record["has_model"]
    assert list((run.run_dir / "logs").rglob("events.out.tfevents.*"))
    assert (
        json.loads((run.run_dir / "diagnosis.json").read_text())["flags"]
        == (state["diagnosis"])
    )
    assert not (run.run_dir / "backup").exists()


def test_cosine_schedule_and_the_cost_matrix_loss(flowers_dir, tmp_path):
    run, state = _train(
        data_dir=str(flowers_dir),
        per_class=8,
        image_size=32,
        epochs=4,
        batch_size=8,
        learning_rate=1e-3,
        schedule="cosine",
        loss="cost_matrix",
        cost_matrix=[[1, 4], [1, 1]],
        run_dir=str(tmp_path / "cosine"),
    )

    rates = [entry["learning_rate"] for entry in state["epochs"]]
    expected = [1e-3 * (1 + math.cos(math.pi * e / 4)) / 2 for e in range(4)]
    assert rates == pytest.approx(expected, rel=1e-6)
    assert state["cost_matrix"] == [[1, 4], [1, 1]]

    result = run_python(
        f"""
        import keras
        import training.losses
        model = keras.models.load_model({str(run.run_dir / "best.keras")!r})
        print(type(model.loss).__name__, model.loss.cost_matrix)
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == (
        "CostMatrixLoss [[1.0, 4.0], [1.0, 1.0]]"
    )


def test_cost_matrix_loss_is_cross_entropy_times_the_cost_of_the_mistake():
    from training.losses import CostMatrixLoss, default_cost_matrix

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(32, 3))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 3, size=32)
    costs = np.array([[1.0, 5.0, 2.0], [1.0, 1.0, 3.0], [0.5, 2.0, 1.0]])

    loss = float(CostMatrixLoss(costs.tolist())(labels, probabilities))

    picked = probabilities[np.arange(32), labels]
    weights = costs[labels, probabilities.argmax(axis=1)]
    assert loss == pytest.approx(np.mean(-np.log(picked) * weights), rel=1e-5)
    assert default_cost_matrix([10, 90]) == [[1.0, 9.0], [1.0, 1.0]]


def test_percentage_ablation_trains_on_that_share(flowers_dir, tmp_path):
    _, state = _train(
        data_dir=str(flowers_dir),
        percent=10,
        image_size=32,
        epochs=1,
        batch_size=8,
        run_dir=str(tmp_path / "ten-percent"),
    )
    daisies = len(list((flowers_dir / "daisy").iterdir()))
    roses = len(list((flowers_dir / "rose").iterdir()))
    assert state["n_train"] + state["n_val"] == round(daisies / 10) + round(roses / 10)


def test_a_pipeline_without_normalisation_is_flagged(flowers_dir, tmp_path):
    _, state = _train(
        data_dir=str(flowers_dir),
        per_class=6,
        image_size=32,
        epochs=1,
        batch_size=8,
        pipeline=make_pipeline([]),
        run_dir=str(tmp_path / "raw"),
    )
    assert state["input_stats"]["max"] > 100
    rules = {flag["rule"]: flag for flag in state["diagnosis"]}
    assert rules["unnormalised_inputs"]["epoch"] == 0


def test_overfit_check_learns_a_tiny_subset(flowers_dir, tmp_path):
    _, state = _train(
        data_dir=str(flowers_dir),
        image_size=32,
        epochs=25,
        batch_size=8,
        overfit_check=True,
        augmentation={"rotation": 30.0},
        seed=1,
        run_dir=str(tmp_path / "overfit"),
    )
    assert state["n_train"] + state["n_val"] == 16
    assert max(entry["accuracy"] for entry in state["epochs"][-3:]) == 1.0
    assert "Overfit check passed" in state["message"]
    first, last = state["epochs"][0]["loss"], state["epochs"][-1]["loss"]
    assert last < 0.25 * first


def test_a_killed_run_resumes_without_losing_a_finished_epoch(flowers_dir, tmp_path):
    run_dir = tmp_path / "killed"
    command = [
        sys.executable,
        "-m",
        "training",
        "--data",
        str(flowers_dir),
        "--per-class",
        "8",
        "--image-size",
        "32",
        "--batch-size",
        "8",
        "--epochs",
        "3",
        "--out",
        str(run_dir),
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    metadata = run_dir / "backup" / "training_metadata.json"
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while not metadata.exists():
            assert process.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no epoch finished"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    first_epoch = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert read_status(run_dir)["status"] == "interrupted"

    result = subprocess.run(
        [sys.executable, "-m", "training", "--resume", str(run_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )

    assert result.returncode == 0, result.stderr[-3000:]
    record = read_run(run_dir)
    assert record["status"] == "finished"
    assert [entry["epoch"] for entry in record["epochs"]] == [1, 2, 3]
    assert record["epochs"][0] == first_epoch
    steps = [step for step, _ in record["batch_losses"]]
    assert steps == list(range(1, len(steps) + 1))
    n_train = len(json.loads((run_dir / "split.json").read_text())["train"])
    assert len(steps) == 3 * math.ceil(n_train / 8)


def test_a_learning_rate_far_too_high_stops_the_run_with_a_flag(flowers_dir, tmp_path):
    run = start_run(
        RunConfig(
            data_dir=str(flowers_dir),
            per_class=8,
            image_size=32,
            epochs=5,
            batch_size=4,
            optimizer="sgd",
            learning_rate=100.0,
            weight_decay=0.0,
            run_dir=str(tmp_path / "too-high"),
        )
    )
    assert run.join(RUN_TIMEOUT)
    state = run.snapshot()

    rules = {flag["rule"] for flag in state["diagnosis"]}
    assert rules & {"nan_loss", "exploding_loss"}, state["diagnosis"]
    saved = json.loads((run.run_dir / "diagnosis.json").read_text())["flags"]
    assert saved == state["diagnosis"]
    assert all(flag["sentence"] for flag in saved)
    if "nan_loss" in rules:
        assert state["status"] == "failed"
        assert "learning rate" in state["message"]
        assert "one class" not in state["message"]
        assert len(state["epochs"]) <= 1
        assert not (run.run_dir / "best.keras").exists()


def test_the_same_photo_in_both_splits_is_flagged(flowers_dir, tmp_path):
    from training.data import scan_dataset, select_files, stratified_split

    root = tmp_path / "data"
    for name in ("daisy", "rose"):
        (root / name).mkdir(parents=True)
        for image in sorted((flowers_dir / name).iterdir())[:6]:
            (root / name / image.name).symlink_to(image)
    original = sorted((flowers_dir / "daisy").iterdir())[0]
    (root / "daisy" / "copy-of-first.jpg").write_bytes(original.read_bytes())

    def split_apart(seed):
        train, val = stratified_split(select_files(scan_dataset(root)), 0.2, seed)
        names = {path.name for path, _ in val}
        return (original.name in names) != ("copy-of-first.jpg" in names)

    seed = next(seed for seed in range(100) if split_apart(seed))
    _, state = _train(
        data_dir=str(root),
        image_size=32,
        epochs=1,
        batch_size=8,
        seed=seed,
        run_dir=str(tmp_path / "run"),
    )

    assert len(state["duplicates"]) == 1
    assert {Path(p).name for p in state["duplicates"][0]} == {
        original.name,
        "copy-of-first.jpg",
    }
    flags = {flag["rule"]: flag for flag in state["diagnosis"]}
    assert flags["duplicates_across_splits"]["epoch"] == 0


def test_overfit_verdict_needs_a_perfect_epoch_among_the_last_three():
    from training.runner import _overfit_verdict

    def history(*accuracies):
        return [{"epoch": n, "accuracy": a} for n, a in enumerate(accuracies, 1)]

    assert "passed" in _overfit_verdict(history(0.5, 1.0, 0.92, 0.92))
    assert "epoch 2" in _overfit_verdict(history(0.5, 1.0, 0.92, 0.92))
    assert "not passed" in _overfit_verdict(history(1.0, 0.9, 0.9, 0.9))
    assert "at most 90%" in _overfit_verdict(history(1.0, 0.9, 0.9, 0.9))
    assert "not passed" in _overfit_verdict(history(None))


def test_the_same_seed_trains_the_same_in_one_process(flowers_dir, tmp_path):
    def first_loss(seed, name):
        _, state = _train(
            data_dir=str(flowers_dir),
            per_class=6,
            image_size=32,
            epochs=1,
            batch_size=8,
            seed=seed,
            run_dir=str(tmp_path / name),
        )
        return state["epochs"][0]["loss"]

    first = first_loss(0, "first")
    other = first_loss(5, "other")
    again = first_loss(0, "again")

    assert again == pytest.approx(first, rel=1e-5)
    assert other != pytest.approx(first, rel=1e-5)


def test_a_run_is_named_after_its_folder(flowers_dir, tmp_path):
    run = start_run(
        RunConfig(
            data_dir=str(flowers_dir),
            per_class=4,
            image_size=32,
            epochs=1,
            run_dir=str(tmp_path / "my-run"),
        )
    )
    assert run.run_id == "my-run"
    assert run.join(RUN_TIMEOUT)
    assert read_status(tmp_path / "my-run")["run_id"] == "my-run"


def test_a_thresholding_pipeline_trains_on_one_channel(flowers_dir, tmp_path):
    pipeline = make_pipeline(
        [{"op": "grayscale"}, {"op": "threshold", "method": "otsu"}]
    )
    _, state = _train(
        data_dir=str(flowers_dir),
        per_class=4,
        image_size=32,
        epochs=1,
        pipeline=pipeline,
        run_dir=str(tmp_path / "mask"),
    )
    assert state["channels"] == 1
    assert state["input_stats"]["min"] >= 0.0
    assert state["input_stats"]["max"] == pytest.approx(1.0)


def test_a_pipeline_that_fails_on_every_file_names_the_step(flowers_dir, tmp_path):
    run = start_run(
        RunConfig(
            data_dir=str(flowers_dir),
            per_class=4,
            image_size=32,
            epochs=1,
            pipeline=make_pipeline([{"op": "threshold", "value": 100}]),
            run_dir=str(tmp_path / "colour-threshold"),
        )
    )
    assert run.join(RUN_TIMEOUT)
    state = run.snapshot()

    assert state["status"] == "failed"
    assert "could not be read or preprocessed" in state["message"]
    assert "threshold" in state["message"]


def test_a_run_trains_under_a_mirrored_strategy(flowers_dir, tmp_path):
    # Two logical CPUs stand in for two GPUs: the model is built, compiled,
    # trained, checkpointed and evaluated inside MirroredStrategy's scope.
    result = run_python(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from training import runner
        strategies = []
        def mirrored(name):
            strategies.append(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
            return strategies[-1]
        runner._distribution_strategy = mirrored
        run = runner.start_run(runner.RunConfig(
            data_dir={str(flowers_dir)!r}, per_class=6, image_size=32, epochs=2,
            batch_size=8, class_weight="balanced", loss="cost_matrix",
            run_dir={str(tmp_path / "mirrored")!r}))
        run.join()
        state = run.snapshot()
        print(strategies[0].num_replicas_in_sync, state["status"], state["message"])
        """
    )

    assert result.returncode == 0, result.stderr[-3000:]
    replicas, status = result.stdout.strip().splitlines()[-1].split()[:2]
    assert (replicas, status) == ("2", "finished"), result.stdout[-2000:]
    assert (tmp_path / "mirrored" / "best.keras").exists()
    assert len(read_run(tmp_path / "mirrored")["epochs"]) == 2
