"""App cold start: process start to the first page rendered in headless Chromium.

Each run starts ``streamlit run app.py`` on a free localhost port with a
browser already open, and times from the process start until the page's
title is on screen. A separate check renders the first page with AppTest in
a fresh interpreter and reports whether TensorFlow got imported.

Usage: python benchmarks/bench_startup.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from app_server import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    REPO_ROOT,
    free_port,
    start_app,
    wait_healthy,
)

IMPORT_CHECK = """
import sys
from streamlit.testing.v1 import AppTest
app = AppTest.from_file("app.py", default_timeout=120)
app.run()
assert not app.exception, [e.value for e in app.exception]
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""


def _one_start(browser) -> float:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    with tempfile.TemporaryFile("w+") as log:
        started = time.perf_counter()
        server = start_app(port, log=log)
        try:
            wait_healthy(url, server, interval=0.02)
            healthy = time.perf_counter() - started
            page.goto(url)
            page.locator("h1", has_text="Preprocessing").first.wait_for(timeout=60_000)
            elapsed = time.perf_counter() - started
            print(f"server healthy after {healthy:.2f} s, page after {elapsed:.2f} s")
        finally:
            page.close()
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        times = [_one_start(browser) for _ in range(args.runs)]
        browser.close()
    print(
        f"cold start to first page, {len(times)} runs: median "
        f"{statistics.median(times):.2f} s, max {max(times):.2f} s"
    )

    check = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = check.stdout.strip().splitlines()
    if check.returncode != 0 or not lines:
        print(f"import check failed: {check.stderr.strip()[-500:]}")
        return 1
    tensorflow, keras = (word == "True" for word in lines[-1].split())
    print(f"first page imports tensorflow: {tensorflow}, keras: {keras}")
    return 1 if tensorflow else 0


if __name__ == "__main__":
    sys.exit(main())
