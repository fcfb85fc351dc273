"""``python -m training``: a foreground run on real images, and one-line errors."""

import json
import os
import signal
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from training.cli import build_parser, format_epoch

FLAGS = [
    "--data",
    "--classes",
    "--epochs",
    "--per-class",
    "--image-size",
    "--batch-size",
    "--lr",
    "--optimizer",
    "--val-fraction",
    "--seed",
    "--depth",
    "--out",
]


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
    assert len(fields(RunConfig)) == len(FLAGS)


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
        (["--epochs", "0"], "Epochs must be at least 1"),
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
