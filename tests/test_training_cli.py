"""``python -m training``: a foreground run on real images, and one-line errors."""

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from training.cli import build_parser, format_epoch

# RunConfig field -> the flag that sets it.
FIELD_FLAGS = {
    "data_dir": "--data",
    "classes": "--classes",
    "image_size": "--image-size",
    "channels": "--channels",
    "per_class": "--per-class",
    "percent": "--percent",
    "class_ratio": "--class-ratio",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "learning_rate": "--lr",
    "optimizer": "--optimizer",
    "momentum": "--momentum",
    "schedule": "--schedule",
    "depth": "--depth",
    "preact": "--version",
    "weight_decay": "--weight-decay",
    "class_weight": "--class-weight",
    "loss": "--loss",
    "cost_matrix": "--cost-matrix",
    "pipeline": "--pipeline",
    "augmentation": "--augmentation",
    "val_fraction": "--val-fraction",
    "seed": "--seed",
    "overfit_check": "--overfit-check",
    "strategy": "--strategy",
    "name": "--name",
    "group": "--group",
    "run_dir": "--out",
}
FLAGS = [*FIELD_FLAGS.values(), "--resume"]


def _environment(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    env["CNN_LAB_RUNS"] = str(tmp_path / "runs")
    return env


def _cli(tmp_path, *args, timeout=600):
    return subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_environment(tmp_path),
    )


def _assert_one_line_error(result, words):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert words in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_help_lists_every_flag(tmp_path):
    result = _cli(tmp_path, "--help")

    assert result.returncode == 0
    for flag in FLAGS:
        assert flag in result.stdout, flag


def test_every_run_setting_has_a_flag():
    from dataclasses import fields

    from training.runner import RunConfig

    options = {
        option for action in build_parser()._actions for option in action.option_strings
    }
    assert set(FLAGS) <= options
    assert set(FIELD_FLAGS) == {field.name for field in fields(RunConfig)}


def test_missing_folder_is_one_line_on_stderr(tmp_path):
    missing = tmp_path / "nowhere"
    result = _cli(tmp_path, "--data", str(missing), "--out", str(tmp_path / "run"))

    _assert_one_line_error(result, f"The data folder {missing} does not exist.")
    assert not (tmp_path / "run").exists()


def test_one_class_folder_is_one_line_on_stderr(tmp_path, flowers_dir):
    (tmp_path / "one" / "daisy").mkdir(parents=True)
    for image in sorted((flowers_dir / "daisy").iterdir())[:3]:
        (tmp_path / "one" / "daisy" / image.name).symlink_to(image)

    result = _cli(tmp_path, "--data", str(tmp_path / "one"))

    _assert_one_line_error(result, "holds one class folder (daisy)")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--epochs", "0"], "Epochs must be a whole number from 1"),
        (["--seed", "5000000000"], "seed must be a whole number from 0 to"),
        (["--class-ratio", "1:x"], "expected numbers like 1:9"),
        (["--class-ratio", "1:2:3"], "3 numbers for 2 classes"),
        (["--cost-matrix", "1,2;3"], "square"),
        (["--percent", "0"], "above 0 and at most 100"),
        (["--pipeline", "/no/such/file.json"], "cannot read"),
        (["--lr", ""], "at least one learning rate"),
        (["--lr", ","], "at least one learning rate"),
        (["--lr", "-0.1"], "learning rate"),
        (["--image-size", "4000"], "16 to 512"),
        (["--epochs", "many"], "invalid int value"),
        (["--optimizer", "rmsprop"], "invalid choice"),
        (["--classes", "daisy"], "two different classes"),
    ],
)
def test_bad_numbers_are_one_line_on_stderr(tmp_path, flowers_dir, args, words):
    result = _cli(tmp_path, "--data", str(flowers_dir), *args)
    _assert_one_line_error(result, words)


def test_format_epoch_line():
    entry = {
        "epoch": 2,
        "loss": 0.6123,
        "accuracy": 0.7,
        "val_loss": 0.655,
        "val_accuracy": 0.65,
        "val_auc": 0.72,
        "seconds": 12.34,
    }
    assert format_epoch(entry, 5) == (
        "epoch 2/5  loss 0.612  acc 0.700  val_loss 0.655  val_acc 0.650  "
        "val_auc 0.720  12.3 s"
    )


