"""The app in a real browser: ``streamlit run`` on localhost, headless Chromium."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import REPO_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    message = "Debian's chromium is not installed (apt-get install chromium)."
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("streamlit did not answer its health check in time")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """A ``streamlit run app.py`` server on a free localhost port."""
    _require_chromium()
    port = _free_port()
    env = dict(os.environ)
    env["CNN_LAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    env["CNN_LAB_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    log = (tmp_path_factory.mktemp("log") / "streamlit.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = context.new_page()
        tab.goto(app_url)
        yield tab
        browser.close()


def _image_sources(tab, caption_prefix: str) -> list[str]:
    """``src`` of every image whose caption starts with ``caption_prefix``."""
    return tab.evaluate(
        """prefix => Array.from(document.querySelectorAll('[data-testid="stImage"]'))
            .filter(box => {
                const caption = box.querySelector('[data-testid="stImageCaption"]');
                return caption && caption.innerText.trim().startsWith(prefix);
            })
            .map(box => box.querySelector('img').src)""",
        caption_prefix,
    )


def test_threshold_slider_updates_the_mask_preview(page):
    page.get_by_text("Threshold value").first.wait_for(timeout=60_000)
    page.get_by_text("Mask: Luminance >").first.wait_for(timeout=60_000)
    before = _image_sources(page, "Mask: Luminance >")
    assert before, "the mask preview image is not on the page"

    slider = page.locator('input[type="range"][aria-label="Threshold value"]')
    assert int(slider.input_value()) < 200
    slider.focus()
    page.keyboard.press("End")
    page.get_by_text("Mask: Luminance > 255").first.wait_for(timeout=30_000)

    deadline = time.monotonic() + 30
    after = before
    while time.monotonic() < deadline and after == before:
        time.sleep(0.2)
        after = _image_sources(page, "Mask: Luminance >")
    assert after and after != before, "the mask preview did not change"
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Something unexpected went wrong").count() == 0
