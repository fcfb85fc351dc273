"""Start to the first streamed loss point, as the Training page sees it.

Each measurement runs in a fresh interpreter, the way a server handles its
first Start: it calls ``training.runner.start_run`` on the flower photos at
64 pixels and polls the run's snapshot, as the page does, until the first
batch loss appears. TensorFlow's import, decoding the images, building the
ResNet-18 and tracing the first step are all inside the measured time. A
second Start in the same process (TensorFlow already loaded) is timed too.

Usage: python benchmarks/bench_first_loss.py [--runs N] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "flowers"
TARGET_SECONDS = 10.0

ONE_PROCESS = """
import sys, time
from training.runner import RunConfig, start_run

def first_loss(run_dir):
    started = time.perf_counter()
    run = start_run(RunConfig(data_dir=sys.argv[1], image_size=64, epochs=1,
                              batch_size=16, run_dir=run_dir))
    while not run.snapshot()["batch_losses"]:
        if not run.is_active():
            raise SystemExit(run.snapshot()["message"])
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    images = run.snapshot()["n_train"]
    run.stop()
    run.join()
    return elapsed, images

cold, images = first_loss(sys.argv[2] + "/cold")
warm, _ = first_loss(sys.argv[2] + "/warm")
print(f"{cold:.3f} {warm:.3f} {images}")
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--data",
        default=os.environ.get("CNN_LAB_TEST_DATA", str(DEFAULT_DATA.parent))
        + "/flowers",
    )
    args = parser.parse_args()

    colds, warms = [], []
    for number in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as runs:
            result = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(ONE_PROCESS), args.data, runs],
                cwd=REPO_ROOT,
                capture_output=True,
                text=True,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
            )
        if result.returncode != 0:
            print(result.stderr[-2000:], file=sys.stderr)
            return 1
        cold, warm, images = result.stdout.split()[-3:]
        colds.append(float(cold))
        warms.append(float(warm))
        print(
            f"run {number}: first loss after {float(cold):.2f} s in a fresh process, "
            f"{float(warm):.2f} s for a second Start ({images} training images)"
        )

    cold, warm = statistics.median(colds), statistics.median(warms)
    print()
    print(f"{'':28}{'median':>10}{'target':>10}{'ratio':>8}")
    for label, value in (("fresh process", cold), ("second Start", warm)):
        print(
            f"{label:28}{value:>9.2f}s{TARGET_SECONDS:>9.1f}s"
            f"{value / TARGET_SECONDS:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
