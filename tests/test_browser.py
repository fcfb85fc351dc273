"""The app in a real browser: ``streamlit run`` on localhost, headless Chromium."""

import os
import re
import time

import pytest
from playwright.sync_api import expect

from benchmarks.app_server import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    free_port,
    start_app,
    wait_healthy,
)

UNEXPECTED = "Something unexpected went wrong"


def _require_chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    message = "Debian's chromium is not installed (apt-get install chromium)."
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _serve(tmp_path_factory):
    """Run ``streamlit run app.py`` on a free localhost port; yield its URL."""
    _require_chromium()
    port = free_port()
    env = dict(os.environ)
    env["CNN_LAB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    env["CNN_LAB_RUNS"] = str(tmp_path_factory.mktemp("runs"))
    env["CNN_LAB_DATA"] = str(tmp_path_factory.mktemp("no-datasets"))
    log = (tmp_path_factory.mktemp("log") / "streamlit.log").open("w")
    process = start_app(port, env=env, log=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except Exception:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """A server shared by the tests of this module."""
    yield from _serve(tmp_path_factory)


@pytest.fixture(scope="module")
def browser(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context.new_page()
    context.close()


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


def _assert_no_error_box(tab) -> None:
    assert tab.locator('[data-testid="stException"]').count() == 0
    assert tab.get_by_text(UNEXPECTED).count() == 0


def test_threshold_slider_updates_the_mask_preview(page, app_url):
    page.goto(app_url)
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
    _assert_no_error_box(page)


def _address_with(tab, text: str) -> str:
    """The address bar once it holds ``text``; it changes without a page load."""
    deadline = time.monotonic() + 30
    url = tab.url
    while text not in url and time.monotonic() < deadline:
        time.sleep(0.2)
        url = tab.evaluate("location.href")
    assert text in url, url
    return url


def test_a_link_opens_the_same_controls_in_a_fresh_tab(page, browser, app_url):
    page.goto(app_url)
    threshold = page.locator('input[type="range"][aria-label="Threshold value"]')
    threshold.wait_for(timeout=60_000)
    threshold.focus()
    page.keyboard.press("Home")
    page.get_by_text("Mask: Luminance > 0").first.wait_for(timeout=30_000)
    radius = page.locator('input[type="range"][aria-label="Footprint radius (pixels)"]')
    radius.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    url = _address_with(page, "radius.5")
    assert "threshold_uint8.0" in url
    count = re.compile(r"pixels \(.*\) are 1\.")
    sent = page.get_by_text(count).first.inner_text()

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        tab = context.new_page()
        tab.goto(url)
        tab.get_by_text("Mask: Luminance > 0").first.wait_for(timeout=60_000)
        assert tab.get_by_text(count).first.inner_text() == sent
        opened = tab.locator(
            'input[type="range"][aria-label="Footprint radius (pixels)"]'
        )
        assert opened.input_value() == "5"
        _assert_no_error_box(tab)
    finally:
        context.close()


def test_training_streams_survives_a_reload_and_stops(page, app_url):
    page.goto(f"{app_url}/training")
    start = page.get_by_role("button", name="Start", exact=True)
    start.wait_for(timeout=60_000)
    epochs = page.locator('input[type="range"][aria-label="Epochs"]')
    epochs.focus()
    page.keyboard.press("End")
    page.get_by_text("Learning rate per epoch").first.wait_for(timeout=30_000)
    expect(epochs).to_have_value("100", timeout=30_000)
    start.click()

    page.get_by_text("Training loss, every batch").first.wait_for(timeout=120_000)
    page.get_by_text(re.compile(r"epoch 1 of 100, about \d+ s left")).first.wait_for(
        timeout=180_000
    )
    stop = page.get_by_role("button", name="Stop", exact=True)
    assert stop.is_enabled()
    assert page.get_by_role("button", name="Start", exact=True).is_disabled()
    assert "run=" in page.url

    page.reload()
    page.get_by_text("Training loss, every batch").first.wait_for(timeout=60_000)
    stop = page.get_by_role("button", name="Stop", exact=True)
    stop.wait_for(timeout=30_000)
    assert stop.is_enabled(), "the reloaded tab did not re-attach to the run"

    stop.click()
    page.get_by_text("Stopped after").first.wait_for(timeout=120_000)
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_enabled(
        timeout=30_000
    )
    expect(page.get_by_role("button", name="Stop", exact=True)).to_be_disabled()
    _assert_no_error_box(page)


def test_an_upload_stays_after_visiting_another_page(page, app_url, xray_path):
    page.goto(app_url)
    page.get_by_text("Threshold value").first.wait_for(timeout=60_000)
    page.get_by_text("Upload a file").first.click()
    page.get_by_text("Choose a file to open it here.").first.wait_for(timeout=60_000)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
        str(xray_path)
    )
    shown = page.get_by_text(f"{xray_path.name}: 1024 x 1024 pixels").first
    shown.wait_for(timeout=60_000)

    page.get_by_role("link", name="Training").click()
    page.get_by_role("button", name="Start").wait_for(timeout=60_000)
    page.get_by_role("link", name="Preprocessing").click()
    page.get_by_text(f"{xray_path.name}: 1024 x 1024 pixels").first.wait_for(
        timeout=60_000
    )
    expect(page.get_by_text("uploaded earlier").first).to_be_visible()
    _assert_no_error_box(page)


def test_a_page_address_opened_first_on_a_new_server_gets_the_app(
    browser, tmp_path_factory
):
    # The first visitor of a fresh server opens /training directly: the page
    # must still come through app.py (its title, navigation and error guard).
    for url in _serve(tmp_path_factory):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = context.new_page()
        try:
            tab.goto(f"{url}/training")
            tab.locator("h1", has_text="Training").first.wait_for(timeout=120_000)
            expect(tab).to_have_title("CNN Image Lab")
            navigation = tab.get_by_test_id("stSidebarNav")
            expect(navigation).to_contain_text("Preprocessing")
            expect(navigation).not_to_contain_text("app")
        finally:
            context.close()


def test_settings_of_other_pages_survive_a_preprocessing_section_update(page, app_url):
    page.goto(f"{app_url}/augmentation")
    rotation = page.locator('input[type="range"][aria-label="Rotation (degrees)"]')
    rotation.wait_for(timeout=60_000)
    rotation.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(rotation).to_have_attribute("aria-valuetext", "3", timeout=30_000)
    page.get_by_text('"rotation": 3').first.wait_for(timeout=30_000)

    # A threshold move reruns only the mask section (a fragment).
    page.get_by_role("link", name="Preprocessing").click()
    threshold = page.locator('input[type="range"][aria-label="Threshold value"]')
    threshold.wait_for(timeout=60_000)
    caption = page.get_by_text("Mask: Luminance >").first
    caption.wait_for(timeout=60_000)
    before = caption.inner_text()
    threshold.focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_text("Mask: Luminance >").first).not_to_have_text(
        before, timeout=30_000
    )

    page.get_by_role("link", name="Augmentation").click()
    rotation.wait_for(timeout=60_000)
    expect(rotation).to_have_attribute("aria-valuetext", "3", timeout=30_000)
    _assert_no_error_box(page)
