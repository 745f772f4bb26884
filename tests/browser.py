"""Headless Chromium driven by selenium, for tests that look at a page as a person would.

Chromium and its driver come from the distribution's packages (Debian: `chromium`, `chromium-driver`;
.ci/run installs them). Without them the browser tests are skipped, unless CONTROLLER_REQUIRE_BROWSER=1
(CI sets it) turns the skip into a failure. Page scripts are off: what the tests read is what a
person without JavaScript sees. Screenshots go to $TEST_ARTIFACTS (CI keeps them) or the test's tmp dir.
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

CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                  "--hide-scrollbars")


def chromium() -> str | None:
    for c in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
              shutil.which("chromium-browser")):
        if c and os.path.exists(c):
            return c
    return None


def chromedriver() -> str | None:
    for c in (os.environ.get("CHROMEDRIVER"), "/usr/bin/chromedriver", shutil.which("chromedriver")):
        if c and os.path.exists(c):
            return c
    return None


def missing() -> str | None:
    """Why a browser test cannot run here (None: it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (the dev extra)"
    if chromium() is None:
        return "no Chromium (apt-get install chromium, or CHROMIUM=path)"
    if chromedriver() is None:
        return "no chromedriver (apt-get install chromium-driver, or CHROMEDRIVER=path)"
    return None


def require_browser() -> None:
    why = missing()
    if why is None:
        return
    if os.environ.get("CONTROLLER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests are required here (CONTROLLER_REQUIRE_BROWSER=1): {why}")
    pytest.skip(why)


def artifacts(tmp_path: Path) -> Path:
    out = Path(os.environ["TEST_ARTIFACTS"]) if os.environ.get("TEST_ARTIFACTS") else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


@contextmanager
def browser(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """A fresh headless Chromium (its own profile directory), page scripts disabled."""
    require_browser()
    from selenium import webdriver

    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium() or ""
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=chromedriver()))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def resources_loaded(driver: Any) -> list[str]:
    """URLs of everything the page loaded besides itself (WebDriver's own script, not the page's)."""
    return list(driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"))