def test_cli_trains_on_flowers_and_writes_the_run_folder(tmp_path, flowers_dir):
    data = tmp_path / "flowers"
    for name in ("daisy", "rose"):
        (data / name).mkdir(parents=True)
        for image in sorted((flowers_dir / name).iterdir())[:8]:
            (data / name / image.name).symlink_to(image)
    (data / "rose" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "run"
    result = _cli(
        tmp_path,
        "--data",
        str(data),
        "--classes",
        "rose,daisy",
        "--epochs",
        "2",
        "--image-size",
        "64",
        "--batch-size",
        "8",
        "--lr",
        "0.001",
        "--out",
        str(out),
    )

    assert result.returncode == 0, result.stderr[-3000:]
    epoch_lines = [line for line in result.stdout.splitlines() if "epoch " in line]
    assert [line.split()[1] for line in epoch_lines[:2]] == ["1/2", "2/2"]
    assert "val_auc" in epoch_lines[0]
    assert "skipped 1 unreadable file(s): broken.png" in result.stderr
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").open()]
    assert [entry["epoch"] for entry in metrics] == [1, 2]
    assert (out / "best.keras").stat().st_size > 0
    config = json.loads((out / "config.json").read_text())
    assert config["classes"] == ["rose", "daisy"]
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_the_run_cleanly(tmp_path, flowers_dir):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "training",
            "--data",
            str(flowers_dir),
            "--epochs",
            "50",
            "--per-class",
            "8",
            "--image-size",
            "32",
            "--batch-size",
            "4",
            "--out",
            str(out),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(tmp_path),
    )
    try:
        for line in process.stdout:
            if line.startswith("epoch 1/50"):
                break
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    assert "Stopping" in stderr
    epochs = [json.loads(line)["epoch"] for line in (out / "metrics.jsonl").open()]
    assert 1 <= len(epochs) < 50
    assert (out / "best.keras").exists()


def test_every_flag_reaches_the_run_config(tmp_path):
    from imgproc import make_pipeline, pipeline_to_json
    from training.cli import config_from_args

    pipeline = make_pipeline([{"op": "normalize", "method": "percentile"}])
    (tmp_path / "pipeline.json").write_text(pipeline_to_json(pipeline))
    (tmp_path / "augmentation.json").write_text(
        json.dumps({"flip_horizontal": True, "rotation": 15, "shift_x": 0.1})
    )
    args = build_parser().parse_args(
        [
            "--data", "/data/xray", "--classes", "effusion,nofinding",
            "--image-size", "128", "--channels", "1", "--percent", "50",
            "--class-ratio", "1:4", "--epochs", "7",
            "--batch-size", "32", "--lr", "0.01", "--optimizer", "sgd",
            "--momentum", "0.8", "--schedule", "halve", "--depth", "50",
            "--version", "v1", "--weight-decay", "0", "--class-weight", "balanced",
            "--loss", "cost_matrix", "--cost-matrix", "1,5;1,1",
            "--pipeline", str(tmp_path / "pipeline.json"),
            "--augmentation", str(tmp_path / "augmentation.json"),
            "--val-fraction", "0.25", "--seed", "3", "--overfit-check",
            "--strategy", "multiworker", "--name", "try", "--group", "g",
            "--out", str(tmp_path / "run"),
        ]
    )  # fmt: skip

    config = config_from_args(args, args.lr[0]).to_dict()

    assert config == {
        "data_dir": "/data/xray",
        "classes": ["effusion", "nofinding"],
        "image_size": 128,
        "channels": 1,
        "per_class": None,
        "percent": 50.0,
        "class_ratio": [1.0, 4.0],
        "epochs": 7,
        "batch_size": 32,
        "learning_rate": 0.01,
        "optimizer": "sgd",
        "momentum": 0.8,
        "schedule": "halve",
        "depth": 50,
        "preact": False,
        "weight_decay": 0.0,
        "class_weight": "balanced",
        "loss": "cost_matrix",
        "cost_matrix": [[1.0, 5.0], [1.0, 1.0]],
        "pipeline": json.loads(pipeline_to_json(pipeline)),
        "augmentation": {"flip_horizontal": True, "rotation": 15, "shift_x": 0.1},
        "val_fraction": 0.25,
        "seed": 3,
        "overfit_check": True,
        "strategy": "multiworker",
        "name": "try",
        "group": "g",
        "run_dir": str(tmp_path / "run"),
    }
    per_class = build_parser().parse_args(["--data", "/d", "--per-class", "40"])
    assert config_from_args(per_class, 1e-3).per_class == 40


def test_a_learning_rate_sweep_writes_one_run_per_rate(tmp_path, flowers_dir):
    result = _cli(
        tmp_path,
        "--data", str(flowers_dir), "--per-class", "4", "--image-size", "32",
        "--epochs", "1", "--batch-size", "8", "--lr", "1e-3,1e-2",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr[-3000:]
    folders = sorted((tmp_path / "runs").iterdir())
    configs = [json.loads((f / "config.json").read_text()) for f in folders]
    assert sorted(c["learning_rate"] for c in configs) == [1e-3, 1e-2]
    assert len({c["group"] for c in configs}) == 1
    assert sorted(c["name"] for c in configs) == ["lr 0.001", "lr 0.01"]
    for folder in folders:
        assert json.loads((folder / "status.json").read_text())["status"] == "finished"
