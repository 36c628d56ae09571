"""Headless Chromium for the report tests (Debian's chromium and chromium-driver).

Without them the browser tests are skipped, unless ``AMBER_REQUIRE_TOOLS=1`` (set by
``.ci/run``, which installs them), where their absence fails the run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
# No network, no background services: the machine's closed network refuses them.
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,2400",
]


def require_browser() -> None:
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    message = "headless Chromium is not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("AMBER_REQUIRE_TOOLS") == "1":
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def browser() -> Iterator[Any]:
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium fetch a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as profile:
        options = Options()
        options.binary_location = CHROMIUM
        for flag in [*FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()


def open_rendered(driver: Any, page: Path) -> None:
    """Load ``page`` and wait until its charts are drawn (or failed)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(page.resolve().as_uri())
    WebDriverWait(driver, 60).until(
        lambda d: d.execute_script("return document.body.dataset.rendered || document.body.dataset.error")
    )


def screenshot(page: Path, out: Path) -> None:
    with browser() as driver:
        open_rendered(driver, page)
        height = driver.execute_script(  # the charts; the tables below them are text
            "var v = document.getElementById('versions'); return v ? v.getBoundingClientRect().bottom + 60 : 2400"
        )
        driver.set_window_size(1280, min(int(height) + 40, 6000))
        driver.save_screenshot(str(out))
